package objectstore

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"
)

// simStore is a store whose clock runs offset ahead of ours and whose responses take latency
// to arrive: what storeClock sees of a real one.
type simStore struct {
	offset  time.Duration
	latency time.Duration
}

// respond returns the Date header of a request stamped by the store at local time stamped,
// and when its response arrives here.
func (s simStore) respond(stamped time.Time) (date, recv time.Time) {
	return stamped.Add(s.offset).Truncate(time.Second), stamped.Add(s.latency)
}

// observe records a response whose request's send time is unknown: it bounds the store's
// clock from below only.
func (c *storeClock) observe(date, recv time.Time) { c.observeRequest(date, time.Time{}, recv) }

// TestStoreClockIsALowerBound checks the clock's one promise: whatever the offset, the
// latencies and the moment asked about, the estimate is never later than the store's true
// time; and with a few responses a second it is within a little more than the latency of it.
func TestStoreClockIsALowerBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		store := simStore{offset: time.Duration(rapid.Int64Range(-5_000_000, 5_000_000).Draw(t, "offsetUs")) * time.Microsecond}
		local := time.Now() // with a monotonic reading, as the client's
		c := newStoreClock(clockWindow)
		n := rapid.IntRange(1, 60).Draw(t, "responses")
		for range n {
			local = local.Add(time.Duration(rapid.Int64Range(0, 300_000).Draw(t, "gapUs")) * time.Microsecond)
			store.latency = time.Duration(rapid.Int64Range(0, 20_000).Draw(t, "latencyUs")) * time.Microsecond
			date, recv := store.respond(local)
			c.observe(date, recv)
			asked := local.Add(time.Duration(rapid.Int64Range(-2_000_000, 2_000_000).Draw(t, "askedUs")) * time.Microsecond)
			got, ok := c.at(asked)
			require.True(t, ok)
			if truth := asked.Add(store.offset); got.After(truth) {
				t.Fatalf("estimate %s later than the store's time %s (offset %s)", got, truth, store.offset)
			}
		}
	})
}

// TestStoreClockUpperBound: from the send times, the clock also bounds the store's time from
// above; never earlier than the truth, and with ten responses a second much closer than the
// Date header's second.
func TestStoreClockUpperBound(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		store := simStore{offset: time.Duration(rapid.Int64Range(-5_000_000, 5_000_000).Draw(t, "offsetUs")) * time.Microsecond}
		local := time.Now()
		c := newStoreClock(clockWindow)
		for range rapid.IntRange(1, 60).Draw(t, "responses") {
			local = local.Add(time.Duration(rapid.Int64Range(0, 300_000).Draw(t, "gapUs")) * time.Microsecond)
			store.latency = time.Duration(rapid.Int64Range(0, 20_000).Draw(t, "latencyUs")) * time.Microsecond
			date, recv := store.respond(local)
			c.observeRequest(date, local.Add(-store.latency), recv)
			asked := local.Add(time.Duration(rapid.Int64Range(-2_000_000, 2_000_000).Draw(t, "askedUs")) * time.Microsecond)
			got, ok := c.atMost(asked)
			require.True(t, ok)
			if truth := asked.Add(store.offset); got.Before(truth) {
				t.Fatalf("upper bound %s earlier than the store's time %s (offset %s)", got, truth, store.offset)
			}
		}
	})
	store := simStore{offset: 1234567 * time.Microsecond, latency: 2 * time.Millisecond}
	local := time.Now()
	c := newStoreClock(clockWindow)
	_, ok := c.atMost(local)
	require.False(t, ok)
	c.observe(store.respond(local))
	_, ok = c.atMost(local)
	require.False(t, ok, "a response without its send time bounds nothing from above")
	for range 20 {
		local = local.Add(100*time.Millisecond + 7*time.Millisecond)
		date, recv := store.respond(local)
		c.observeRequest(date, local.Add(-store.latency), recv)
	}
	got, ok := c.atMost(local)
	require.True(t, ok)
	truth := local.Add(store.offset)
	require.False(t, got.Before(truth))
	require.Less(t, got.Sub(truth), 120*time.Millisecond, "the Date header alone is a second coarse")
}

