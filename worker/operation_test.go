package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// TestOperationInterceptorTagsStoreRequests: a store request made by an activity carries
// "bdr-op/<workflow type>/<activity type>" at the end of its User-Agent, also from a
// goroutine the activity starts with its context.
func TestOperationInterceptorTagsStoreRequests(t *testing.T) {
	var mu sync.Mutex
	var agents []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		agents = append(agents, r.Header.Get("User-Agent"))
		mu.Unlock()
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		w.Header().Set("ETag", `"8d777f385d3dfec8815d20f7496026dc"`)
	}))
	t.Cleanup(srv.Close)
	store, err := objectstore.New(objectstore.Options{Endpoint: srv.URL, PathStyle: true, Bucket: "objects",
		AccessKeyID: "a", SecretAccessKey: "s"})
	require.NoError(t, err)

	branchCopy := func(ctx context.Context) error {
		if _, err := store.Head(ctx, "k"); err != nil {
			return err
		}
		done := make(chan error, 1)
		go func() { done <- store.PutBytes(ctx, "k", []byte("x"), nil) }()
		return <-done
	}
	drill := func(ctx workflow.Context) error {
		ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
		return workflow.ExecuteActivity(ctx, "BranchCopy").Get(ctx, nil)
	}
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{&operationInterceptor{}}})
	env.RegisterWorkflowWithOptions(drill, workflow.RegisterOptions{Name: "TestFailover"})
	env.RegisterActivityWithOptions(branchCopy, activity.RegisterOptions{Name: "BranchCopy"})
	env.ExecuteWorkflow("TestFailover")
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())

	mu.Lock()
	defer mu.Unlock()
	require.Len(t, agents, 2)
	for _, ua := range agents {
		require.True(t, strings.HasSuffix(ua, " bdr-op/TestFailover/BranchCopy"), "User-Agent %q", ua)
	}
}
