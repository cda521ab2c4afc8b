package replication_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// base is an arbitrary instant with a fractional second, so that truncation shows.
var base = time.Date(2025, 3, 14, 15, 9, 26, 535_000_000, time.UTC)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var storageLocks = []string{"*/storage_locks/*"}

func TestCutoff(t *testing.T) {
	for _, tc := range []struct {
		name   string
		now    string
		settle time.Duration
		res    time.Duration
		want   string
	}{
		{"whole second, no settle", "2025-03-14T15:09:26Z", 0, time.Second, "2025-03-14T15:09:25.999999999Z"},
		{"whole second, settle 2s", "2025-03-14T15:09:26Z", 2 * time.Second, time.Second, "2025-03-14T15:09:23.999999999Z"},
		{"fraction of the clock is dropped", "2025-03-14T15:09:26.999Z", 2 * time.Second, time.Second, "2025-03-14T15:09:23.999999999Z"},
		{"settle 30s", "2025-03-14T15:10:00Z", 30 * time.Second, time.Second, "2025-03-14T15:09:29.999999999Z"},
		// A settle window that is not whole seconds is rounded up to whole seconds: at one
		// second resolution a blob listed at 15:09:24 may have been written at 15:09:24.999.
		{"settle 1.5s", "2025-03-14T15:09:26Z", 1500 * time.Millisecond, time.Second, "2025-03-14T15:09:23.999999999Z"},
		{"settle 1.5s, clock with fraction", "2025-03-14T15:09:26.7Z", 1500 * time.Millisecond, time.Second, "2025-03-14T15:09:23.999999999Z"},
		{"settle 1.7s", "2025-03-14T15:09:26Z", 1700 * time.Millisecond, time.Second, "2025-03-14T15:09:23.999999999Z"},
		{"settle 300ms", "2025-03-14T15:09:26Z", 300 * time.Millisecond, time.Second, "2025-03-14T15:09:24.999999999Z"},
		// An unknown resolution is a second.
		{"resolution unknown", "2025-03-14T15:09:26.999Z", 2 * time.Second, 0, "2025-03-14T15:09:23.999999999Z"},
		{"resolution coarser than a second", "2025-03-14T15:09:26.999Z", 2 * time.Second, time.Minute, "2025-03-14T15:09:23.999999999Z"},
		// At millisecond resolution the cutoff follows the clock to the millisecond.
		{"milliseconds", "2025-03-14T15:09:26.7Z", 2 * time.Second, time.Millisecond, "2025-03-14T15:09:24.699999999Z"},
		{"milliseconds, clock between two", "2025-03-14T15:09:26.7006Z", 2 * time.Second, time.Millisecond, "2025-03-14T15:09:24.699999999Z"},
		{"milliseconds, settle with a fraction of one", "2025-03-14T15:09:26.7Z", 1999600 * time.Microsecond, time.Millisecond, "2025-03-14T15:09:24.699999999Z"},
		{"milliseconds, no settle", "2025-03-14T15:09:26.7Z", 0, time.Millisecond, "2025-03-14T15:09:26.699999999Z"},
		{"nanoseconds", "2025-03-14T15:09:26.7Z", 2 * time.Second, time.Nanosecond, "2025-03-14T15:09:24.699999999Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, at(tc.want), replication.Cutoff(at(tc.now), tc.settle, tc.res))
		})
	}
}

