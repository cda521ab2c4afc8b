package workflows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// failoverMocks decides what the mocked activities of a failover answer.
type failoverMocks struct {
	compare activities.VerifyReport      // planned: the comparison
	fence   activities.FenceResult       // unplanned: From detached or lost
	repl    activities.ReplicationState  // unplanned: the replication's last status
	copy    activities.CopyState         // To's copy
	source  activities.SourceState       // From's bucket
	health  activities.ReplicationHealth // planned: the replication's status before anything
	// attached says where the database is attached when the failover starts (default: the
	// primary); the mocked attach and detach change it.
	attached map[string]bool
	// errors of mocked steps, by "detach <region>", "attach <region>", "validate", "fence",
	// "drain"
	fail             map[string]error
	fromBucketSilent bool
	unplannedDrain   time.Duration // failover.unplanned_drain_timeout
}

// failoverEnv mocks every activity of a failover; calls records, in order, each one that
// changes something.
func failoverEnv(m failoverMocks) (*testsuite.TestWorkflowEnvironment, *[]string) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Failover, workflow.RegisterOptions{Name: FailoverName})
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	var rep *activities.Reporter
	env.RegisterActivity(r)
	env.RegisterActivity(c)
	env.RegisterActivity(ctl)
	env.RegisterActivity(rep)
	var calls []string
	record := func(name string) { calls = append(calls, name) }
	if m.attached == nil {
		m.attached = map[string]bool{"primary": true}
	}
	env.OnActivity(r.Prepare, mock.Anything, mock.Anything).Return(activities.PrepareResult{Retention: 24 * time.Hour, FenceTimeout: time.Second,
		MaxLag: 30 * time.Second, DrainTimeout: 5 * time.Minute, UnplannedDrainTimeout: m.unplannedDrain}, nil)
	env.OnActivity(r.CurrentPrimary, mock.Anything, mock.Anything).Return(activities.CurrentPrimaryResult{}, nil)
	env.OnActivity(ctl.CheckRunning, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(c.Health, mock.Anything, mock.Anything).Return(nil)
	env.OnActivity(c.CreateMilestone, mock.Anything, mock.Anything).Return(activities.MilestoneCreated{Time: t0}, nil)
	env.OnActivity(r.RecordMilestone, mock.Anything, mock.Anything).Return([]string{"primary", "secondary"}, nil)
	env.OnActivity(c.Detach, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) error {
		record("detach " + in.Region)
		if err := m.fail["detach "+in.Region]; err != nil {
			return err
		}
		m.attached[in.Region] = false
		return nil
	})
	env.OnActivity(c.Attached, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) (bool, error) {
		return m.attached[in.Region], nil
	})
	env.OnActivity(ctl.QueryReplication, mock.Anything, mock.Anything).Return(m.health, nil)
	env.OnActivity(ctl.ResumeReplication, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StopInput) error {
		record("resume " + in.WorkflowID)
		return nil
	})
	env.OnActivity(r.ProbeStore, mock.Anything, mock.Anything).Return(activities.StoreProbe{Answered: !m.fromBucketSilent}, nil)
	env.OnActivity(ctl.StartWorkflow, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StartWorkflowInput) (string, error) {
		record("start " + in.Workflow + " " + in.WorkflowID + " " + in.From + "->" + in.To)
		return in.WorkflowID, m.fail["start "+in.Workflow]
	})
	env.OnActivity(r.Verify, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.VerifyInput) (activities.VerifyReport, error) {
		record("repair " + in.To + " from " + in.From)
		return activities.VerifyReport{Checked: 10, Repaired: 1}, nil
	})
	env.OnActivity(ctl.DrainReplication, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DrainInput) (activities.DrainOutcome, error) {
		record(fmt.Sprintf("drain quiescent=%v timeout=%s", in.Quiescent, in.Timeout))
		return activities.DrainOutcome{}, m.fail["drain"]
	})
	env.OnActivity(r.CompareAll, mock.Anything, mock.Anything).Return(m.compare, nil)
	env.OnActivity(r.RemoveLocks, mock.Anything, mock.Anything).Return([]string(nil), nil)
	env.OnActivity(c.Attach, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.AttachInput) error {
		if err := m.fail["attach "+in.Region]; err != nil {
			record("attach " + in.Region + " failed")
			return err
		}
		m.attached[in.Region] = true
		switch {
		case in.AtMilestone != "":
			record("attach " + in.Region + " at milestone " + in.AtMilestone)
		case !in.AtTime.IsZero():
			record("attach " + in.Region + " at time " + in.AtTime.Format(time.DateTime))
		default:
			record("attach " + in.Region)
		}
		return nil
	})
	env.OnActivity(c.Validate, mock.Anything, mock.Anything).Return([]activities.QueryResult{}, m.fail["validate"])
	env.OnActivity(c.ReadSecurity, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.RegionDatabase) (activities.Security, error) {
		return activities.Security{Users: []database.User{{Name: "read-in-" + in.Region, Host: "%"}}}, nil
	})
	env.OnActivity(r.RecordSecurity, mock.Anything, mock.Anything).Return([]string{"primary", "secondary"}, nil)
	env.OnActivity(c.ApplySecurity, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ApplySecurityInput) (activities.ApplyReport, error) {
		record("security " + in.Region + " " + in.Security.Users[0].Name)
		return activities.ApplyReport{}, nil
	})
	env.OnActivity(r.RecordPrimary, mock.Anything, mock.Anything).Return(func(_ context.Context, p replication.Primary) ([]string, error) {
		record("primary " + p.Region)
		return []string{"primary", "secondary"}, nil
	})
	env.OnActivity(c.Fence, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FenceInput) (activities.FenceResult, error) {
		record("fence " + in.Region)
		if err := m.fail["fence"]; err != nil {
			return activities.FenceResult{}, err
		}
		if m.fence.Fenced {
			m.attached[in.Region] = false
		}
		if m.fence.Fenced {
			m.fence.Security = &activities.Security{Users: []database.User{{Name: "read-in-" + in.Region, Host: "%"}}}
		}
		return m.fence, nil
	})
	env.OnActivity(ctl.StopReplication, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StopInput) (activities.ReplicationState, error) {
		record("stop " + in.WorkflowID)
		return m.repl, nil
	})
	env.OnActivity(r.FenceTarget, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.FenceTargetInput) (activities.FenceTargetResult, error) {
		record("fence target " + in.Region)
		return activities.FenceTargetResult{}, nil
	})
	env.OnActivity(r.Seal, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SealInput) (activities.SealReport, error) {
		record("seal " + in.Region)
		return activities.SealReport{Watermark: m.copy.Watermark}, nil
	})
	env.OnActivity(r.InspectCopy, mock.Anything, mock.Anything).Return(m.copy, nil)
	env.OnActivity(r.InspectSource, mock.Anything, mock.Anything).Return(m.source, nil)
	env.OnActivity(r.LoadSecurity, mock.Anything, mock.Anything).Return(activities.LoadedSecurity{Found: true,
		Record: activities.SecurityRecord{Security: activities.Security{Users: []database.User{{Name: "from-bucket", Host: "%"}}}}}, nil)
	env.OnActivity(rep.RecordFailover, mock.Anything, mock.Anything).Return(nil)
	return env, &calls
}

