package replication_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

const (
	testDB   = "bdb"
	testRoot = "bdb_folder"
)

// fatalf is what *testing.T and *rapid.T have in common for these helpers.
type fatalf interface {
	Helper()
	Fatalf(format string, args ...any)
}

// syncEnv is a source and a target memStore on one clock. Every time Sync writes the target's
// watermark record, the record is checked against both stores at that instant: DESIGN 5.2
// holds at every instant, not only when Sync returns.
type syncEnv struct {
	clock    *fakeClock
	src, dst *memStore

	mu         sync.Mutex
	violations []string
	recorded   time.Time // the newest watermark record written
	// outOfBand is set by a test that puts copies into the target itself: unlistedAhead
	// (which only the Sync's own copies satisfy) is not checked then.
	outOfBand bool
}

func newSyncEnv(res, tick time.Duration) *syncEnv {
	clock := newFakeClock(base)
	clock.SetTick(tick)
	e := &syncEnv{clock: clock, src: newMemStore(clock, res), dst: newMemStore(clock, res)}
	e.dst.beforePut = func(key string, data []byte, _ map[string]string) {
		if key != replication.WatermarkKey(testDB) {
			return
		}
		var w replication.Watermark
		if err := json.Unmarshal(data, &w); err != nil {
			e.violate(fmt.Sprintf("watermark record is not JSON: %v", err))
			return
		}
		for _, v := range e.prefixViolations(w.Time) {
			e.violate("when the watermark record moved to " + w.Time.String() + ": " + v)
		}
		e.mu.Lock()
		outOfBand := e.outOfBand
		e.mu.Unlock()
		for _, v := range e.unlistedAhead(w) {
			if !outOfBand {
				e.violate("when the watermark record moved to " + w.Time.String() + ": " + v)
			}
		}
		e.mu.Lock()
		back := w.Time.Before(e.recorded)
		prev := e.recorded
		e.recorded = later(e.recorded, w.Time)
		e.mu.Unlock()
		if back {
			e.violate("the watermark record moved back from " + prev.String() + " to " + w.Time.String())
		}
	}
	return e
}

func (e *syncEnv) violate(v string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.violations = append(e.violations, v)
}

func (e *syncEnv) checkNoViolations(t fatalf) {
	t.Helper()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.violations) > 0 {
		t.Fatalf("%d violations of the prefix rule, first: %s", len(e.violations), e.violations[0])
	}
}

// prefixViolations lists how the target fails to hold every replicated source blob with
// LastModified <= w with identical content and the copy metadata.
func (e *syncEnv) prefixViolations(w time.Time) []string {
	src, dst := e.src.Snapshot(testRoot+"/"), e.dst.Snapshot(testRoot+"/")
	var out []string
	for _, k := range slices.Sorted(mapsKeys(src)) {
		s := src[k]
		if replication.Excluded(storageLocks, k) || s.LastModified.After(w) {
			continue
		}
		d, ok := dst[k]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("%s (source %s) is missing", k, s.LastModified))
		case !bytes.Equal(d.Data, s.Data):
			out = append(out, fmt.Sprintf("%s has other content", k))
		case d.Meta[replication.MetaSourceLastModified] != s.LastModified.UTC().Format(time.RFC3339Nano):
			out = append(out, fmt.Sprintf("%s has %s %q, want %s", k, replication.MetaSourceLastModified,
				d.Meta[replication.MetaSourceLastModified], s.LastModified))
		case d.Meta[replication.MetaSourceETag] != s.ETag:
			out = append(out, fmt.Sprintf("%s has %s %q, want %q", k, replication.MetaSourceETag, d.Meta[replication.MetaSourceETag], s.ETag))
		}
	}
	return out
}

