package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// smallBlob is the size mix of the scale tests: 512 B to 2 KiB.
func smallBlob(r *rand.Rand) int { return 512 + r.IntN(1536) }

// TestManyDatabasesThroughOneWorker replicates 20 databases at once through one worker: 150
// blobs each before replication starts, 50 more each while it runs. Every database's target
// folder must hold exactly its own source blobs at its own watermark, and nothing else.
func TestManyDatabasesThroughOneWorker(t *testing.T) {
	const n, initial, more = 20, 150, 50
	ctx := context.Background()
	dbs := make([]config.Database, n)
	for i := range dbs {
		dbs[i] = config.Database{Name: fmt.Sprintf("db%02d", i), RootPath: fmt.Sprintf("db%02d_folder", i)}
	}
	s := newStackWith(t, stack.Options{Databases: dbs}, nil)
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])

	// write puts writers*perWriter blobs under each database's folder/storage, all databases
	// at once.
	write := func(storage string, writers, perWriter int) {
		t.Helper()
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i, d := range dbs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
					Prefix: d.RootPath + "/" + storage, Writers: writers, PerWriter: perWriter, Size: smallBlob, Seed: uint64(i)})
				if err == nil && res.Objects != writers*perWriter {
					err = fmt.Errorf("%s: workload wrote %d blobs, want %d", d.Name, res.Objects, writers*perWriter)
				}
				errs[i] = err
			}()
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// check asserts that each database's target folder holds exactly its want source blobs,
	// all at or below its watermark, and that the target holds nothing outside the folders.
	check := func(want int) {
		t.Helper()
		for _, d := range dbs {
			if got := checkAllAtWatermarkOf(t, src, dst, d.Name, d.RootPath); got != want {
				t.Errorf("%s: the watermark covers %d source blobs, want %d", d.Name, got, want)
			}
			keys, err := listKeys(ctx, dst, d.RootPath+"/")
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != want {
				t.Errorf("%s: %d blobs in the target folder, want %d", d.Name, len(keys), want)
			}
		}
		all, err := listKeys(ctx, dst, "")
		if err != nil {
			t.Fatal(err)
		}
		data := 0
		for _, k := range all {
			if !strings.HasPrefix(k, ".bdr/") {
				data++
			}
		}
		if data != n*want {
			t.Errorf("%d blobs in the target outside .bdr/, want %d", data, n*want)
		}
	}

	start := time.Now()
	write("0001", 3, initial/3)
	t.Logf("wrote %d blobs in %s", n*initial, time.Since(start).Round(time.Millisecond))
	tc := temporalClient(t, s)
	runs := make([]client.WorkflowRun, n)
	for i, d := range dbs {
		runs[i] = startReplicate(t, s, tc, d.Name)
	}
	for i, d := range dbs {
		st := waitCaughtUp(t, tc, runs[i].GetID(), 3*time.Minute)
		if st.InitialSync.Total != initial || st.InitialSync.Done != initial || st.CopiedObjects != initial {
			t.Errorf("%s: initial sync %d/%d, copied %d; want %d of %d copied", d.Name,
				st.InitialSync.Done, st.InitialSync.Total, st.CopiedObjects, initial, initial)
		}
	}
	t.Logf("initial syncs of %d databases caught up %s after the writes began", n, time.Since(start).Round(time.Millisecond))
	check(initial)

	write("0002", 2, more/2)
	const total = initial + more
	for i, d := range dbs {
		waitWatermarkPastNewest(t, s, tc, runs[i].GetID(), d.RootPath)
		if st := waitCaughtUp(t, tc, runs[i].GetID(), 3*time.Minute); st.CopiedObjects != total {
			t.Errorf("%s: status says %d blobs copied, want %d", d.Name, st.CopiedObjects, total)
		}
	}
	t.Logf("all %d databases caught up with the second writes %s after the first began", n, time.Since(start).Round(time.Millisecond))
	check(total)
}

