package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// plannedSteps and unplannedSteps are the steps of a failover, in the order they run, each
// with its activities. The worker is killed inside every activity it is caught in, and must be
// caught in at least one activity of every step (an activity of a few milliseconds, such as
// Prepare's bucket check, can run between two looks).
var (
	plannedSteps = [][]string{{"Prepare", "CurrentPrimary", "QueryReplication", "Health", "Attached"}, {"CreateMilestone", "RecordMilestone"},
		{"ReadSecurity", "RecordSecurity"}, {"Detach"}, {"DrainReplication"}, {"CompareAll"}, {"FenceTarget"}, {"Attached", "RemoveLocks"}, {"Attach"},
		{"ApplySecurity"}, {"Validate"}, {"RecordPrimary"}}
	unplannedSteps = [][]string{{"Prepare", "CurrentPrimary", "Health", "Attached", "InspectCopy"}, {"Fence"}, {"ProbeStore"},
		{"DrainReplication"}, {"StopReplication"}, {"FenceTarget"}, {"Seal"}, {"Attached", "RemoveLocks"}, {"Attach"}, {"ApplySecurity"}, {"Validate"},
		{"InspectSource"}, {"RecordPrimary"}}
)

// TestPlannedFailoverSurvivesAKillInEveryStep and TestUnplannedFailoverSurvivesAKillInEveryStep
// run a failover while the worker is advanced in 2 ms slices (SIGCONT, then SIGSTOP); whenever
// the frozen worker is inside an activity it has not been killed in yet, it is killed there
// (SIGKILL) and restarted. The failover still finishes with the result of an undisturbed one:
// RPO 0 (nothing was written meanwhile), every committed row in the secondary, the user and
// its grant carried over, the database attached once in the secondary and not at all in the
// primary (the steps are idempotent).
func TestPlannedFailoverSurvivesAKillInEveryStep(t *testing.T) {
	res := failoverWithAKillInEveryStep(t, workflows.ModePlanned, plannedSteps)
	if res.Compared.Missing != 0 || res.Compared.Checked == 0 {
		t.Errorf("comparison: %+v", res.Compared)
	}
}

func TestUnplannedFailoverSurvivesAKillInEveryStep(t *testing.T) {
	res := failoverWithAKillInEveryStep(t, workflows.ModeUnplanned, unplannedSteps)
	if res.AttachedAt != "latest" || res.Fence == nil || !res.Fence.Fenced {
		t.Errorf("unplanned result: %+v", res)
	}
}