// unlistedAhead lists the target's copies beyond w's watermark that w does not list as
// Ahead: sealing would take them for the completed prefix (beyondRecord looks only at those
// and at blobs written after the record).
func (e *syncEnv) unlistedAhead(w replication.Watermark) []string {
	ahead := map[string]bool{}
	for _, k := range w.Ahead {
		ahead[k] = true
	}
	var out []string
	for k, d := range e.dst.Snapshot(testRoot + "/") {
		src, ok := d.Meta[replication.MetaSourceLastModified]
		if !ok || ahead[k] {
			continue
		}
		if t, err := time.Parse(time.RFC3339Nano, src); err == nil && t.After(w.Time) {
			out = append(out, fmt.Sprintf("%s (source %s) is in the target beyond the watermark and not listed as ahead", k, t))
		}
	}
	return out
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkTarget reads the target's watermark record back and checks the prefix rule against it
// and that it did not move back from prev. It returns the recorded watermark.
func (e *syncEnv) checkTarget(t fatalf, prev time.Time) time.Time {
	t.Helper()
	w, found, err := replication.ReadWatermark(context.Background(), e.dst, testDB)
	if err != nil {
		t.Fatalf("read watermark: %v", err)
	}
	if !found {
		w.Time = time.Time{}
	}
	if w.Time.Before(prev) {
		t.Fatalf("recorded watermark moved back from %s to %s", prev, w.Time)
	}
	if v := e.prefixViolations(w.Time); len(v) > 0 {
		t.Fatalf("watermark %s: %s", w.Time, strings.Join(v, "; "))
	}
	for k := range e.dst.Snapshot("") {
		if replication.Excluded(storageLocks, k) {
			t.Fatalf("%s was copied", k)
		}
	}
	e.checkNoViolations(t)
	return w.Time
}

// testSource and testTarget are the endpoints syncInput replicates between.
var (
	testSource = replication.Endpoint{Region: "primary", RootPath: testRoot}
	testTarget = replication.Endpoint{Region: "secondary", RootPath: testRoot}
)

func syncInput(p replication.Policy, concurrency int) replication.SyncInput {
	return replication.SyncInput{Database: testDB, From: "primary", To: "secondary", RootPath: testRoot,
		Policy: p, Concurrency: concurrency}
}

// delayFor returns a copy delay below max that depends only on the key and seed, so that
// parallel copies finish in an order unrelated to write order.
func delayFor(seed uint64, max time.Duration) func(string) time.Duration {
	return func(key string) time.Duration {
		if max <= 0 {
			return 0
		}
		h := fnv.New64a()
		fmt.Fprintf(h, "%d/%s", seed, key)
		return time.Duration(h.Sum64() % uint64(max))
	}
}

// TestSyncProperties runs rounds of writes and Sync calls with random concurrency, window,
// byte budget, out-of-order completion and an injected failure, and checks after each call
// that the recorded watermark is a prefix of the source and never moves back; after a failure
// that a resuming call with VerifyExisting completes without copying any completed blob
// again; and that storage locks are never copied.
func TestSyncProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		res := rapid.SampledFrom([]time.Duration{time.Millisecond, time.Second}).Draw(t, "resolution")
		tick := time.Duration(rapid.SampledFrom([]int64{0, 1, 37, 400}).Draw(t, "tickMs")) * time.Millisecond
		e := newSyncEnv(res, tick)
		// The store's clock as the listing knows it: the Date header's second, or the finer
		// estimate of objectstore's clock.
		e.src.clockStep = rapid.SampledFrom([]time.Duration{time.Millisecond, time.Second}).Draw(t, "storeClockStep")
		// A blob written just after the listing's snapshot, in the same instant: it is not in
		// the listing, so the watermark must not pass it.
		if rapid.Bool().Draw(t, "writeDuringListing") {
			writes := 0
			e.src.afterList = func(kind string) {
				if kind == "list" {
					writes++
					e.src.Put(fmt.Sprintf("%s/sid/during_%02d", testRoot, writes), []byte("late"))
				}
			}
		}
		policy := replication.Policy{
			SettleWindow:    time.Duration(rapid.SampledFrom([]int64{0, 1000, 2000}).Draw(t, "settleMs")) * time.Millisecond,
			BatchMaxObjects: rapid.IntRange(0, 8).Draw(t, "batchMaxObjects"),
			BatchMaxBytes:   rapid.SampledFrom([]int64{40, 1 << 30}).Draw(t, "batchMaxBytes"),
			Exclude:         storageLocks,
		}
		delay := delayFor(rapid.Uint64().Draw(t, "delaySeed"),
			time.Duration(rapid.SampledFrom([]int64{0, 300, 1500}).Draw(t, "maxDelayUs"))*time.Microsecond)

		var wm time.Time
		inflightAtFailures := 0
		for round := range rapid.IntRange(1, 3).Draw(t, "rounds") {
			n := rapid.IntRange(0, 12).Draw(t, "blobs")
			for i := range n {
				e.clock.Advance(time.Duration(rapid.SampledFrom([]int64{0, 1, 300, 999, 1000, 1700}).Draw(t, "gapMs")) * time.Millisecond)
				key := fmt.Sprintf("%s/sid/blob_%d_%02d", testRoot, round, i)
				if rapid.IntRange(0, 5).Draw(t, "kind") == 0 {
					key = fmt.Sprintf("%s/sid/storage_locks/%d_%d", testRoot, round, i)
				}
				e.src.Put(key, []byte(rapid.StringN(0, 30, -1).Draw(t, "content")))
			}
			e.clock.Advance(time.Duration(rapid.Int64Range(0, 4000).Draw(t, "settleMs")) * time.Millisecond)

			copier := &memCopier{src: e.src, dst: e.dst, delay: delay,
				failOn: rapid.IntRange(0, n+1).Draw(t, "failOn"), failAfterPut: rapid.Bool().Draw(t, "failAfterPut")}
			in := syncInput(policy, rapid.IntRange(0, 6).Draw(t, "concurrency"))
			in.VerifyExisting = rapid.Bool().Draw(t, "verifyExisting")
			in.CheckpointEvery = rapid.SampledFrom([]time.Duration{0, time.Hour}).Draw(t, "checkpointEvery")
			got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
			failed, doneAtFailure, inflight := copier.Failure()
			if failed != (err != nil) || (err != nil && !errors.Is(err, errInjected)) {
				t.Fatalf("Sync: %v; injected failure: %v", err, failed)
			}
			if got.LateObjects != 0 || got.VerifyWanted {
				t.Fatalf("%d late blobs reported (%v) where none showed late", got.LateObjects, got.LateKeys)
			}
			next := e.checkTarget(t, wm)
			if !got.Watermark.Time.Equal(later(next, in.Watermark)) {
				t.Fatalf("result watermark %s, recorded %s", got.Watermark.Time, next)
			}
			wm = next
			if err == nil {
				if !got.CaughtUp {
					t.Fatalf("not caught up without an error")
				}
				continue
			}

			// Resume after the failure: nothing completed is copied again.
			inflightAtFailures += inflight
			in.VerifyExisting = true
			got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst, delay: delay}, in, nil)
			if err != nil {
				t.Fatalf("resuming Sync: %v", err)
			}
			if !got.CaughtUp {
				t.Fatalf("resuming Sync did not catch up")
			}
			if got.LateObjects != 0 {
				t.Fatalf("resuming Sync: %d late blobs reported (%v) where none showed late", got.LateObjects, got.LateKeys)
			}
			wm = e.checkTarget(t, wm)
			puts := e.dst.Puts(testRoot + "/")
			for k, n := range doneAtFailure {
				if strings.HasPrefix(k, testRoot+"/") && puts[k] != n {
					t.Fatalf("%s was copied before the failure and %d times more after it", k, puts[k]-n)
				}
			}
		}

		// Drain one second later (the store's current second is never settled): everything
		// not excluded is in, each blob copied exactly once except the copies in flight at a
		// failure.
		e.clock.Advance(time.Second)
		e.src.afterList = nil
		in := syncInput(policy, 4)
		in.Drain = true
		got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst, delay: delay}, in, nil)
		if err != nil {
			t.Fatalf("drain: %v", err)
		}
		wm = e.checkTarget(t, wm)
		if !got.CaughtUp || got.PendingObjects != 0 {
			t.Fatalf("drain: caught up %v, pending %d", got.CaughtUp, got.PendingObjects)
		}
		distinct := 0
		for k, o := range e.src.Snapshot(testRoot + "/") {
			if replication.Excluded(storageLocks, k) {
				continue
			}
			distinct++
			if o.LastModified.After(wm) {
				t.Fatalf("%s at %s beyond the drained watermark %s", k, o.LastModified, wm)
			}
		}
		total := 0
		for k, n := range e.dst.Puts(testRoot + "/") {
			total += n
			if n != 1 {
				t.Fatalf("%s copied %d times", k, n)
			}
		}
		if total > distinct+inflightAtFailures || total != distinct {
			t.Fatalf("%d copies of %d blobs (%d in flight at failures)", total, distinct, inflightAtFailures)
		}
	})
}

