package e2e

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestWorkerCrashDuringInitialSync kills the worker with SIGKILL 10 times at random points of
// a 5,000-blob initial sync and restarts it. The order invariant must hold at every kill, all
// blobs must arrive, and no blob may be copied twice: the target bucket is versioned, so every
// PUT leaves a version, and each replicated key must have exactly one.
func TestWorkerCrashDuringInitialSync(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, func(c *config.Config) {
		c.Replication.Concurrency = 4 // slow enough that the kills land inside the sync
		c.Replication.BatchMaxObjects = 100
	})
	if err := enableVersioning(ctx, s.MinIO["secondary"]); err != nil {
		t.Fatal(err)
	}
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	res, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
		Prefix: rootPath + "/0001", Writers: 8, PerWriter: 625,
		Size: func(r *rand.Rand) int { return 512 + r.IntN(1536) }})
	if err != nil {
		t.Fatal(err)
	}
	if res.Objects != 5000 {
		t.Fatalf("workload wrote %d blobs, want 5000", res.Objects)
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	waitInitialSyncUnderway(t, s, 5000)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	var checker prefixChecker
	for kill := 1; kill <= 10; kill++ {
		time.Sleep(time.Duration(300+rng.IntN(2200)) * time.Millisecond)
		if err := s.KillWorker(); err != nil {
			t.Fatal(err)
		}
		w, err := readWatermark(ctx, dst)
		if err == nil {
			n, err := checker.check(ctx, src, dst, w.Time)
			if err != nil {
				t.Fatalf("after kill %d: %v", kill, err)
			}
			t.Logf("kill %d: watermark %s covers %d blobs", kill, w.Time.Format(time.RFC3339Nano), n)
		}
		if err := s.StartWorker(ctx); err != nil {
			t.Fatal(err)
		}
	}
	st := waitCaughtUp(t, tc, run.GetID(), 5*time.Minute)
	n := checkAllAtWatermark(t, src, dst)
	if n != 5000 {
		t.Errorf("%d blobs in the target after the crashes, want 5000", n)
	}
	versions := countVersions(t, ctx, s.MinIO["secondary"].S3(), rootPath+"/")
	copiedTwice := 0
	for key, v := range versions {
		if v != 1 {
			copiedTwice++
			t.Errorf("%s was written %d times", key, v)
		}
	}
	t.Logf("%d keys in the target, %d written more than once; status copied %d", len(versions), copiedTwice, st.CopiedObjects)
}

// countVersions returns how many versions each key under prefix has in a versioned bucket.
func countVersions(t *testing.T, ctx context.Context, c *s3.Client, prefix string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	in := &s3.ListObjectVersionsInput{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	for {
		out, err := c.ListObjectVersions(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range out.Versions {
			if !strings.HasPrefix(aws.ToString(v.Key), ".bdr/") {
				counts[aws.ToString(v.Key)]++
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return counts
		}
		in.KeyMarker, in.VersionIdMarker = out.NextKeyMarker, out.NextVersionIdMarker
	}
}
