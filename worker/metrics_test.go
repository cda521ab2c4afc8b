package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
)

// scrape returns what /metrics serves.
func scrape(t *testing.T, m *metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	b, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(b)
}

// salesMetrics returns the metrics of a worker configured with one database, sales, in two
// regions.
func salesMetrics(t *testing.T) *metrics {
	t.Helper()
	cfg := config.Default()
	cfg.Regions = map[string]config.Region{"primary": {}, "secondary": {}}
	cfg.Databases = []config.Database{{Name: "sales", RootPath: "sales"}}
	m, err := newMetrics("bdr-test", &cfg)
	require.NoError(t, err)
	return m
}

// TestMetricLabelsAreConfiguredNames: database, region and mode labels carry configured
// names (and the two failover modes) only; names that reach the recorders from workflow
// inputs but are not configured all become "unknown", so however many a caller invents, the
// series stay bounded by the configuration.
func TestMetricLabelsAreConfiguredNames(t *testing.T) {
	m := salesMetrics(t)
	ctx := context.Background()

	m.RecordCopied(ctx, "sales", "primary", "secondary", 3, 300)
	m.RecordSync(ctx, "sales", "primary", "secondary", activities.SyncResult{PendingObjects: 1})
	m.RecordFailover(ctx, activities.FailoverOutcome{Database: "sales", From: "primary", To: "secondary", Mode: "planned", Succeeded: true, RTOSeconds: 4})
	for _, invented := range []string{"x1", "x2", "x3", `x"} 1`} {
		m.RecordCopied(ctx, invented, invented+"-from", invented+"-to", 1, 10)
		m.RecordSync(ctx, invented, "primary", invented, activities.SyncResult{PendingObjects: 2})
		m.RecordFailover(ctx, activities.FailoverOutcome{Database: invented, From: invented, To: "secondary", Mode: invented, Succeeded: true, RTOSeconds: 9})
		m.RecordFailover(ctx, activities.FailoverOutcome{Database: invented, From: "primary", To: "secondary", Mode: "unplanned"})
	}

	out := scrape(t, m)
	require.NotContains(t, out, "x1")
	require.NotContains(t, out, "x2")
	require.NotContains(t, out, "x3")
	for _, want := range []string{
		`bdr_replication_copied_objects_total{database="sales",from="primary",`,
		`bdr_replication_copied_objects_total{database="unknown",from="unknown",`,
		`bdr_replication_pending_objects{database="unknown",from="primary",`,
		`bdr_failovers_total{database="sales",mode="planned",`,
		`bdr_failovers_total{database="unknown",mode="unknown",`,
		`bdr_failovers_total{database="unknown",mode="unplanned",`,
		`bdr_failover_rto_seconds{database="unknown",from="unknown",`,
	} {
		require.Contains(t, out, want)
	}
	// Four invented names, one series each time: the copies of all four add up in one.
	var unknownCopies []string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "bdr_replication_copied_objects_total{") && strings.Contains(line, `database="unknown"`) {
			unknownCopies = append(unknownCopies, line)
		}
	}
	require.Len(t, unknownCopies, 1)
	require.True(t, strings.HasSuffix(unknownCopies[0], " 4"), unknownCopies[0])
}

// TestMetricsOfHeldUploadsAndLateBlobs: the age of the upload holding the watermark back (an
// abandoned one holds it forever) and the blobs found late are on /metrics.
func TestMetricsOfHeldUploadsAndLateBlobs(t *testing.T) {
	m := salesMetrics(t)
	ctx := context.Background()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	m.RecordSync(ctx, "sales", "primary", "secondary", activities.SyncResult{StoreTime: now, HeldSince: now.Add(-90 * time.Minute), LateObjects: 2})
	m.RecordSync(ctx, "sales", "primary", "secondary", activities.SyncResult{StoreTime: now, LateObjects: 1})
	out := scrape(t, m)
	require.Contains(t, out, `bdr_replication_late_objects_total{database="sales",from="primary",`)
	require.Regexp(t, `bdr_replication_late_objects_total\{database="sales",from="primary",[^}]*\} 3\n`, out)
	require.Regexp(t, `bdr_replication_held_upload_age_seconds\{database="sales",from="primary",[^}]*\} 0\n`, out, "no upload holds it any more")

	m.RecordSync(ctx, "sales", "primary", "secondary", activities.SyncResult{StoreTime: now, HeldSince: now.Add(-90 * time.Minute)})
	require.Regexp(t, `bdr_replication_held_upload_age_seconds\{database="sales",from="primary",[^}]*\} 5400\n`, scrape(t, m))
}
