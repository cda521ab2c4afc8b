package workflows

import (
	"context"
	"encoding/json"
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

// drillMocks decides what the mocked activities of a drill answer.
type drillMocks struct {
	attachErr   error
	validateErr error
	security    activities.SecurityCheck
	newest      time.Time // the replication's newest write; zero: it does not answer
	// detachFailures is how many DETACHes fail before one succeeds.
	detachFailures int
	// claimsTaken is how many seconds in a row another drill has claimed already.
	claimsTaken int
}

// drillEnv mocks every activity of a drill; calls records, in order, each that changes
// something, and records the reports written to the bucket.
func drillEnv(m drillMocks) (*testsuite.TestWorkflowEnvironment, *[]string, *[]DrillResult) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(TestFailover, workflow.RegisterOptions{Name: TestFailoverName})
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	var rep *activities.Reporter
	env.RegisterActivity(r)
	env.RegisterActivity(c)
	env.RegisterActivity(ctl)
	env.RegisterActivity(rep)
	var calls []string
	var records []DrillResult
	w := t0.Add(-time.Minute)
	env.OnActivity(r.CheckDrill, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.DrillCheckInput) (activities.DrillCheck, error) {
		return activities.DrillCheck{RootPath: "db_folder", BranchRoot: replication.BranchRoot("db_folder", "drill", in.Stamp), Retention: 24 * time.Hour,
			Record: replication.RecordView{Time: w, From: "primary"},
			Copy: activities.CopyState{Watermark: w, WatermarkFound: true,
				Milestones: []replication.Milestone{{Name: "nightly", Time: w.Add(-time.Hour)}}}}, nil
	})
	env.OnActivity(ctl.QueryReplication, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.StopInput) (activities.ReplicationHealth, error) {
		if m.newest.IsZero() {
			return activities.ReplicationHealth{}, errors.New("not running")
		}
		return activities.ReplicationHealth{NewestWrite: m.newest}, nil
	})
	env.OnActivity(r.LoadSecurity, mock.Anything, mock.Anything).Return(activities.LoadedSecurity{Found: m.security.Found}, nil)
	env.OnActivity(c.CheckSecurity, mock.Anything, mock.Anything).Return(m.security, nil)
	env.OnActivity(r.RecordDrill, mock.Anything, mock.Anything).Return(func(_ context.Context, rec activities.DrillRecord) error {
		if rec.Claim && m.claimsTaken > 0 {
			m.claimsTaken--
			return temporal.NewNonRetryableApplicationError("claimed by another drill", activities.ErrDrillClaimed, nil)
		}
		var res DrillResult
		if err := json.Unmarshal(rec.Report, &res); err != nil {
			return err
		}
		records = append(records, res)
		return nil
	})
	env.OnActivity(r.BranchCopy, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BranchInput) (activities.BranchReport, error) {
		calls = append(calls, "branch "+in.BranchRoot)
		return activities.BranchReport{Objects: 10, Bytes: 100, Copied: 10}, nil
	})
	attached := false // the branch, as the mocked cluster holds it
	env.OnActivity(c.AttachBranch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BranchAttachInput) error {
		calls = append(calls, "attach "+in.Branch+" at "+in.AtMilestone)
		attached = m.attachErr == nil
		return m.attachErr
	})
	env.OnActivity(c.ValidateBranch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.ValidateInput) ([]activities.QueryResult, error) {
		calls = append(calls, "validate in "+in.Database)
		return []activities.QueryResult{{Query: in.Queries[0], Rows: 1}}, m.validateErr
	})
	env.OnActivity(rep.RecordDrillOutcome, mock.Anything, mock.Anything).Return(func(_ context.Context, out activities.DrillOutcome) error {
		calls = append(calls, "metrics passed="+map[bool]string{true: "yes", false: "no"}[out.Passed])
		return nil
	})
	env.OnActivity(c.DetachBranch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BranchName) (bool, error) {
		if m.detachFailures > 0 {
			m.detachFailures--
			return false, errors.New("cluster of secondary: connection refused")
		}
		calls = append(calls, "detach "+in.Branch)
		was := attached
		attached = false
		return was, nil
	})
	env.OnActivity(r.DeleteBranch, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.BranchInput) (int64, error) {
		calls = append(calls, "delete "+in.BranchRoot)
		return 10, nil
	})
	env.SetStartTime(t0)
	return env, &calls, &records
}

