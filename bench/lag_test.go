package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

func TestLagByQuarter(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var source objectstore.Listing
	for i := range 9 { // written at 0, 1, ..., 8 s, listed in key order (newest first)
		source.Objects = append(source.Objects, objectstore.Object{Key: string(rune('z' - i)), LastModified: sec(float64(i))})
	}
	// The watermark as a poller saw it: at 3 s it had passed the blob written at 1 s, and so on.
	samples := []sample{{at: sec(3), w: sec(1)}, {at: sec(5), w: sec(3)}, {at: sec(8), w: sec(4)}, {at: sec(10), w: sec(6)}, {at: sec(12), w: sec(8)}}
	got := lagByQuarter(source, samples)
	require.Len(t, got, 4)
	require.Equal(t, []int{3, 5, 7, 9}, []int{got[0].FolderBlobs, got[1].FolderBlobs, got[2].FolderBlobs, got[3].FolderBlobs})
	require.Equal(t, 0.0, got[0].FromSecond)
	require.Equal(t, 8.0, got[3].ToSecond)
	require.Equal(t, 3.0, got[0].Max) // written at 0: passed at 3
	require.Equal(t, 4.0, got[1].Max) // written at 4: passed at 8
	require.Equal(t, 5.0, got[2].Max) // written at 5: passed at 10
	lag, ok := watermarkLag(objectstore.Object{LastModified: sec(9)}, samples)
	require.False(t, ok, "a blob the watermark never passed has no lag: %v", lag)
}

// A blob's arrival is when a listing first showed it; a blob never seen counts as arriving
// when the wait gave up (a lower bound), so that a contender that loses blobs is not flattered.
func TestArrivalLags(t *testing.T) {
	t0 := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	source := objectstore.Listing{Objects: []objectstore.Object{
		{Key: "a", LastModified: sec(0)}, {Key: "b", LastModified: sec(1)}, {Key: "c", LastModified: sec(2)},
	}}
	// b's copy was listed before its source LastModified (clock granularity): no negative lag.
	lags, missing := arrivalLags(source, map[string]time.Time{"a": sec(0.25), "b": sec(0.5)}, sec(10))
	require.Equal(t, []float64{0.25, 0, 8}, lags)
	require.Equal(t, 1, missing)
}

// MinIO's bucket replication stands beside bottomless-dr with data in the target only; the
// target compares bottomless-dr's p99 with early copies against MinIO's, both measured by
// listing the target, when no run with notifications was measured.
func TestLagAgainstMinIO(t *testing.T) {
	early, without, _, minio := lagRuns()
	const name = "lag data in target p99 (early copies) / MinIO replication's"

	r := &report{Ratios: map[string]map[string]float64{}, Lag: early, LagWithoutEarly: without, LagMinIO: minio}
	r.finish()
	got := targetsByName(r)[name]
	require.True(t, got.Pass)
	require.InDelta(t, 0.8, got.Measured, 1e-9)
	require.InDelta(t, 2.0, r.Ratios["lag"]["arrived-p50 bdr/minio"], 1e-9)
	require.InDelta(t, 12.8, r.Ratios["lag"]["arrived-p99 bdr-without-early/minio"], 1e-9)
	require.InDelta(t, 0.0625, r.Ratios["lag"]["arrived-p99 bdr/bdr-without-early"], 1e-9)
	var out strings.Builder
	r.print(&out)
	require.Regexp(t, `\n +MinIO bucket replication +0\.10s +0\.50s +1\.20s +- +- +-\n`, out.String())
	require.Regexp(t, `\n +bottomless-dr, early copies +0\.20s +0\.40s +0\.90s +5\.50s +6\.50s +7\.00s\n`, out.String())
	require.Contains(t, out.String(), "MinIO bucket replication has no watermark")
	require.Contains(t, out.String(), "data in the target, bottomless-dr (early copies) / MinIO replication: p50 2.00x  p99 0.80x")
	require.Contains(t, out.String(), "data in the target, bottomless-dr (early copies) / (no early copies): p50 0.04x  p99 0.06x")
	require.Contains(t, out.String(), "bottomless-dr, early copies, by its copies' LastModified in the target instead: p50 0.15s  p99 0.30s")
	require.Regexp(t, `lag data in target p99 \(early copies\) / MinIO replication's\s+0\.80x\s+target <= 1\.0x\s+PASS`, out.String())
	require.NotContains(t, out.String(), "notifications")

	// MinIO faster at p99: a miss.
	minio.Arrived.P99 = 0.3
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagMinIO: minio}
	r.finish()
	got = targetsByName(r)[name]
	require.False(t, got.Pass)
	require.False(t, got.Missing)

	// The MinIO run failed: n/a, and the run counts as not measured.
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagMinIOError: "minio replication: boom"}
	r.finish()
	got = targetsByName(r)[name]
	require.True(t, got.Missing)
	require.Equal(t, 1, r.failed())

	// Not asked for: no target.
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early}
	r.finish()
	require.NotContains(t, targetsByName(r), name)
}

