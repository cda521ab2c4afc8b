package main

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestMinIOReplicationReplicates sets up MinIO's bucket replication between two real servers
// as the bench does and checks that blobs written into the source arrive in the target and
// that the arrival poller sees them, out of order included (sequence 1 before 0).
func TestMinIOReplicationReplicates(t *testing.T) {
	src, dst := stack.NewMinIO(t), stack.NewMinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, setUpMinIOReplication(ctx, src, dst, minioReplSource, minioReplTarget))

	const prefix = "lag/test"
	seen, stop := pollArrivals(ctx, leanS3(dst, 4), minioReplTarget, prefix, 2)
	defer stop()
	var source objectstore.Listing
	for _, k := range []string{workload.Key(prefix, 0, 1), workload.Key(prefix, 0, 0), workload.Key(prefix, 1, 0)} {
		_, err := leanS3(src, 1).PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(minioReplSource), Key: aws.String(k),
			Body: newContent("test", 0, noise(1024), 1024), ContentLength: aws.Int64(1024)})
		require.NoError(t, err)
		source.Objects = append(source.Objects, objectstore.Object{Key: k, LastModified: time.Now()})
	}
	missing, err := waitArrived(ctx, source, seen, 30*time.Second)
	require.NoError(t, err)
	require.Zero(t, missing, "blobs not replicated within 30 s: %v", seen())
	require.NoError(t, waitObject(ctx, dst, minioReplTarget, workload.Key(prefix, 1, 0), time.Second))
}
