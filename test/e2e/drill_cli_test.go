package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestDrillsThroughBdrAndASchedule: `bdr drill schedule` creates a Temporal Schedule, and a
// second `schedule` of the same database updates it instead of adding one; the Schedule's
// drill runs (triggered now rather than waiting for its interval) and its result shows in `bdr
// status`, `bdr drill list` and the worker's /metrics. `bdr drill run` runs a drill and prints
// its report; one kept with --keep-for is listed live and ended by `bdr drill finish`.
func TestDrillsThroughBdrAndASchedule(t *testing.T) {
	ctx := context.Background()
	metricsPort, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s, primary, secondary := failoverStack(t, func(c *config.Config) { c.Telemetry.MetricsListen = metricsAddr })
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	insertRows(t, primary, 0, 10)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)

	bdr := func(args ...string) string {
		t.Helper()
		out, err := s.Bdr(ctx, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		return string(out)
	}
	if out := bdr("drill", "schedule", db, "--to", "secondary", "--every", "1h", "--validate", "SELECT COUNT(*) FROM t"); !strings.Contains(out, "created") {
		t.Errorf("first schedule: %s", out)
	}
	if out := bdr("drill", "schedule", db, "--to", "secondary", "--every", "2h", "--validate", "SELECT COUNT(*) FROM t"); !strings.Contains(out, "updated") {
		t.Errorf("second schedule: %s", out)
	}
	handle := tc.ScheduleClient().GetHandle(ctx, workflows.DrillScheduleID(db))
	desc, err := handle.Describe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if iv := desc.Schedule.Spec.Intervals; len(iv) != 1 || iv[0].Every != 2*time.Hour {
		t.Errorf("schedule spec after the update: %+v", desc.Schedule.Spec.Intervals)
	}
	// Schedules are listed through visibility, which indexes them a moment after they exist.
	waitFor(t, 30*time.Second, "the drill schedule to be listed", func() (bool, error) { return countSchedules(t, tc, "drills/") > 0, nil })
	if n := countSchedules(t, tc, "drills/"); n != 1 {
		t.Errorf("%d drill schedules, want 1: the second schedule added one", n)
	}

	if err := handle.Trigger(ctx, client.ScheduleTriggerOptions{}); err != nil {
		t.Fatal(err)
	}
	var scheduledID string
	waitFor(t, time.Minute, "the schedule to start a drill", func() (bool, error) {
		d, err := handle.Describe(ctx)
		if err != nil || len(d.Info.RecentActions) == 0 {
			return false, err
		}
		scheduledID = d.Info.RecentActions[0].StartWorkflowResult.WorkflowID
		return true, nil
	})
	var scheduled workflows.DrillResult
	if err := tc.GetWorkflow(ctx, scheduledID, "").Get(ctx, &scheduled); err != nil {
		t.Fatalf("scheduled drill %s: %v", scheduledID, err)
	}
	if !scheduled.Passed || len(scheduled.Validation) != 1 || !strings.HasPrefix(scheduledID, workflows.ScheduledDrillID(db)) {
		t.Errorf("scheduled drill %s: %s, validation %+v", scheduledID, scheduled.Summary(), scheduled.Validation)
	}
	if out := bdr("status"); !strings.Contains(out, "last drill of "+db+": passed") {
		t.Errorf("bdr status does not show the scheduled drill:\n%s", out)
	}
	body := metricsText(t, metricsAddr)
	for _, want := range []string{`bdr_drill_last_success_timestamp_seconds{database="bottomless_db",`, `bdr_drill_attach_seconds{`, `bdr_drill_rpo_seconds{`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if got := metricValue(body, "bdr_drill_last_success_timestamp_seconds"); got < float64(scheduled.StartedAt.Unix()) {
		t.Errorf("/metrics: last drill success at %v, the drill started at %d", got, scheduled.StartedAt.Unix())
	}
	bdr("drill", "schedule", db, "--to", "secondary", "--delete")

	// bdr drill run: a report, then a kept branch listed live and finished.
	var ran workflows.DrillResult
	if err := json.Unmarshal([]byte(bdr("--json", "drill", "run", db, "--to", "secondary", "--validate", "SELECT COUNT(*) FROM t")), &ran); err != nil {
		t.Fatal(err)
	}
	if !ran.Passed || !ran.CleanedUp || ran.ID == scheduled.ID {
		t.Errorf("bdr drill run: %s (cleaned up %v)", ran.Summary(), ran.CleanedUp)
	}
	if out := bdr("drill", "run", db, "--to", "secondary", "--keep-for", "10m", "--no-wait"); !strings.Contains(out, "drill/"+db+"/") {
		t.Errorf("bdr drill run --no-wait: %s", out)
	}
	var kept workflows.DrillResult
	waitFor(t, time.Minute, "the kept drill to be listed live", func() (bool, error) {
		var list []workflows.DrillResult
		if err := json.Unmarshal([]byte(bdr("--json", "drill", "list", db)), &list); err != nil {
			return false, err
		}
		for _, d := range list {
			if d.Phase == workflows.DrillKept {
				kept = d
				return true, nil
			}
		}
		return false, nil
	})
	if out := bdr("drill", "finish", db); !strings.Contains(out, kept.WorkflowID) {
		t.Errorf("bdr drill finish: %s", out)
	}
	var done workflows.DrillResult
	if err := tc.GetWorkflow(ctx, kept.WorkflowID, "").Get(ctx, &done); err != nil {
		t.Fatal(err)
	}
	checkBranchGone(t, s, secondary, done)
}

// countSchedules counts the Schedules whose ID starts with prefix.
func countSchedules(t *testing.T, tc client.Client, prefix string) int {
	t.Helper()
	it, err := tc.ScheduleClient().List(context.Background(), client.ScheduleListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(e.ID, prefix) {
			n++
		}
	}
	return n
}

// metricsText reads the worker's /metrics.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}