// TestCutoffSettles checks the guarantee the cutoff gives at any LastModified resolution and
// whatever the store's clock is known to (the Date header's second, or finer): a blob whose
// PUT began within the settle window before the store's real time is never at or before the
// cutoff. So neither a blob written after the listing nor one still being written for less
// than the settle window can be passed by the watermark without being copied. And the cutoff
// is never more than two steps of the resolution before real - settle.
func TestCutoffSettles(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		res := rapid.SampledFrom([]time.Duration{time.Nanosecond, time.Millisecond, 10 * time.Millisecond, time.Second}).Draw(t, "resolution")
		real := base.Add(time.Duration(rapid.Int64Range(0, 10_000_000).Draw(t, "nowUs")) * time.Microsecond)
		settle := time.Duration(rapid.Int64Range(0, 5_000_000).Draw(t, "settleUs")) * time.Microsecond
		// The store's clock as known: a lower bound of real time (the Date header, or finer).
		known := real.Add(-time.Duration(rapid.Int64Range(0, 1_500_000).Draw(t, "behindUs")) * time.Microsecond)
		if rapid.Bool().Draw(t, "dateHeaderOnly") {
			known = real.Truncate(time.Second)
		}
		// The PUT began at start, less than settle before real (or after it).
		start := real.Add(-settle).Add(time.Duration(rapid.Int64Range(1, 10_000_000).Draw(t, "sinceNs")))
		cutoff := replication.Cutoff(known, settle, res)
		lm := start.Truncate(res)
		if !lm.After(cutoff) {
			t.Fatalf("blob started at %s (LastModified %s) is settled at %s with settle %s: cutoff %s",
				start, lm, real, settle, cutoff)
		}
		if !cutoff.Before(known.Add(-settle)) {
			t.Fatalf("cutoff %s not before %s - %s", cutoff, known, settle)
		}
		if res < time.Second && known.Add(-settle).Sub(cutoff) > 2*res {
			t.Fatalf("cutoff %s more than two steps of %s before %s - %s", cutoff, res, known, settle)
		}
	})
}

// TestEligibleAt checks that EligibleAt is the inverse of Cutoff: at that store time the blob
// is at or before the cutoff, a nanosecond earlier it is not.
func TestEligibleAt(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		res := rapid.SampledFrom([]time.Duration{0, time.Nanosecond, time.Millisecond, 10 * time.Millisecond, time.Second}).Draw(t, "resolution")
		settle := time.Duration(rapid.Int64Range(0, 5_000_000).Draw(t, "settleUs")) * time.Microsecond
		lm := base.Add(time.Duration(rapid.Int64Range(0, 10_000_000).Draw(t, "lmUs")) * time.Microsecond)
		if rapid.Bool().Draw(t, "onTheGrid") && res > 0 {
			lm = lm.Truncate(res)
		}
		e := replication.EligibleAt(lm, settle, res)
		if c := replication.Cutoff(e, settle, res); c.Before(lm) {
			t.Fatalf("at %s the cutoff %s is before %s", e, c, lm)
		}
		if c := replication.Cutoff(e.Add(-time.Nanosecond), settle, res); !c.Before(lm) {
			t.Fatalf("at %s, before EligibleAt %s, the cutoff %s already reaches %s", e.Add(-time.Nanosecond), e, c, lm)
		}
	})
}

func TestNextEligible(t *testing.T) {
	obj := func(key, lm string) objectstore.Object { return objectstore.Object{Key: key, LastModified: at(lm)} }
	l := objectstore.Listing{Resolution: time.Millisecond, Objects: []objectstore.Object{
		obj("db/a", "2025-03-14T15:09:20Z"),
		obj("db/s/storage_locks/1", "2025-03-14T15:09:20.5Z"),
		obj("db/c", "2025-03-14T15:09:21.25Z"),
		obj("db/b", "2025-03-14T15:09:20.75Z"),
	}}
	p := replication.Policy{SettleWindow: 2 * time.Second, Exclude: storageLocks}
	next, ok := replication.NextEligible(l, at("2025-03-14T15:09:20Z"), p)
	require.True(t, ok)
	assert.Equal(t, at("2025-03-14T15:09:22.751Z"), next, "db/b, the oldest after the watermark that is not a lock")
	next, ok = replication.NextEligible(l, at("2025-03-14T15:09:19Z"), p)
	require.True(t, ok)
	assert.Equal(t, at("2025-03-14T15:09:22.001Z"), next)
	_, ok = replication.NextEligible(l, at("2025-03-14T15:09:21.25Z"), p)
	assert.False(t, ok, "nothing after the watermark")
	l.Resolution = time.Second
	next, _ = replication.NextEligible(l, at("2025-03-14T15:09:20Z"), p)
	assert.Equal(t, at("2025-03-14T15:09:23Z"), next, "at a second's resolution, 15:09:20.75 may be 15:09:20.999")
}

