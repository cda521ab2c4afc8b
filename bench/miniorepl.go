package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/url"
	"time"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/replication"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// MinIO's own bucket replication, the steady-lag contender: the primary MinIO replicates
// minioReplSource into minioReplTarget of the secondary, buckets of their own so that it
// touches nothing bottomless-dr replicates.
const (
	minioReplSource = "mrepl-src"
	minioReplTarget = "mrepl-dst"
	// minioReplFolder is where the load writes in the source bucket.
	minioReplFolder = lagRoot + "/minio-replication"
)

// minioLagResult is MinIO's bucket replication under the steady load. It has only the time
// until each blob's copy was in the target: MinIO keeps no watermark (it copies without
// order and proves no prefix complete), so there is no time at which a failover would have
// been known to keep a blob.
type minioLagResult struct {
	Blobs       int     `json:"blobs"`
	BlobsPerSec float64 `json:"blobsPerSec"`
	// Arrived is, per blob, from its source LastModified until a listing of the target first
	// showed it, the target listed every ArrivalPoll seconds.
	Arrived     lagQuantiles `json:"arrived"`
	ArrivalPoll float64      `json:"arrivalPoll"`
	// NotArrived is how many of the load's blobs were not in the target a minute after it;
	// Arrived counts them as arriving then, a lower bound.
	NotArrived int                `json:"notArrived"`
	CPU        map[string]float64 `json:"cpu"` // CPU seconds per process while the load ran
}

// runMinIOReplicationLag sets up MinIO's bucket replication from the primary to the
// secondary (not timed), writes the same steady load as runLag into its source bucket and
// measures when each blob's copy showed in the target.
func (e *env) runMinIOReplicationLag(ctx context.Context, duration time.Duration) (minioLagResult, error) {
	res := minioLagResult{ArrivalPoll: arrivalPoll.Seconds()}
	if err := setUpMinIOReplication(ctx, e.src, e.dst, minioReplSource, minioReplTarget); err != nil {
		return res, fmt.Errorf("minio replication: %w", err)
	}
	// One blob first, waited for: it proves the setup replicates, and MinIO's first copy to
	// a new target (its client, the target's health check) is not the load's.
	if err := putBlob(ctx, e.src, minioReplSource, "warmup/first", []byte("first")); err != nil {
		return res, fmt.Errorf("minio replication: %w", err)
	}
	if err := waitObject(ctx, e.dst, minioReplTarget, "warmup/first", time.Minute); err != nil {
		return res, fmt.Errorf("minio replication: the first blob: %w", err)
	}
	src, err := e.store(e.src, minioReplSource)
	if err != nil {
		return res, err
	}
	cpuBefore := e.cpu()
	seen, stopPolling := pollArrivals(ctx, e.dstS3, minioReplTarget, minioReplFolder, lagWriters)
	defer stopPolling()
	written, err := workload.Run(ctx, e.srcS3, workload.Options{Bucket: minioReplSource, Prefix: minioReplFolder,
		Writers: lagWriters, Rate: lagRate, Duration: duration, Size: func(*rand.Rand) int { return lagSize }})
	if err != nil {
		return res, fmt.Errorf("minio replication: write load: %w", err)
	}
	res.BlobsPerSec = float64(written.Objects) / duration.Seconds()
	source, err := src.List(ctx, minioReplFolder+"/")
	if err != nil {
		return res, fmt.Errorf("minio replication: %w", err)
	}
	if res.NotArrived, err = waitArrived(ctx, source, seen, time.Minute); err != nil {
		return res, err
	}
	gaveUp := time.Now()
	stopPolling()
	res.CPU = e.cpu().minus(cpuBefore)
	lags, _ := arrivalLags(source, seen(), gaveUp)
	res.Blobs = len(lags)
	res.Arrived = quantiles(lags)
	if res.NotArrived > 0 {
		logf("minio replication: %d of %d blobs were not in the target a minute after the load", res.NotArrived, len(source.Objects))
	}
	return res, nil
}

