package e2e

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/monitor"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// startDrill starts a drill of db in the secondary with the input's other fields.
func startDrill(t *testing.T, s *stack.Stack, tc client.Client, in workflows.DrillInput) client.WorkflowRun {
	t.Helper()
	in.Database, in.To = db, "secondary"
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.DrillID(db, time.Now()),
		TaskQueue: s.Config.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.TestFailoverName, in)
	if err != nil {
		t.Fatalf("start drill: %v", err)
	}
	return run
}

// drillStatus answers a running drill's status query.
func drillStatus(ctx context.Context, tc client.Client, id string) (workflows.DrillResult, error) {
	v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return workflows.DrillResult{}, err
	}
	var res workflows.DrillResult
	return res, v.Get(&res)
}

// waitDrillPhase waits until the drill reaches phase and returns its status then; a drill
// that ends first fails the test with its error.
func waitDrillPhase(t *testing.T, tc client.Client, run client.WorkflowRun, phase string) workflows.DrillResult {
	t.Helper()
	var res workflows.DrillResult
	waitFor(t, 2*time.Minute, "drill "+run.GetID()+" to reach "+phase, func() (bool, error) {
		d, err := tc.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
		if err != nil {
			return false, err
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("drill ended before %s: %v", phase, run.Get(context.Background(), nil))
		}
		res, err = drillStatus(context.Background(), tc, run.GetID())
		return err == nil && res.Phase == phase, err
	})
	return res
}

// finishDrill sends finish and returns the drill's result.
func finishDrill(t *testing.T, tc client.Client, run client.WorkflowRun) workflows.DrillResult {
	t.Helper()
	ctx := context.Background()
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: run.GetID(), UpdateName: workflows.UpdateFinish,
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatalf("finish: %v", err)
	}
	if err := h.Get(ctx, nil); err != nil {
		t.Fatalf("finish: %v", err)
	}
	var res workflows.DrillResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("drill: %v", err)
	}
	return res
}

// checkBranchGone checks that the drill's branch is attached nowhere and its root path holds
// no blob.
func checkBranchGone(t *testing.T, s *stack.Stack, secondary *sql.DB, res workflows.DrillResult) {
	t.Helper()
	if !res.CleanedUp {
		t.Errorf("drill %s: not cleaned up", res.ID)
	}
	attached, err := attachedNames(secondary)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(attached, res.Branch) {
		t.Errorf("branch %s is still attached", res.Branch)
	}
	if res.BranchRoot == "" || !strings.HasPrefix(res.BranchRoot, rootPath+"_drill_") {
		t.Fatalf("branch root %q is not a drill branch of %s", res.BranchRoot, rootPath)
	}
	left, err := listKeys(context.Background(), store(t, s.MinIO["secondary"]), res.BranchRoot+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(left) > 0 {
		t.Errorf("branch root %s still holds %d blobs, e.g. %s", res.BranchRoot, len(left), left[0])
	}
}

func attachedNames(conn *sql.DB) ([]string, error) {
	rows, err := conn.Query("SHOW DATABASES")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

// ackLog is what writers first, first+1, … acknowledged, and when.
type ackLog struct {
	mu    sync.Mutex
	first int
	acked []int
	at    [][]time.Time
}

// writeRows runs writers first..first+n-1 INSERTing (writer, seq) into conn until ctx ends or
// an INSERT fails.
func writeRows(ctx context.Context, conn *sql.DB, first, n int) (*ackLog, func()) {
	log := &ackLog{first: first, acked: make([]int, n), at: make([][]time.Time, n)}
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ctx.Err() == nil; seq++ {
				if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (%d, %d)", db, first+i, seq)); err != nil {
					return
				}
				log.mu.Lock()
				log.acked[i], log.at[i] = seq+1, append(log.at[i], time.Now())
				log.mu.Unlock()
			}
		}()
	}
	return log, wg.Wait
}

// ackedBy returns, per writer (indexed by writer number), how many rows it had acknowledged
// at t.
func (l *ackLog) ackedBy(t time.Time) []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]int, l.first+len(l.acked))
	for i, ats := range l.at {
		out[l.first+i] = len(ats) - len(slices.DeleteFunc(slices.Clone(ats), func(a time.Time) bool { return !a.After(t) }))
	}
	return out
}