func TestExcluded(t *testing.T) {
	for _, tc := range []struct {
		globs []string
		key   string
		want  bool
	}{
		{storageLocks, "db/sid/storage_locks/1_2", true},
		{storageLocks, "bottomless_db_folder/f3a1/storage_locks/0_17", true},
		{storageLocks, "db/storage_locks/x", true},
		{storageLocks, "storage_locks/1_2", false}, // the glob wants a folder before it
		{storageLocks, "db/sid/storage_locks", false},
		{storageLocks, "db/sid/storage_locksx/1", false},
		{storageLocks, "db/sid/snapshots/1_2", false},
		{storageLocks, "db/sid/logs/storage_locks_1", false},
		{[]string{"*.tmp"}, "db/a/b.tmp", true},
		{[]string{"*.tmp"}, "db/a/b.tmp.1", false},
		{[]string{"*.tmp"}, "db/a/bxtmp", false}, // '.' is literal, not a regexp
		{[]string{"db/a+b/*"}, "db/a+b/x", true},
		{[]string{"db/a+b/*"}, "db/aab/x", false}, // '+' is literal
		{[]string{"db/(x)/[y]/*"}, "db/(x)/[y]/z", true},
		{[]string{"exact"}, "exact", true},
		{[]string{"exact"}, "exactly", false},
		{[]string{"*"}, "anything/at/all", true},
		{[]string{"*"}, "", true},
		{nil, "db/sid/storage_locks/1_2", false},
		{[]string{}, "x", false},
		{[]string{"a/*", "*/storage_locks/*"}, "db/sid/storage_locks/1", true},
		{[]string{"a/*", "*/storage_locks/*"}, "a/b", true},
		{[]string{"a/*", "*/storage_locks/*"}, "b/a/c", false},
		{[]string{"*/x/*/y"}, "1/x/2/3/y", true},
	} {
		t.Run(fmt.Sprintf("%v %s", tc.globs, tc.key), func(t *testing.T) {
			assert.Equal(t, tc.want, replication.Excluded(tc.globs, tc.key))
		})
	}
}

func TestLess(t *testing.T) {
	t0 := base
	t1 := base.Add(time.Millisecond)
	obj := func(key string, lm time.Time) objectstore.Object {
		return objectstore.Object{Key: key, LastModified: lm}
	}
	for _, tc := range []struct {
		name string
		a, b objectstore.Object
		want bool
	}{
		{"earlier time first", obj("z", t0), obj("a", t1), true},
		{"later time after", obj("a", t1), obj("z", t0), false},
		{"same time: key order", obj("a", t0), obj("b", t0), true},
		{"same time: key order, reversed", obj("b", t0), obj("a", t0), false},
		{"equal is not less", obj("a", t0), obj("a", t0), false},
		{"same instant in another zone", obj("a", t0.In(time.FixedZone("X", 3600))), obj("b", t0), true},
		{"same instant in another zone, reversed", obj("b", t0.In(time.FixedZone("X", 3600))), obj("a", t0), false},
		{"one nanosecond", obj("b", t0), obj("a", t0.Add(time.Nanosecond)), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, replication.Less(tc.a, tc.b))
		})
	}
}

func TestNewPlanTable(t *testing.T) {
	now := at("2025-03-14T15:09:30Z")
	obj := func(key, lm string) objectstore.Object {
		return objectstore.Object{Key: key, Size: 10, LastModified: at(lm), ETag: key}
	}
	listing := objectstore.Listing{StoreTime: now, Objects: []objectstore.Object{
		obj("db/a", "2025-03-14T15:09:20Z"),
		obj("db/b", "2025-03-14T15:09:20Z"),
		obj("db/c", "2025-03-14T15:09:27.999Z"),
		obj("db/d", "2025-03-14T15:09:28Z"), // within the settle window
		obj("db/s/storage_locks/1_2", "2025-03-14T15:09:21Z"),
		obj("db/0", "2025-03-14T15:09:10Z"), // at the watermark
	}}
	p := replication.Policy{SettleWindow: 2 * time.Second, Exclude: storageLocks}
	w := at("2025-03-14T15:09:10Z")

	plan := replication.NewPlan(listing, nil, w, p)
	assert.Equal(t, []string{"db/a", "db/b", "db/c"}, keys(plan.Eligible))
	assert.Equal(t, at("2025-03-14T15:09:27.999999999Z"), plan.Cutoff)
	assert.Nil(t, plan.HeldBy)
	assert.EqualValues(t, 5, plan.TotalObjects)
	assert.EqualValues(t, 50, plan.TotalBytes)
	assert.Equal(t, at("2025-03-14T15:09:28Z"), plan.NewestWrite)
	assert.Equal(t, now, plan.StoreTime)

	// A multipart upload begun at 15:09:20.5 holds the cutoff before its second.
	uploads := []objectstore.Upload{
		{Key: "db/big", UploadID: "1", Initiated: at("2025-03-14T15:09:20.5Z")},
		{Key: "db/s/storage_locks/9", UploadID: "2", Initiated: at("2025-03-14T15:09:00Z")}, // excluded
	}
	plan = replication.NewPlan(listing, uploads, w, p)
	assert.Empty(t, plan.Eligible)
	assert.Equal(t, at("2025-03-14T15:09:19.999999999Z"), plan.Cutoff)
	require.NotNil(t, plan.HeldBy)
	assert.Equal(t, "db/big", plan.HeldBy.Key)

	// An upload begun before the watermark cannot move it back.
	uploads = []objectstore.Upload{{Key: "db/old", UploadID: "3", Initiated: at("2025-03-14T15:09:05Z")}}
	plan = replication.NewPlan(listing, uploads, w, p)
	assert.Empty(t, plan.Eligible)
	assert.Equal(t, w, plan.Cutoff)
}

