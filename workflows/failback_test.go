package workflows

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// failbackMocks decides what the mocked activities of a failback answer.
type failbackMocks struct {
	silentProbes int  // probes of To that find it silent before one answers
	tail         bool // To holds a tail
	fenceErr     error
	// recordedAgainAt makes the nth check of the primary record (1: the first) find another
	// failover's record; 0: never.
	recordedAgainAt int
}

// failbackEnv mocks every activity of a failback; calls records, in order, each that changes
// something.
func failbackEnv(m failbackMocks) (*testsuite.TestWorkflowEnvironment, *[]string) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Failback, workflow.RegisterOptions{Name: FailbackName})
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	env.RegisterActivity(r)
	env.RegisterActivity(c)
	env.RegisterActivity(ctl)
	var calls []string
	primary := replication.Primary{Database: "db", Region: "secondary", Since: t0.Add(-time.Hour), By: "failover/db"}
	checks := 0
	env.OnActivity(r.CheckFailback, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FailbackCheckInput) (activities.FailbackCheck, error) {
		checks++
		if checks >= m.recordedAgainAt && m.recordedAgainAt > 0 {
			again := primary
			again.Since, again.By = t0.Add(time.Minute), "failover/db"
			return activities.FailbackCheck{RootPath: "db_folder", Primary: again}, nil
		}
		return activities.FailbackCheck{RootPath: "db_folder", Primary: primary}, nil
	})
	env.OnActivity(r.ProbeStore, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) (activities.StoreProbe, error) {
		if m.silentProbes > 0 {
			m.silentProbes--
			return activities.StoreProbe{Reason: "dial tcp: connection refused"}, nil
		}
		return activities.StoreProbe{Answered: true}, nil
	})
	env.OnActivity(c.Fence, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FenceInput) (activities.FenceResult, error) {
		calls = append(calls, "fence "+in.Region)
		return activities.FenceResult{Fenced: m.fenceErr == nil}, m.fenceErr
	})
	env.OnActivity(r.RecoverTail, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RecoverInput) (activities.Recovered, error) {
		calls = append(calls, "recover "+in.Returning+" into "+in.Primary.Region)
		if !m.tail {
			return activities.Recovered{Complete: true}, nil
		}
		return activities.Recovered{Stamp: in.Stamp, Tail: activities.TailReport{Objects: 3, Bytes: 300},
			Branch: activities.RecoveredReport{Region: in.Primary.Region, Root: "db_folder_recovered_" + in.Stamp, Crossed: 3}, Complete: true}, nil
	})
	env.OnActivity(c.AttachBranch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BranchAttachInput) error {
		calls = append(calls, "attach "+in.Branch+" in "+in.Region)
		return nil
	})
	env.OnActivity(r.RecordRecoveredAttached, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(r.MoveDiverged, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.MoveDivergedInput) (activities.MoveDivergedResult, error) {
		calls = append(calls, "move aside in "+in.Returning)
		return activities.MoveDivergedResult{Moved: 3, MovedTo: replication.DivergedPrefix("db", in.ID), Left: 10}, nil
	})
	env.OnActivity(r.RemoveLocks, mock.Anything, mock.Anything).Return([]string{}, nil)
	env.OnActivity(r.RecordPrimary, mock.Anything, mock.Anything).Return(func(_ context.Context, p replication.Primary) ([]string, error) {
		calls = append(calls, "record primary "+p.Region)
		return []string{"primary", "secondary"}, nil
	})
	env.OnActivity(r.CopyTotals, mock.Anything, mock.Anything).Return(activities.CatchUp{CopiedObjects: 100, CopiedBytes: 1000}, nil)
	env.OnActivity(ctl.StartWorkflow, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StartWorkflowInput) (string, error) {
		calls = append(calls, "start "+in.WorkflowID)
		return in.WorkflowID, nil
	})
	env.OnActivity(ctl.WaitCaughtUp, mock.Anything, mock.Anything).Return(activities.CatchUp{CopiedObjects: 110, CopiedBytes: 1500}, nil)
	env.OnActivity(r.MeasureWrites, mock.Anything, mock.Anything).Return(activities.Writes{Bytes: 10000, SinceBytes: 480}, nil)
	env.OnActivity(ctl.StopWorkflow, mock.Anything, mock.Anything).Return(func(_ context.Context, id string) error {
		calls = append(calls, "stop "+id)
		return nil
	})
	env.RegisterWorkflowWithOptions(func(ctx workflow.Context, in FailoverInput) (FailoverResult, error) {
		calls = append(calls, "switch over "+in.From+" → "+in.To+" "+in.Mode)
		return FailoverResult{NewPrimary: in.To, RTOSeconds: 1.5}, nil
	}, workflow.RegisterOptions{Name: FailoverName})
	env.SetStartTime(t0)
	return env, &calls
}