func TestPlannedFailoverSwitchesOver(t *testing.T) {
	env, calls := failoverEnv(failoverMocks{compare: activities.VerifyReport{Checked: 10}})
	env.ExecuteWorkflow(Failover, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned})
	require.NoError(t, env.GetWorkflowError())
	var res FailoverResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, "secondary", res.NewPrimary)
	require.Zero(t, res.RPOSeconds)
	require.Equal(t, []string{"detach primary", "drain quiescent=true timeout=5m0s", "fence target secondary", "attach secondary", "security secondary read-in-primary", "primary secondary"}, *calls)
	require.Len(t, res.Steps, 12)
}

// TestPlannedFailoverRollsBackWhenDataWouldBeLost: a comparison that finds the target short of
// the source stops the switchover and attaches the database in From again.
func TestPlannedFailoverRollsBackWhenDataWouldBeLost(t *testing.T) {
	env, calls := failoverEnv(failoverMocks{compare: activities.VerifyReport{Checked: 10, Missing: 1, DifferingKeys: []string{"folder/x"}}})
	env.ExecuteWorkflow(Failover, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned})
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.Contains(t, err.Error(), "would lose data")
	require.Equal(t, []string{"detach primary", "drain quiescent=true timeout=5m0s", "attach primary", "primary primary",
		"resume replicate/db/primary->secondary"}, *calls, "rolled back, never attached in the target (so not detached there either)")
	require.Contains(t, err.Error(), "rolled back: the database serves from primary")
}

func TestFailoverRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		in   FailoverInput
		want string
	}{
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: "sideways"}, `mode: must be`},
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned, At: &FailoverAt{}}, `at: give a milestone or a time`},
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned, At: &FailoverAt{Milestone: "m", Time: t0}}, `at: milestone and time are exclusive`},
		{FailoverInput{Database: "db", From: "primary", To: "primary", Mode: ModePlanned}, `to: must differ`},
		{FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned, At: &FailoverAt{Milestone: "m"}}, `at: a planned failover`},
		{FailoverInput{From: "primary", To: "secondary", Mode: ModePlanned}, `database: required`},
	} {
		env, calls := failoverEnv(failoverMocks{})
		env.ExecuteWorkflow(Failover, tc.in)
		err := env.GetWorkflowError()
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), tc.want), "%v does not contain %q", err, tc.want)
		require.Empty(t, *calls, "nothing changed")
	}
}
