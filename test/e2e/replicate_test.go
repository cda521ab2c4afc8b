package e2e

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestReplicateInitialSyncAndStatus: blobs written before replication starts all arrive, the
// watermark record is in the target, the status query reports the sync, and storage locks
// are never copied.
func TestReplicateInitialSyncAndStatus(t *testing.T) {
	ctx := context.Background()
	metricsPort, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	traces, otlpEndpoint := startTraceSink(t)
	s := newStack(t, func(c *config.Config) {
		c.Telemetry.MetricsListen = metricsAddr
		c.Telemetry.OTLPEndpoint = otlpEndpoint
	})
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	res, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{
		Bucket: bucket, Prefix: rootPath + "/0001", Writers: 4, Duration: 2 * time.Second, LockEvery: 10,
		Size: func(r *rand.Rand) int { return 1<<10 + r.IntN(16<<10) }})
	if err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	st := waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)
	n := checkAllAtWatermark(t, src, dst)
	blobs := 0
	for _, c := range res.Written {
		blobs += c
	}
	if n != blobs {
		t.Errorf("checked %d blobs in the target, the writers wrote %d", n, blobs)
	}
	if st.InitialSync.Total != int64(blobs) || st.CopiedObjects != int64(blobs) {
		t.Errorf("status initialSync %+v copied %d, want total and copied %d", st.InitialSync, st.CopiedObjects, blobs)
	}
	if st.State != workflows.StateReplicating || st.Watermark.Time.IsZero() || st.LastSyncAt.IsZero() {
		t.Errorf("status after initial sync: %s", mustJSON(st))
	}
	locks, err := listKeys(ctx, dst, rootPath+"/0001/storage_locks/")
	if err != nil || len(locks) != 0 {
		t.Errorf("storage locks in the target: %v (err %v)", locks, err)
	}
	srcLocks, _ := listKeys(ctx, src, rootPath+"/0001/storage_locks/")
	if len(srcLocks) == 0 {
		t.Error("the workload wrote no storage locks: the exclusion was not exercised")
	}
	if !replication.Excluded(s.Config.Replication.Exclude, rootPath+"/0001/storage_locks/1_1") {
		t.Error("default exclusion does not match a storage lock key")
	}
	assertNoSecrets(t, s, historyJSON(t, s, run.GetID()), "Replicate history")

	// The worker's /metrics shows the same state for Prometheus.
	resp, err := http.Get("http://" + metricsAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		`bdr_replication_lag_seconds{`, `bdr_replication_pending_objects{`, `bdr_replication_pending_bytes{`,
		fmt.Sprintf(`bdr_replication_copied_objects_total{database="bottomless_db",from="primary",`),
		`bdr_replication_copied_bytes_total{`, `bdr_replication_watermark_timestamp_seconds{`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
	if got := metricValue(string(body), "bdr_replication_copied_objects_total"); got != float64(blobs) {
		t.Errorf("/metrics counts %v blobs copied, want %d", got, blobs)
	}

	// Every activity is traced (Temporal's OTel interceptor) and exported over OTLP.
	waitFor(t, 30*time.Second, "Sync and Prepare spans at the OTLP receiver", func() (bool, error) {
		return traces.count("RunActivity:Sync") > 0 && traces.count("RunActivity:Prepare") > 0, nil
	})
	assertNoSecrets(t, s, traces.dump(), "exported spans")
}

// metricValue sums a metric's samples in Prometheus text format.
func metricValue(text, name string) float64 {
	var total float64
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, name+"{") || strings.HasPrefix(line, name+" ") {
			fields := strings.Fields(line)
			var v float64
			fmt.Sscan(fields[len(fields)-1], &v)
			total += v
		}
	}
	return total
}
