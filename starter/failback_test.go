package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/mocks"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func TestFailbackValidatesBeforeDialing(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole error message: it names the argument or flag at fault
	}{
		{"unknown database", []string{"failback", "nope"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
		{"unknown --from", []string{"failback", "bottomless_db", "--from", "mars"},
			`--from: unknown region "mars" (configured: primary, secondary)`},
		{"unknown --to", []string{"failback", "bottomless_db", "--to", "mars"},
			`--to: unknown region "mars" (configured: primary, secondary)`},
		{"same regions", []string{"failback", "bottomless_db", "--from", "primary", "--to", "primary"},
			`--from and --to are both "primary": replication needs two different regions`},
		{"defaults swapped by hand", []string{"failback", "bottomless_db", "--to", "secondary"},
			`--from and --to are both "secondary": replication needs two different regions`},
		{"no DB", []string{"failback"}, `bdr failback: want argument DB, got 0 arguments`},
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

func TestStartFailbackOptions(t *testing.T) {
	in := workflows.FailbackInput{Database: "bottomless_db", From: "secondary", To: "primary", Switchback: true}
	c := mocks.NewClient(t)
	run := mocks.NewWorkflowRun(t)
	c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		db, ok := o.TypedSearchAttributes.GetKeyword(workflows.SearchAttrDatabase)
		return o.ID == "failback/bottomless_db" && o.TaskQueue == "tq" && o.WorkflowExecutionErrorWhenAlreadyStarted &&
			o.StaticSummary == "failback of bottomless_db: secondary → primary, then switch back to primary" &&
			ok && db == "bottomless_db"
	}), workflows.FailbackName, in).Return(run, nil)

	got, updated, err := startFailback(context.Background(), c, "tq", in)
	require.NoError(t, err)
	assert.False(t, updated)
	assert.Same(t, run, got)
}

func TestStartFailbackAlreadyRunning(t *testing.T) {
	in := workflows.FailbackInput{Database: "db", From: "secondary", To: "primary"}
	c := mocks.NewClient(t)
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already", "req", "run-0"))
	_, _, err := startFailback(context.Background(), c, "tq", in)
	require.Error(t, err)
	assert.Equal(t, "a failback of db is already running (workflow ID failback/db; add --switchback to ask it to switch back)", err.Error())
}

// expectSwitchback makes c answer the start of a failback of db with "already started" and
// expect the switchback update instead; the update fails with updateErr.
func expectSwitchback(t *testing.T, c *mocks.Client, db string, updateErr error) {
	t.Helper()
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.FailbackName, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already", "req", "run-0"))
	h := mocks.NewWorkflowUpdateHandle(t)
	h.On("Get", mock.Anything, nil).Return(updateErr)
	c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == workflows.FailbackID(db) && o.UpdateName == workflows.UpdateSwitchback &&
			o.WaitForStage == client.WorkflowUpdateStageCompleted
	})).Return(h, nil)
}

func TestStartFailbackSwitchbackUpdatesTheRunningOne(t *testing.T) {
	c := mocks.NewClient(t)
	expectSwitchback(t, c, "db", nil)
	run := mocks.NewWorkflowRun(t)
	c.On("GetWorkflow", mock.Anything, "failback/db", "").Return(run)

	got, updated, err := startFailback(context.Background(), c, "tq", workflows.FailbackInput{Database: "db", From: "secondary", To: "primary", Switchback: true})
	require.NoError(t, err)
	assert.True(t, updated, "the switchback went to the running failback")
	assert.Same(t, run, got, "and that failback is the one waited for")
}

func TestStartFailbackSwitchbackRejected(t *testing.T) {
	c := mocks.NewClient(t)
	expectSwitchback(t, c, "db", errors.New("already switching back"))
	_, _, err := startFailback(context.Background(), c, "tq", workflows.FailbackInput{Database: "db", From: "secondary", To: "primary", Switchback: true})
	require.Error(t, err)
	assert.Equal(t, "switchback failback/db: already switching back", err.Error())
}

// TestFailbackCommandSwitchback runs bdr failback --switchback against a failback already
// running: it says so, waits for that failback and prints its report.
func TestFailbackCommandSwitchback(t *testing.T) {
	c := mocks.NewClient(t)
	expectSwitchback(t, c, "bottomless_db", nil)
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("failback/bottomless_db")
	run.On("Get", mock.Anything, mock.Anything).Run(func(args mock.Arguments) {
		*args.Get(1).(*workflows.FailbackResult) = workflows.FailbackResult{Database: "bottomless_db", From: "secondary", To: "primary", Phase: workflows.FailbackDone}
	}).Return(nil)
	c.On("GetWorkflow", mock.Anything, "failback/bottomless_db", "").Return(run)
	c.On("Close").Return()

	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" },
		dial: func(context.Context, *config.Config) (client.Client, error) { return c, nil }}
	err := a.execute(context.Background(), []string{"--config", writeConfig(t, deadAddress(t)), "failback", "bottomless_db", "--switchback"})
	require.NoError(t, err)
	assert.Equal(t, "a failback of bottomless_db is already running: asked it to switch back (workflow ID failback/bottomless_db)\n", stderr.String())
	assert.True(t, strings.HasPrefix(stdout.String(), "failback of bottomless_db: secondary → primary, done\n"), stdout.String())
}

