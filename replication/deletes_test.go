package replication_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// deletesEnv is a replicated source and target, and the anti-entropy pass with a delete delay.
type deletesEnv struct {
	*syncEnv
	t      *testing.T
	policy replication.DeletePolicy
}

func newDeletesEnv(t *testing.T, blobs int, policy replication.DeletePolicy) *deletesEnv {
	e := &deletesEnv{syncEnv: newSyncEnv(time.Millisecond, time.Millisecond), t: t, policy: policy}
	for i := range blobs {
		e.src.Put(blobKey(i), []byte(fmt.Sprintf("blob %d", i)))
		e.clock.Advance(time.Second)
	}
	e.src.Put(testRoot+"/sid/storage_locks/1_1", []byte("lock"))
	e.dst.Put(testRoot+"/sid/storage_locks/2_2", []byte("the target's own lock"))
	e.clock.Advance(time.Minute)
	e.sync()
	return e
}

// sync copies what the source holds and moves the watermark to the present.
func (e *deletesEnv) sync() {
	e.t.Helper()
	in := syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20, Exclude: storageLocks}, 4)
	w, _, err := replication.ReadWatermark(context.Background(), e.dst, testDB)
	require.NoError(e.t, err)
	in.Watermark = w.Time
	_, err = replication.Sync(context.Background(), e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(e.t, err)
}

func blobKey(i int) string { return fmt.Sprintf("%s/sid/%04d", testRoot, i) }

// pass runs a Sync, which moves the watermark to the present as replication does between
// passes, then the anti-entropy pass with the env's delete policy, and returns its deletes.
func (e *deletesEnv) pass() replication.DeleteReport {
	e.t.Helper()
	e.sync()
	report, err := e.verify()
	require.NoError(e.t, err)
	require.NotNil(e.t, report.Deletes)
	return *report.Deletes
}

// verify runs the anti-entropy pass with the env's delete policy.
func (e *deletesEnv) verify() (replication.VerifyReport, error) {
	return replication.Verify(context.Background(), e.src, e.dst, &memCopier{src: e.src, dst: e.dst},
		testDB, testSource, testTarget, storageLocks, &e.policy)
}

// deleteAtSource deletes blobs i... from the source, as a database's garbage collection does.
func (e *deletesEnv) deleteAtSource(is ...int) {
	for _, i := range is {
		require.NoError(e.t, e.src.Delete(context.Background(), blobKey(i)))
	}
}

// inTarget reports which of blobs i... the target holds.
func (e *deletesEnv) inTarget(is ...int) map[int]bool {
	out := map[int]bool{}
	for _, i := range is {
		_, ok := e.dst.Get(blobKey(i))
		out[i] = ok
	}
	return out
}

