package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
	"go.temporal.io/sdk/client"
)

// loadSizes: mostly small blobs, some up to 1 MiB, and about one in a hundred of 5-8 MiB,
// above the 5 MiB multipart threshold this test configures, so multipart copies run too.
func loadSizes(r *rand.Rand) int {
	switch p := r.IntN(1000); {
	case p < 880:
		return 1<<10 + r.IntN(63<<10)
	case p < 990:
		return 64<<10 + r.IntN(960<<10)
	default:
		return 5<<20 + 1 + r.IntN(3<<20)
	}
}

// TestOrderUnderLoad is the order contract (DESIGN 5.1-5.3) under load: 8 writers write
// numbered blob sequences for 30 s while Replicate runs with concurrency 32. At 50 or more
// instants every source blob at or before the target's watermark must be in the target with
// the same size and content. Mid-load replication is paused (cancelling the copies in flight),
// the target is sealed to its watermark, and every writer's sequence in the target must be
// gap-free and exactly the source's prefix; then it resumes. Finally a drain copies the rest
// and every source blob is in the target.
func TestOrderUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, func(c *config.Config) {
		c.Replication.Concurrency = 32
		c.Replication.MultipartThreshold = 5 << 20
		c.Replication.PartSize = 5 << 20
		c.Replication.BatchMaxObjects = 200
	})
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)

	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan error, 1)
	go func() {
		_, err := workload.Run(loadCtx, s.MinIO["primary"].S3(), workload.Options{
			Bucket: bucket, Prefix: rootPath + "/0001", Writers: 8, Duration: 30 * time.Second,
			Rate: 10, Size: loadSizes, LockEvery: 50, Seed: 7})
		loadDone <- err
	}()

	// Sample the watermark during the load, and after it until there are 50 samples: how many
	// fit in the load depends on the machine's speed, and a test must not.
	samples, duringLoad, checked, lastW := 0, 0, 0, time.Time{}
	var checker prefixChecker
	loading := true
	for loading || samples < 50 {
		if loading {
			select {
			case err := <-loadDone:
				if err != nil {
					t.Fatalf("workload: %v", err)
				}
				loading = false
				duringLoad = samples
			case <-time.After(100 * time.Millisecond):
			}
		}
		w, err := readWatermark(ctx, dst)
		if err != nil {
			continue // before the first checkpoint
		}
		if w.Time.Before(lastW) {
			t.Fatalf("watermark went back from %s to %s", lastW, w.Time)
		}
		lastW = w.Time
		n, err := checker.check(ctx, src, dst, w.Time)
		if err != nil {
			t.Fatalf("sample %d: %v", samples, err)
		}
		samples, checked = samples+1, checked+n
		if samples == 25 && loading {
			// Mid-load: pause (cancelling the copies in flight), seal, check, resume.
			sealAndCheckGapFree(t, ctx, tc, run.GetID(), src, dst)
			resume(t, ctx, tc, run.GetID())
		}
	}
	t.Logf("%d samples (%d during the load), %d blob checks, last watermark %s", samples, duringLoad, checked, lastW.Format(time.RFC3339Nano))

	// Drain: everything the writers wrote reaches the target, then replication is paused.
	var drained workflows.DrainResult
	upd, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(),
		UpdateName: workflows.UpdateDrain, Args: []any{workflows.DrainRequest{}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if err := upd.Get(ctx, &drained); err != nil {
		t.Fatal(err)
	}
	sl, err := src.List(ctx, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range sl.Objects {
		if o.LastModified.After(drained.Watermark.Time) {
			t.Errorf("after drain, source blob %s (%s) is beyond the watermark %s", o.Key, o.LastModified, drained.Watermark.Time)
		}
	}
	n, err := checkPrefix(ctx, src, dst, drained.Watermark.Time)
	if err != nil {
		t.Fatal(err)
	}
	if drained.Status.State != workflows.StatePaused || drained.Status.PendingObjects != 0 {
		t.Errorf("after drain: state %s, pending %d; want paused, 0", drained.Status.State, drained.Status.PendingObjects)
	}
	t.Logf("drained: %d blobs in the target, watermark %s", n, drained.Watermark.Time.Format(time.RFC3339Nano))
}

// sealAndCheckGapFree pauses replication (cancelling the sync in flight), seals the target to
// its watermark, and checks that what remains is exactly the source's prefix, gap-free per
// writer, with nothing beyond the watermark lost (moved aside under the sealed prefix).
func sealAndCheckGapFree(t *testing.T, ctx context.Context, tc client.Client, id string, src, dst *objectstore.Client) {
	t.Helper()
	upd, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id,
		UpdateName: workflows.UpdatePause, Args: []any{workflows.PauseRequest{}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.Status
	if err := upd.Get(ctx, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != workflows.StatePaused {
		t.Fatalf("after pause: state %q", st.State)
	}
	before, err := listKeys(ctx, dst, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := replication.Seal(ctx, dst, db, rootPath, "test")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("sealed at %s: moved %d blobs aside, inspected %d", sealed.Watermark.Format(time.RFC3339Nano), len(sealed.MovedKeys), sealed.Checked)
	for _, k := range sealed.MovedKeys {
		if _, err := dst.Head(ctx, replication.SealedPrefix(db, "test")+k); err != nil {
			t.Errorf("sealed blob %s not kept aside: %v", k, err)
		}
	}
	after, err := listKeys(ctx, dst, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(after)+len(sealed.MovedKeys) != len(before) {
		t.Errorf("sealing: %d blobs before, %d after, %d moved", len(before), len(after), len(sealed.MovedKeys))
	}
	if _, err := checkPrefix(ctx, src, dst, sealed.Watermark); err != nil {
		t.Fatal(err)
	}
	// Exactly the prefix: nothing in the target is beyond the watermark.
	sl, err := src.List(ctx, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	srcTime := map[string]time.Time{}
	for _, o := range sl.Objects {
		srcTime[o.Key] = o.LastModified
	}
	perWriter := map[int][]int{}
	for _, k := range after {
		if srcTime[k].After(sealed.Watermark) {
			t.Errorf("after sealing, %s (source %s) is beyond the watermark %s", k, srcTime[k], sealed.Watermark)
		}
		if w, seq, ok := workload.ParseKey(rootPath+"/0001", k); ok {
			perWriter[w] = append(perWriter[w], seq)
		}
	}
	if len(perWriter) != 8 {
		t.Errorf("target holds blobs of %d writers, want 8", len(perWriter))
	}
	for w, seqs := range perWriter {
		sort.Ints(seqs)
		for i, seq := range seqs {
			if seq != i {
				t.Fatalf("writer %d: the sealed target holds %s but not %s: a gap", w,
					workload.Key(rootPath+"/0001", w, seq), fmt.Sprintf("%s/w%02d/%08d", rootPath+"/0001", w, i))
			}
		}
	}
}

func resume(t *testing.T, ctx context.Context, tc client.Client, id string) {
	t.Helper()
	upd, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id,
		UpdateName: workflows.UpdateResume, Args: []any{workflows.ResumeRequest{}}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if err := upd.Get(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