// snapshot returns how many rows each writer acknowledged, indexed by writer number.
func (l *ackLog) snapshot() []int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(make([]int, l.first), l.acked...)
}

// total counts the rows acknowledged.
func (l *ackLog) total() int {
	n := 0
	for _, a := range l.snapshot() {
		n += a
	}
	return n
}

// TestDrillUnderLoad: SQL writers commit into the primary while it replicates, and a drill
// runs in the secondary. The branch attaches there; its rows are exactly a prefix of the
// acknowledged rows and hold every row acknowledged by the drill's watermark; replication's
// watermark keeps moving during the drill (it is never paused); the drill sends not one byte
// to the primary's database; the invariant monitor sees one serving region throughout (the
// branch is never mistaken for the database); after finish the branch is detached and its
// root path is empty, and the report is recorded in the secondary's bucket.
func TestDrillUnderLoad(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := standinStack(t, stack.Options{Faults: true, RecordStoreRequests: true}, nil)
	m := monitor.Start(t, s, db)
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	waitCaughtUp(t, tc, repl.GetID(), 2*time.Minute)

	loadCtx, stopLoad := context.WithCancel(ctx)
	acks, waitWriters := writeRows(loadCtx, primary, 0, 3)
	defer func() { stopLoad(); waitWriters() }()
	waitFor(t, time.Minute, "rows to replicate", func() (bool, error) {
		st, err := queryStatus(ctx, tc, repl.GetID())
		return err == nil && st.CopiedObjects > 20, err
	})

	dbBefore := s.Faults.Traffic(stack.DatabaseOf("primary"))
	storeMark := s.StoreRequestCount("primary")
	run := startDrill(t, s, tc, workflows.DrillInput{Validate: []string{"SELECT COUNT(*) FROM t", "SELECT MAX(seq) FROM t WHERE writer = 0"}, KeepFor: "10m"})
	kept := waitDrillPhase(t, tc, run, workflows.DrillKept)
	if !kept.Passed {
		t.Fatalf("drill failed: %s", kept.Reason)
	}
	// Replication was never paused: its watermark passes the drill's while the drill runs.
	waitFor(t, time.Minute, "replication's watermark to pass the drill's", func() (bool, error) {
		st, err := queryStatus(ctx, tc, repl.GetID())
		if err == nil && st.State == workflows.StatePaused {
			return false, errors.New("replication is paused during the drill")
		}
		return err == nil && st.Watermark.Time.After(kept.Watermark), err
	})

	got, err := monitor.ReadRows(ctx, secondary, kept.Branch)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.ExactPrefix(got, acks.snapshot()); err != nil {
		t.Errorf("branch rows: %v", err)
	}
	byW := acks.ackedBy(kept.Watermark)
	for w, n := range byW {
		if len(got[w]) < n {
			t.Errorf("writer %d: the branch holds %d rows, but %d were acknowledged by the watermark %s", w, len(got[w]), n, kept.Watermark)
		}
	}
	if len(kept.Validation) != 2 || kept.Validation[0].Rows != 1 {
		t.Errorf("validation: %+v", kept.Validation)
	}
	if !kept.RPOKnown || kept.RPOSeconds < 0 || kept.AttachSeconds <= 0 || kept.Branched.Objects == 0 || kept.Branched.Copied != kept.Branched.Objects || kept.Branched.Resumed != 0 {
		t.Errorf("report: RPO %v (known %v), attach %.2fs, branched %+v", kept.RPOSeconds, kept.RPOKnown, kept.AttachSeconds, kept.Branched)
	}

	res := finishDrill(t, tc, run)
	if after := s.Faults.Traffic(stack.DatabaseOf("primary")); after != dbBefore {
		t.Errorf("the drill reached the primary's database: traffic %+v before, %+v after", dbBefore, after)
	}
	// Meanwhile the primary's store served replication's reads, and nothing else.
	during := s.StoreRequestsSince("primary", storeMark)
	replicated := 0
	for _, r := range during {
		if !strings.HasPrefix(r.Operation, workflows.ReplicateName+"/") {
			t.Errorf("during the drill the primary's store got a request that is not replication's: %s", r)
		} else if r.Method == "GET" && strings.HasPrefix(r.Key, rootPath+"/") {
			replicated++
		}
	}
	if replicated == 0 {
		t.Errorf("replication read no blob from the primary's store during the drill (%d requests): the check above proved nothing", len(during))
	}
	checkBranchGone(t, s, secondary, res)
	if !res.Passed || res.Phase != workflows.DrillDone {
		t.Errorf("result: %s", res.Summary())
	}
	var recorded workflows.DrillResult
	found, err := replication.ReadDrill(ctx, store(t, s.MinIO["secondary"]), db, res.ID, &recorded)
	if err != nil || !found {
		t.Fatalf("drill record: found %v, %v", found, err)
	}
	if !recorded.Passed || !recorded.CleanedUp || recorded.Watermark != res.Watermark {
		t.Errorf("recorded report: %+v", recorded)
	}
	stopLoad()
	waitWriters()
	if r := m.Stop(); len(r.Violations) > 0 {
		t.Errorf("invariant monitor: %v", r.Violations)
	}
}