// setUpMinIOReplication makes MinIO server src replicate bucket srcBucket into dstBucket of
// server dst, as `mc replicate add` does: both buckets versioned (replication needs it), the
// target registered through src's admin API (SetRemoteTarget, which returns its ARN), then a
// replication rule for every key with that ARN as its destination. The target is dst's own
// address, with no proxy between. It is not idempotent: a second call fails on the remote
// target that exists.
func setUpMinIOReplication(ctx context.Context, src, dst *stack.MinIO, srcBucket, dstBucket string) error {
	srcClient, srcHost, err := minioClient(src)
	if err != nil {
		return err
	}
	dstClient, dstHost, err := minioClient(dst)
	if err != nil {
		return err
	}
	for _, b := range []struct {
		c    *minio.Client
		name string
	}{{srcClient, srcBucket}, {dstClient, dstBucket}} {
		if err := b.c.MakeBucket(ctx, b.name, minio.MakeBucketOptions{}); err != nil {
			return fmt.Errorf("make bucket %s: %w", b.name, err)
		}
		if err := b.c.EnableVersioning(ctx, b.name); err != nil {
			return fmt.Errorf("versioning of %s: %w", b.name, err)
		}
	}
	admin, err := madmin.NewWithOptions(srcHost, &madmin.Options{Creds: credentials.NewStaticV4(src.AccessKey, src.SecretKey, "")})
	if err != nil {
		return fmt.Errorf("admin client: %w", err)
	}
	arn, err := admin.SetRemoteTarget(ctx, srcBucket, &madmin.BucketTarget{
		SourceBucket: srcBucket, Endpoint: dstHost, TargetBucket: dstBucket, API: "s3v4", Type: madmin.ReplicationService,
		Credentials: &madmin.Credentials{AccessKey: dst.AccessKey, SecretKey: dst.SecretKey},
	})
	if err != nil {
		return fmt.Errorf("set remote target %s -> %s/%s: %w", srcBucket, dstHost, dstBucket, err)
	}
	var cfg replication.Config
	if err := cfg.AddRule(replication.Options{ID: "bench", Priority: "1", RuleStatus: "enable", DestBucket: arn,
		ReplicateDeleteMarkers: "disable", ReplicateDeletes: "disable"}); err != nil {
		return fmt.Errorf("replication rule: %w", err)
	}
	if err := srcClient.SetBucketReplication(ctx, srcBucket, cfg); err != nil {
		return fmt.Errorf("bucket replication of %s: %w", srcBucket, err)
	}
	return nil
}

// minioClient returns a minio-go client of a stack server and its host:port.
func minioClient(m *stack.MinIO) (*minio.Client, string, error) {
	u, err := url.Parse(m.Endpoint)
	if err != nil {
		return nil, "", fmt.Errorf("minio endpoint %q: %w", m.Endpoint, err)
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), Region: "us-east-1"})
	if err != nil {
		return nil, "", fmt.Errorf("minio client %s: %w", u.Host, err)
	}
	return c, u.Host, nil
}

// waitObject waits until key is in bucket of m, or timeout passes.
func waitObject(ctx context.Context, m *stack.MinIO, bucket, key string, timeout time.Duration) error {
	c, _, err := minioClient(m)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		_, err := c.StatObject(ctx, bucket, key, minio.StatObjectOptions{})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s/%s not in %s after %s: %v", errTimeout, bucket, key, m.Endpoint, timeout, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(arrivalPoll):
		}
	}
}

// putBlob writes one small blob into bucket of m.
func putBlob(ctx context.Context, m *stack.MinIO, bucket, key string, body []byte) error {
	c, _, err := minioClient(m)
	if err != nil {
		return err
	}
	if _, err := c.PutObject(ctx, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("put %s/%s: %w", bucket, key, err)
	}
	return nil
}