func TestSyncStorageLocksNeverCopied(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	e.src.Put(testRoot+"/sid/blob_1", []byte("one"))
	e.src.Put(testRoot+"/sid/storage_locks/1_2", []byte("lock"))
	e.src.Put(testRoot+"/sid/blob_2", []byte("two"))
	e.src.StartUpload(testRoot+"/sid/storage_locks/3_4", []byte("lock being written"))
	e.clock.Advance(time.Minute)
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20, Exclude: storageLocks}, 4)
	for _, verify := range []bool{false, true} {
		in.VerifyExisting, in.Drain = verify, verify
		got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		require.NoError(t, err)
		assert.Empty(t, got.HeldBy, "an excluded upload holds nothing back")
		assert.EqualValues(t, 2, got.TotalObjects)
		assert.EqualValues(t, 6, got.TotalBytes)
		assert.Zero(t, got.PendingObjects)
		assert.True(t, got.CaughtUp)
	}
	_, ok := e.dst.Get(testRoot + "/sid/storage_locks/1_2")
	assert.False(t, ok, "storage lock copied")
	assert.Len(t, e.dst.Snapshot(testRoot+"/"), 2)
	e.checkTarget(t, time.Time{})
}

// TestSyncHeldByUpload: a multipart upload begun before other blobs holds the watermark before
// its start; once completed (listed with the LastModified of its start, in the past), the next
// Sync copies it and the watermark passes it.
func TestSyncHeldByUpload(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(res, 10*time.Millisecond)
			in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 2, BatchMaxBytes: 1 << 20, Exclude: storageLocks}, 3)
			a := e.src.Put(testRoot+"/a", []byte("a"))
			e.clock.Advance(1200 * time.Millisecond)
			up := e.src.StartUpload(testRoot+"/big", []byte("big blob"))
			e.clock.Advance(300 * time.Millisecond)
			b := e.src.Put(testRoot+"/b", []byte("b"))
			e.clock.Advance(2 * time.Second)
			c := e.src.Put(testRoot+"/c", []byte("c"))
			e.clock.Advance(10 * time.Second)

			got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w := e.checkTarget(t, time.Time{})
			assert.True(t, w.Before(up.Initiated.Truncate(time.Second)), "watermark %s not before upload start %s", w, up.Initiated)
			assert.False(t, w.Before(a.LastModified))
			assert.Contains(t, got.HeldBy, testRoot+"/big")
			assert.EqualValues(t, 2, got.PendingObjects, "b and c wait behind the upload")

			// Blobs copied meanwhile (as a previous run might have) do not move it either.
			e.mu.Lock()
			e.outOfBand = true // such a run's record would list them as Ahead
			e.mu.Unlock()
			for _, o := range []objectstore.Object{b, c} {
				require.NoError(t, (&memCopier{src: e.src, dst: e.dst}).Copy(ctx, o, o.Key, replication.CopyMetadata(o.LastModified, o.ETag)))
			}
			e.clock.Advance(10 * time.Second)
			in.VerifyExisting = true
			_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w = e.checkTarget(t, w)
			assert.True(t, w.Before(up.Initiated.Truncate(time.Second)), "watermark %s passed upload start %s", w, up.Initiated)

			big := e.src.CompleteUpload(up.UploadID)
			require.True(t, big.LastModified.Before(b.LastModified))
			e.clock.Advance(3 * time.Second)
			got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w = e.checkTarget(t, w)
			assert.Empty(t, got.HeldBy)
			assert.False(t, w.Before(c.LastModified), "watermark %s did not pass the completed upload", w)
			d, ok := e.dst.Get(big.Key)
			require.True(t, ok, "completed upload not copied")
			assert.Equal(t, "big blob", string(d.Data))
		})
	}
}