// TestTwoWorkersOneKilledMidSync runs two workers on one task queue and kills, with SIGKILL,
// the one running the initial sync of 4,000 blobs, while it runs. The other must finish it:
// every blob arrives, and none is copied twice (the target bucket is versioned, so each PUT
// leaves a version): the resumed Sync skips the blobs the killed one had copied, those whose
// PUT completed before the kill included.
func TestTwoWorkersOneKilledMidSync(t *testing.T) {
	const total = 4000
	ctx := context.Background()
	s := newStack(t, func(c *config.Config) {
		c.Replication.Concurrency = 4 // slow enough that the kill lands inside the sync
		c.Replication.BatchMaxObjects = 100
	})
	if err := enableVersioning(ctx, s.MinIO["secondary"]); err != nil {
		t.Fatal(err)
	}
	if err := s.StartSpareWorker(ctx); err != nil {
		t.Fatal(err)
	}
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	res, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
		Prefix: rootPath + "/0001", Writers: 8, PerWriter: total / 8, Size: smallBlob})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != total {
		t.Fatalf("workload wrote %d blobs, want %d", res.Objects, total)
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	waitInitialSyncUnderway(t, s, total)

	// Freeze both workers, so that which one runs the Sync cannot change while the test reads
	// it, then kill that one and let the other go on.
	workers := map[int]struct {
		name       string
		kill, thaw func() error
	}{
		s.WorkerPID(): {"worker", s.KillWorker, s.ThawWorker},
		s.SparePID():  {"spare worker", s.KillSpareWorker, s.ThawSpareWorker},
	}
	victim, victimIdentity := 0, ""
	deadline := time.Now().Add(15 * time.Second)
	for victim == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no Sync activity seen started on a worker for 15 s")
		}
		if err := s.FreezeWorker(); err != nil {
			t.Fatal(err)
		}
		if err := s.FreezeSpareWorker(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond) // let requests sent before the freeze land
		desc, err := tc.DescribeWorkflowExecution(ctx, run.GetID(), "")
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range desc.GetPendingActivities() {
			if a.GetActivityType().GetName() != "Sync" || a.GetState() != enumspb.PENDING_ACTIVITY_STATE_STARTED {
				continue
			}
			pid, err := strconv.Atoi(strings.SplitN(a.GetLastWorkerIdentity(), "@", 2)[0])
			if _, ok := workers[pid]; err != nil || !ok {
				t.Fatalf("the Sync runs on %q, neither the worker (pid %d) nor the spare (pid %d)",
					a.GetLastWorkerIdentity(), s.WorkerPID(), s.SparePID())
			}
			victim, victimIdentity = pid, a.GetLastWorkerIdentity()
		}
		if victim == 0 {
			// Between two Syncs: try again.
			_ = s.ThawWorker()
			_ = s.ThawSpareWorker()
			time.Sleep(200 * time.Millisecond)
		}
	}
	survivor := s.WorkerPID()
	if victim == survivor {
		survivor = s.SparePID()
	}
	if err := workers[victim].kill(); err != nil {
		t.Fatal(err)
	}
	if err := workers[survivor].thaw(); err != nil {
		t.Fatal(err)
	}
	w, _ := readWatermark(ctx, dst)
	t.Logf("killed the %s (%s) running the Sync; watermark then %s", workers[victim].name, victimIdentity,
		w.Time.Format(time.RFC3339Nano))

	st := waitCaughtUp(t, tc, run.GetID(), 3*time.Minute)
	if n := checkAllAtWatermark(t, src, dst); n != total {
		t.Errorf("%d blobs in the target at the watermark after the kill, want %d", n, total)
	}
	versions := countVersions(t, ctx, s.MinIO["secondary"].S3(), rootPath+"/")
	if len(versions) != total {
		t.Errorf("%d keys in the target, want %d", len(versions), total)
	}
	copiedTwice := 0
	for key, v := range versions {
		if v != 1 {
			copiedTwice++
			t.Errorf("%s was written %d times", key, v)
		}
	}
	t.Logf("%d keys in the target, %d written more than once; status copied %d, initial sync %d/%d",
		len(versions), copiedTwice, st.CopiedObjects, st.InitialSync.Done, st.InitialSync.Total)

	// The history must show the kill where the test meant it: the killed worker's Sync timed
	// out on its heartbeat, and every Sync after it ran on the survivor.
	timedOut, afterKill := 0, map[string]int{}
	iter := tc.GetWorkflowHistory(ctx, run.GetID(), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			timedOut++
			t.Logf("activity timed out: %s", ev.GetActivityTaskTimedOutEventAttributes().GetFailure().GetMessage())
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
			if timedOut > 0 {
				afterKill[ev.GetActivityTaskStartedEventAttributes().GetIdentity()]++
			}
		}
	}
	if timedOut != 1 {
		t.Errorf("%d activities timed out, want 1 (the killed worker's Sync)", timedOut)
	}
	for identity := range afterKill {
		if strings.HasPrefix(identity, strconv.Itoa(victim)+"@") {
			t.Errorf("an activity started on the killed worker (%s) after its Sync timed out", identity)
		}
	}
	t.Logf("activities started after the timeout, by worker: %v", afterKill)
}
