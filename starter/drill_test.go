package main

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func TestDrillValidatesBeforeDialing(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole error message: it names the argument or flag at fault
	}{
		{"unknown database", []string{"drill", "run", "nope"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
		{"unknown --to", []string{"drill", "run", "bottomless_db", "--to", "mars"},
			`--to: unknown region "mars" (configured: primary, secondary)`},
		{"milestone and time", []string{"drill", "run", "bottomless_db", "--at-milestone", "m1", "--at-time", "2026-01-02 03:04:05"},
			`--at-milestone and --at-time are exclusive`},
		{"bad --at-time", []string{"drill", "run", "bottomless_db", "--at-time", "yesterday"},
			`--at-time: want 'YYYY-MM-DD HH:MM:SS' (UTC) or RFC 3339, got "yesterday"`},
		{"bad --at-milestone", []string{"drill", "run", "bottomless_db", "--at-milestone", "a b"},
			`--at-milestone: "a b" is not a milestone name`},
		{"--keep-for too long", []string{"drill", "run", "bottomless_db", "--keep-for", "169h"},
			`--keep-for: must be between 0 and 168h0m0s, got 169h0m0s`},
		{"--keep-for negative", []string{"drill", "run", "bottomless_db", "--keep-for", "-1m"},
			`--keep-for: must be between 0 and 168h0m0s, got -1m0s`},
		{"--keep-for not a duration", []string{"drill", "run", "bottomless_db", "--keep-for", "soon"},
			`invalid argument "soon" for "--keep-for" flag: time: invalid duration "soon"`},
		{"schedule: --every too short", []string{"drill", "schedule", "bottomless_db", "--every", "30s"},
			`--every: 30s is too often for drills (at least 1m0s)`},
		{"schedule: keep-for as long as every", []string{"drill", "schedule", "bottomless_db", "--every", "1h", "--keep-for", "1h"},
			`--keep-for: 1h0m0s must be shorter than --every (1h0m0s)`},
		{"schedule: unknown --to", []string{"drill", "schedule", "bottomless_db", "--to", "mars"},
			`--to: unknown region "mars" (configured: primary, secondary)`},
		{"finish: bad id", []string{"drill", "finish", "bottomless_db", "yesterday"},
			`argument ID: want a drill id (yyyymmddhhmmss, as bdr drill list shows it) or a workflow ID drill/bottomless_db/…, got "yesterday"`},
		{"finish: unknown database", []string{"drill", "finish", "nope", "20260102030405"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
		{"finish: too many arguments", []string{"drill", "finish", "bottomless_db", "1", "2"},
			`bdr drill finish: want argument DB ID, got 3 arguments`},
		{"list: unknown --region", []string{"drill", "list", "bottomless_db", "--region", "mars"},
			`--region: unknown region "mars" (configured: primary, secondary)`},
		{"drill alone", []string{"drill"}, `missing command (see bdr drill --help)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, out := newTestApp(t)
			err := a.execute(context.Background(), append([]string{"--config", cfgPath}, tc.args...))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.Equal(t, 2, exitCode(err), "a bad flag value is a usage error")
			assert.Empty(t, out.String(), "nothing is printed before the error")
		})
	}
}

func TestDrillInput(t *testing.T) {
	in, err := drillFlags{to: "secondary", validate: []string{"SELECT 1"}, keepFor: 30 * time.Minute, keepRows: true, atTime: "2026-01-02 03:04:05"}.input("db")
	require.NoError(t, err)
	assert.Equal(t, workflows.DrillInput{Database: "db", To: "secondary", Validate: []string{"SELECT 1"}, KeepFor: "30m0s", KeepRows: true,
		At: &workflows.FailoverAt{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}, in)
	in, err = drillFlags{to: "secondary"}.input("db")
	require.NoError(t, err)
	assert.Empty(t, in.KeepFor, "no keepFor: cleaned up at once")
	assert.Nil(t, in.At, "attached at latest")
}

func TestStartDrillOptions(t *testing.T) {
	c := mocks.NewClient(t)
	run := mocks.NewWorkflowRun(t)
	in := workflows.DrillInput{Database: "bottomless_db", To: "secondary", KeepFor: "30m0s"}
	now := time.Date(2026, 12, 7, 6, 34, 12, 500, time.UTC)
	c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		db, ok := o.TypedSearchAttributes.GetKeyword(workflows.SearchAttrDatabase)
		return o.ID == "drill/bottomless_db/20261207063412" && o.TaskQueue == "tq" &&
			o.WorkflowExecutionErrorWhenAlreadyStarted && o.StaticSummary == "DR drill of bottomless_db in secondary" &&
			ok && db == "bottomless_db"
	}), workflows.TestFailoverName, in).Return(run, nil)
	got, err := startDrill(context.Background(), c, "tq", in, now)
	require.NoError(t, err)
	assert.Same(t, run, got)

	c = mocks.NewClient(t)
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already", "req", "run-0"))
	_, err = startDrill(context.Background(), c, "tq", in, now)
	require.Error(t, err)
	assert.Equal(t, "a drill of bottomless_db started this second already (workflow ID drill/bottomless_db/20261207063412)", err.Error())
}

// TestAwaitDrillFailed: a drill that ran and failed prints its report from the error's
// details, and the command fails (exit code 1) with the reason.
func TestAwaitDrillFailed(t *testing.T) {
	report := sampleDrill()
	report.Passed, report.Reason = false, "validation query 1 failed: no such table"
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return(report.WorkflowID)
	run.On("Get", mock.Anything, mock.Anything).Return(
		temporal.NewApplicationError("drill failed", workflows.ErrDrillFailed, report))
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out}
	err := a.awaitDrill(context.Background(), run)
	require.Error(t, err)
	assert.Equal(t, "drill 20261207063412 of bottomless_db failed: validation query 1 failed: no such table", err.Error())
	assert.Equal(t, 1, exitCode(err))
	assert.Contains(t, out.String(), "drill 20261207063412 of bottomless_db in secondary: FAILED: validation query 1 failed: no such table\n")

	// Any other error has no report: it is returned as it is.
	run = mocks.NewWorkflowRun(t)
	run.On("GetID").Return(report.WorkflowID)
	run.On("Get", mock.Anything, mock.Anything).Return(errors.New("canceled"))
	out.Reset()
	err = a.awaitDrill(context.Background(), run)
	require.Error(t, err)
	assert.Equal(t, "drill (workflow ID drill/bottomless_db/20261207063412): canceled", err.Error())
	assert.Empty(t, out.String())
}

// TestDrillScheduleCreateThenUpdate: scheduling a database's drills twice creates the
// Schedule, then replaces its spec and action, keeping what the operator may have changed
// elsewhere (its state, its policies).
func TestDrillScheduleCreateThenUpdate(t *testing.T) {
	in := workflows.DrillInput{Database: "db", To: "secondary", KeepFor: "10m0s"}
	opts := drillScheduleOptions("tq", in, time.Hour)
	assert.Equal(t, "drills/db", opts.ID)
	action := opts.Action.(*client.ScheduleWorkflowAction)
	assert.Equal(t, "drill/db/scheduled", action.ID)
	assert.Equal(t, workflows.TestFailoverName, action.Workflow)
	assert.Equal(t, "tq", action.TaskQueue)
	assert.Equal(t, []any{in}, action.Args)
	db, ok := action.TypedSearchAttributes.GetKeyword(workflows.SearchAttrDatabase)
	assert.True(t, ok)
	assert.Equal(t, "db", db)

	sc := mocks.NewScheduleClient(t)
	sc.On("Create", mock.Anything, opts).Return(nil, nil).Once()
	status, err := upsertDrillSchedule(context.Background(), sc, opts)
	require.NoError(t, err)
	assert.Equal(t, "created", status)

	every2h := drillScheduleOptions("tq", in, 2*time.Hour)
	sc.On("Create", mock.Anything, every2h).Return(nil, temporal.ErrScheduleAlreadyRunning).Once()
	h := mocks.NewScheduleHandle(t)
	sc.On("GetHandle", mock.Anything, "drills/db").Return(h)
	var updated *client.ScheduleUpdate
	h.On("Update", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		current := client.ScheduleDescription{Schedule: client.Schedule{
			Action: opts.Action, Spec: &opts.Spec,
			Policy: &client.SchedulePolicies{CatchupWindow: time.Minute},
			State:  &client.ScheduleState{Paused: true, Note: "paused by ops"},
		}}
		var err error
		updated, err = args.Get(1).(client.ScheduleUpdateOptions).DoUpdate(client.ScheduleUpdateInput{Description: current})
		require.NoError(t, err)
	}).Return(nil)
	status, err = upsertDrillSchedule(context.Background(), sc, every2h)
	require.NoError(t, err)
	assert.Equal(t, "updated", status)
	require.NotNil(t, updated)
	assert.Equal(t, []client.ScheduleIntervalSpec{{Every: 2 * time.Hour}}, updated.Schedule.Spec.Intervals)
	assert.Same(t, every2h.Action, updated.Schedule.Action)
	assert.Equal(t, "paused by ops", updated.Schedule.State.Note, "state is kept")
	assert.Equal(t, time.Minute, updated.Schedule.Policy.CatchupWindow, "policies are kept")
}

func TestDeleteDrillSchedule(t *testing.T) {
	sc := mocks.NewScheduleClient(t)
	h := mocks.NewScheduleHandle(t)
	sc.On("GetHandle", mock.Anything, "drills/db").Return(h)
	h.On("Delete", mock.Anything).Return(serviceerror.NewNotFound("schedule not found")).Once()
	err := deleteDrillSchedule(context.Background(), sc, "drills/db")
	require.Error(t, err)
	assert.Equal(t, "delete schedule drills/db: there is none", err.Error())
	h.On("Delete", mock.Anything).Return(nil).Once()
	assert.NoError(t, deleteDrillSchedule(context.Background(), sc, "drills/db"))
}

func TestDrillWorkflowID(t *testing.T) {
	id, err := drillWorkflowID("db", "20261207063412", nil)
	require.NoError(t, err)
	assert.Equal(t, "drill/db/20261207063412", id)
	scheduled := []workflows.DrillResult{{ID: "20261207060000", WorkflowID: "drill/db/scheduled-2026-12-07T06:00:00Z"}}
	id, err = drillWorkflowID("db", "20261207060000", scheduled)
	require.NoError(t, err)
	assert.Equal(t, "drill/db/scheduled-2026-12-07T06:00:00Z", id, "a scheduled drill's id is found in its record")
	id, err = drillWorkflowID("db", "drill/db/scheduled-2026-12-07T06:00:00Z", nil)
	require.NoError(t, err)
	assert.Equal(t, "drill/db/scheduled-2026-12-07T06:00:00Z", id, "a scheduled drill's workflow ID is taken as it is")
	_, err = drillWorkflowID("db", "drill/other/20261207063412", nil)
	assert.Error(t, err, "another database's drill is not finished by mistake")
}

func TestLiveDrillIDs(t *testing.T) {
	records := []workflows.DrillResult{
		{WorkflowID: "drill/db/1", Phase: workflows.DrillDone, CleanedUp: true},
		{WorkflowID: "drill/db/4", Phase: workflows.DrillDone}, // ended without cleaning up: nothing to finish
		{WorkflowID: "drill/db/2", Phase: workflows.DrillKept},
		{WorkflowID: "drill/db/3", Phase: workflows.DrillValidating},
		{WorkflowID: "drill/db/2", Phase: workflows.DrillKept},
	}
	assert.Equal(t, []string{"drill/db/2", "drill/db/3"}, liveDrillIDs(records))
	assert.Nil(t, liveDrillIDs(records[:1]))
}

func TestFinishDrills(t *testing.T) {
	c := mocks.NewClient(t)
	h := mocks.NewWorkflowUpdateHandle(t)
	h.On("Get", mock.Anything, nil).Return(nil)
	c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == "drill/db/1" && o.UpdateName == workflows.UpdateFinish && o.WaitForStage == client.WorkflowUpdateStageCompleted
	})).Return(h, nil)
	c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == "drill/db/2"
	})).Return(nil, serviceerror.NewNotFound("workflow execution already completed"))
	var out bytes.Buffer
	a := &app{stdout: &out, stderr: &out}
	err := a.finishDrills(context.Background(), c, "db", []string{"drill/db/2", "drill/db/1"}, true)
	require.Error(t, err)
	assert.Equal(t, "finish: drill drill/db/2 is not running", err.Error())
	assert.Equal(t, "finished drill drill/db/1: its branch is being detached and deleted\n", out.String(), "one drill that ended does not stop the others")

	// Found through the records: a drill that ended without its last record is only a note.
	var stdout, stderr bytes.Buffer
	a = &app{stdout: &stdout, stderr: &stderr}
	require.NoError(t, a.finishDrills(context.Background(), c, "db", []string{"drill/db/2", "drill/db/1"}, false))
	assert.Equal(t, "finished drill drill/db/1: its branch is being detached and deleted\n", stdout.String())
	assert.Equal(t, "bdr: finish: drill drill/db/2 is not running (its record says it is live: it ended without writing its report)\n", stderr.String())

	stdout.Reset()
	require.NoError(t, a.finishDrills(context.Background(), c, "db", nil, false))
	assert.Equal(t, "no live drill of db is recorded\n", stdout.String())
}

func sampleDrill() workflows.DrillResult {
	t0 := time.Date(2026, 12, 7, 6, 34, 12, 0, time.UTC)
	return workflows.DrillResult{
		ID: "20261207063412", WorkflowID: "drill/bottomless_db/20261207063412", Database: "bottomless_db", To: "secondary", From: "primary",
		Phase: workflows.DrillDone, Passed: true, StartedAt: t0, FinishedAt: t0.Add(14 * time.Second),
		Branch: "bottomless_db_drill_20261207063412", AttachedAt: "latest",
		Watermark: t0.Add(-1200 * time.Millisecond), NewestWrite: t0, RPOSeconds: 1.2, RPOKnown: true,
		AttachSeconds: 0.8, CopySeconds: 3.1, DrillSeconds: 12.4, CleanupSeconds: 0.5,
		Branched: activities.BranchReport{Objects: 120, Bytes: 40 << 20, Copied: 120, Beyond: 2},
		Validation: []activities.QueryResult{
			{Query: "SELECT COUNT(*) FROM t", Columns: []string{"COUNT(*)"}, Rows: 1, FirstRow: []string{"42"}},
		},
		Security:  &activities.SecurityCheck{Found: true, TakenIn: "primary", Users: 3, Roles: 1, Grants: 12, Locked: []string{"alice"}},
		CleanedUp: true,
		Warnings:  []string{"no replication is running from primary to secondary"},
	}
}

func TestWriteDrillReport(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeDrillReport(&buf, sampleDrill(), time.Time{}))
	assert.Equal(t, "drill 20261207063412 of bottomless_db in secondary: passed\n"+
		"  branch        bottomless_db_drill_20261207063412 (attached at latest)\n"+
		"  watermark     2026-12-07T06:34:10.8Z\n"+
		"  RPO           1.2s (newest write known 2026-12-07T06:34:12Z)\n"+
		"  attach        0.8s (what the ATTACH of a real failover would take)\n"+
		"  drill         12.4s from the start to the report (branch copy 3.1s)\n"+
		"  clean-up      0.5s\n"+
		"  branched      120 blobs, 40.0 MiB; 120 copied, 2 past the watermark left out\n"+
		"  validated     SELECT COUNT(*) FROM t: 1 rows, columns COUNT(*); first row [42]\n"+
		"  users/grants  would apply: 3 users, 1 roles, 0 groups, 12 grants (snapshot read in primary); created locked (no password reference in security.passwords): alice\n"+
		"warning: no replication is running from primary to secondary\n"+
		"branch cleaned up\n", buf.String())
}

func TestWriteDrillReportKeptAndUnknownRPO(t *testing.T) {
	r := sampleDrill()
	r.Phase, r.CleanedUp, r.RPOKnown = workflows.DrillKept, false, false
	r.KeptUntil = r.StartedAt.Add(30 * time.Minute)
	r.Security = &activities.SecurityCheck{Found: true, Problem: "grant line 3: unknown privilege"}
	var buf bytes.Buffer
	require.NoError(t, writeDrillReport(&buf, r, r.StartedAt.Add(time.Minute)))
	out := buf.String()
	assert.Contains(t, out, "drill 20261207063412 of bottomless_db in secondary: kept\n")
	assert.Contains(t, out, "  RPO           unknown (no running replication reported the newest source write)\n")
	assert.Contains(t, out, "  users/grants  would NOT apply: grant line 3: unknown privilege\n")
	assert.Contains(t, out, "branch bottomless_db_drill_20261207063412 stays attached until 2026-12-07T07:04:12Z (in 29m); end it now: bdr drill finish bottomless_db 20261207063412\n")
}

func TestWriteDrillList(t *testing.T) {
	passed := sampleDrill()
	failed := sampleDrill()
	failed.ID, failed.StartedAt, failed.Passed = "20261206063412", passed.StartedAt.Add(-24*time.Hour), false
	failed.Reason, failed.AttachSeconds, failed.RPOKnown = "ATTACH failed: no space", 0, false
	live := sampleDrill()
	live.ID, live.StartedAt, live.Phase, live.CleanedUp = "20261205000000", passed.StartedAt.Add(-48*time.Hour), workflows.DrillKept, false
	live.Branch, live.KeptUntil = "bottomless_db_drill_20261205000000", passed.StartedAt.Add(time.Hour)
	records := []workflows.DrillResult{live, failed, passed}
	sortDrills(records)
	assert.Equal(t, []string{live.ID, passed.ID, failed.ID}, []string{records[0].ID, records[1].ID, records[2].ID}, "live first, then newest first")

	var buf bytes.Buffer
	require.NoError(t, writeDrillList(&buf, records, passed.StartedAt))
	assert.Equal(t, ""+
		"ID              IN         PHASE  RESULT  STARTED               RPO      ATTACH  BRANCH                                   REASON\n"+
		"20261205000000  secondary  kept   passed  2026-12-05T06:34:12Z  1.2s     0.8s    LIVE:bottomless_db_drill_20261205000000  -\n"+
		"20261207063412  secondary  done   passed  2026-12-07T06:34:12Z  1.2s     0.8s    cleaned-up                               -\n"+
		"20261206063412  secondary  done   FAILED  2026-12-06T06:34:12Z  unknown  -       cleaned-up                               ATTACH failed: no space\n"+
		"branch bottomless_db_drill_20261205000000 stays attached until 2026-12-07T07:34:12Z (in 1h); end it now: bdr drill finish bottomless_db 20261205000000\n",
		buf.String())

	buf.Reset()
	require.NoError(t, writeDrillList(&buf, nil, time.Time{}))
	assert.Equal(t, "no drills recorded\n", buf.String())
}

func TestDrillLine(t *testing.T) {
	passed := sampleDrill()
	failed := sampleDrill()
	failed.Passed, failed.Reason = false, "ATTACH failed"
	now := passed.StartedAt.Add(3 * time.Hour)
	assert.Equal(t, "passed 3h ago, RPO 1.2s, attach 0.8s", drillLine(&passed, now))
	assert.Equal(t, "FAILED 3h ago: ATTACH failed", drillLine(&failed, now))
	assert.Equal(t, "none", drillLine(nil, now))
}
