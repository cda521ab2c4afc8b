package replication_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
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

// checkSealed checks that the target's root holds exactly the replicated source blobs with
// LastModified <= w (plus blobs that are not replicated copies, listed in foreign), and that
// every other copy is under sealedPrefix with its content and metadata.
func (e *syncEnv) checkSealed(t fatalf, w time.Time, sealedPrefix string, foreign ...string) {
	t.Helper()
	if v := e.prefixViolations(w); len(v) > 0 {
		t.Fatalf("after sealing to %s: %s", w, strings.Join(v, "; "))
	}
	src := e.src.Snapshot(testRoot + "/")
	for k, d := range e.dst.Snapshot(testRoot + "/") {
		if slices.Contains(foreign, k) {
			continue
		}
		s, ok := src[k]
		if !ok || s.LastModified.After(w) {
			t.Fatalf("%s (source %s) is in the target beyond watermark %s", k, s.LastModified, w)
		}
		if !bytes.Equal(s.Data, d.Data) {
			t.Fatalf("%s has other content", k)
		}
	}
	for k, d := range e.dst.Snapshot(sealedPrefix) {
		s, ok := src[strings.TrimPrefix(k, sealedPrefix)]
		if !ok || !bytes.Equal(s.Data, d.Data) {
			t.Fatalf("sealed %s is not its source's content", k)
		}
		if d.Meta[replication.MetaSourceETag] != s.ETag || d.Meta[replication.MetaSourceLastModified] != s.LastModified.UTC().Format(time.RFC3339Nano) {
			t.Fatalf("sealed %s lost its copy metadata: %v", k, d.Meta)
		}
	}
}

// TestSealMovesBatchInFlight: after a Sync, a batch beyond the watermark was being copied when
// the source failed. Seal moves exactly that batch aside, keeps its content there, leaves the
// rest, and moves nothing more when called again.
func TestSealMovesBatchInFlight(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(res, 10*time.Millisecond)
			for i := range 5 {
				e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, i), []byte(fmt.Sprint("content ", i)))
				e.clock.Advance(700 * time.Millisecond)
			}
			e.clock.Advance(10 * time.Second)
			in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 3, BatchMaxBytes: 1 << 20}, 3)
			_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w := e.checkTarget(t, time.Time{})

			// The in-flight batch: newer source blobs copied after the watermark record.
			var batch []objectstore.Object
			for i := range 3 {
				e.clock.Advance(400 * time.Millisecond)
				batch = append(batch, e.src.Put(fmt.Sprintf("%s/sid/late_%d", testRoot, i), []byte(fmt.Sprint("late ", i))))
			}
			e.clock.Advance(1500 * time.Millisecond)
			copier := &memCopier{src: e.src, dst: e.dst}
			for _, o := range batch {
				require.True(t, o.LastModified.After(w))
				require.NoError(t, copier.Copy(ctx, o, o.Key, replication.CopyMetadata(o.LastModified, o.ETag)))
			}
			// A blob copied again within the prefix, and one that is not a copy at all.
			old := e.src.Snapshot(testRoot + "/sid/blob_1")[testRoot+"/sid/blob_1"]
			require.NoError(t, e.dst.PutBytes(ctx, testRoot+"/sid/blob_1", old.Data, replication.CopyMetadata(old.LastModified, old.ETag)))
			require.NoError(t, e.dst.PutBytes(ctx, testRoot+"/manual", []byte("not ours"), nil))
			before := e.dst.Snapshot(testRoot + "/")

			got, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
			require.NoError(t, err)
			prefix := replication.SealedPrefix(testDB, "s1")
			assert.Equal(t, w, got.Watermark)
			assert.Equal(t, keys(batch), got.MovedKeys)
			assert.Equal(t, prefix, got.SealedTo)
			assert.Equal(t, ".bdr/"+testDB+"/sealed/s1/", prefix)
			for _, o := range batch {
				_, ok := e.dst.Get(o.Key)
				assert.False(t, ok, "%s left in place", o.Key)
				sealed, ok := e.dst.Get(prefix + o.Key)
				require.True(t, ok, "%s not under the sealed prefix", o.Key)
				assert.Equal(t, before[o.Key].Data, sealed.Data)
				assert.Equal(t, before[o.Key].Meta, sealed.Meta)
			}
			for k, o := range before {
				if !slices.Contains(got.MovedKeys, k) {
					now, ok := e.dst.Get(k)
					require.True(t, ok, "%s was removed", k)
					assert.Equal(t, o, now, "%s was changed", k)
				}
			}
			e.checkSealed(t, w, prefix, testRoot+"/manual")

			for _, id := range []string{"s1", "s2"} {
				again, err := replication.Seal(ctx, e.dst, testDB, testRoot, id)
				require.NoError(t, err)
				assert.Empty(t, again.MovedKeys, "second Seal %s moved more", id)
				assert.Empty(t, again.SealedTo)
			}
			assert.Len(t, e.dst.Snapshot(".bdr/"+testDB+"/sealed/"), len(batch))
		})
	}
}