func TestDrillPassesAndCleansUp(t *testing.T) {
	env, calls, records := drillEnv(drillMocks{newest: t0.Add(-50 * time.Second), security: activities.SecurityCheck{Found: true, Users: 2}})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary", Validate: []string{"SELECT COUNT(*) FROM t"}})
	require.NoError(t, env.GetWorkflowError())
	var res DrillResult
	require.NoError(t, env.GetWorkflowResult(&res))

	stamp := t0.UTC().Format(DrillStampLayout)
	assert.Equal(t, []string{"branch db_folder_drill_" + stamp, "attach db_drill_" + stamp + " at ", "validate in db_drill_" + stamp,
		"metrics passed=yes", "detach db_drill_" + stamp, "delete db_folder_drill_" + stamp, "detach db_drill_" + stamp}, *calls,
		"the last detach checks that nothing attached the branch again")
	assert.True(t, res.Passed, res.Reason)
	assert.Equal(t, DrillDone, res.Phase)
	assert.True(t, res.CleanedUp)
	assert.True(t, res.RPOKnown)
	assert.InDelta(t, 10, res.RPOSeconds, 0.001, "newest write minus the watermark")
	assert.Equal(t, "primary", res.From)
	assert.Equal(t, "latest", res.AttachedAt)
	assert.Equal(t, int64(10), res.Branched.Objects)
	// Recorded as it starts (so a live branch is listed), at its report and at its end.
	require.Len(t, *records, 3)
	assert.Equal(t, DrillChecking, (*records)[0].Phase)
	assert.Equal(t, DrillDone, (*records)[2].Phase)
	assert.True(t, (*records)[2].CleanedUp)
}

func TestFailedAttachFailsLoudlyAndCleansUp(t *testing.T) {
	refused := temporal.NewNonRetryableApplicationError("attach db as db_drill_x: log 7 is missing while log 8 exists", activities.ErrAttachRefused, nil)
	env, calls, records := drillEnv(drillMocks{attachErr: refused})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	assert.Equal(t, ErrDrillFailed, appErr.Type())
	var res DrillResult
	require.NoError(t, appErr.Details(&res), "the failure carries the report")
	assert.False(t, res.Passed)
	assert.Contains(t, res.Reason, "log 7 is missing while log 8 exists", "the reason names the database's own words")
	assert.Contains(t, err.Error(), "log 7 is missing")
	assert.True(t, res.CleanedUp)
	assert.False(t, res.RPOKnown, "no replication answered")
	assert.NotEmpty(t, res.Warnings)
	stamp := t0.UTC().Format(DrillStampLayout)
	assert.Equal(t, []string{"branch db_folder_drill_" + stamp, "attach db_drill_" + stamp + " at ",
		"detach db_drill_" + stamp, "delete db_folder_drill_" + stamp, "detach db_drill_" + stamp, "metrics passed=no"}, *calls,
		"attached once: a refusal is not retried")
	last := (*records)[len(*records)-1]
	assert.False(t, last.Passed)
	assert.Equal(t, res.Reason, last.Reason)
}

func TestSecuritySnapshotThatWouldNotApplyFailsTheDrill(t *testing.T) {
	env, _, _ := drillEnv(drillMocks{security: activities.SecurityCheck{Found: true, Problem: "apply security: users[0].name: invalid user name"}})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "users and grants snapshot in secondary's bucket would not apply")
}

func TestKeptBranchIsCleanedUpOnFinish(t *testing.T) {
	env, calls, _ := drillEnv(drillMocks{})
	var during DrillResult
	env.RegisterDelayedCallback(func() {
		v, err := env.QueryWorkflow(QueryStatus)
		require.NoError(t, err)
		require.NoError(t, v.Get(&during))
		env.UpdateWorkflow(UpdateFinish, "finish-1", &testsuite.TestUpdateCallback{
			OnReject: func(err error) { t.Errorf("finish rejected: %v", err) },
		})
	}, time.Hour)
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary", KeepFor: "48h"})
	require.NoError(t, env.GetWorkflowError())
	var res DrillResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, DrillKept, during.Phase)
	assert.True(t, during.Passed)
	assert.Equal(t, during.KeptUntil.Sub(during.StartedAt).Round(time.Hour), 48*time.Hour)
	assert.True(t, res.CleanedUp)
	assert.Less(t, env.Now().Sub(t0), 2*time.Hour, "finish ended the 48h wait")
	assert.Contains(t, *calls, "delete db_folder_drill_"+t0.UTC().Format(DrillStampLayout))
}

