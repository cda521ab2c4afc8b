package workflows

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// failoverEnv mocks every activity of a planned failover; compare decides the comparison.
func failoverEnv(compare activities.VerifyReport) (*testsuite.TestWorkflowEnvironment, *[]string) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Failover, workflow.RegisterOptions{Name: FailoverName})
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	env.RegisterActivity(r)
	env.RegisterActivity(c)
	env.RegisterActivity(ctl)
	var calls []string
	record := func(name string) { calls = append(calls, name) }
	env.OnActivity(r.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{}, nil)
	env.OnActivity(r.CurrentPrimary, mock.Anything, mock.Anything).Return(activities.CurrentPrimaryResult{}, nil)
	env.OnActivity(ctl.CheckRunning, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(c.Health, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(c.CreateMilestone, mock.Anything, mock.Anything).Return(activities.MilestoneCreated{Time: t0}, nil)
	env.OnActivity(r.RecordMilestone, mock.Anything, mock.Anything).Return([]string{"primary", "secondary"}, nil)
	env.OnActivity(c.Detach, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) error {
		record("detach " + in.Region)
		return nil
	})
	env.OnActivity(ctl.DrainReplication, mock.Anything, mock.Anything).Return(activities.DrainOutcome{}, nil)
	env.OnActivity(r.CompareAll, mock.Anything, mock.Anything).Return(compare, nil)
	env.OnActivity(r.RemoveLocks, mock.Anything, mock.Anything).Return([]string(nil), nil)
	env.OnActivity(c.Attach, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) error {
		record("attach " + in.Region)
		return nil
	})
	env.OnActivity(c.Validate, mock.Anything, mock.Anything).Return([]activities.QueryResult{}, nil)
	env.OnActivity(c.ReadSecurity, mock.Anything, mock.Anything).Return(activities.Security{}, nil)
	env.OnActivity(r.RecordSecurity, mock.Anything, mock.Anything).Return([]string{"primary", "secondary"}, nil)
	env.OnActivity(c.ApplySecurity, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ApplySecurityInput) (activities.ApplyReport, error) {
		record("security " + in.Region)
		return activities.ApplyReport{}, nil
	})
	env.OnActivity(r.RecordPrimary, mock.Anything, mock.Anything).Return(func(_ context.Context, p replication.Primary) ([]string, error) {
		record("primary " + p.Region)
		return []string{"primary", "secondary"}, nil
	})
	return env, &calls
}

func TestPlannedFailoverSwitchesOver(t *testing.T) {
	env, calls := failoverEnv(activities.VerifyReport{Checked: 10})
	env.ExecuteWorkflow(Failover, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned})
	require.NoError(t, env.GetWorkflowError())
	var res FailoverResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "secondary", res.NewPrimary)
	require.Zero(t, res.RPOSeconds)
	require.Equal(t, []string{"detach primary", "attach secondary", "security secondary", "primary secondary"}, *calls)
	require.Len(t, res.Steps, 11)
}

// TestPlannedFailoverRollsBackWhenDataWouldBeLost: a comparison that finds the target short of
// the source stops the switchover and attaches the database in From again.
func TestPlannedFailoverRollsBackWhenDataWouldBeLost(t *testing.T) {
	env, calls := failoverEnv(activities.VerifyReport{Checked: 10, Missing: 1, DifferingKeys: []string{"folder/x"}})
	env.ExecuteWorkflow(Failover, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned})
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "would lose data")
	require.Equal(t, []string{"detach primary", "attach primary"}, *calls, "rolled back, never attached in the target")
}

func TestFailoverRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		in   FailoverInput
		want string
	}{
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: "sideways"}, `mode: must be`},
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned}, `mode: unplanned failover is not available`},
		{FailoverInput{Database: "db", From: "primary", To: "primary", Mode: ModePlanned}, `to: must differ`},
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned, At: &FailoverAt{Milestone: "m"}}, `at: a planned failover`},
		{FailoverInput{From: "primary", To: "secondary", Mode: ModePlanned}, `database: required`},
	} {
		env, calls := failoverEnv(activities.VerifyReport{})
		env.ExecuteWorkflow(Failover, tc.in)
		err := env.GetWorkflowError()
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), tc.want), "%v does not contain %q", err, tc.want)
		require.Empty(t, *calls, "nothing changed")
	}
}