// TestDrillFindings: on one replica, bad input is refused with an error naming the field, and
// nothing is branched or recorded; a drill at a milestone holds exactly the rows committed
// before it; a replica with a gap (one log blob deleted from the target) fails the drill
// loudly, naming the missing log, and changes nothing else.
func TestDrillFindings(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := failoverStack(t, nil)
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	acked := insertRows(t, primary, 0, 12)
	if out, err := s.Bdr(ctx, "milestone", "create", db, "drill_point"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	atMilestone := acked
	// A milestone's time has whole seconds: the replica reaches past it once it holds a write
	// made more than a second after it (the drill refuses a milestone it cannot be sure of).
	time.Sleep(1100 * time.Millisecond)
	acked = insertRows(t, primary, acked, 8)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
	target := store(t, s.MinIO["secondary"])

	t.Run("bad input", func(t *testing.T) {
		for _, tc2 := range []struct {
			in    workflows.DrillInput
			field string
		}{
			{workflows.DrillInput{Database: "nope", To: "secondary"}, "database: unknown database"},
			{workflows.DrillInput{Database: db, To: "mars"}, "to: unknown region"},
			{workflows.DrillInput{Database: db, To: "primary"}, "to: primary is the primary"},
			{workflows.DrillInput{Database: db, To: "secondary", Validate: []string{"UPDATE t SET seq = 0"}}, "validate[0]"},
			{workflows.DrillInput{Database: db, To: "secondary", At: &workflows.FailoverAt{Milestone: "never_made"}}, `at.milestone: no milestone "never_made"`},
		} {
			run, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.DrillID(tc2.in.Database, time.Now()) + "-" + tc2.field[:3],
				TaskQueue: s.Config.Temporal.TaskQueue}, workflows.TestFailoverName, tc2.in)
			if err != nil {
				t.Fatal(err)
			}
			err = run.Get(ctx, nil)
			if err == nil || !strings.Contains(err.Error(), tc2.field) || !strings.Contains(err.Error(), activities.ErrInvalidInput) {
				t.Errorf("%+v: %v, want an invalid-input error naming %q", tc2.in, err, tc2.field)
			}
		}
		for _, region := range []string{"primary", "secondary"} {
			roots, err := store(t, s.MinIO[region]).Folders(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range roots {
				if strings.Contains(r, "_drill_") {
					t.Errorf("a drill's branch %s is left in %s", r, region)
				}
			}
		}
		records, err := replication.ListDrills(ctx, target, db)
		if err != nil || len(records) != 0 {
			t.Errorf("drill records: %d (%v), want none: bad input records nothing", len(records), err)
		}
	})

	t.Run("at a milestone", func(t *testing.T) {
		run := startDrill(t, s, tc, workflows.DrillInput{At: &workflows.FailoverAt{Milestone: "drill_point"}, KeepFor: "10m"})
		kept := waitDrillPhase(t, tc, run, workflows.DrillKept)
		got, err := monitor.ReadRows(ctx, secondary, kept.Branch)
		if err != nil {
			t.Fatal(err)
		}
		if err := monitor.NoneLost(got, []int{atMilestone}); err != nil || len(got[0]) != atMilestone {
			t.Errorf("branch at the milestone: %d rows, want exactly the %d before it (%v)", len(got[0]), atMilestone, err)
		}
		res := finishDrill(t, tc, run)
		if res.AttachedAt != "milestone drill_point" {
			t.Errorf("attached at %q", res.AttachedAt)
		}
		checkBranchGone(t, s, secondary, res)
	})

	t.Run("a gap fails loudly", func(t *testing.T) {
		gap := logWithSuccessor(t, target)
		before := targetBlobs(t, target)
		if err := target.Delete(ctx, gap); err != nil {
			t.Fatal(err)
		}
		run := startDrill(t, s, tc, workflows.DrillInput{})
		err := run.Get(ctx, nil)
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrDrillFailed {
			t.Fatalf("drill over a gap: %v, want a %s", err, workflows.ErrDrillFailed)
		}
		var res workflows.DrillResult
		if err := appErr.Details(&res); err != nil {
			t.Fatal(err)
		}
		missing := gap[strings.LastIndex(gap, "/")+1:]
		if res.Passed || !strings.Contains(res.Reason, "attach") || !strings.Contains(res.Reason, strings.TrimLeft(missing, "0")) {
			t.Errorf("reason %q does not name the missing log %s", res.Reason, missing)
		}
		checkBranchGone(t, s, secondary, res)
		delete(before, gap)
		if after := targetBlobs(t, target); !maps.Equal(before, after) {
			t.Errorf("the failed drill changed the replica: %d blobs before, %d after", len(before), len(after))
		}
	})

}

