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

func milestoneEnv() (*testsuite.TestWorkflowEnvironment, *[]activities.CreateMilestoneInput, *[]replication.Milestone) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(CreateMilestone, workflow.RegisterOptions{Name: CreateMilestoneName})
	var c *activities.Cluster
	var r *activities.Replicator
	env.RegisterActivity(c)
	env.RegisterActivity(r)
	var created []activities.CreateMilestoneInput
	var recorded []replication.Milestone
	env.OnActivity(c.CreateMilestone, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.CreateMilestoneInput) (activities.MilestoneCreated, error) {
		created = append(created, in)
		return activities.MilestoneCreated{Time: t0}, nil
	})
	env.OnActivity(r.RecordMilestone, mock.Anything, mock.Anything).Return(func(_ context.Context, m replication.Milestone) ([]string, error) {
		recorded = append(recorded, m)
		return []string{"primary", "secondary"}, nil
	})
	env.OnActivity(c.ReadSecurity, mock.Anything, mock.Anything).Return(activities.Security{Users: []database.User{{Name: "app", Host: "%"}}}, nil)
	env.OnActivity(r.RecordSecurity, mock.Anything, mock.Anything).Return(func(_ context.Context, rec activities.SecurityRecord) ([]string, error) {
		if rec.Region != "primary" || len(rec.Security.Users) != 1 {
			return nil, fmt.Errorf("unexpected security record %+v", rec)
		}
		return []string{"primary", "secondary"}, nil
	})
	return env, &created, &recorded
}

func TestCreateMilestoneCreatesThenRecords(t *testing.T) {
	env, created, recorded := milestoneEnv()
	env.ExecuteWorkflow(CreateMilestone, CreateMilestoneInput{Database: "db", Region: "primary", Name: "m1"})
	require.NoError(t, env.GetWorkflowError())
	var res MilestoneResult
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, MilestoneResult{Database: "db", Region: "primary", Name: "m1", Time: t0, RecordedIn: []string{"primary", "secondary"}, Users: 1}, res)
	require.Equal(t, []activities.CreateMilestoneInput{{Database: "db", Region: "primary", Name: "m1"}}, *created)
	require.Len(t, *recorded, 1)
	require.True(t, (*recorded)[0].Time.Equal(t0), "the record carries the database's time")
}

func TestCreateMilestoneNamesScheduledOnesByTime(t *testing.T) {
	env, created, _ := milestoneEnv()
	env.SetStartTime(time.Date(2026, 11, 23, 14, 5, 9, 0, time.UTC))
	env.ExecuteWorkflow(CreateMilestone, CreateMilestoneInput{Database: "db", Region: "primary", NamePrefix: "hourly"})
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, "hourly_20261123140509", (*created)[0].Name)
}

func TestCreateMilestoneRejectsMissingFields(t *testing.T) {
	env, created, _ := milestoneEnv()
	env.ExecuteWorkflow(CreateMilestone, CreateMilestoneInput{Region: "primary"})
	err := env.GetWorkflowError()
	require.Error(t, err)
	require.True(t, strings.Contains(err.Error(), "database: required") && strings.Contains(err.Error(), "name: required"), err.Error())
	require.Empty(t, *created, "nothing ran")
}
