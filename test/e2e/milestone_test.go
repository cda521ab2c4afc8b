package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestMilestones: `bdr milestone create` runs CREATE MILESTONE in the primary's database and
// records the milestone in both regions' buckets (a failover reads it from the secondary's);
// `bdr milestone list` shows it; bad input is refused naming the field; a Schedule made by
// `bdr milestone schedule` and triggered through the temporal CLI makes a prefixed milestone.
func TestMilestones(t *testing.T) {
	ctx := context.Background()
	s := stack.New(t, stack.Options{Standins: true, Configure: fastConfig})
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	primary := openDB(t, s.Standin["primary"].DSN(""))
	if _, err := primary.Exec("CREATE DATABASE " + db + " " + onS3(s.MinIO["primary"])); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.Exec("CREATE TABLE " + db + ".t (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.Exec("INSERT INTO " + db + ".t VALUES (1), (2)"); err != nil {
		t.Fatal(err)
	}
	out, err := s.Bdr(ctx, "--json", "milestone", "create", db, "before_upgrade")
	if err != nil {
		t.Fatal(err)
	}
	var res workflows.MilestoneResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.Name != "before_upgrade" || res.Region != "primary" || res.Time.IsZero() || len(res.RecordedIn) != 2 {
		t.Errorf("milestone result %+v", res)
	}
	for region, m := range s.MinIO {
		list, err := replication.ListMilestones(ctx, store(t, m), db)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 || list[0].Name != "before_upgrade" || !list[0].Time.Equal(res.Time) {
			t.Errorf("milestones recorded in %s: %+v", region, list)
		}
	}
	// The database itself knows it.
	var name string
	if err := primary.QueryRow("SELECT MILESTONE_NAME FROM information_schema.MV_MILESTONES WHERE DATABASE_NAME = '" + db + "'").Scan(&name); err != nil || name != "before_upgrade" {
		t.Errorf("MV_MILESTONES: %q, %v", name, err)
	}
	out, err = s.Bdr(ctx, "milestone", "list", db, "--region", "secondary")
	if err != nil || !strings.Contains(string(out), "before_upgrade") {
		t.Errorf("bdr milestone list: %s, %v", out, err)
	}

	// Bad input: refused by bdr before anything starts, and by the workflow from the temporal CLI.
	for _, args := range [][]string{
		{"milestone", "create", "nope", "m"},
		{"milestone", "create", db, "bad name; DROP DATABASE x"},
		{"milestone", "create", db, "m", "--region", "mars"},
	} {
		if _, err := s.Bdr(ctx, args...); err == nil {
			t.Errorf("bdr %v succeeded", args)
		}
	}
	for _, tc := range []struct{ input, want string }{
		{`{"database":"` + db + `","region":"mars","name":"m1"}`, `region: unknown region "mars"`},
		{`{"database":"` + db + `","region":"primary","name":"x\" FOR other; --"}`, `name`},
		{`{"database":"` + db + `","region":"primary"}`, `name: required`},
	} {
		id := "bad-milestone-" + time.Now().Format("150405.000000")
		if out, err := s.Temporal.CLI(ctx, "workflow", "start", "--type", workflows.CreateMilestoneName,
			"--task-queue", s.Config.Temporal.TaskQueue, "--workflow-id", id, "--input", tc.input); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		err := temporalClient(t, s).GetWorkflow(ctx, id, "").Get(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("input %s: error %v, want one containing %q", tc.input, err, tc.want)
		}
	}
	list, _ := replication.ListMilestones(ctx, store(t, s.MinIO["primary"]), db)
	if len(list) != 1 {
		t.Errorf("bad input recorded milestones: %+v", list)
	}

	// On a Schedule: triggered now through the temporal CLI, it makes a prefixed milestone.
	if out, err := s.Bdr(ctx, "milestone", "schedule", db, "--every", "1h", "--prefix", "hourly"); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if out, err := s.Bdr(ctx, "milestone", "schedule", db, "--every", "1h", "--prefix", "hourly"); err != nil || !strings.Contains(string(out), "already exists") {
		t.Errorf("second schedule: %s, %v", out, err)
	}
	scheduleID := "milestones/" + db + "/primary"
	if out, err := s.Temporal.CLI(ctx, "schedule", "trigger", "--schedule-id", scheduleID); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the scheduled milestone to be recorded", func() (bool, error) {
		list, err := replication.ListMilestones(ctx, store(t, s.MinIO["secondary"]), db)
		for _, m := range list {
			if strings.HasPrefix(m.Name, "hourly_") {
				return true, nil
			}
		}
		return false, err
	})
}
