package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	commonpb "go.temporal.io/api/common/v1"
	querypb "go.temporal.io/api/query/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/mocks"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// These tests pin what bdr asks of Temporal (IDs, options, error mapping) with the SDK's
// client mock; the real round trip is covered by test/e2e against a real server.

func TestStartReplicateOptions(t *testing.T) {
	c := mocks.NewClient(t)
	run := mocks.NewWorkflowRun(t)
	run.On("GetID").Return("replicate/bottomless_db/primary->secondary")
	run.On("GetRunID").Return("run-1")
	r := routeArgs{db: "bottomless_db", from: "primary", to: "secondary"}
	c.On("ExecuteWorkflow", mock.Anything, mock.MatchedBy(func(o client.StartWorkflowOptions) bool {
		db, dbOK := o.TypedSearchAttributes.GetKeyword(workflows.SearchAttrDatabase)
		state, stateOK := o.TypedSearchAttributes.GetKeyword(workflows.SearchAttrState)
		return o.ID == "replicate/bottomless_db/primary->secondary" && o.TaskQueue == "tq" &&
			o.WorkflowExecutionErrorWhenAlreadyStarted &&
			o.StaticSummary == "replicate bottomless_db: primary → secondary" &&
			dbOK && db == "bottomless_db" && stateOK && state == workflows.StateStarting
	}), workflows.ReplicateName, workflows.ReplicateInput{Database: "bottomless_db", From: "primary", To: "secondary"}).
		Return(run, nil)

	res, err := startReplicate(context.Background(), c, "tq", r)
	require.NoError(t, err)
	assert.Equal(t, startResult{WorkflowID: "replicate/bottomless_db/primary->secondary", RunID: "run-1"}, res)
}

func TestStartReplicateAlreadyRunning(t *testing.T) {
	c := mocks.NewClient(t)
	c.On("ExecuteWorkflow", mock.Anything, mock.Anything, mock.Anything, mock.Anything).
		Return(nil, serviceerror.NewWorkflowExecutionAlreadyStarted("already", "req", "run-0"))
	_, err := startReplicate(context.Background(), c, "tq", routeArgs{db: "db", from: "a", to: "b"})
	require.Error(t, err)
	assert.Equal(t, "replication of db from a to b is already running (workflow ID replicate/db/a->b, run ID run-0)", err.Error())
}

func TestSendUpdateNotRunning(t *testing.T) {
	c := mocks.NewClient(t)
	c.On("UpdateWorkflow", mock.Anything, mock.MatchedBy(func(o client.UpdateWorkflowOptions) bool {
		return o.WorkflowID == "replicate/db/a->b" && o.UpdateName == workflows.UpdatePause &&
			o.WaitForStage == client.WorkflowUpdateStageCompleted
	})).Return(nil, serviceerror.NewNotFound("workflow not found"))
	_, err := sendUpdate[workflows.Status](context.Background(), c, routeArgs{db: "db", from: "a", to: "b"}, workflows.UpdatePause, workflows.PauseRequest{})
	require.Error(t, err)
	assert.Equal(t, "pause: no replication of db from a to b is running (workflow ID replicate/db/a->b)", err.Error())
}

func TestQueryStatuses(t *testing.T) {
	cfg := config.Default()
	cfg.Regions = map[string]config.Region{"primary": {}, "secondary": {}}
	cfg.Databases = []config.Database{{Name: "a"}, {Name: "b"}}

	running := workflows.Status{State: workflows.StateReplicating, Database: "a", From: "primary", To: "secondary", CopiedObjects: 7}
	value := mocks.NewEncodedValue(t)
	value.On("Get", mock.Anything).Run(func(args mock.Arguments) {
		*args.Get(0).(*workflows.Status) = running
	}).Return(nil)

	c := mocks.NewClient(t)
	answer := func(id string, resp *client.QueryWorkflowWithOptionsResponse, err error) {
		c.On("QueryWorkflowWithOptions", mock.Anything, mock.MatchedBy(func(r *client.QueryWorkflowWithOptionsRequest) bool {
			return r.WorkflowID == id && r.QueryType == workflows.QueryStatus
		})).Return(resp, err)
	}
	answer("replicate/a/primary->secondary", &client.QueryWorkflowWithOptionsResponse{QueryResult: value}, nil)
	// The Sync running now has copied more than the workflow has folded: its heartbeat counts.
	// It copied 5 objects in the 10 s from its start to that heartbeat: 0.5 objects/s, and the
	// 11 objects left take 22 s at that rate.
	details, err := converter.GetDefaultDataConverter().ToPayloads(activities.SyncProgress{CopiedObjects: 5, RecordCopiedObjects: 9, RecordCopiedBytes: 900, TotalObjects: 20})
	require.NoError(t, err)
	started := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	c.On("DescribeWorkflowExecution", mock.Anything, "replicate/a/primary->secondary", "").Return(
		&workflowservice.DescribeWorkflowExecutionResponse{PendingActivities: []*workflowpb.PendingActivityInfo{
			{ActivityType: &commonpb.ActivityType{Name: "Prepare"}},
			{ActivityType: &commonpb.ActivityType{Name: "Sync"}, HeartbeatDetails: details,
				LastStartedTime: timestamppb.New(started), LastHeartbeatTime: timestamppb.New(started.Add(10 * time.Second))},
		}}, nil)
	live := running
	live.CopiedObjects, live.CopiedBytes = 9, 900
	live.InitialSync = workflows.InitialSync{Done: 9, Total: 20}
	answer("replicate/a/secondary->primary", nil, serviceerror.NewNotFound("never started"))
	answer("replicate/b/primary->secondary", &client.QueryWorkflowWithOptionsResponse{QueryRejected: &querypb.QueryRejected{}}, nil)
	answer("replicate/b/secondary->primary", nil, errors.New("context deadline exceeded"))

	sts, err := queryStatuses(context.Background(), c, &cfg, []string{"a", "b"})
	require.Error(t, err, "a failed query is reported")
	assert.Equal(t, "query status of replicate/b/secondary->primary: context deadline exceeded", err.Error())
	eta := 22.0
	assert.Equal(t, []statusRow{
		{Status: live, CopyRate: 0.5, InitialSyncETASeconds: &eta},
		{Status: workflows.Status{State: stateUnknown, Database: "b", From: "secondary", To: "primary",
			LastError: "query status of replicate/b/secondary->primary: context deadline exceeded"}},
	}, sts, "not found and closed workflows are left out; order is config order")
}

func TestEndResult(t *testing.T) {
	assert.Equal(t, "completed", endResult(nil))
	assert.Equal(t, "failed: boom", endResult(errors.New("boom")))
}