// TestSealOutOfOrderBeforeRecord: a blob beyond the prefix can finish before the last
// watermark record is written (copies complete in any order). Here c is copied, then a
// completes and the watermark record moves to just before b, then b fails. c is beyond the
// watermark though written before the record; Seal must move it.
func TestSealOutOfOrderBeforeRecord(t *testing.T) {
	for _, res := range []time.Duration{time.Millisecond, time.Second} {
		t.Run(res.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(res, 0)
			for _, k := range []string{"a", "b", "c", "d"} {
				e.src.Put(testRoot+"/"+k, []byte(k))
				e.clock.Advance(time.Second)
			}
			e.clock.Advance(5 * time.Second)
			b := e.src.Snapshot("")[testRoot+"/b"]
			cWritten, recordWritten := make(chan struct{}), make(chan struct{})
			var recordOnce sync.Once
			e.dst.afterPut = func(key string) {
				switch key {
				case testRoot + "/c":
					close(cWritten)
				case replication.WatermarkKey(testDB):
					// The record moves to just before a first (after c), then to just before b.
					if w, _, err := replication.ReadWatermark(ctx, e.dst, testDB); err == nil && !w.Time.Before(b.LastModified.Add(-time.Nanosecond)) {
						recordOnce.Do(func() { close(recordWritten) })
					}
				}
			}
			copier := &memCopier{src: e.src, dst: e.dst, before: func(ctx context.Context, key string) error {
				switch key {
				case testRoot + "/a":
					<-cWritten
					e.clock.Advance(3 * time.Second) // the copy of a takes a while
				case testRoot + "/b":
					<-recordWritten
					return errInjected
				case testRoot + "/d":
					<-ctx.Done()
					return ctx.Err()
				}
				return nil
			}}
			in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 4)
			in.CheckpointEvery = 0
			_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
			require.ErrorIs(t, err, errInjected)
			w := e.checkTarget(t, time.Time{})
			require.Equal(t, b.LastModified.Add(-time.Nanosecond), w)

			got, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
			require.NoError(t, err)
			assert.Equal(t, []string{testRoot + "/c"}, got.MovedKeys)
			e.checkSealed(t, w, replication.SealedPrefix(testDB, "s1"))
		})
	}
}

// TestSealSameInstantInPrefix: at one-second resolution a, b and c are listed with the same
// LastModified. a is copied, then b fails: a is in the completed prefix, yet the watermark
// stays before it (it never separates blobs of the same instant). Seal must move a although
// it was copied before the record was written.
func TestSealSameInstantInPrefix(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Second, 0)
	for _, k := range []string{"a", "b", "c"} {
		e.src.Put(testRoot+"/"+k, []byte(k))
		e.clock.Advance(100 * time.Millisecond)
	}
	e.clock.Advance(time.Second)
	e.src.Put(testRoot+"/d", []byte("d"))
	e.clock.Advance(5 * time.Second)
	e.dst.afterPut = func(key string) {
		if key == testRoot+"/a" {
			e.clock.Advance(2 * time.Second)
		}
	}
	copier := &memCopier{src: e.src, dst: e.dst, before: func(_ context.Context, key string) error {
		if key == testRoot+"/b" {
			return errInjected
		}
		return nil
	}}
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 1, BatchMaxBytes: 1 << 20}, 1)
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.ErrorIs(t, err, errInjected)
	w := e.checkTarget(t, time.Time{})
	a := e.src.Snapshot("")[testRoot+"/a"]
	require.True(t, w.Before(a.LastModified))

	got, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
	require.NoError(t, err)
	assert.Equal(t, []string{testRoot + "/a"}, got.MovedKeys)
	e.checkSealed(t, w, replication.SealedPrefix(testDB, "s1"))
}

// TestSealAfterResumedCall: a first call copies b, c and d while a fails; a resumed call (a
// smaller window) fails on a before it starts the others again. Its record must still
// account for b, c and d, which the first call copied before it was written.
func TestSealAfterResumedCall(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	for _, k := range []string{"a", "b", "c", "d"} {
		e.src.Put(testRoot+"/"+k, []byte(k))
		e.clock.Advance(time.Second)
	}
	e.clock.Advance(5 * time.Second)
	var mu sync.Mutex
	written := 0
	othersDone := make(chan struct{})
	e.dst.afterPut = func(key string) {
		if strings.HasPrefix(key, testRoot+"/") {
			mu.Lock()
			if written++; written == 3 {
				close(othersDone)
			}
			mu.Unlock()
		}
	}
	failA := func(wait bool) *memCopier {
		return &memCopier{src: e.src, dst: e.dst, before: func(_ context.Context, key string) error {
			if key != testRoot+"/a" {
				return nil
			}
			if wait {
				<-othersDone
			}
			return errInjected
		}}
	}
	in := syncInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 4)
	_, err := replication.Sync(ctx, e.src, e.dst, failA(true), in, nil)
	require.ErrorIs(t, err, errInjected)
	w := e.checkTarget(t, time.Time{})
	require.Len(t, e.dst.Snapshot(testRoot+"/"), 3)

	e.clock.Advance(2 * time.Second)
	in.Policy.BatchMaxObjects, in.Concurrency, in.VerifyExisting = 1, 1, true
	_, err = replication.Sync(ctx, e.src, e.dst, failA(false), in, nil)
	require.ErrorIs(t, err, errInjected)
	w = e.checkTarget(t, w)

	got, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
	require.NoError(t, err)
	assert.Equal(t, []string{testRoot + "/b", testRoot + "/c", testRoot + "/d"}, got.MovedKeys)
	e.checkSealed(t, w, replication.SealedPrefix(testDB, "s1"))
}

