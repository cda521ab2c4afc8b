package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestPlannedFailoverUnderLoad: SQL writers commit into the primary while `bdr failover`
// switches the database over to the secondary. Every row acknowledged before the switchover
// is in the secondary (at most the one statement in flight more), the secondary takes writes
// afterwards, the reported RPO is 0 with the comparison that proves it, the new primary is
// recorded in both buckets, and a second failover to the same region is refused.
func TestPlannedFailoverUnderLoad(t *testing.T) {
	ctx := context.Background()
	const appPassword = "app-Pa55-word"
	s, primary, secondary := failoverStack(t, func(c *config.Config) {
		c.Security.Passwords = []config.UserPassword{{User: "app", PasswordEnv: "APP_PASSWORD"}}
	}, "APP_PASSWORD="+appPassword)
	createWriterTable(t, s, primary, "",
		// Users, roles, groups and grants are cluster state: the failover must carry them.
		"CREATE ROLE 'reader'",
		"GRANT SELECT ON "+db+".* TO ROLE 'reader'",
		"CREATE GROUP 'readers'",
		"GRANT ROLE 'reader' TO 'readers'",
		"CREATE USER 'app'@'%' IDENTIFIED BY '"+appPassword+"'",
		"GRANT GROUP 'readers' TO 'app'@'%'",
		"CREATE USER 'nopassword'@'%' IDENTIFIED BY 'not-in-the-config'")
	// A database in the secondary that the migrated user has no grant on.
	if _, err := secondary.Exec("CREATE DATABASE hr"); err != nil {
		t.Fatal(err)
	}
	if _, err := secondary.Exec("CREATE TABLE hr.salaries (id INT PRIMARY KEY)"); err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t, s)
	startReplicate(t, s, tc, db)

	const writers = 4
	acked := make([]int, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Write until the database goes away under the switchover.
			for seq := 0; seq < 100000; seq++ {
				if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (%d, %d)", db, w, seq)); err != nil {
					return
				}
				acked[w] = seq + 1
			}
		}()
	}
	time.Sleep(3 * time.Second)
	out, err := s.Bdr(ctx, "--json", "failover", db, "--from", "primary", "--to", "secondary",
		"--validate", "SELECT COUNT(*) FROM "+db+".t")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var res workflows.FailoverResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("failover: RPO %.0fs RTO %.2fs, %d blobs compared, steps %+v", res.RPOSeconds, res.RTOSeconds, res.Compared.Checked, res.Steps)
	if res.NewPrimary != "secondary" || res.RPOSeconds != 0 || res.Compared.Checked == 0 || res.Compared.Missing != 0 || res.Compared.Mismatched != 0 {
		t.Errorf("failover result: %s", out)
	}
	if res.RTOSeconds <= 0 || len(res.Steps) < 11 {
		t.Errorf("RTO %.2f and its split %+v", res.RTOSeconds, res.Steps)
	}
	if len(res.Validation) != 2 || res.Validation[1].Rows != 1 {
		t.Errorf("validation results: %+v", res.Validation)
	}

	got := rowsPerWriter(t, secondary, db)
	total := 0
	for w := range writers {
		if got[w] < acked[w] || got[w] > acked[w]+1 {
			t.Errorf("writer %d: %d rows in the secondary, %d acknowledged in the primary", w, got[w], acked[w])
		}
		total += got[w]
	}
	if total == 0 {
		t.Fatal("no rows were written before the switchover")
	}
	if _, err := secondary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (99, 0)", db)); err != nil {
		t.Errorf("the new primary does not take writes: %v", err)
	}

	// The migrated user logs in to the secondary with its password, reads through its group's
	// role, and is refused where it has no grant; the user without a password reference is
	// reported locked.
	t.Logf("security: %+v", res.Security)
	if !strings.Contains(strings.Join(res.Security.Locked, " "), "nopassword") {
		t.Errorf("the user without a password reference is not reported locked: %+v", res.Security)
	}
	app := openDB(t, strings.Replace(s.Standin["secondary"].DSN(""), "root:"+s.Standin["secondary"].RootPassword, "app:"+appPassword, 1))
	var n int
	if err := app.QueryRow("SELECT COUNT(*) FROM " + db + ".t").Scan(&n); err != nil || n == 0 {
		t.Errorf("migrated user reading %s in the secondary: %d rows, %v", db, n, err)
	}
	if err := app.QueryRow("SELECT COUNT(*) FROM hr.salaries").Scan(&n); err == nil {
		t.Error("migrated user read hr.salaries without a grant")
	}
	for region, m := range s.MinIO {
		p, found, err := replication.ReadPrimary(ctx, store(t, m), db)
		if err != nil || !found || p.Region != "secondary" {
			t.Errorf("primary recorded in %s: %+v %v %v", region, p, found, err)
		}
	}
	list, _ := replication.ListMilestones(ctx, store(t, s.MinIO["secondary"]), db)
	if len(list) == 0 || list[len(list)-1].Name != res.Milestone {
		t.Errorf("the failover's milestone %s is not recorded: %+v", res.Milestone, list)
	}

	// Refused: a failover to the current primary, and input that names nothing real.
	if _, err := s.Bdr(ctx, "failover", db, "--from", "primary", "--to", "secondary"); err == nil || !strings.Contains(err.Error(), "already the primary") {
		t.Errorf("failover to the current primary: %v", err)
	}
	for _, tc2 := range []struct{ input, want string }{
		{`{"database":"nope","from":"primary","to":"secondary","mode":"planned"}`, `database: unknown database "nope"`},
		{`{"database":"` + db + `","from":"primary","to":"secondary","mode":"sideways"}`, `mode: must be "planned" or "unplanned"`},
		{`{"database":"` + db + `","from":"secondary","to":"secondary","mode":"planned"}`, `to: must differ from from`},
		{`{"database":"` + db + `","from":"primary","to":"tertiary","mode":"planned"}`, `to: unknown region "tertiary"`},
	} {
		id := workflows.FailoverID("bad") + time.Now().Format("150405.000000")
		if out, err := s.Temporal.CLI(ctx, "workflow", "start", "--type", workflows.FailoverName,
			"--task-queue", s.Config.Temporal.TaskQueue, "--workflow-id", id, "--input", tc2.input); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		err := tc.GetWorkflow(ctx, id, "").Get(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), tc2.want) {
			t.Errorf("input %s: %v, want %q", tc2.input, err, tc2.want)
		}
	}
	assertNoSecrets(t, s, historyJSON(t, s, workflows.FailoverID(db)), "Failover history")
}
