package replication_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestBranchIsTheSealedViewAndLeavesTheReplicaAlone: a replica holds a completed prefix, then
// a batch copied beyond its watermark, a storage lock and a blob that is not a copy. The branch
// holds exactly the prefix; the replica is unchanged; a
// second copy (a resumed one) copies nothing; deleting the branch empties its root only.
func TestBranchIsTheSealedViewAndLeavesTheReplicaAlone(t *testing.T) {
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

			view, found, err := replication.ReadRecordView(ctx, e.dst, testDB)
			require.NoError(t, err)
			require.True(t, found)
			assert.Equal(t, w, view.Time)

			// Replication goes on after the drill read the record: a batch beyond it lands.
			var beyond []objectstore.Object
			copier := &memCopier{src: e.src, dst: e.dst}
			for i := range 3 {
				e.clock.Advance(400 * time.Millisecond)
				o := e.src.Put(fmt.Sprintf("%s/sid/late_%d", testRoot, i), []byte(fmt.Sprint("late ", i)))
				require.NoError(t, copier.Copy(ctx, o, o.Key, replication.CopyMetadata(o.LastModified, o.ETag)))
				beyond = append(beyond, o)
			}
			require.NoError(t, e.dst.PutBytes(ctx, testRoot+"/manual", []byte("not ours"), nil))
			require.NoError(t, e.dst.PutBytes(ctx, testRoot+"/sid/storage_locks/1_2", []byte("lock"), nil))
			before := e.dst.Snapshot(testRoot + "/")

			plan, err := replication.PlanBranch(ctx, e.dst, testRoot, view, []string{"*/storage_locks/*"})
			require.NoError(t, err)
			assert.Equal(t, int64(len(beyond)+1), plan.Beyond, "the batch and the blob that is not a copy")
			branchRoot := replication.BranchRoot(testRoot, "drill", "20261207000000")
			done, err := replication.CopyBranch(ctx, e.dst, plan.Objects, testRoot, branchRoot, 4, nil, nil)
			require.NoError(t, err)
			assert.Equal(t, int64(len(plan.Objects)), done.Copied)

			branch := e.dst.Snapshot(branchRoot + "/")
			var want []string
			for k, o := range before {
				src, replicated := e.src.Get(k)
				inView := !strings.Contains(k, "storage_locks") && replicated && !src.LastModified.After(w)
				b, ok := branch[branchRoot+strings.TrimPrefix(k, testRoot)]
				assert.Equal(t, inView, ok, "%s in the branch", k)
				if ok {
					want = append(want, k)
					assert.True(t, bytes.Equal(o.Data, b.Data), "%s has other content in the branch", k)
					assert.Equal(t, o.Meta, b.Meta, "%s lost its metadata in the branch", k)
				}
			}
			assert.Len(t, branch, len(want))
			// A blob without replication metadata written since the record (as a database
			// attached in the target after a failover writes) is past the watermark.
			assert.NotContains(t, want, testRoot+"/manual")
			assert.Equal(t, before, e.dst.Snapshot(testRoot+"/"), "the replica was changed")

			again, err := replication.CopyBranch(ctx, e.dst, plan.Objects, testRoot, branchRoot, 4, nil, nil)
			require.NoError(t, err)
			assert.Zero(t, again.Copied, "a resumed copy copied again")
			assert.Equal(t, int64(len(plan.Objects)), again.Present)

			n, err := replication.DeleteBranch(ctx, e.dst, testRoot, branchRoot, 4)
			require.NoError(t, err)
			assert.Equal(t, int64(len(branch)), n)
			assert.Empty(t, e.dst.Snapshot(branchRoot+"/"))
			assert.Equal(t, before, e.dst.Snapshot(testRoot+"/"), "deleting the branch touched the replica")
		})
	}
}

// TestBranchRefusesRootsThatAreNotBranches: a branch's copy and delete act only on a sibling
// root path made by BranchRoot, never on the database's own.
func TestBranchRefusesRootsThatAreNotBranches(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	e.dst.Put(testRoot+"/sid/blob", []byte("x"))
	for _, root := range []string{testRoot, "other", testRoot + "/sub"} {
		_, err := replication.DeleteBranch(ctx, e.dst, testRoot, root, 1)
		assert.Error(t, err, root)
		_, err = replication.CopyBranch(ctx, e.dst, nil, testRoot, root, 1, nil, nil)
		assert.Error(t, err, root)
	}
	assert.Len(t, e.dst.Snapshot(testRoot+"/"), 1)
}

// TestClaimDrill: a drill's id is claimed once; the same workflow may record it again (a
// retry), another may not (two drills in the same second would share a branch).
func TestClaimDrill(t *testing.T) {
	ctx := context.Background()
	s := newMemStore(newFakeClock(base), time.Millisecond)
	report := func(wf string) []byte { return []byte(`{"workflowId":"` + wf + `"}`) }
	require.NoError(t, replication.ClaimDrill(ctx, s, testDB, "20261207000000", "drill/a", report("drill/a")))
	require.NoError(t, replication.ClaimDrill(ctx, s, testDB, "20261207000000", "drill/a", report("drill/a")))
	err := replication.ClaimDrill(ctx, s, testDB, "20261207000000", "drill/b", report("drill/b"))
	require.ErrorIs(t, err, replication.ErrDrillClaimed)
	assert.Contains(t, err.Error(), "drill/a")
	require.NoError(t, replication.ClaimDrill(ctx, s, testDB, "20261207000001", "drill/b", report("drill/b")))
}