func TestCancelledDrillCleansUp(t *testing.T) {
	env, calls, _ := drillEnv(drillMocks{})
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Hour)
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary", KeepFor: "24h"})
	require.Error(t, env.GetWorkflowError())
	assert.True(t, temporal.IsCanceledError(env.GetWorkflowError()))
	assert.Contains(t, *calls, "detach db_drill_"+t0.UTC().Format(DrillStampLayout))
	assert.Contains(t, *calls, "delete db_folder_drill_"+t0.UTC().Format(DrillStampLayout))
}

func TestDrillBadInputChangesNothing(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   DrillInput
		want string
	}{
		{"writing query", DrillInput{Database: "db", To: "secondary", Validate: []string{"DELETE FROM t"}}, "validate[0]"},
		{"bad keepFor", DrillInput{Database: "db", To: "secondary", KeepFor: "soon"}, "keepFor"},
		{"keepFor too long", DrillInput{Database: "db", To: "secondary", KeepFor: "9000h"}, "keepFor"},
		{"at both", DrillInput{Database: "db", To: "secondary", At: &FailoverAt{Milestone: "m", Time: t0}}, "at:"},
		{"no to", DrillInput{Database: "db"}, "to: required"},
		{"unknown milestone", DrillInput{Database: "db", To: "secondary", At: &FailoverAt{Milestone: "weekly"}}, `at.milestone: no milestone "weekly"`},
		{"time past the replica", DrillInput{Database: "db", To: "secondary", At: &FailoverAt{Time: t0}}, "at.time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env, calls, records := drillEnv(drillMocks{})
			env.ExecuteWorkflow(TestFailoverName, tc.in)
			err := env.GetWorkflowError()
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, hasErrorType(err, activities.ErrInvalidInput), "an invalid-input error: %v", err)
			assert.Empty(t, *calls, "nothing branched")
			assert.Empty(t, *records, "nothing recorded")
		})
	}
}

func TestDrillAtAMilestoneAttachesThere(t *testing.T) {
	env, calls, _ := drillEnv(drillMocks{})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary", At: &FailoverAt{Milestone: "nightly"}})
	require.NoError(t, env.GetWorkflowError())
	var res DrillResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.Equal(t, "milestone nightly", res.AttachedAt)
	assert.Contains(t, *calls, "attach db_drill_"+t0.UTC().Format(DrillStampLayout)+" at nightly")
}

// TestCleanUpOutlastsAClusterThatIsDownForAWhile: the branch's DETACH fails more often than an
// ordinary step retries (5 attempts); the clean-up keeps trying and the branch is cleaned up.
// (The test environment caps unlimited retries at 10 attempts.)
func TestCleanUpOutlastsAClusterThatIsDownForAWhile(t *testing.T) {
	env, calls, _ := drillEnv(drillMocks{detachFailures: 8})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary"})
	require.NoError(t, env.GetWorkflowError())
	var res DrillResult
	require.NoError(t, env.GetWorkflowResult(&res))
	assert.True(t, res.CleanedUp)
	assert.Contains(t, *calls, "delete db_folder_drill_"+t0.UTC().Format(DrillStampLayout))
}

func TestDrillStampComesFromTheWorkflowID(t *testing.T) {
	started := time.Date(2026, 12, 7, 6, 30, 0, 0, time.UTC)
	for id, want := range map[string]string{
		"drill/db/20261207063412":                 "20261207063412",
		"drill/db/scheduled-2026-12-07T06:00:00Z": "20261207060000",
		"my-own-id":           "20261207063000",
		"drill/db/2026-12-07": "20261207063000",
	} {
		assert.Equal(t, want, drillStamp(id, started), id)
	}
}

// TestDrillTakesTheNextFreeSecond: another drill (a Schedule's) claimed this second's id; the
// drill takes the next free second, and its branch is named after it.
func TestDrillTakesTheNextFreeSecond(t *testing.T) {
	env, calls, _ := drillEnv(drillMocks{claimsTaken: 2})
	env.ExecuteWorkflow(TestFailoverName, DrillInput{Database: "db", To: "secondary"})
	require.NoError(t, env.GetWorkflowError())
	var res DrillResult
	require.NoError(t, env.GetWorkflowResult(&res))
	want := t0.Add(2 * time.Second).UTC().Format(DrillStampLayout)
	assert.Equal(t, want, res.ID)
	assert.Equal(t, "db_drill_"+want, res.Branch)
	assert.Equal(t, "db_folder_drill_"+want, res.BranchRoot)
	assert.Contains(t, *calls, "branch db_folder_drill_"+want)
}