func TestStoreClockConverges(t *testing.T) {
	store := simStore{offset: 1234567 * time.Microsecond, latency: 2 * time.Millisecond}
	local := time.Now()
	c := newStoreClock(clockWindow)
	// Before any response there is no estimate.
	_, ok := c.at(local)
	require.False(t, ok)
	// Ten responses a second for two seconds: one lands just after the store's second ticks.
	for range 20 {
		local = local.Add(100*time.Millisecond + 7*time.Millisecond)
		c.observe(store.respond(local))
	}
	got, ok := c.at(local)
	require.True(t, ok)
	truth := local.Add(store.offset)
	require.False(t, got.After(truth))
	require.Less(t, truth.Sub(got), 120*time.Millisecond, "the Date header alone is a second coarse")
}

func TestStoreClockForgetsOldSamples(t *testing.T) {
	local := time.Now()
	c := newStoreClock(time.Minute)
	// A store clock that was 10 s ahead, then stepped back to ours: within a minute, the old
	// samples no longer count.
	c.observe(simStore{offset: 10 * time.Second}.respond(local))
	got, _ := c.at(local)
	require.WithinDuration(t, local.Add(10*time.Second), got, time.Second)
	for i := range 200 {
		at := local.Add(time.Duration(i) * time.Second / 2)
		c.observe(simStore{}.respond(at))
	}
	later := local.Add(100 * time.Second)
	got, ok := c.at(later)
	require.True(t, ok)
	require.False(t, got.After(later), "a sample older than the window still counts")
	// Asked about an instant far from every sample, it has nothing to say.
	_, ok = c.at(local.Add(time.Hour))
	require.False(t, ok)
}

func TestStoreClockStoreTime(t *testing.T) {
	local := time.Now()
	c := newStoreClock(clockWindow)
	date := time.Date(2026, 11, 23, 12, 0, 7, 0, time.UTC)
	require.Equal(t, date, c.storeTime(local, date), "no sample: the Date header")
	// A sample that says the store is at 12:00:07.5 at local.
	c.observe(date, local.Add(-500*time.Millisecond))
	require.Equal(t, date.Add(500*time.Millisecond), c.storeTime(local, date))
	// The estimate is never earlier than the Date header of the request itself.
	require.Equal(t, date.Add(time.Second), c.storeTime(local, date.Add(time.Second)))
	require.Equal(t, time.UTC, c.storeTime(local, date).Location())
}

func TestStoreClockConcurrentUse(t *testing.T) {
	c := newStoreClock(clockWindow)
	store := simStore{offset: time.Second, latency: time.Millisecond}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				now := time.Now()
				c.observe(store.respond(now))
				if got, ok := c.at(now); ok && got.After(now.Add(store.offset)) {
					t.Errorf("estimate %s later than %s", got, now.Add(store.offset))
				}
			}
		}()
	}
	wg.Wait()
}

func TestResolution(t *testing.T) {
	at := func(ns int) Object { return Object{LastModified: time.Date(2026, 11, 23, 12, 0, 7, ns, time.UTC)} }
	for _, tc := range []struct {
		name string
		objs []Object
		want time.Duration
	}{
		{"none listed", nil, time.Second},
		{"whole seconds (AWS S3)", []Object{at(0), at(0)}, time.Second},
		{"milliseconds (MinIO)", []Object{at(0), at(123_000_000), at(500_000_000)}, time.Millisecond},
		{"only round milliseconds so far", []Object{at(120_000_000), at(500_000_000)}, 20 * time.Millisecond},
		{"half seconds", []Object{at(500_000_000)}, 500 * time.Millisecond},
		{"nanoseconds", []Object{at(1)}, time.Nanosecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, resolution(time.Second, tc.objs))
		})
	}
	// Pages fold into one value.
	require.Equal(t, time.Millisecond, resolution(resolution(time.Second, []Object{at(2_000_000)}), []Object{at(3_000_000)}))
}
