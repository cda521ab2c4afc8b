package replication_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

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

// TestLateBlobIsReportedWhileFollowing: a late blob that shows up between two listings of a
// call that follows the source is reported by that call.
func TestLateBlobIsReportedWhileFollowing(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	e.src.Put(testRoot+"/sid/first", []byte("first"))
	e.clock.Advance(1999 * time.Millisecond)
	var lateKey string
	listings := e.onListing(func(n int) {
		if n <= 3 {
			e.src.Put(fmt.Sprintf("%s/sid/blob_%d", testRoot, n), []byte{byte(n)})
		}
		if n == 2 { // behind the cutoff the first listing planned to
			lateKey = e.src.PutAt(testRoot+"/sid/late", []byte("late"), base).Key
		}
		e.clock.Advance(1999 * time.Millisecond)
	})
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 30}, 2)
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.GreaterOrEqual(t, listings(), 3, "the call did not follow")
	require.Equal(t, int64(1), got.LateObjects)
	require.Equal(t, []string{lateKey}, got.LateKeys)
	require.True(t, got.VerifyWanted)
}