// TestSyncUploadCompletesDuringListing: a multipart upload begun long ago that completes while
// Sync lists the source must be seen either as in progress or as a blob; it is never missed.
func TestSyncUploadCompletesDuringListing(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(res, 10*time.Millisecond)
			in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
			e.src.Put(testRoot+"/a", []byte("a"))
			e.clock.Advance(time.Second)
			up := e.src.StartUpload(testRoot+"/big", []byte("big blob"))
			e.clock.Advance(time.Second)
			e.src.Put(testRoot+"/b", []byte("b"))
			e.clock.Advance(10 * time.Minute) // a long upload

			var once sync.Once
			e.src.afterList = func(string) { once.Do(func() { e.src.CompleteUpload(up.UploadID) }) }
			_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w := e.checkTarget(t, time.Time{})

			e.clock.Advance(time.Minute)
			_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w = e.checkTarget(t, w)
			_, ok := e.dst.Get(testRoot + "/big")
			assert.True(t, ok, "upload completed during the listing was never copied (watermark %s)", w)
		})
	}
}

// TestSyncDrain: Drain ignores the settle window, not the store's current second.
func TestSyncDrain(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(res, time.Millisecond)
			in := syncInput(replication.Policy{SettleWindow: 30 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
			for i := range 5 {
				e.src.Put(fmt.Sprintf("%s/blob_%d", testRoot, i), []byte{byte(i)})
				e.clock.Advance(100 * time.Millisecond)
			}
			e.clock.Advance(time.Second)

			got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			assert.Zero(t, got.CopiedObjects, "nothing is settled yet")
			assert.EqualValues(t, 5, got.PendingObjects)

			in.Drain = true
			got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			assert.EqualValues(t, 5, got.CopiedObjects)
			assert.Zero(t, got.PendingObjects)
			assert.True(t, got.CaughtUp)
			w := e.checkTarget(t, time.Time{})
			assert.False(t, w.Before(got.NewestWrite), "drained watermark %s before newest write %s", w, got.NewestWrite)
			assert.Len(t, e.dst.Snapshot(testRoot+"/"), 5)

			// A blob in the store's current second is not settled even when draining.
			last := e.src.Put(testRoot+"/now", []byte("now"))
			got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			assert.Zero(t, got.CopiedObjects)
			assert.EqualValues(t, 1, got.PendingObjects)
			assert.True(t, e.checkTarget(t, w).Before(last.LastModified))
		})
	}
}

// TestSyncNextEligibleIn: a caught-up call says when the oldest blob it left behind becomes
// eligible, by the store's clock; nothing when it left none or an upload holds the cutoff.
func TestSyncNextEligibleIn(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(3001 * time.Millisecond) // LastModified values a millisecond apart
	e.src.Put(testRoot+"/b", []byte("b"))
	e.clock.Advance(500 * time.Millisecond)

	began := time.Now()
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	took := time.Since(began)
	require.NoError(t, err)
	assert.True(t, got.CaughtUp)
	assert.EqualValues(t, 1, got.CopiedObjects)
	// b, written 0.5 s before the listing, is eligible 2 s + 1 ms (one step of the
	// resolution) after it was written, less the time this call took.
	assert.LessOrEqual(t, got.NextEligibleIn, 1501*time.Millisecond)
	assert.Greater(t, got.NextEligibleIn, 1501*time.Millisecond-took-time.Millisecond)

	// Sync subtracts the real time the call took from the wait it reports, but the fake store
	// clock stood still meanwhile: it moves by that time too.
	e.clock.Advance(got.NextEligibleIn + took + time.Millisecond)
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 1, got.CopiedObjects, "b is eligible when it said")
	assert.Zero(t, got.NextEligibleIn, "nothing left behind")

	e.src.StartUpload(testRoot+"/big", []byte("big"))
	e.clock.Advance(3 * time.Second)
	e.src.Put(testRoot+"/c", []byte("c"))
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	assert.NotEmpty(t, got.HeldBy)
	assert.Zero(t, got.NextEligibleIn, "an upload in progress holds the cutoff for as long as it lasts")
}

