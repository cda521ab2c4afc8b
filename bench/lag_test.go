package main

import (
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
// listing the target.
func TestLagAgainstMinIO(t *testing.T) {
	early := &lagResult{Blobs: 6000, BlobsPerSec: 200, SettleWindow: 5, PollInterval: 1, Resolution: lagPoll, EarlyCopies: true,
		P50: 5.5, P99: 6.5, Max: 7, ArrivalPoll: 0.05,
		Arrived: lagQuantiles{P50: 0.2, P99: 0.4, Max: 0.9}, Visible: lagQuantiles{P50: 0.15, P99: 0.3, Max: 0.8}}
	without := &lagResult{Blobs: 6000, BlobsPerSec: 200, SettleWindow: 5, PollInterval: 1, Resolution: lagPoll,
		P50: 5.6, P99: 6.6, Max: 7.1, ArrivalPoll: 0.05,
		Arrived: lagQuantiles{P50: 5.4, P99: 6.4, Max: 7}, Visible: lagQuantiles{P50: 5.3, P99: 6.3, Max: 6.9}}
	minio := &minioLagResult{Blobs: 6000, BlobsPerSec: 200, ArrivalPoll: 0.05, Arrived: lagQuantiles{P50: 0.1, P99: 0.5, Max: 1.2}}

	r := &report{Ratios: map[string]map[string]float64{}, Lag: early, LagWithoutEarly: without, LagMinIO: minio}
	r.finish()
	got := targetsByName(r)["lag data in target p99 / MinIO replication's"]
	require.True(t, got.Pass)
	require.InDelta(t, 0.8, got.Measured, 1e-9)
	require.InDelta(t, 2.0, r.Ratios["lag"]["arrived-p50 bdr/minio"], 1e-9)
	require.InDelta(t, 12.8, r.Ratios["lag"]["arrived-p99 bdr-without-early/minio"], 1e-9)
	var out strings.Builder
	r.print(&out)
	require.Regexp(t, `\n +MinIO bucket replication +0\.10s +0\.50s +1\.20s +- +- +-\n`, out.String())
	require.Regexp(t, `\n +bottomless-dr, early copies +0\.20s +0\.40s +0\.90s +5\.50s +6\.50s +7\.00s\n`, out.String())
	require.Contains(t, out.String(), "MinIO bucket replication has no watermark")
	require.Contains(t, out.String(), "data in the target, bottomless-dr (early copies) / MinIO replication: p50 2.00x  p99 0.80x")
	require.Contains(t, out.String(), "bottomless-dr, early copies, by its copies' LastModified in the target instead: p50 0.15s  p99 0.30s")
	require.Regexp(t, `lag data in target p99 / MinIO replication's\s+0\.80x\s+target <= 1\.0x\s+PASS`, out.String())

	// MinIO faster at p99: a miss.
	minio.Arrived.P99 = 0.3
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagMinIO: minio}
	r.finish()
	got = targetsByName(r)["lag data in target p99 / MinIO replication's"]
	require.False(t, got.Pass)
	require.False(t, got.Missing)

	// The MinIO run failed: n/a, and the run counts as not measured.
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early, LagMinIOError: "minio replication: boom"}
	r.finish()
	got = targetsByName(r)["lag data in target p99 / MinIO replication's"]
	require.True(t, got.Missing)
	require.Equal(t, 1, r.failed())

	// Not asked for: no target.
	r = &report{Ratios: map[string]map[string]float64{}, Lag: early}
	r.finish()
	require.NotContains(t, targetsByName(r), "lag data in target p99 / MinIO replication's")
}
