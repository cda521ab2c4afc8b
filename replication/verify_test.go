package replication_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestVerifyFindsAndRepairsWhatIsMissing: after a sync, a target blob deleted and another
// overwritten behind our back are found by the anti-entropy pass, copied again and reported;
// a second pass finds nothing.
func TestVerifyFindsAndRepairsWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	for i := range 30 {
		e.src.Put(fmt.Sprintf("%s/sid/%04d", testRoot, i), []byte(fmt.Sprintf("blob %d", i)))
	}
	e.src.Put(testRoot+"/sid/storage_locks/1_1", []byte("lock"))
	e.clock.Advance(time.Minute)
	copier := &memCopier{src: e.src, dst: e.dst}
	in := syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20, Exclude: storageLocks}, 4)
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)

	clean, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, storageLocks, nil)
	require.NoError(t, err)
	require.Equal(t, replication.VerifyReport{Watermark: clean.Watermark, Checked: 30}, clean)
	require.Empty(t, clean.DifferingKeys)

	require.NoError(t, e.dst.Delete(ctx, testRoot+"/sid/0007"))
	require.NoError(t, e.dst.PutBytes(ctx, testRoot+"/sid/0012", []byte("damaged!"), nil))
	report, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, storageLocks, nil)
	require.NoError(t, err)
	require.Equal(t, 30, report.Checked)
	require.Equal(t, 1, report.Missing)
	require.Equal(t, 1, report.Mismatched)
	require.Equal(t, 2, report.Repaired)
	require.ElementsMatch(t, []string{testRoot + "/sid/0007", testRoot + "/sid/0012"}, report.RepairedKey)
	e.checkTarget(t, time.Time{})

	again, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, storageLocks, nil)
	require.NoError(t, err)
	require.Zero(t, again.Repaired)
	_, ok := e.dst.Get(testRoot + "/sid/storage_locks/1_1")
	require.False(t, ok, "verify copied a storage lock")
}

// TestCompareChecksEverythingAndRepairsNothing: Compare looks at every source blob, even those
// beyond the watermark, reports what differs and changes nothing.
func TestCompareChecksEverythingAndRepairsNothing(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	for i := range 10 {
		e.src.Put(fmt.Sprintf("%s/sid/%04d", testRoot, i), []byte(fmt.Sprintf("blob %d", i)))
	}
	e.clock.Advance(time.Minute)
	copier := &memCopier{src: e.src, dst: e.dst}
	in := syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20, Exclude: storageLocks}, 4)
	_, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	full, err := replication.Compare(ctx, e.src, e.dst, testDB, testRoot, storageLocks)
	require.NoError(t, err)
	require.Equal(t, 10, full.Checked)
	require.Zero(t, full.Missing+full.Mismatched)

	e.src.Put(testRoot+"/sid/late", []byte("written after the sync")) // beyond the watermark
	require.NoError(t, e.dst.Delete(ctx, testRoot+"/sid/0003"))
	report, err := replication.Compare(ctx, e.src, e.dst, testDB, testRoot, storageLocks)
	require.NoError(t, err)
	require.Equal(t, 11, report.Checked)
	require.Equal(t, 2, report.Missing)
	require.ElementsMatch(t, []string{testRoot + "/sid/0003", testRoot + "/sid/late"}, report.DifferingKeys)
	_, ok := e.dst.Get(testRoot + "/sid/0003")
	require.False(t, ok, "Compare repaired a blob")
}

func TestPrimaryRecordRoundTrip(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	_, found, err := replication.ReadPrimary(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.False(t, found)
	p := replication.Primary{Database: testDB, Region: "secondary", Since: base, By: "failover/x"}
	require.NoError(t, replication.WritePrimary(ctx, e.dst, p))
	got, found, err := replication.ReadPrimary(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, p.Region, got.Region)
	require.True(t, got.Since.Equal(base))
}
