package e2e

import (
	"context"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestStrictOrderIsAPrefixAtEveryInstant: with order: strict the target is a prefix of the
// source's history at every instant, without sealing: sampled while writers write and
// replication copies in parallel, every writer's sequence in the target is gap-free.
func TestStrictOrderIsAPrefixAtEveryInstant(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, func(c *config.Config) {
		c.Replication.Order = config.OrderStrict
		c.Replication.Concurrency = 16
		c.Replication.BatchMaxObjects = 50
	})
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	loadDone := make(chan error, 1)
	go func() {
		_, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
			Prefix: rootPath + "/0001", Writers: 4, Duration: 10 * time.Second, Rate: 20,
			Size: func(r *rand.Rand) int { return 1<<10 + r.IntN(32<<10) }})
		loadDone <- err
	}()
	samples, sawBlobs := 0, false
	for loading := true; loading || samples < 30; samples++ {
		select {
		case err := <-loadDone:
			if err != nil {
				t.Fatal(err)
			}
			loading = false
		case <-time.After(50 * time.Millisecond):
		}
		keys, err := listKeys(ctx, dst, rootPath+"/")
		if err != nil {
			t.Fatal(err)
		}
		perWriter := map[int][]int{}
		for _, k := range keys {
			if w, seq, ok := workload.ParseKey(rootPath+"/0001", k); ok {
				perWriter[w] = append(perWriter[w], seq)
			}
		}
		for w, seqs := range perWriter {
			sawBlobs = true
			sort.Ints(seqs)
			if seqs[len(seqs)-1] != len(seqs)-1 {
				t.Fatalf("sample %d: writer %d has %d blobs in the target up to number %d: a gap", samples, w, len(seqs), seqs[len(seqs)-1])
			}
		}
	}
	if !sawBlobs {
		t.Fatal("no blob reached the target while sampling")
	}
	waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)
	checkAllAtWatermark(t, src, dst)
	staged, err := listKeys(ctx, dst, replication.StagingPrefix(db))
	if err != nil || len(staged) != 0 {
		t.Errorf("staging area not empty after catching up: %d blobs (%v)", len(staged), err)
	}
	t.Logf("%d samples, all gap-free", samples)
}