// TestDeletesReachTheTargetOnlyAfterTheDelay: a blob the source deleted is recorded as pending
// with the source's clock when first found missing, kept in the target for the whole delay
// (across passes: the record keeps the first time), then deleted; locks are never touched.
func TestDeletesReachTheTargetOnlyAfterTheDelay(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 10, replication.DeletePolicy{Delay: time.Hour})
	require.Equal(t, replication.DeleteReport{}, e.pass(), "nothing deleted at the source: nothing to do")
	_, found, err := replication.ReadDeleteLog(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.False(t, found, "a record written with nothing in it")

	e.deleteAtSource(2, 3)
	foundAt := e.clock.Now()
	first := e.pass()
	assert.Equal(t, 2, first.Pending)
	assert.Zero(t, first.Deleted)
	assert.WithinDuration(t, foundAt.Add(time.Hour), first.NextDueAt, 2*time.Second)
	log, found, err := replication.ReadDeleteLog(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.True(t, found)
	require.Len(t, log.Pending, 2)
	puts := e.dst.Puts(replication.DeletesKey(testDB))
	e.pass()
	require.Equal(t, puts, e.dst.Puts(replication.DeletesKey(testDB)), "an unchanged record was written again")

	e.clock.Advance(59 * time.Minute)
	e.deleteAtSource(4) // found later: due later
	again := e.pass()
	assert.Equal(t, 3, again.Pending)
	assert.Equal(t, first.NextDueAt, again.NextDueAt, "a later pass restarted the delay")
	assert.Equal(t, map[int]bool{2: true, 3: true, 4: true}, e.inTarget(2, 3, 4))

	e.clock.Advance(2 * time.Minute)
	due := e.pass()
	assert.Equal(t, 2, due.Deleted)
	assert.Equal(t, 1, due.Pending)
	assert.EqualValues(t, 2, due.DeletedTotal)
	assert.Equal(t, map[int]bool{2: false, 3: false, 4: true}, e.inTarget(2, 3, 4))
	for _, k := range []string{testRoot + "/sid/storage_locks/2_2", blobKey(5)} {
		_, ok := e.dst.Get(k)
		assert.True(t, ok, "%s was deleted", k)
	}
	w, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
	require.NoError(t, err)
	assert.Empty(t, e.prefixViolations(w.Time))

	e.clock.Advance(time.Hour)
	last := e.pass()
	assert.Equal(t, replication.DeleteReport{Deleted: 1, DeletedBytes: int64(len("blob 4")), DeletedTotal: 3}, last)
	assert.Equal(t, map[int]bool{4: false}, e.inTarget(4))
}

// TestDeletesKeepWhatAMilestoneNeeds: a blob written before a recorded milestone and deleted
// after it stays in the target after its delay, and the report names the milestone; a blob
// deleted before the milestone, or written after it, does not. Once the milestone's record is
// removed, the held blob goes too.
func TestDeletesKeepWhatAMilestoneNeeds(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0) // before the milestone
	e.pass()
	e.clock.Advance(5 * time.Minute)
	milestone := replication.Milestone{Database: testDB, Name: "before-upgrade", Region: "primary", Time: e.clock.Now()}
	require.NoError(t, replication.WriteMilestone(ctx, e.dst, milestone))
	e.clock.Advance(5 * time.Minute)
	newer := e.src.Put(testRoot+"/sid/newer", []byte("written after the milestone"))
	e.clock.Advance(time.Minute)
	e.sync()
	e.deleteAtSource(1) // after the milestone: it needs it
	require.NoError(t, e.src.Delete(ctx, newer.Key))
	e.pass()

	e.clock.Advance(2 * time.Hour)
	report := e.pass()
	assert.Equal(t, 2, report.Deleted, "blob 0 (deleted before) and the newer blob (written after)")
	assert.Equal(t, 1, report.Held)
	assert.Equal(t, []string{"before-upgrade"}, report.HeldBy)
	assert.Equal(t, map[int]bool{0: false, 1: true}, e.inTarget(0, 1))

	require.NoError(t, e.dst.Delete(ctx, replication.MilestonePrefix(testDB)+milestone.Name+".json"))
	report = e.pass()
	assert.Equal(t, 1, report.Deleted)
	assert.Zero(t, report.Held)
	assert.Equal(t, map[int]bool{1: false}, e.inTarget(1))
}

// TestDeletesLeaveWhatComesBack: a pending blob the source holds again leaves the record and
// is not deleted; one the target lost meanwhile leaves it too.
func TestDeletesLeaveWhatComesBack(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0, 1)
	require.Equal(t, 2, e.pass().Pending)
	e.src.Put(blobKey(0), []byte("blob 0")) // back, same content
	require.NoError(t, e.dst.Delete(ctx, blobKey(1)))
	e.clock.Advance(2 * time.Hour)
	report := e.pass()
	assert.Zero(t, report.Pending)
	assert.Zero(t, report.Deleted)
	assert.Equal(t, map[int]bool{0: true}, e.inTarget(0))
	log, _, err := replication.ReadDeleteLog(ctx, e.dst, testDB)
	require.NoError(t, err)
	assert.Empty(t, log.Pending)
}

// TestDeletesNever: with delete_delay: never the pass counts what the source no longer holds,
// records nothing and deletes nothing, however long it waits.
func TestDeletesNever(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Never: true})
	e.deleteAtSource(0, 1, 2)
	e.clock.Advance(365 * 24 * time.Hour)
	assert.Equal(t, replication.DeleteReport{Never: true, Kept: 3}, e.pass())
	assert.Equal(t, map[int]bool{0: true, 1: true, 2: true}, e.inTarget(0, 1, 2))
	_, found, err := replication.ReadDeleteLog(ctx, e.dst, testDB)
	require.NoError(t, err)
	assert.False(t, found)
}