func keys(objs []objectstore.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Key)
	}
	return out
}

// genListing draws a source listing: blobs (some under storage_locks) at the given
// LastModified resolution, sometimes several in one tick, and the store's clock after them.
func genListing(t *rapid.T, res time.Duration) objectstore.Listing {
	n := rapid.IntRange(0, 40).Draw(t, "n")
	var l objectstore.Listing
	clock := base
	for i := range n {
		clock = clock.Add(time.Duration(rapid.SampledFrom([]int64{0, 0, 1, 7, 250, 999, 1000, 1500}).Draw(t, "gapMs")) * time.Millisecond)
		key := fmt.Sprintf("db/sid/blob_%03d", i)
		if rapid.IntRange(0, 5).Draw(t, "kind") == 0 {
			key = fmt.Sprintf("db/sid/storage_locks/%d_2", i)
		}
		l.Objects = append(l.Objects, objectstore.Object{Key: key, Size: int64(i), LastModified: clock.Truncate(res), ETag: key})
	}
	// A listing is in key order, never in write order; the planner must not rely on either.
	l.Objects = rapid.Permutation(l.Objects).Draw(t, "order")
	now := clock.Add(time.Duration(rapid.Int64Range(0, 5_000).Draw(t, "afterMs")) * time.Millisecond)
	if rapid.Bool().Draw(t, "dateHeader") {
		now = now.Truncate(time.Second)
	}
	l.StoreTime = now
	if rapid.Bool().Draw(t, "resolutionKnown") {
		l.Resolution = res
	}
	return l
}