func failoverWithAKillInEveryStep(t *testing.T, mode string, steps [][]string) workflows.FailoverResult {
	ctx := context.Background()
	// The unplanned failover drains while the primary's bucket answers, for as long as its
	// syncs take under the kills: the RPO is then 0 whatever the machine's speed (the fence's
	// DETACH writes its last blobs after the watermark, and a drain cut short would seal them
	// aside).
	s, primary, secondary := faultStack(t, func(c *config.Config) { c.Failover.UnplannedDrainTimeout = 10 * time.Minute })
	// Every answer of a store or a database takes a while, so that each activity, even one
	// of a single query, lasts many slices and is caught whatever the machine's speed.
	for region := range s.MinIO {
		for _, target := range []stack.Target{stack.StoreOf(region), stack.DatabaseOf(region)} {
			if err := s.Faults.Delay(target, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	createWriterTable(t, s, primary, "",
		"CREATE USER 'auditor'@'%' IDENTIFIED BY 'x-Pa55'",
		"GRANT SELECT ON "+db+".* TO 'auditor'@'%'")
	const rows = 100
	for seq := range rows {
		if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (0, %d)", db, seq)); err != nil {
			t.Fatal(err)
		}
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	waitWatermarkPastNewest(t, s, tc, run.GetID(), rootPath)

	// Frozen from the start, so that the first activity is caught too.
	if err := s.FreezeWorker(); err != nil {
		t.Fatal(err)
	}
	failover := startFailover(t, s, tc, mode)
	// One failover per database at a time: a second start is rejected by the workflow ID.
	if _, err := s.Bdr(ctx, "failover", db, "--mode", mode); err == nil || !strings.Contains(err.Error(), "a failover of "+db+" is already running") {
		t.Errorf("second failover while one runs: %v", err)
	}
	killed := killInEveryActivity(t, s, tc, failover, slices.Concat(steps...))
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var res workflows.FailoverResult
	if err := failover.Get(waitCtx, &res); err != nil {
		t.Fatalf("failover after %d kills: %v", len(killed), err)
	}
	t.Logf("killed in %v; result: RPO %.2fs, RTO %.2fs", killed, res.RPOSeconds, res.RTOSeconds)
	for _, step := range steps {
		if !slices.ContainsFunc(step, func(a string) bool { return slices.Contains(killed, a) }) {
			t.Errorf("the worker was never caught inside the step of %v", step)
		}
	}
	if res.NewPrimary != "secondary" || res.RPOSeconds != 0 {
		t.Errorf("result: %+v", res)
	}
	if got := rowsPerWriter(t, secondary, db); got[0] != rows {
		t.Errorf("%d rows in the secondary, %d committed", got[0], rows)
	}
	if grants := showGrants(t, secondary, "'auditor'@'%'"); !strings.Contains(grants, "GRANT SELECT ON `"+db+"`.*") {
		t.Errorf("auditor's grants in the secondary: %q", grants)
	}
	for region, conn := range map[string]*sql.DB{"primary": primary, "secondary": secondary} {
		if n, want := countAttached(t, conn, db), map[string]int{"primary": 0, "secondary": 1}[region]; n != want {
			t.Errorf("%s: %s attached %d times, want %d", region, db, n, want)
		}
	}
	return res
}

// killInEveryActivity advances the (frozen) worker in 2 ms slices until the workflow ends; each time
// the frozen worker is inside one of the activities not yet killed in, it is killed and
// restarted. It returns the activities it killed the worker in.
func killInEveryActivity(t *testing.T, s *stack.Stack, tc client.Client, run client.WorkflowRun, activities []string) []string {
	t.Helper()
	ctx := context.Background()
	var killed []string
	deadline := time.Now().Add(4 * time.Minute)
	for {
		victim, ended := sliceWorker(t, s, tc, run, deadline, func(started []string) string {
			for _, name := range started {
				if slices.Contains(activities, name) && !slices.Contains(killed, name) {
					return name
				}
			}
			return ""
		})
		if ended {
			return killed
		}
		if err := s.KillWorker(); err != nil {
			t.Fatal(err)
		}
		killed = append(killed, victim)
		if err := s.StartWorker(ctx); err != nil {
			t.Fatal(err)
		}
		// Let it start before the next slice: a frozen half-started worker catches nothing.
		time.Sleep(500 * time.Millisecond)
	}
}

// sliceWorker advances the (frozen) worker in 2 ms slices (SIGCONT, then SIGSTOP) and looks at
// the workflow after each: it returns, with the worker frozen, the name pick makes of the
// activities started then, as soon as it makes one; or ended, with the worker running, once
// the workflow has ended. It fails the test at the deadline.
func sliceWorker(t *testing.T, s *stack.Stack, tc client.Client, run client.WorkflowRun, deadline time.Time, pick func(started []string) string) (picked string, ended bool) {
	t.Helper()
	for time.Now().Before(deadline) {
		if err := s.ThawWorker(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
		if err := s.FreezeWorker(); err != nil {
			t.Fatal(err)
		}
		d, err := tc.DescribeWorkflowExecution(context.Background(), run.GetID(), run.GetRunID())
		if err != nil {
			t.Fatal(err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			_ = s.ThawWorker()
			return "", true
		}
		var started []string
		for _, a := range d.GetPendingActivities() {
			if a.GetState() == enumspb.PENDING_ACTIVITY_STATE_STARTED {
				started = append(started, a.GetActivityType().GetName())
			}
		}
		if name := pick(started); name != "" {
			return name, false
		}
	}
	_ = s.ThawWorker()
	t.Fatalf("workflow %s: nothing picked by %s", run.GetID(), deadline.Format(time.TimeOnly))
	return "", false
}

// countAttached counts the databases called name that conn's server has attached.
func countAttached(t *testing.T, conn *sql.DB, name string) int {
	t.Helper()
	dbs, err := conn.Query("SHOW DATABASES")
	if err != nil {
		t.Fatal(err)
	}
	defer dbs.Close()
	n := 0
	for dbs.Next() {
		var got string
		if err := dbs.Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got == name {
			n++
		}
	}
	return n
}

// showGrants returns the rows of SHOW GRANTS FOR account, one per line.
func showGrants(t *testing.T, conn *sql.DB, account string) string {
	t.Helper()
	rows, err := conn.Query("SHOW GRANTS FOR " + account)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var all []string
	for rows.Next() {
		var g string
		if err := rows.Scan(&g); err != nil {
			t.Fatal(err)
		}
		all = append(all, g)
	}
	return strings.Join(all, "\n")
}