// TestDeletesOfAnotherSourceStartAfresh: a record written while another source replicated into
// this bucket (before a failover and a failback, say) says nothing about this source's
// deletes: its times are not used.
func TestDeletesOfAnotherSourceStartAfresh(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0)
	old := replication.DeleteLog{Database: testDB, Source: replication.Endpoint{Region: "elsewhere", RootPath: testRoot},
		Pending: []replication.PendingDelete{{Key: blobKey(0), Size: int64(len("blob 0")), ETag: etagOf([]byte("blob 0")),
			MissingSince: e.clock.Now().Add(-48 * time.Hour)}}}
	data, err := json.Marshal(old)
	require.NoError(t, err)
	require.NoError(t, e.dst.PutBytes(ctx, replication.DeletesKey(testDB), data, nil))
	report := e.pass()
	assert.Zero(t, report.Deleted, "deleted on another source's time")
	assert.Equal(t, 1, report.Pending)
}

// TestVerifySkipsRepairsOfBlobsTheSourceDeleted: a blob missing from the target that the
// source deletes before the pass repairs it is counted as vanished, not a failure.
func TestVerifySkipsRepairsOfBlobsTheSourceDeleted(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	require.NoError(t, e.dst.Delete(ctx, blobKey(1)))
	copier := &memCopier{src: e.src, dst: e.dst, before: func(ctx context.Context, key string) error {
		return e.src.Delete(ctx, key)
	}}
	report, err := replication.Verify(ctx, e.src, e.dst, copier, testDB, testSource, testTarget, storageLocks, nil)
	require.NoError(t, err)
	assert.Equal(t, 1, report.Missing)
	assert.Equal(t, 1, report.Vanished)
	assert.Zero(t, report.Repaired)
	assert.Equal(t, []string{blobKey(0), blobKey(2), blobKey(3)}, slices.Sorted(maps.Keys(e.dst.Snapshot(testRoot+"/sid/0"))))
}

// TestDeletesWaitWhenTheMilestonesCannotBeRead: a pass that cannot read the recorded
// milestones deletes nothing (any of them may need what is due) and says why.
func TestDeletesWaitWhenTheMilestonesCannotBeRead(t *testing.T) {
	ctx := context.Background()
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0)
	e.pass()
	e.clock.Advance(2 * time.Hour)
	e.sync()
	require.NoError(t, e.dst.PutBytes(ctx, replication.MilestonePrefix(testDB)+"broken.json", []byte("{"), nil))
	report, err := e.verify()
	require.ErrorContains(t, err, "broken.json")
	require.NotNil(t, report.Deletes)
	assert.Zero(t, report.Deletes.Deleted)
	assert.Equal(t, map[int]bool{0: true}, e.inTarget(0))
}

// TestDeletesWaitForTheWatermark: a blob found missing after the watermark stays in the
// target, past its delay, until the watermark passes the time it was found missing: the
// source's state at the watermark, which the target holds, may need it.
func TestDeletesWaitForTheWatermark(t *testing.T) {
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0)
	e.pass()
	e.clock.Advance(2 * time.Hour)
	// No Sync moves the watermark (an abandoned upload holds it, say).
	report, err := e.verify()
	require.NoError(t, err)
	assert.Zero(t, report.Deletes.Deleted)
	assert.Equal(t, 1, report.Deletes.Pending)
	assert.Equal(t, map[int]bool{0: true}, e.inTarget(0))
	assert.Equal(t, 1, e.pass().Deleted, "once a Sync moved the watermark past it")
}

// TestDeletesStopWhenASyncWritesTheRecord: a pass whose watermark record changes under it (a
// Sync checkpointed: an earlier attempt of the pass still running after the workflow moved
// on) deletes nothing more.
func TestDeletesStopWhenASyncWritesTheRecord(t *testing.T) {
	e := newDeletesEnv(t, 4, replication.DeletePolicy{Delay: time.Hour})
	e.deleteAtSource(0, 1)
	e.pass()
	e.clock.Advance(2 * time.Hour)
	e.sync()
	e.dst.afterList = func(string) {
		e.dst.afterList = nil
		e.src.Put(testRoot+"/sid/new", []byte("new"))
		e.clock.Advance(time.Minute)
		e.sync() // rewrites the record during the pass
	}
	report, err := e.verify()
	require.ErrorContains(t, err, "changed during the pass")
	assert.Zero(t, report.Deletes.Deleted)
	assert.Equal(t, map[int]bool{0: true, 1: true}, e.inTarget(0, 1))
}