func TestWriteFailback(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	res := workflows.FailbackResult{
		Database: "bottomless_db", From: "secondary", To: "primary", Phase: workflows.FailbackDone,
		FailoverAt: t0, WaitingSince: t0.Add(time.Minute), WaitedSeconds: 125, Probes: 25,
		Fence: &activities.FenceResult{Fenced: true},
		Tail:  activities.TailReport{Objects: 12, Bytes: 3 << 20, OldestWrite: t0.Add(-4 * time.Second), NewestWrite: t0.Add(2 * time.Second)},
		Recovered: &activities.RecoveredReport{Name: "bottomless_db_recovered_20261207060400", Region: "secondary",
			Root: "bottomless_db_folder_recovered_20261207060400", Attached: true, Objects: 1000, Bytes: 100 << 20,
			Within: 988, Crossed: 12, CrossedBytes: 3 << 20},
		MovedAside: 12, MovedAsideTo: ".bdr/bottomless_db/diverged/20261207060400/", LocksRemoved: []string{"bottomless_db_folder/.lock"},
		ReverseReplication: "replicate/bottomless_db/secondary->primary", CopiedBackObjects: 40, CopiedBackBytes: 5 << 20,
		WrittenSinceFailover: 10 << 20, DatabaseBytes: 200 << 20,
		Switchback:         &workflows.FailoverResult{NewPrimary: "primary", RTOSeconds: 3.25},
		ForwardReplication: "replicate/bottomless_db/primary->secondary", ForwardCopiedObjects: 3,
		Steps:    []workflows.Step{{Name: "fence primary", Seconds: 1.5}},
		Warnings: []string{"something to know"},
	}
	var b strings.Builder
	require.NoError(t, writeFailback(&b, res))
	assert.Equal(t, `failback of bottomless_db: secondary → primary, done
  failover      2026-12-07T06:00:00Z (secondary became the primary)
  waited        2m05s for primary (25 probes)
  fence         primary detached (its last writes uploaded first)
  tail          12 blobs, 3.0 MiB, written 2026-12-07T05:59:56Z to 2026-12-07T06:00:02Z (6.0s): what the failover lost, kept in the recovered branch
  recovered     bottomless_db_recovered_20261207060400 in secondary (attached), root bottomless_db_folder_recovered_20261207060400
                1000 blobs, 100.0 MiB: 988 copied within secondary, 12 (3.0 MiB) crossed from primary
                to take rows from it, see README "Recovering rows from a recovered branch"; DETACH it when done
  moved aside   12 blobs in primary under .bdr/bottomless_db/diverged/20261207060400/
  locks removed bottomless_db_folder/.lock
  replicated    secondary→primary (replicate/bottomless_db/secondary->primary)
  copied back   40 (5.0 MiB): 50.0% of what secondary wrote since the failover (10.0 MiB), 2.5% of the database (200.0 MiB)
  switchback    primary is the primary again: RPO 0.0s, RTO 3.2s
  forward       primary→secondary (replicate/bottomless_db/primary->secondary): 3 objects copied, only primary's new writes
warning: something to know
  fence primary                                  1.50s
`, b.String())

	b.Reset()
	require.NoError(t, writeFailback(&b, workflows.FailbackResult{Database: "db", From: "secondary", To: "primary", Phase: workflows.FailbackCatchingUp,
		Fence: &activities.FenceResult{Lost: true, Reason: "bucket gone"}, FullCopy: true}))
	assert.Equal(t, `failback of db: secondary → primary, replicating back
  fence         primary declared lost: bucket gone
  tail          none: primary held nothing that secondary lacks
  full copy     primary's folder held nothing of the database (its bucket was replaced?): everything was copied back
`, b.String())
}

func TestFailbackLine(t *testing.T) {
	since := time.Date(2026, 12, 7, 6, 1, 2, 0, time.UTC)
	assert.Equal(t, "failback of db: waiting for primary since 2026-12-07T06:01:02Z (7 probes; last: dial tcp:; connection refused)",
		failbackLine(workflows.FailbackResult{Database: "db", To: "primary", Phase: workflows.FailbackWaiting, WaitingSince: since, Probes: 7, LastProblem: "dial tcp:\nconnection refused"}))
	assert.Equal(t, "failback of db: waiting for primary since 2026-12-07T06:01:02Z (0 probes)",
		failbackLine(workflows.FailbackResult{Database: "db", To: "primary", Phase: workflows.FailbackWaiting, WaitingSince: since}))
	assert.Equal(t, "failback of db: replicating back", failbackLine(workflows.FailbackResult{Database: "db", Phase: workflows.FailbackCatchingUp, Probes: 3}))
}