func TestFailbackRecoversTheTailAndSwitchesBack(t *testing.T) {
	env, calls := failbackEnv(failbackMocks{silentProbes: 3, tail: true})
	env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "secondary", To: "primary", Switchback: true})
	require.NoError(t, env.GetWorkflowError())
	var res FailbackResult
	require.NoError(t, env.GetWorkflowResult(&res))
	stamp := res.Recovered.Root[len("db_folder_recovered_"):]
	assert.Equal(t, []string{"fence primary", "recover primary into secondary", "attach db_recovered_" + stamp + " in secondary",
		"move aside in primary", "record primary secondary", "start replicate/db/secondary->primary",
		"switch over secondary → primary planned", "stop replicate/db/secondary->primary", "stop replicate/db/primary->secondary",
		"start replicate/db/primary->secondary"}, *calls)
	assert.Equal(t, FailbackDone, res.Phase)
	assert.Equal(t, 4, res.Probes, "three silent probes, then one that answered")
	assert.Greater(t, res.WaitedSeconds, 0.0)
	assert.True(t, res.Recovered.Attached)
	assert.Equal(t, int64(3), res.Tail.Objects)
	assert.Equal(t, int64(10), res.CopiedBackObjects, "what the reverse replication copied, not the record's totals")
	assert.Equal(t, int64(500), res.CopiedBackBytes)
	assert.Equal(t, int64(480), res.WrittenSinceFailover)
	assert.Equal(t, int64(10), res.ForwardCopiedObjects)
	assert.Equal(t, "primary", res.Switchback.NewPrimary)
}

func TestFailbackWithoutTailOrSwitchback(t *testing.T) {
	env, calls := failbackEnv(failbackMocks{})
	env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "secondary", To: "primary"})
	require.NoError(t, env.GetWorkflowError())
	var res FailbackResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Nil(t, res.Recovered, "no tail: nothing to recover")
	assert.Nil(t, res.Switchback)
	assert.Equal(t, []string{"fence primary", "recover primary into secondary", "move aside in primary", "record primary secondary",
		"start replicate/db/secondary->primary"}, *calls)
}

func TestFailbackStopsWhenTheFenceIsRefused(t *testing.T) {
	refused := temporal.NewNonRetryableApplicationError("detach: Error 1227: access denied", activities.ErrFenceRefused, nil)
	env, calls := failbackEnv(failbackMocks{fenceErr: refused})
	env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "secondary", To: "primary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "access denied")
	assert.Equal(t, []string{"fence primary"}, *calls, "nothing after a refused fence")
}

// TestFailbackStopsWhenThePrimaryWasRecordedAgain: a failover recorded since the failback
// began (found after the wait, or before the reverse) makes it stale: it stops, changing
// nothing in To after that point, and says why.
func TestFailbackStopsWhenThePrimaryWasRecordedAgain(t *testing.T) {
	for _, tc := range []struct {
		at   int
		want []string
	}{
		{2, nil}, // after the wait, before the fence
		{3, []string{"fence primary", "recover primary into secondary"}}, // before the reverse
	} {
		env, calls := failbackEnv(failbackMocks{tail: false, recordedAgainAt: tc.at})
		env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "secondary", To: "primary"})
		err := env.GetWorkflowError()
		require.Error(t, err)
		assert.Contains(t, err.Error(), "the failback is stale and stops before it changes anything more in primary")
		assert.True(t, hasErrorType(err, activities.ErrPrimaryChanged), "%v", err)
		assert.Equal(t, tc.want, *calls, "check %d", tc.at)
	}
}

// TestFailbackWaitsAndCancelsCleanly: To never answers; the failback waits, shows it, and a
// cancellation ends it having changed nothing.
func TestFailbackWaitsAndCancelsCleanly(t *testing.T) {
	env, calls := failbackEnv(failbackMocks{silentProbes: 1 << 30})
	var waiting FailbackResult
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&waiting))
		env.CancelWorkflow()
	}, 48*time.Hour)
	env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "secondary", To: "primary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.True(t, temporal.IsCanceledError(err) || errors.Is(err, workflow.ErrCanceled), "%v", err)
	assert.Equal(t, FailbackWaiting, waiting.Phase)
	assert.Equal(t, "dial tcp: connection refused", waiting.LastProblem)
	assert.Greater(t, waiting.Probes, 500, "probes every 5 minutes at most, for two days")
	assert.Empty(t, *calls, "nothing changed while waiting")
}

func TestFailbackBadInput(t *testing.T) {
	env, calls := failbackEnv(failbackMocks{})
	env.ExecuteWorkflow(FailbackName, FailbackInput{Database: "db", From: "primary", To: "primary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "to:")
	assert.Empty(t, *calls)
}