// TestSyncWaits: a call waits for in.Wait before it starts, and a cancellation ends the wait.
func TestSyncWaits(t *testing.T) {
	e := newSyncEnv(time.Millisecond, 0)
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.Wait = 50 * time.Millisecond
	began := time.Now()
	_, err := replication.Sync(context.Background(), e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(began), in.Wait)

	in.Wait = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, found, err := replication.ReadWatermark(context.Background(), e.dst, testDB)
	require.NoError(t, err)
	assert.True(t, found, "the first call wrote its record; the cancelled one changed nothing")
}

// TestSyncResumeAfterFailure is one deterministic run of the property: blob c completes,
// then b fails; the resuming call copies only b.
func TestSyncResumeAfterFailure(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Second, 300*time.Millisecond)
	e.putSecondsApart("a", "b", "c", "d")
	cDone := make(chan struct{})
	copier := &memCopier{src: e.src, dst: e.dst, before: func(ctx context.Context, key string) error {
		switch key {
		case testRoot + "/b":
			<-cDone
			return errInjected
		case testRoot + "/a", testRoot + "/d":
			<-ctx.Done() // still in flight when b fails
			return ctx.Err()
		}
		return nil
	}}
	e.dst.beforePut = chainPut(e.dst.beforePut, func(key string) {
		if key == testRoot+"/c" {
			close(cDone)
		}
	})
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 4)
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.ErrorIs(t, err, errInjected)
	w := e.checkTarget(t, time.Time{})
	assert.True(t, w.Before(e.src.Snapshot("")[testRoot+"/a"].LastModified), "a never finished: watermark %s", w)

	in.VerifyExisting = true
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	e.checkTarget(t, w)
	assert.EqualValues(t, 3, got.CopiedObjects)
	assert.EqualValues(t, 1, got.SkippedObjects)
	assert.Equal(t, map[string]int{testRoot + "/a": 1, testRoot + "/b": 1, testRoot + "/c": 1, testRoot + "/d": 1}, e.dst.Puts(testRoot+"/"))
}

// onListing runs fn after each listing of the source's blobs (not of its uploads), with the
// listing's number from 1, and returns a function that tells how many there were.
func (e *syncEnv) onListing(fn func(n int)) (count func() int) {
	var mu sync.Mutex
	listings := 0
	e.src.afterList = func(kind string) {
		if kind != "list" {
			return
		}
		mu.Lock()
		listings++
		n := listings
		mu.Unlock()
		fn(n)
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return listings
	}
}

// putSecondsApart writes a blob for each key under the root, a second apart, then lets five
// seconds pass: all are eligible.
func (e *syncEnv) putSecondsApart(keys ...string) {
	for _, k := range keys {
		e.src.Put(testRoot+"/"+k, []byte(k))
		e.clock.Advance(time.Second)
	}
	e.clock.Advance(5 * time.Second)
}

// chainPut runs next after prev in a beforePut hook.
func chainPut(prev func(string, []byte, map[string]string), next func(key string)) func(string, []byte, map[string]string) {
	return func(key string, data []byte, meta map[string]string) {
		if prev != nil {
			prev(key, data, meta)
		}
		next(key)
	}
}

// followInput is a call that follows the source (SyncInput.Follow) for as long as a test
// needs: it ends when the source has nothing more to become eligible.
func followInput(p replication.Policy, concurrency int) replication.SyncInput {
	in := syncInput(p, concurrency)
	in.Follow, in.PollInterval = time.Hour, time.Hour
	in.CheckpointEvery = time.Hour // only when everything listed is in, and at the end
	return in
}