func TestRunningFailbacks(t *testing.T) {
	waiting := workflows.FailbackResult{Database: "a", From: "secondary", To: "primary", Phase: workflows.FailbackWaiting, Probes: 2}
	value := mocks.NewEncodedValue(t)
	value.On("Get", mock.Anything).Run(func(args mock.Arguments) {
		*args.Get(0).(*workflows.FailbackResult) = waiting
	}).Return(nil)
	c := mocks.NewClient(t)
	answer := func(id string, resp *client.QueryWorkflowWithOptionsResponse, err error) {
		c.On("QueryWorkflowWithOptions", mock.Anything, mock.MatchedBy(func(r *client.QueryWorkflowWithOptionsRequest) bool {
			return r.WorkflowID == id && r.QueryType == workflows.QueryStatus
		})).Return(resp, err)
	}
	answer("failback/a", &client.QueryWorkflowWithOptionsResponse{QueryResult: value}, nil)
	answer("failback/b", nil, serviceerror.NewNotFound("never started"))
	answer("failback/c", &client.QueryWorkflowWithOptionsResponse{QueryRejected: &querypb.QueryRejected{}}, nil)
	answer("failback/d", nil, errors.New("context deadline exceeded"))

	running, err := runningFailbacks(context.Background(), c, []string{"a", "b", "c", "d"})
	require.Error(t, err, "a failed query is reported")
	assert.Equal(t, "query status of failback/d: context deadline exceeded", err.Error())
	assert.Equal(t, map[string]*workflows.FailbackResult{"a": &waiting}, running, "none started, ended and failed are left out")

	var b strings.Builder
	require.NoError(t, writeFailbacks(&b, []string{"a", "b"}, running))
	assert.Equal(t, "\nfailback of a: waiting for primary since - (2 probes)\n", b.String())
	b.Reset()
	require.NoError(t, writeFailbacks(&b, []string{"b"}, running))
	assert.Empty(t, b.String(), "no failback runs: nothing is said")
}

func TestFailbackCommandNoWait(t *testing.T) {
	c := mocks.NewClient(t)
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("failback/bottomless_db")
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, workflows.FailbackName,
		workflows.FailbackInput{Database: "bottomless_db", From: "secondary", To: "primary"}).Return(run, nil)
	c.On("Close").Return()

	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" },
		dial: func(context.Context, *config.Config) (client.Client, error) { return c, nil }}
	err := a.execute(context.Background(), []string{"--config", writeConfig(t, deadAddress(t)), "--json", "failback", "bottomless_db", "--no-wait"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"workflowId": "failback/bottomless_db"}`, stdout.String(), "the defaults: from secondary, to primary")
	assert.Empty(t, stderr.String())
}

func TestAwaitFailbackInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("failback/db")
	run.On("Get", mock.Anything, mock.Anything).Return(context.Canceled)
	a, _ := newTestApp(t)
	_, err := a.awaitFailback(ctx, mocks.NewClient(t), run, "db")
	require.Error(t, err)
	assert.Equal(t, "stopped waiting; the failback of db goes on (workflow ID failback/db): context canceled", err.Error())
}

// The recovered branches list newest first; a record written before its branch was attached
// is named from its stamp; a branch not yet whole says so.
func TestRecoveredList(t *testing.T) {
	failoverAt := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	records := []string{
		`{"database":"bottomless_db","returning":"primary","failoverAt":"2026-12-07T06:00:00Z","stamp":"20261207060400",` +
			`"tail":{"objects":12,"bytes":3072,"oldestWrite":"2026-12-07T05:59:50Z","newestWrite":"2026-12-07T06:00:00Z"},` +
			`"branch":{"region":"secondary","root":"f_recovered_20261207060400","objects":40},"complete":false}`,
		`{"database":"bottomless_db","returning":"primary","failoverAt":"2026-12-01T06:00:00Z","stamp":"20261201060400",` +
			`"tail":{"objects":3,"bytes":300},"branch":{"name":"bottomless_db_recovered_20261201060400","region":"secondary","attached":true},"complete":true}`,
	}
	raws := make([]bucketRecord, len(records))
	for i, r := range records {
		raws[i] = bucketRecord{Region: "secondary", Raw: json.RawMessage(r)}
	}
	branches, err := decodeRecovered("bottomless_db", raws)
	require.NoError(t, err)
	require.Len(t, branches, 2)
	assert.Equal(t, "bottomless_db_recovered_20261207060400", branches[0].Branch.Name, "named from its stamp")
	assert.True(t, branches[0].FailoverAt.Equal(failoverAt))
	var out bytes.Buffer
	require.NoError(t, writeRecoveredList(&out, branches))
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3)
	assert.Contains(t, lines[1], "bottomless_db_recovered_20261207060400")
	assert.Contains(t, lines[1], "12 blobs, 3.0 KiB")
	assert.Contains(t, lines[1], "INCOMPLETE")
	assert.Contains(t, lines[2], "bottomless_db_recovered_20261201060400")
	assert.True(t, strings.HasSuffix(lines[2], "attached"), lines[2])

	_, err = decodeRecovered("bottomless_db", []bucketRecord{{Region: "secondary", Raw: json.RawMessage(`{"stamp":`)}})
	require.ErrorContains(t, err, "secondary's bucket: decode recovered branch record")

	out.Reset()
	require.NoError(t, writeRecoveredList(&out, nil))
	assert.Equal(t, "no recovered branches recorded\n", out.String())
}