func TestNewPlanProperties(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				l := genListing(t, res)
				settle := time.Duration(rapid.SampledFrom([]int64{0, 1, 500, 1000, 2000, 2500}).Draw(t, "settleMs")) * time.Millisecond
				var w time.Time
				if rapid.Bool().Draw(t, "hasWatermark") {
					w = base.Add(time.Duration(rapid.Int64Range(-1_000, 20_000).Draw(t, "watermarkMs")) * time.Millisecond).Truncate(res).Add(-time.Nanosecond)
				}
				var uploads []objectstore.Upload
				for i := range rapid.IntRange(0, 3).Draw(t, "uploads") {
					key := fmt.Sprintf("db/sid/big_%d", i)
					if rapid.IntRange(0, 3).Draw(t, "uploadKind") == 0 {
						key = fmt.Sprintf("db/sid/storage_locks/u%d", i)
					}
					uploads = append(uploads, objectstore.Upload{Key: key, UploadID: fmt.Sprint(i),
						Initiated: base.Add(time.Duration(rapid.Int64Range(-1_000, 20_000).Draw(t, "initiatedMs")) * time.Millisecond)})
				}
				p := replication.Policy{SettleWindow: settle, Exclude: storageLocks}

				plan := replication.NewPlan(l, uploads, w, p)

				// Sorted by (LastModified, key), none excluded, all in (w, Cutoff].
				if !slices.IsSortedFunc(plan.Eligible, func(a, b objectstore.Object) int {
					if replication.Less(a, b) {
						return -1
					}
					if replication.Less(b, a) {
						return 1
					}
					return 0
				}) {
					t.Fatalf("eligible not in write order: %v", plan.Eligible)
				}
				for i, o := range plan.Eligible {
					if i > 0 && !replication.Less(plan.Eligible[i-1], o) {
						t.Fatalf("eligible %d and %d not strictly ordered", i-1, i)
					}
					if replication.Excluded(storageLocks, o.Key) {
						t.Fatalf("excluded %s is eligible", o.Key)
					}
					if o.LastModified.After(plan.Cutoff) {
						t.Fatalf("%s at %s newer than cutoff %s", o.Key, o.LastModified, plan.Cutoff)
					}
					if !o.LastModified.After(w) {
						t.Fatalf("%s at %s not after watermark %s", o.Key, o.LastModified, w)
					}
				}
				// Every blob in (w, Cutoff] that is not excluded is eligible.
				eligible := map[string]bool{}
				for _, o := range plan.Eligible {
					eligible[o.Key] = true
				}
				var total, bytes int64
				for _, o := range l.Objects {
					if replication.Excluded(storageLocks, o.Key) {
						continue
					}
					total++
					bytes += o.Size
					if o.LastModified.After(w) && !o.LastModified.After(plan.Cutoff) && !eligible[o.Key] {
						t.Fatalf("%s at %s in (%s, %s] but not eligible", o.Key, o.LastModified, w, plan.Cutoff)
					}
				}
				if plan.TotalObjects != total || plan.TotalBytes != bytes {
					t.Fatalf("totals %d/%d, want %d/%d", plan.TotalObjects, plan.TotalBytes, total, bytes)
				}

				// The cutoff: never before the watermark; otherwise before the store's second
				// minus the settle window, and before the first second of every upload.
				if plan.Cutoff.Before(w) {
					t.Fatalf("cutoff %s before watermark %s", plan.Cutoff, w)
				}
				if plan.Cutoff.After(w) {
					if !plan.Cutoff.Before(l.StoreTime.Add(-settle)) {
						t.Fatalf("cutoff %s not before store time %s - settle %s", plan.Cutoff, l.StoreTime, settle)
					}
					for _, u := range uploads {
						if !replication.Excluded(storageLocks, u.Key) && !plan.Cutoff.Before(u.Initiated.Truncate(time.Second)) {
							t.Fatalf("cutoff %s not before the first second of upload %s begun %s", plan.Cutoff, u.Key, u.Initiated)
						}
					}
				}
				// The cutoff is the latest such time: held by an upload exactly when one holds it.
				want := replication.Cutoff(l.StoreTime, settle, l.Resolution)
				var held *objectstore.Upload
				for i, u := range uploads {
					if h := u.Initiated.Truncate(time.Second).Add(-time.Nanosecond); !replication.Excluded(storageLocks, u.Key) && h.Before(want) {
						want, held = h, &uploads[i]
					}
				}
				if want.Before(w) {
					want = w
				}
				if !plan.Cutoff.Equal(want) {
					t.Fatalf("cutoff %s, want %s", plan.Cutoff, want)
				}
				if (held == nil) != (plan.HeldBy == nil) || (held != nil && held.Key != plan.HeldBy.Key) {
					t.Fatalf("held by %v, want %v", plan.HeldBy, held)
				}
			})
		})
	}
}

// TestNewPlanQuiescent: with a quiescent source every listed blob is eligible, settled or not,
// except behind an upload still in progress.
func TestNewPlanQuiescent(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	l := objectstore.Listing{StoreTime: now, Resolution: time.Millisecond, Objects: []objectstore.Object{
		{Key: "f/a", LastModified: now.Add(-5 * time.Second)},
		{Key: "f/b", LastModified: now.Add(-100 * time.Millisecond)},
		{Key: "f/x/storage_locks/1_1", LastModified: now.Add(time.Second)},
	}}
	p := replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 10, Exclude: []string{"*/storage_locks/*"}}
	require.Len(t, replication.NewPlan(l, nil, time.Time{}, p).Eligible, 1, "not quiescent: the fresh blob waits to settle")

	p.Quiescent = true
	plan := replication.NewPlan(l, nil, time.Time{}, p)
	require.Len(t, plan.Eligible, 2)
	require.True(t, plan.Cutoff.Equal(now.Add(-100*time.Millisecond)), "cutoff %s: the newest blob listed, locks excluded", plan.Cutoff)

	held := []objectstore.Upload{{Key: "f/c", Initiated: now.Add(-3 * time.Second)}}
	plan = replication.NewPlan(l, held, time.Time{}, p)
	require.Len(t, plan.Eligible, 1, "an upload in progress still holds the cutoff")
	require.NotNil(t, plan.HeldBy)
}