// TestSyncFollowProperties: a call that follows a source written to while it runs copies
// every blob exactly once and ends caught up, the record being a prefix of the source at
// every write; with an injected failure, the record is a prefix and a resuming call copies
// nothing that was done again. Each listing moves the store's clock by just under the
// settle window, so that each makes the blobs of the listing before last eligible and the
// call keeps listing without waiting.
func TestSyncFollowProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		// MinIO's millisecond LastModified and objectstore's estimate of the store's clock:
		// with whole seconds the call would wait for up to a second of real time before each
		// listing. The clock moves only between listings, 1999 ms each (see above).
		e := newSyncEnv(time.Millisecond, 0)
		e.src.clockStep = time.Millisecond
		policy := replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: rapid.IntRange(1, 8).Draw(t, "batchMaxObjects"),
			BatchMaxBytes: 1 << 30, Exclude: storageLocks, Strict: rapid.Bool().Draw(t, "strict")}
		writeRounds := rapid.IntRange(1, 6).Draw(t, "writeRounds")
		perRound := rapid.IntRange(1, 4).Draw(t, "perRound")
		written := 1
		e.src.Put(testRoot+"/sid/blob_00_0", []byte("first")) // not yet eligible at the first listing
		e.clock.Advance(1999 * time.Millisecond)
		listings := e.onListing(func(n int) {
			if n <= writeRounds {
				for i := range perRound {
					e.src.Put(fmt.Sprintf("%s/sid/blob_%02d_%d", testRoot, n, i), []byte(fmt.Sprint(n, i)))
					written++
				}
			}
			e.clock.Advance(1999 * time.Millisecond)
		})
		copier := &memCopier{src: e.src, dst: e.dst, delay: delayFor(rapid.Uint64().Draw(t, "delaySeed"), 300*time.Microsecond),
			failOn: rapid.IntRange(0, writeRounds*perRound+1).Draw(t, "failOn"), failAfterPut: rapid.Bool().Draw(t, "failAfterPut")}
		in := followInput(policy, rapid.IntRange(1, 6).Draw(t, "concurrency"))
		got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
		failed, doneAtFailure, _ := copier.Failure()
		// A failure may hit an early copy (one started from a hint: early.go), which the call
		// absorbs: the window copies the blob, or finds it in, when it is eligible.
		if (err != nil && !failed) || (err != nil && !errors.Is(err, errInjected)) {
			t.Fatalf("Sync: %v; injected failure: %v", err, failed)
		}
		wm := e.checkTarget(t, time.Time{})
		if !got.Watermark.Time.Equal(wm) {
			t.Fatalf("result watermark %s, recorded %s", got.Watermark.Time, wm)
		}
		if got.LateObjects != 0 {
			t.Fatalf("%d late blobs reported (%v) where none showed late", got.LateObjects, got.LateKeys)
		}
		if err != nil {
			// The resuming call follows too, until everything written is in.
			in.VerifyExisting = true
			if got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil); err != nil {
				t.Fatalf("resuming Sync: %v", err)
			}
			wm = e.checkTarget(t, wm)
			puts := e.dst.Puts(testRoot + "/")
			for k, n := range doneAtFailure {
				if strings.HasPrefix(k, testRoot+"/") && puts[k] != n {
					t.Fatalf("%s was copied before the failure and %d times more after it", k, puts[k]-n)
				}
			}
			if !got.CaughtUp || got.PendingObjects != 0 {
				t.Fatalf("resuming Sync: caught up %v, pending %d", got.CaughtUp, got.PendingObjects)
			}
			return
		}
		if !got.CaughtUp || got.PendingObjects != 0 || got.NextEligibleIn != 0 {
			t.Fatalf("caught up %v, pending %d, next eligible in %s; want everything in", got.CaughtUp, got.PendingObjects, got.NextEligibleIn)
		}
		if listings() <= writeRounds {
			t.Fatalf("%d listings for %d rounds of writes: the call did not follow", listings(), writeRounds)
		}
		if got.ListRounds != listings() || got.ListRequests != 2*listings() {
			t.Fatalf("%d rounds and %d requests counted, %d listings made", got.ListRounds, got.ListRequests, listings())
		}
		src := e.src.Snapshot(testRoot + "/")
		if len(src) != written || got.CopiedObjects != int64(written) {
			t.Fatalf("%d blobs in the source, %d copied; %d written", len(src), got.CopiedObjects, written)
		}
		for k, o := range src {
			if o.LastModified.After(wm) {
				t.Fatalf("%s at %s beyond the watermark %s", k, o.LastModified, wm)
			}
		}
		for k, n := range e.dst.Puts(testRoot + "/") {
			if n != 1 && !policy.Strict {
				t.Fatalf("%s copied %d times", k, n)
			}
		}
		if len(e.dst.Snapshot(replication.StagingPrefix(testDB))) != 0 {
			t.Fatalf("staged copies left behind")
		}
	})
}

// TestSyncFollowStops: a following call returns after one listing when the next blob becomes
// eligible only after the poll interval, or when an upload in progress holds the cutoff:
// the workflow then waits, as it does for a call that does not follow.
func TestSyncFollowStops(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	listings := 0
	e.src.afterList = func(kind string) {
		if kind == "list" {
			listings++
		}
	}
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.PollInterval = time.Second
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(3 * time.Second)
	e.src.Put(testRoot+"/b", []byte("b"))
	e.clock.Advance(500 * time.Millisecond)
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, listings, "b is eligible in 1.5 s, after the poll interval")
	assert.Equal(t, 1, got.ListRounds)
	assert.Equal(t, 2, got.ListRequests, "one for the blobs, one for the uploads")
	assert.EqualValues(t, 2, got.CopiedObjects, "a, and b early: the call's first listing shows it")
	assert.EqualValues(t, 1, got.EarlyObjects)
	assert.True(t, got.CaughtUp)
	assert.Greater(t, got.NextEligibleIn, 500*time.Millisecond)
	e.checkTarget(t, time.Time{})

	e.src.StartUpload(testRoot+"/big", []byte("big"))
	e.clock.Advance(3 * time.Second)
	e.src.Put(testRoot+"/c", []byte("c"))
	e.clock.Advance(1990 * time.Millisecond)
	listings = 0
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, listings, "an upload in progress holds the cutoff")
	assert.NotEmpty(t, got.HeldBy)
	e.checkTarget(t, time.Time{})
}