// The run with bucket notifications is a fourth row, after early copies, with its ratios over
// MinIO's and over early copies alone; the target judges it, bottomless-dr's best
// configuration, and says so.
func TestLagNotifications(t *testing.T) {
	early, without, notified, minio := lagRuns()
	const name = "lag data in target p99 (notifications) / MinIO replication's"

	r := &report{Ratios: map[string]map[string]float64{}, Lag: early, LagWithoutEarly: without, LagNotifications: notified, LagMinIO: minio}
	r.finish()
	byName := targetsByName(r)
	require.NotContains(t, byName, "lag data in target p99 (early copies) / MinIO replication's")
	got := byName[name]
	require.False(t, got.Pass, "0.6 s at p99 is MinIO's 0.5 s and more")
	require.InDelta(t, 1.2, got.Measured, 1e-9)
	lag := r.Ratios["lag"]
	require.InDelta(t, 0.5, lag["arrived-p50 bdr-notifications/minio"], 1e-9)
	require.InDelta(t, 1.2, lag["arrived-p99 bdr-notifications/minio"], 1e-9)
	require.InDelta(t, 0.25, lag["arrived-p50 bdr-notifications/bdr"], 1e-9)
	require.InDelta(t, 1.5, lag["arrived-p99 bdr-notifications/bdr"], 1e-9)
	require.InDelta(t, 2.0, lag["arrived-p50 bdr/minio"], 1e-9, "the other runs keep their ratios")
	require.Zero(t, r.failed())

	var out strings.Builder
	r.print(&out)
	text := out.String()
	// Rows in the order the runs ran, MinIO's last.
	require.Regexp(t, `(?s)bottomless-dr, no early copies .*\n +bottomless-dr, early copies .*\n +bottomless-dr, notifications +0\.05s +0\.60s +0\.70s +5\.40s +6\.40s +6\.90s\n +MinIO bucket replication `, text)
	require.Contains(t, text, "data in the target, bottomless-dr (notifications) / (early copies): p50 0.25x  p99 1.50x")
	require.Contains(t, text, "data in the target, bottomless-dr (notifications) / MinIO replication: p50 0.50x  p99 1.20x")
	require.Contains(t, text, "bottomless-dr, notifications, by its copies' LastModified in the target instead: p50 0.03s  p99 0.50s  max 0.60s")
	require.Contains(t, text, "with notifications (run just after, 6000 blobs): the worker took 5990 notifications (bdr_notifications_received_total)")
	require.Contains(t, text, "bottomless-dr, notifications: 3 blobs not seen in a listing of the target")
	require.Contains(t, text, "20 Sync calls, 1.50s each on average, 0.000s from one's end to the next one's start (poll_interval 1s at most); 40 listings of the source, 7.5 LIST requests each")
	require.Regexp(t, `lag data in target p99 \(notifications\) / MinIO replication's\s+1\.20x\s+target <= 1\.0x\s+MISS`, text)

	// Notifications faster than MinIO at p99: a pass.
	fast := *notified
	fast.Arrived.P99 = 0.45
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagNotifications: &fast, LagMinIO: minio}
	r.finish()
	require.True(t, targetsByName(r)[name].Pass)

	// The notifications run failed (none taken): it is no result, counts as not measured, and
	// the target judges early copies.
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagWithoutEarly: without, LagMinIO: minio,
		LagNotificationsError: "lag: notifications: the worker took no bucket notification while 6000 blobs were written"}
	r.finish()
	require.Equal(t, 1, r.failed())
	byName = targetsByName(r)
	require.NotContains(t, byName, name)
	require.True(t, byName["lag data in target p99 (early copies) / MinIO replication's"].Pass)
	require.NotContains(t, r.Ratios["lag"], "arrived-p99 bdr-notifications/minio")
	out.Reset()
	r.print(&out)
	require.Contains(t, out.String(), "steady lag, bottomless-dr with notifications: FAILED: lag: notifications: the worker took no bucket notification")
	require.NotContains(t, out.String(), "bottomless-dr, notifications ")
}

