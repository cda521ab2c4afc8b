package activities_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// requireWriteRefused checks that err is the activities' non-retryable WriteRefused error.
func requireWriteRefused(t *testing.T, err error) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.True(t, errors.As(err, &appErr), "want an ApplicationError, got %v", err)
	require.Equal(t, activities.ErrWriteRefused, appErr.Type(), "%v", err)
	require.True(t, appErr.NonRetryable(), "%v", err)
}

// minioReplicator returns a Replicator of database "db" (folder db_folder) between the
// buckets "pri" (region primary) and "sec" (region secondary) of one MinIO server, and its
// stores.
func minioReplicator(t *testing.T, opts ...activities.ReplicatorOption) (*activities.Replicator, map[string]*objectstore.Client) {
	t.Helper()
	ctx := context.Background()
	m := stack.NewMinIO(t)
	cfg := config.Default()
	cfg.Regions = map[string]config.Region{}
	stores := map[string]*objectstore.Client{}
	for region, bucket := range map[string]string{"primary": "pri", "secondary": "sec"} {
		require.NoError(t, m.MakeBucket(ctx, bucket))
		cfg.Regions[region] = config.Region{ObjectStore: config.ObjectStore{Endpoint: m.Endpoint, Bucket: bucket, PathStyle: true}}
		c, err := objectstore.New(objectstore.Options{Endpoint: m.Endpoint, Bucket: bucket, PathStyle: true,
			AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
		require.NoError(t, err)
		stores[region] = c
	}
	cfg.Databases = []config.Database{{Name: "db", RootPath: "db_folder"}}
	return activities.NewReplicator(&cfg, stores, nil, opts...), stores
}

// TestReplicatorRefusesWritesIntoThePrimaryAgainstMinIO: Prepare records the first start's
// source as the primary in both buckets; a reversed Sync and Verify are refused; FenceTarget
// makes the forward Sync and Verify refused too, until a new primary record is written. The
// errors are the non-retryable WriteRefused the workflows look for.
func TestReplicatorRefusesWritesIntoThePrimaryAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	r, stores := minioReplicator(t)
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(r)

	forward := activities.SyncInput{Database: "db", From: "primary", To: "secondary", Drain: true, Quiescent: true}
	reverse := activities.SyncInput{Database: "db", From: "secondary", To: "primary", Drain: true, Quiescent: true}
	_, err := env.ExecuteActivity(r.Prepare, activities.PrepareInput{Database: "db", From: "primary", To: "secondary"})
	require.NoError(t, err)
	for region, s := range stores {
		p, found, err := replication.ReadPrimary(ctx, s, "db")
		require.NoError(t, err)
		require.True(t, found, region)
		require.Equal(t, "primary", p.Region, region)
	}
	// A reversed start does not overwrite the record.
	_, err = env.ExecuteActivity(r.Prepare, activities.PrepareInput{Database: "db", From: "secondary", To: "primary"})
	require.NoError(t, err)
	p, _, err := replication.ReadPrimary(ctx, stores["primary"], "db")
	require.NoError(t, err)
	require.Equal(t, "primary", p.Region)

	require.NoError(t, stores["primary"].PutBytes(ctx, "db_folder/blob", []byte("data"), nil))
	_, err = env.ExecuteActivity(r.Sync, forward)
	require.NoError(t, err)
	_, err = env.ExecuteActivity(r.Sync, reverse)
	requireWriteRefused(t, err)
	_, err = env.ExecuteActivity(r.Verify, activities.VerifyInput{Database: "db", From: "secondary", To: "primary"})
	requireWriteRefused(t, err)

	v, err := env.ExecuteActivity(r.FenceTarget, activities.FenceTargetInput{Database: "db", Region: "secondary"})
	require.NoError(t, err)
	var fenced activities.FenceTargetResult
	require.NoError(t, v.Get(&fenced))
	require.Equal(t, "secondary", fenced.Fence.Region)
	require.Positive(t, fenced.Fence.Generation)
	_, err = env.ExecuteActivity(r.Sync, forward)
	requireWriteRefused(t, err)
	_, err = env.ExecuteActivity(r.Verify, activities.VerifyInput{Database: "db", From: "primary", To: "secondary"})
	requireWriteRefused(t, err)

	// The failover gives up: replication resumes.
	_, err = env.ExecuteActivity(r.LiftFence, activities.FenceTargetInput{Database: "db", Region: "secondary"})
	require.NoError(t, err)
	_, err = env.ExecuteActivity(r.Sync, forward)
	require.NoError(t, err)
}

// TestSyncWaitEndsOnAHintAgainstMinIO: a Sync asked to wait (the workflow's caught-up wait,
// up to a poll interval) subscribes to the worker's hints before it waits, so a notification
// that arrives during the wait starts it at once, and its first listing copies the blob early.
func TestSyncWaitEndsOnAHintAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	hints := activities.NewHints()
	r, stores := minioReplicator(t, activities.WithHints(hints))
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(r)
	v, err := env.ExecuteActivity(r.Prepare, activities.PrepareInput{Database: "db", From: "primary", To: "secondary"})
	require.NoError(t, err)
	var prepared activities.PrepareResult
	require.NoError(t, v.Get(&prepared))
	require.True(t, prepared.Hints, "the workflow is told to wait in its Syncs")

	type outcome struct {
		res activities.SyncResult
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		v, err := env.ExecuteActivity(r.Sync, activities.SyncInput{Database: "db", From: "primary", To: "secondary", Wait: time.Hour})
		var o outcome
		if o.err = err; err == nil {
			o.err = v.Get(&o.res)
		}
		done <- o
	}()
	require.NoError(t, stores["primary"].PutBytes(ctx, "db_folder/blob", []byte("data"), nil))
	// The Sync subscribes when it starts, which this test cannot see: the hint is repeated
	// until the Sync ends, as a store repeats a notification (harmless, early.go).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		select {
		case o := <-done:
			require.NoError(t, o.err)
			require.EqualValues(t, 1, o.res.EarlyObjects, "the blob is young: only an early copy puts it in")
			got, err := stores["secondary"].GetBytes(ctx, "db_folder/blob")
			require.NoError(t, err)
			require.Equal(t, "data", string(got))
			return
		case <-tick.C:
			hints.Publish("pri", "db_folder/blob")
		case <-deadline:
			t.Fatal("the Sync waited for its Wait (an hour), not for the hint")
		}
	}
}
