package replication_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestLateBlobIsReported: a blob that shows up at or below the watermark after the watermark
// passed it is reported by the next Sync (count, key, VerifyWanted), once; Verify then copies
// it. A blob deleted below the watermark is not reported.
func TestLateBlobIsReported(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(4)
	copier := &memCopier{src: e.src, dst: e.dst}
	first, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Zero(t, first.LateObjects)
	require.False(t, first.VerifyWanted)
	w := e.checkTarget(t, time.Time{})

	lateBlob := e.src.PutAt(testRoot+"/z/late", []byte("late"), w.Add(-2*time.Second))
	e.src.Put(testRoot+"/z/new", []byte("new")) // and a blob written as usual
	e.clock.Advance(time.Minute)
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.LateObjects)
	require.Equal(t, []string{lateBlob.Key}, got.LateKeys)
	require.True(t, got.VerifyWanted)
	_, ok := e.dst.Get(lateBlob.Key)
	require.False(t, ok, "the incremental path plans beyond the watermark: Verify copies it")

	again, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Zero(t, again.LateObjects, "reported once")

	report, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, nil, nil)
	require.NoError(t, err)
	require.Equal(t, 1, report.Repaired)

	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/00"))
	afterDelete, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Zero(t, afterDelete.LateObjects)
	require.False(t, afterDelete.VerifyWanted)
}

// countLists counts the listings of s's blobs from now on.
func countLists(s *memStore) func() int {
	var mu sync.Mutex
	n := 0
	s.afterList = func(kind string) {
		if kind == "list" {
			mu.Lock()
			n++
			mu.Unlock()
		}
	}
	return func() int {
		mu.Lock()
		defer mu.Unlock()
		return n
	}
}

// TestLateBlobsAreLookedForAmongNewBlobsOnly: a call whose worker remembers the set of blobs
// the record vouched for (BelowCache) and finds that set changed looks for late blobs only
// among the blobs outside it: a blob deleted below the watermark (garbage collection) costs
// no request, and a late blob one HEAD, where a call without the set lists the whole target.
func TestLateBlobsAreLookedForAmongNewBlobsOnly(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(6)
	in.Below = &replication.BelowCache{}
	copier := &memCopier{src: e.src, dst: e.dst}
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	w := e.checkTarget(t, time.Time{})
	targetLists := countLists(e.dst)

	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/00"))
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Zero(t, got.LateObjects)
	require.Zero(t, targetLists(), "a deletion below the watermark: nothing to look for")

	lateBlob := e.src.PutAt(testRoot+"/z/late", []byte("late"), w.Add(-2*time.Second))
	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/01"))
	got, err = replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.LateObjects)
	require.Equal(t, []string{lateBlob.Key}, got.LateKeys)
	require.Zero(t, targetLists(), "one HEAD for the new blob, no listing")

	// The same change seen by a call without the set: it lists the target.
	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/02"))
	in.Below = nil
	got, err = replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), got.LateObjects, "the late blob, still missing, once more")
	require.Equal(t, 1, targetLists())

	// A set the record no longer vouches for (another worker wrote a record since) is not used.
	stale := &replication.BelowCache{}
	in.Below = stale
	_, err = replication.Sync(ctx, e.src, e.dst, copier, in, nil) // remembers the set
	require.NoError(t, err)
	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/03"))
	in.Below = &replication.BelowCache{} // the other worker
	_, err = replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, 2, targetLists(), "the other worker has no set: it lists")
	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/04"))
	late2 := e.src.PutAt(testRoot+"/z/late2", []byte("late2"), w.Add(-time.Second))
	in.Below = stale
	got, err = replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, 3, targetLists(), "the stale set is not used")
	require.Contains(t, got.LateKeys, late2.Key)
}

// TestLateBlobIsReportedWhileFollowing: a late blob that shows up between two listings of a
// call that follows the source is reported by that call. Blobs deleted below its cutoff
// between two listings (garbage collection) make it list the target neither for them nor
// for the late blob: it asks the target about the blob the listing before did not show.
func TestLateBlobIsReportedWhileFollowing(t *testing.T) {
	ctx := context.Background()
	e := envWithOldBlobs()
	targetLists := countLists(e.dst)
	var lateKey string
	listings := e.onListing(func(n int) {
		if n <= 4 {
			e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, n), []byte{byte(n)})
		}
		switch n {
		case 2:
			require.NoError(t, e.src.Delete(ctx, testRoot+"/sid/old_0"))
		case 3:
			require.NoError(t, e.src.Delete(ctx, testRoot+"/sid/old_1"))
			lateKey = e.src.PutAt(testRoot+"/sid/late", []byte("late"), base).Key
		}
		e.clock.Advance(1999 * time.Millisecond)
	})
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 30}, 2)
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, listings(), 4, "the call did not follow")
	require.Equal(t, int64(1), got.LateObjects)
	require.Equal(t, []string{lateKey}, got.LateKeys)
	require.Zero(t, targetLists())
}

// TestBelowSetLeavesOutVanishedBlobs: a call during which listed blobs vanished before their
// copy (garbage collection during an initial sync) remembers the set its record vouches for,
// which leaves them out: the next call, seeing more deletions, still lists nothing.
func TestBelowSetLeavesOutVanishedBlobs(t *testing.T) {
	ctx := context.Background()
	e, in := zombieEnv(6)
	in.Below = &replication.BelowCache{}
	vanishing := testRoot + "/z/02"
	copier := &memCopier{src: e.src, dst: e.dst, before: func(ctx context.Context, key string) error {
		if key == vanishing {
			return e.src.Delete(ctx, key)
		}
		return nil
	}}
	first, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Equal(t, int64(1), first.VanishedObjects)
	targetLists := countLists(e.dst)
	require.NoError(t, e.src.Delete(ctx, testRoot+"/z/00"))
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.Zero(t, got.LateObjects)
	require.Zero(t, targetLists())
}

// TestLateOverwriteOfAWindowKeyIsReported: a blob that shows up at or below the cutoff under a
// key the window holds, in another version (a late overwrite), is late like any other: the
// window's copy is of the version it listed. It was skipped by key once, and a worker that
// remembers the set below the watermark would then never look at it again.
func TestLateOverwriteOfAWindowKeyIsReported(t *testing.T) {
	ctx := context.Background()
	e := envWithOldBlobs()
	var late objectstore.Object
	e.onListing(func(n int) {
		if n <= 4 {
			e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, n), []byte{byte(n)})
		}
		if n == 3 {
			late = e.src.PutAt(testRoot+"/sid/blob_1", []byte("a late overwrite, another size"), base)
		}
		e.clock.Advance(1999 * time.Millisecond)
	})
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 30}, 2)
	in.Below = &replication.BelowCache{}
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.Equal(t, []string{late.Key}, got.LateKeys)
	require.True(t, got.VerifyWanted)
}

// envWithOldBlobs returns a sync environment whose source holds four blobs a moment short of
// eligible under a 2 s settle window, for the follow tests' listings to add to.
func envWithOldBlobs() *syncEnv {
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	for i := range 4 {
		e.src.Put(fmt.Sprintf("%s/sid/old_%d", testRoot, i), []byte{byte(i)})
	}
	e.clock.Advance(1999 * time.Millisecond)
	return e
}
