package replication_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// zombieEnv is a source of n blobs, one a second, and a Sync that copies them one at a time
// (concurrency 1, a batch of 1, a checkpoint after every copy), so that what it does after an
// event in a copy's hook is exact.
func zombieEnv(n int) (*syncEnv, replication.SyncInput) {
	e := newSyncEnv(time.Millisecond, 0)
	for i := range n {
		e.src.Put(fmt.Sprintf("%s/z/%02d", testRoot, i), []byte{byte(i)})
		e.clock.Advance(time.Second)
	}
	e.clock.Advance(time.Minute)
	return e, syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 1, BatchMaxBytes: 1 << 20}, 1)
}

// TestNoZombieWriterAfterFenceOrSeal: a Sync still running when a failover fences (or seals)
// its target, as one cut off from Temporal would, stops: the copy in flight may land, but no
// copy starts after the next checkpoint and the record the fence or seal wrote is never
// overwritten.
func TestNoZombieWriterAfterFenceOrSeal(t *testing.T) {
	for _, how := range []string{"fence", "seal"} {
		t.Run(how, func(t *testing.T) {
			ctx := context.Background()
			e, in := zombieEnv(10)
			var mu sync.Mutex
			var calls int
			copier := &memCopier{src: e.src, dst: e.dst, before: func(_ context.Context, key string) error {
				mu.Lock()
				calls++
				n := calls
				mu.Unlock()
				if n == 4 { // the failover acts while the 4th copy is in flight
					var err error
					if how == "fence" {
						_, err = replication.WriteFence(ctx, e.dst, testDB, "secondary", "failover/x", e.clock.Now())
					} else {
						_, err = replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
					}
					require.NoError(t, err)
				}
				return nil
			}}
			_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
			var refused *replication.RefusedError
			require.True(t, errors.As(err, &refused), "want a RefusedError, got %v", err)
			require.Equal(t, replication.RefusedGeneration, refused.Reason)
			mu.Lock()
			require.Equal(t, 4, calls, "copies started after the fenced checkpoint")
			mu.Unlock()
			w, found, err := replication.ReadWatermark(ctx, e.dst, testDB)
			require.NoError(t, err)
			require.True(t, found)
			require.Equal(t, int64(1), w.Generation, "the zombie overwrote the fenced record")
			require.Equal(t, 3, len(e.dst.Snapshot(testRoot+"/z/"))-1, "the in-flight copy is the only one after the fence")
		})
	}
}

// TestSyncStopsWhenNotAlive: once the caller says it may no longer write (its heartbeats do
// not reach Temporal), no copy starts and no record is written.
func TestSyncStopsWhenNotAlive(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(10)
	var mu sync.Mutex
	var calls int
	lost := errors.New("no heartbeat acknowledged for 5s")
	var dead bool
	in.Alive = func() error {
		mu.Lock()
		defer mu.Unlock()
		if dead {
			return lost
		}
		return nil
	}
	copier := &memCopier{src: e.src, dst: e.dst, before: func(_ context.Context, key string) error {
		mu.Lock()
		defer mu.Unlock()
		if calls++; calls == 3 {
			dead = true
		}
		return nil
	}}
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.ErrorIs(t, err, lost)
	require.Equal(t, 3, calls)
	w, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
	require.NoError(t, err)
	third := e.src.Snapshot("")[testRoot+"/z/02"]
	require.True(t, w.Time.Before(third.LastModified), "a record was written after the caller died: %s", w.Time)
}

// TestSealAfterFenceFindsTheZombieCopies: a copy that lands after the last checkpoint is
// beyond the watermark and not in the record's Ahead; the fence then rewrites the record.
// The seal after it must still inspect what landed since the last checkpoint, not since the
// fence's rewrite.
func TestSealAfterFenceFindsTheZombieCopies(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(3)
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	w := e.checkTarget(t, time.Time{})
	late := e.src.Put(testRoot+"/z/late", []byte("late"))
	// A zombie's copy lands beyond the watermark after the last checkpoint.
	require.NoError(t, e.dst.PutBytes(ctx, late.Key, []byte("late"), replication.CopyMetadata(late.LastModified, late.ETag)))
	e.clock.Advance(3 * time.Second)
	_, err = replication.WriteFence(ctx, e.dst, testDB, "secondary", "failover/x", e.clock.Now())
	require.NoError(t, err)
	e.clock.Advance(3 * time.Second)
	sealed, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1")
	require.NoError(t, err)
	require.Equal(t, []string{late.Key}, sealed.MovedKeys)
	require.Equal(t, int64(2), sealed.Generation)
	e.checkSealed(t, w, replication.SealedPrefix(testDB, "s1"))
}

// TestWatermarkWithoutGenerationReads: a record written before generations existed reads
// with generation 0, and a Sync checkpoints over it.
func TestWatermarkWithoutGenerationReads(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(2)
	old := map[string]any{"database": testDB, "from": "primary", "to": "secondary",
		"time": base.Add(-time.Hour), "copiedObjects": 0, "copiedBytes": 0, "writtenAt": base}
	data, err := json.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, e.dst.PutBytes(ctx, replication.WatermarkKey(testDB), data, nil))
	w, found, err := replication.ReadWatermark(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.True(t, found)
	require.Zero(t, w.Generation)
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	e.checkTarget(t, time.Time{})
}

// TestVerifyStopsRepairingAfterAFence: a fence written while the anti-entropy pass repairs
// stops it before the next repair.
func TestVerifyStopsRepairingAfterAFence(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(5)
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	for i := range 5 { // damage the target behind our back: five repairs to make
		require.NoError(t, e.dst.Delete(ctx, fmt.Sprintf("%s/z/%02d", testRoot, i)))
	}
	var repairs int
	copier := &memCopier{src: e.src, dst: e.dst, before: func(context.Context, string) error {
		if repairs++; repairs == 2 {
			_, err := replication.WriteFence(ctx, e.dst, testDB, "secondary", "failover/x", e.clock.Now())
			require.NoError(t, err)
		}
		return nil
	}}
	report, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, nil, nil)
	requireRefused(t, err, replication.RefusedGeneration)
	require.Equal(t, 2, repairs)
	require.Equal(t, 2, report.Repaired)
}