// TestSyncHintedListingGap: while hints flow, a following call starts a listing no sooner
// than HintedListingGap after the one before (each listing here makes the next blob eligible
// at once, so without the gap they run back to back); with no hint read, it does not pace its
// listings: with a gap of an hour it would still be waiting when its guard timeout of a
// minute ends it, instead of being cancelled at its fourth listing.
func TestSyncHintedListingGap(t *testing.T) {
	run := func(t *testing.T, hinted bool, gap time.Duration) []time.Time {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		e := newSyncEnv(time.Millisecond, 0)
		e.src.clockStep = time.Millisecond
		var starts []time.Time // the uploads are listed first, when a listing begins
		hints := make(chan string, 1)
		listings := 0
		e.src.afterList = func(kind string) {
			switch kind {
			case "uploads":
				starts = append(starts, time.Now())
			case "list":
				listings++
				if listings == 4 {
					cancel()
					return
				}
				o := e.src.Put(fmt.Sprintf("%s/sid/blob_%03d", testRoot, listings), []byte("x"))
				if hinted {
					hints <- o.Key
					// Read (and so copied early) before the listing ends: the next is paced.
					waitFor(func() bool { _, ok := e.dst.Get(o.Key); return ok })
				}
				e.clock.Advance(1999 * time.Millisecond)
			}
		}
		e.src.Put(testRoot+"/sid/blob_000", []byte("x"))
		e.clock.Advance(1999 * time.Millisecond)
		in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
		in.Hints, in.HintedListingGap, in.PollInterval = hints, gap, time.Minute
		_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		require.ErrorIs(t, err, context.Canceled, "cancelled at the fourth listing")
		require.Len(t, starts, 4)
		e.checkTarget(t, time.Time{})
		return starts
	}
	t.Run("hints flow", func(t *testing.T) {
		const gap = 100 * time.Millisecond
		starts := run(t, true, gap)
		for i := 1; i < len(starts); i++ {
			assert.GreaterOrEqual(t, starts[i].Sub(starts[i-1]), gap, "listing %d began %s after the one before", i+1, starts[i].Sub(starts[i-1]))
		}
	})
	t.Run("no hint", func(t *testing.T) {
		run(t, false, time.Hour)
	})
}

// failingLister fails every ListParallel after the first ok ones, once beforeFail returns.
type failingLister struct {
	*memStore
	ok         int
	beforeFail func()

	mu    sync.Mutex
	calls int
}

var errListing = errors.New("listing failed")

func (f *failingLister) ListParallel(ctx context.Context, prefix string) (objectstore.Listing, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n > f.ok {
		if f.beforeFail != nil {
			f.beforeFail()
		}
		return objectstore.Listing{}, errListing
	}
	return f.memStore.ListParallel(ctx, prefix)
}

// TestSyncFollowEnds: a following call that is cancelled, or whose listing fails, returns
// that error with the record a prefix of the source, holding what the earlier listings made
// eligible; a following call with a budget stops when the budget is over.
func TestSyncFollowEnds(t *testing.T) {
	setup := func() (*syncEnv, *int) {
		e := newSyncEnv(time.Millisecond, 0)
		e.src.clockStep = time.Millisecond
		listings := 0
		e.src.Put(testRoot+"/sid/blob_000", []byte("x"))
		e.clock.Advance(1999 * time.Millisecond)
		e.src.afterList = func(kind string) {
			if kind != "list" {
				return
			}
			listings++
			e.src.Put(fmt.Sprintf("%s/sid/blob_%03d", testRoot, listings), []byte("x"))
			e.clock.Advance(1999 * time.Millisecond)
		}
		return e, &listings
	}
	policy := replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}

	t.Run("cancelled", func(t *testing.T) {
		e, listings := setup()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.src.afterList = chainList(e.src.afterList, func() {
			if *listings == 5 {
				waitFor(func() bool { _, ok := e.dst.Get(testRoot + "/sid/blob_001"); return ok })
				cancel()
			}
		})
		_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, followInput(policy, 2), nil)
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 5, *listings, "no listing after the cancellation")
		wm := e.checkTarget(t, time.Time{})
		b1, ok := e.src.Get(testRoot + "/sid/blob_001")
		require.True(t, ok)
		assert.False(t, wm.Before(b1.LastModified), "what the earlier listings made eligible is recorded")
	})
	t.Run("listing fails", func(t *testing.T) {
		e, listings := setup()
		// The failure comes once blob 2's copy is in, so that it cancels no copy of it.
		src := &failingLister{memStore: e.src, ok: 4, beforeFail: func() {
			waitFor(func() bool { _, ok := e.dst.Get(testRoot + "/sid/blob_002"); return ok })
		}}
		_, err := replication.Sync(context.Background(), src, e.dst, &memCopier{src: e.src, dst: e.dst}, followInput(policy, 2), nil)
		require.ErrorIs(t, err, errListing)
		assert.Equal(t, 4, *listings)
		wm := e.checkTarget(t, time.Time{})
		// The fourth listing made blob 2 eligible (written 3998 ms before it).
		b2, ok := e.src.Get(testRoot + "/sid/blob_002")
		require.True(t, ok)
		assert.False(t, wm.Before(b2.LastModified), "watermark %s, blob 2 at %s", wm, b2.LastModified)
	})
	t.Run("budget", func(t *testing.T) {
		e, listings := setup()
		in := followInput(policy, 2)
		in.Budget = time.Nanosecond
		got, err := replication.Sync(context.Background(), e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		require.NoError(t, err)
		assert.Equal(t, 1, *listings, "no copy may start after the budget, so nothing is listed again")
		assert.True(t, got.CaughtUp, "the first listing had nothing eligible")
		e.checkTarget(t, time.Time{})
	})
}