// TestSealAfterFailedSync: whatever failed Sync calls left behind (random concurrency,
// window, settle window, completion order, failure; resumed with or without VerifyExisting),
// Seal leaves the target exactly the prefix at its watermark, moves the rest aside without
// losing any, and is idempotent.
func TestSealAfterFailedSync(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		res := rapid.SampledFrom([]time.Duration{time.Millisecond, time.Second}).Draw(t, "resolution")
		e := newSyncEnv(res, time.Duration(rapid.SampledFrom([]int64{0, 50, 400, 1100}).Draw(t, "tickMs"))*time.Millisecond)
		n := rapid.IntRange(1, 15).Draw(t, "blobs")
		for i := range n {
			e.clock.Advance(time.Duration(rapid.SampledFrom([]int64{0, 1, 500, 1000}).Draw(t, "gapMs")) * time.Millisecond)
			e.src.Put(fmt.Sprintf("%s/sid/blob_%02d", testRoot, i), []byte(rapid.StringN(0, 20, -1).Draw(t, "content")))
		}
		e.clock.Advance(3 * time.Second)
		delay := delayFor(rapid.Uint64().Draw(t, "delaySeed"), time.Duration(rapid.SampledFrom([]int64{0, 500, 2000}).Draw(t, "maxDelayUs"))*time.Microsecond)

		var mu sync.Mutex
		copies := 0
		progressed := make(chan struct{}, 1)
		e.dst.afterPut = func(key string) {
			if strings.HasPrefix(key, testRoot+"/") {
				mu.Lock()
				copies++
				mu.Unlock()
				select {
				case progressed <- struct{}{}:
				default:
				}
			}
		}
		var w time.Time
		var copied []string
		for range rapid.IntRange(1, 3).Draw(t, "attempts") {
			policy := replication.Policy{
				SettleWindow:    time.Duration(rapid.SampledFrom([]int64{0, 2000}).Draw(t, "settleMs")) * time.Millisecond,
				BatchMaxObjects: rapid.IntRange(1, 8).Draw(t, "batchMaxObjects"), BatchMaxBytes: 1 << 20}
			in := syncInput(policy, rapid.IntRange(1, 6).Draw(t, "concurrency"))
			in.CheckpointEvery = rapid.SampledFrom([]time.Duration{0, time.Hour}).Draw(t, "checkpointEvery")
			in.VerifyExisting = rapid.Bool().Draw(t, "verifyExisting")
			// The failing copy waits until some others are done, so that work beyond the
			// prefix is in the target when it fails.
			failKey := fmt.Sprintf("%s/sid/blob_%02d", testRoot, rapid.IntRange(0, n-1).Draw(t, "failKey"))
			waitFor := rapid.IntRange(0, 4).Draw(t, "failAfterCopies")
			mu.Lock()
			copies = 0
			mu.Unlock()
			copier := &memCopier{src: e.src, dst: e.dst, delay: delay, before: func(ctx context.Context, key string) error {
				if key != failKey {
					return nil
				}
				for {
					mu.Lock()
					enough := copies >= waitFor
					mu.Unlock()
					if enough {
						return errInjected
					}
					select {
					case <-progressed:
					case <-time.After(20 * time.Millisecond): // nothing else can finish
						return errInjected
					}
				}
			}}
			_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
			if err != nil && !errors.Is(err, errInjected) {
				t.Fatalf("Sync: %v", err)
			}
			w = e.checkTarget(t, w)
		}
		for k := range e.dst.Snapshot(testRoot + "/") {
			copied = append(copied, k)
		}

		prefix := replication.SealedPrefix(testDB, "s1")
		got, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
		if err != nil {
			t.Fatalf("Seal: %v", err)
		}
		e.checkSealed(t, w, prefix)
		// Nothing lost: every copy is in place or sealed.
		sealed := e.dst.Snapshot(prefix)
		for _, k := range copied {
			if _, ok := e.dst.Get(k); !ok {
				if _, ok := sealed[prefix+k]; !ok {
					t.Fatalf("%s was lost", k)
				}
			}
		}
		if len(sealed) != len(got.MovedKeys) {
			t.Fatalf("%d blobs sealed, %d reported", len(sealed), len(got.MovedKeys))
		}
		again, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
		if err != nil || len(again.MovedKeys) != 0 {
			t.Fatalf("second Seal: moved %v, %v", again.MovedKeys, err)
		}
	})
}
