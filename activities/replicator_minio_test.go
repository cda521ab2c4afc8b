package activities_test

import (
	"context"
	"errors"
	"testing"

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

// TestReplicatorRefusesWritesIntoThePrimaryAgainstMinIO: Prepare records the first start's
// source as the primary in both buckets; a reversed Sync and Verify are refused; FenceTarget
// makes the forward Sync and Verify refused too, until a new primary record is written. The
// errors are the non-retryable WriteRefused the workflows look for.
func TestReplicatorRefusesWritesIntoThePrimaryAgainstMinIO(t *testing.T) {
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
	r := activities.NewReplicator(&cfg, stores, nil)
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