// waitFor polls cond until it holds, for ten seconds at most.
func waitFor(cond func() bool) {
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func chainList(prev func(string), next func()) func(string) {
	return func(kind string) {
		prev(kind)
		if kind == "list" {
			next()
		}
	}
}

// TestSyncProgressCarriesTheRecordTotals: each progress report counts every copy the record
// holds, earlier calls' included, and the source's blobs at the listing, so that a reader can
// show a long call's progress before it returns.
func TestSyncProgressCarriesTheRecordTotals(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	for i := range 3 {
		e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, i), []byte("data"))
	}
	e.clock.Advance(time.Minute)
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20}, 1)
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	for i := 3; i < 5; i++ {
		e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, i), []byte("data"))
	}
	e.clock.Advance(time.Minute)
	var last replication.Progress
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, func(p replication.Progress) { last = p })
	require.NoError(t, err)
	assert.EqualValues(t, 2, last.CopiedObjects, "by this call")
	assert.EqualValues(t, 5, last.RecordCopiedObjects, "since replication began")
	assert.EqualValues(t, 20, last.RecordCopiedBytes)
	assert.EqualValues(t, 5, last.TotalObjects)
}

// TestSyncSkipsBlobsGoneFromTheSource: a blob deleted from the source between its listing and
// its copy (a database's garbage collection), or overwritten meanwhile, is counted as vanished,
// not a failure; the watermark passes it, the target stays a prefix, and the next call finds
// nothing late to look for (it does not list the target).
func TestSyncSkipsBlobsGoneFromTheSource(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Second, 300*time.Millisecond)
	e.putSecondsApart("a", "b", "c", "d")
	copier := &memCopier{src: e.src, dst: e.dst, before: func(ctx context.Context, key string) error {
		switch key {
		case testRoot + "/b":
			return e.src.Delete(ctx, key)
		case testRoot + "/c":
			e.src.Put(key, []byte("c, overwritten"))
		}
		return nil
	}}
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 1)
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	assert.EqualValues(t, 2, got.CopiedObjects)
	assert.EqualValues(t, 2, got.VanishedObjects)
	assert.True(t, got.CaughtUp)
	w := e.checkTarget(t, time.Time{})
	assert.False(t, w.Before(e.src.Snapshot("")[testRoot+"/d"].LastModified), "the watermark passed what vanished: %s", w)
	assert.Equal(t, map[string]int{testRoot + "/a": 1, testRoot + "/d": 1}, e.dst.Puts(testRoot+"/"))

	// The next call copies c's new version and has nothing late to look for.
	targetLists := 0
	e.dst.afterList = func(kind string) {
		if kind == "list" {
			targetLists++
		}
	}
	e.clock.Advance(5 * time.Second)
	in.Watermark = w
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	e.checkTarget(t, w)
	assert.EqualValues(t, 1, got.CopiedObjects)
	assert.Zero(t, got.LateObjects)
	assert.Zero(t, targetLists, "the target was listed to look for late blobs")
}

// TestSyncFailsWhenTheTargetSideLosesAKey: a copy that fails with "not found" while the source
// still holds the blob as listed is a failure, not a vanished blob.
func TestSyncFailsWhenTheTargetSideLosesAKey(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Second, 300*time.Millisecond)
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(5 * time.Second)
	copier := &memCopier{src: e.src, dst: e.dst, before: func(_ context.Context, key string) error {
		return fmt.Errorf("put %s into the target: %w", key, os.ErrNotExist)
	}}
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 1)
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.ErrorIs(t, err, os.ErrNotExist)
	assert.Zero(t, got.VanishedObjects)
	e.checkTarget(t, time.Time{})
}

// TestSyncResumedCallListsWhatACrashedCallLeft: a call that died after its last record, its
// copies beyond the watermark landed (early copies, or a window running ahead), left blobs in
// the target that no record lists as Ahead. The call that resumes lists them in its records
// until its watermark passes them (syncEnv checks every record against the target), even
// while a slow first copy holds its watermark back.
func TestSyncResumedCallListsWhatACrashedCallLeft(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Second, 300*time.Millisecond)
	e.putSecondsApart("a", "b")
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 1, BatchMaxBytes: 1 << 20}, 1)
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	e.putSecondsApart("c", "d", "f")
	// The crashed call's copies of d and f, after its last record.
	e.clock.Advance(time.Second)
	for _, k := range []string{"d", "f"} {
		o := e.src.Snapshot(testRoot + "/" + k)[testRoot+"/"+k]
		require.NoError(t, (&memCopier{src: e.src, dst: e.dst}).Copy(ctx,
			objectstore.Object{Key: testRoot + "/" + k, Size: int64(len(o.Data)), LastModified: o.LastModified, ETag: o.ETag},
			testRoot+"/"+k, replication.CopyMetadata(o.LastModified, o.ETag)))
	}
	in.VerifyExisting = true
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	e.checkTarget(t, time.Time{})
	assert.EqualValues(t, 1, got.CopiedObjects, "c")
	assert.EqualValues(t, 2, got.SkippedObjects, "d and f")
}