// logWithSuccessor returns a log blob of the replica that has a later log after it in the same
// storage folder and no snapshot after it: deleting it makes a gap that an ATTACH must refuse.
func logWithSuccessor(t *testing.T, target *objectstore.Client) string {
	t.Helper()
	keys, err := listKeys(context.Background(), target, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string][]string{} // storage folder -> its log keys, ascending
	newestSnapshot := map[string]string{}
	for _, k := range keys {
		folder, name, ok := strings.Cut(strings.TrimPrefix(k, rootPath+"/"), "/")
		switch {
		case !ok:
		case strings.HasPrefix(name, "log/"):
			logs[folder] = append(logs[folder], strings.TrimPrefix(name, "log/"))
		case strings.HasPrefix(name, "snapshots/"):
			newestSnapshot[folder] = max(newestSnapshot[folder], strings.TrimPrefix(name, "snapshots/"))
		}
	}
	for folder, seqs := range logs {
		slices.Sort(seqs)
		if n := len(seqs); n >= 2 && seqs[n-2] > newestSnapshot[folder] {
			return rootPath + "/" + folder + "/log/" + seqs[n-2]
		}
	}
	t.Fatalf("no log with a successor past the newest snapshot among %d keys", len(keys))
	return ""
}

// targetBlobs maps every blob of the replica's folder to its ETag.
func targetBlobs(t *testing.T, target *objectstore.Client) map[string]string {
	t.Helper()
	l, err := target.List(context.Background(), rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range l.Objects {
		out[o.Key] = o.ETag
	}
	return out
}

// TestDrillResumesAfterTheWorkerDies: the worker is killed (SIGKILL) in the middle of the
// branch copy, and again after the cluster ran the branch's ATTACH but before the worker heard
// back. The drill resumes each time (the retried attach finds the branch attached), copies no
// blob twice, holds every row, and cleans up.
func TestDrillResumesAfterTheWorkerDies(t *testing.T) {
	ctx := context.Background()
	// One copy at a time and a slow secondary store keep the copy going for seconds.
	s, primary, secondary := standinStack(t, stack.Options{Faults: true, RecordStoreRequests: true},
		func(c *config.Config) { c.Replication.Concurrency = 1 })
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	acked := insertRows(t, primary, 0, 40)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
	target := store(t, s.MinIO["secondary"])
	inReplica := len(targetBlobs(t, target))
	if err := s.Faults.Delay(stack.StoreOf("secondary"), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}

	run := startDrill(t, s, tc, workflows.DrillInput{KeepFor: "10m"})
	branching := waitDrillPhase(t, tc, run, workflows.DrillBranching)
	waitFor(t, time.Minute, "the branch copy to begin", func() (bool, error) {
		keys, err := listKeys(ctx, target, branching.BranchRoot+"/")
		return len(keys) >= 2, err
	})
	if err := s.FreezeWorker(); err != nil {
		t.Fatal(err)
	}
	copiedAtKill, err := listKeys(ctx, target, branching.BranchRoot+"/")
	if err != nil {
		t.Fatal(err)
	}
	if len(copiedAtKill) >= inReplica-1 {
		t.Fatalf("the copy was done (%d of %d blobs) before the kill: the test killed nothing mid-copy", len(copiedAtKill), inReplica)
	}
	killAndRestartWorker(t, s)

	// The secondary's answers to the worker come 2 s late: the ATTACH has run in the cluster
	// (the test sees the branch attached over its own connection, checking every 10 ms) while
	// the worker still waits for its answer, and is frozen and killed there.
	if err := s.Faults.Delay(stack.DatabaseOf("secondary"), 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if n := waitActivityStarted(t, tc, run, "AttachBranch"); n != 1 {
		t.Fatalf("AttachBranch started in attempt %d: the test meant to kill its first", n)
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		names, err := attachedNames(secondary)
		if err != nil {
			t.Fatal(err)
		}
		if slices.Contains(names, branching.Branch) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the branch's ATTACH did not run in the secondary within a minute")
		}
	}
	if err := s.FreezeWorker(); err != nil {
		t.Fatal(err)
	}
	killAndRestartWorker(t, s)
	if err := s.Faults.HealAll(); err != nil {
		t.Fatal(err)
	}

	kept := waitDrillPhase(t, tc, run, workflows.DrillKept)
	got, err := monitor.ReadRows(ctx, secondary, kept.Branch)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(got, []int{acked}); err != nil {
		t.Errorf("branch after two kills: %v", err)
	}
	// One copy at a time: at most the one in flight at the kill is made twice, as the
	// secondary's store saw the copies.
	copies := map[string]int{}
	total := 0
	for _, r := range stack.Writes(s.StoreRequests("secondary"), workflows.TestFailoverName+"/BranchCopy", kept.BranchRoot+"/") {
		copies[r.Key]++
		total++
	}
	if b := kept.Branched; int64(len(copies)) != b.Objects || total > len(copies)+1 || b.Resumed == 0 || b.Copied+b.Resumed != b.Objects {
		t.Errorf("branched %+v: the store saw %d copies of %d blobs", b, total, len(copies))
	}
	for _, name := range []string{"BranchCopy", "AttachBranch"} {
		if n := activityAttempt(t, tc, run, name); n < 2 {
			t.Errorf("%s ran %d time(s): the kill did not interrupt it", name, n)
		}
	}
	res := finishDrill(t, tc, run)
	checkBranchGone(t, s, secondary, res)
	if !res.Passed {
		t.Errorf("drill: %s", res.Summary())
	}
}

// killAndRestartWorker kills the worker as a crash would and starts a new one.
func killAndRestartWorker(t *testing.T, s *stack.Stack) {
	t.Helper()
	if err := s.KillWorker(); err != nil {
		t.Fatal(err)
	}
	if err := s.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// waitActivityStarted waits until an activity of type name of run is running on a worker, and
// returns its attempt.
func waitActivityStarted(t *testing.T, tc client.Client, run client.WorkflowRun, name string) int32 {
	t.Helper()
	var attempt int32
	waitFor(t, 2*time.Minute, name+" to start", func() (bool, error) {
		d, err := tc.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
		if err != nil {
			return false, err
		}
		for _, a := range d.GetPendingActivities() {
			if a.GetActivityType().GetName() == name && a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				attempt = a.GetAttempt()
				return true, nil
			}
		}
		return false, nil
	})
	return attempt
}

// activityAttempt returns the attempt of the last start of an activity of type name in run's
// history: more than 1 when a retry ran it again.
func activityAttempt(t *testing.T, tc client.Client, run client.WorkflowRun, name string) int32 {
	t.Helper()
	scheduled := map[int64]string{}
	var attempt int32
	it := tc.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if a := e.GetActivityTaskScheduledEventAttributes(); a != nil {
			scheduled[e.GetEventId()] = a.GetActivityType().GetName()
		}
		if a := e.GetActivityTaskStartedEventAttributes(); a != nil && scheduled[a.GetScheduledEventId()] == name {
			attempt = a.GetAttempt()
		}
	}
	return attempt
}