// lagRuns returns steady-lag results of bottomless-dr with early copies, without them and with
// notifications, and of MinIO's bucket replication, as the bench would measure them.
func lagRuns() (early, without, notified *lagResult, minio *minioLagResult) {
	early = &lagResult{Blobs: 6000, BlobsPerSec: 200, SettleWindow: 5, PollInterval: 1, Resolution: lagPoll, EarlyCopies: true,
		P50: 5.5, P99: 6.5, Max: 7, ArrivalPoll: 0.05, Syncs: 20, MeanSync: 1.5, RequestsPerRound: 7.5, Listings: 40,
		Arrived: lagQuantiles{P50: 0.2, P99: 0.4, Max: 0.9}, Visible: lagQuantiles{P50: 0.15, P99: 0.3, Max: 0.8}}
	without = &lagResult{Blobs: 6000, BlobsPerSec: 200, SettleWindow: 5, PollInterval: 1, Resolution: lagPoll,
		P50: 5.6, P99: 6.6, Max: 7.1, ArrivalPoll: 0.05,
		Arrived: lagQuantiles{P50: 5.4, P99: 6.4, Max: 7}, Visible: lagQuantiles{P50: 5.3, P99: 6.3, Max: 6.9}}
	notified = &lagResult{Blobs: 6000, BlobsPerSec: 200, SettleWindow: 5, PollInterval: 1, Resolution: lagPoll, EarlyCopies: true,
		Notifications: true, NotificationsReceived: 5990, NotArrived: 3,
		P50: 5.4, P99: 6.4, Max: 6.9, ArrivalPoll: 0.05,
		Arrived: lagQuantiles{P50: 0.05, P99: 0.6, Max: 0.7}, Visible: lagQuantiles{P50: 0.03, P99: 0.5, Max: 0.6}}
	minio = &minioLagResult{Blobs: 6000, BlobsPerSec: 200, ArrivalPoll: 0.05, Arrived: lagQuantiles{P50: 0.1, P99: 0.5, Max: 1.2}}
	return early, without, notified, minio
}

// workerCounter sums a counter's samples on the worker's /metrics, as the OTel Prometheus
// exporter serves them, and reads a counter not served yet as 0.
func TestWorkerCounter(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.Equal(t, "/metrics", r.URL.Path)
		fmt.Fprint(w, `# HELP bdr_notifications_received_total ObjectCreated records taken from bucket notifications
# TYPE bdr_notifications_received_total counter
bdr_notifications_received_total{otel_scope_name="bdr",otel_scope_schema_url="",otel_scope_version=""} 5990
bdr_notifications_received_total{otel_scope_name="other",otel_scope_schema_url="",otel_scope_version=""} 10
# HELP target_info Target metadata
# TYPE target_info gauge
target_info{service_name="bdr-worker"} 1
`)
	}))
	defer srv.Close()
	addr := strings.TrimPrefix(srv.URL, "http://")
	got, err := workerCounter(context.Background(), addr, "bdr_notifications_received_total")
	require.NoError(t, err)
	require.Equal(t, 6000.0, got)
	got, err = workerCounter(context.Background(), addr, "bdr_objects_copied_total")
	require.NoError(t, err)
	require.Zero(t, got)
}

// TestAtTurnover: the share of the slowest 1% of blobs written near a Sync's end or the next
// one's start, beside that of all blobs.
func TestAtTurnover(t *testing.T) {
	t0 := time.Unix(1000, 0)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	syncs := []span{{from: sec(0), to: sec(10)}, {from: sec(10.1), to: sec(20)}}
	var source objectstore.Listing
	var lags []float64
	for i := range 200 { // one blob every 0.1 s from 0 to 20 s; the two slowest at 10.0 s and 15.0 s
		at := sec(float64(i) / 10)
		source.Objects = append(source.Objects, objectstore.Object{Key: fmt.Sprint(i), LastModified: at})
		lag := 0.1
		if i == 100 || i == 150 {
			lag = 1
		}
		lags = append(lags, lag)
	}
	slow, all := atTurnover(source, lags, syncs)
	require.InDelta(t, 0.5, slow, 1e-9, "of the two slowest, the one written at 10.0 s")
	// Near the turnover: written after 9.8 s and before 10.3 s, 9.9 to 10.2: 4 of 200.
	require.InDelta(t, 4.0/200, all, 1e-9)
	slow, all = atTurnover(source, lags, syncs[:1])
	require.Zero(t, slow+all, "one Sync has no turnover")
}
