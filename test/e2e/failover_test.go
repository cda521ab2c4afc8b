package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestPlannedFailoverUnderLoad: SQL writers commit into the primary while `bdr failover`
// switches the database over to the secondary. Every row acknowledged before the switchover
// is in the secondary (at most the one statement in flight more), the secondary takes writes
// afterwards, the reported RPO is 0 with the comparison that proves it, the new primary is
// recorded in both buckets, and a second failover to the same region is refused.
func TestPlannedFailoverUnderLoad(t *testing.T) {
	ctx := context.Background()
	s := stack.New(t, stack.Options{Standins: true, Configure: func(c *config.Config) {
		fastConfig(c)
		c.Security.Passwords = []config.UserPassword{{User: "app", PasswordEnv: "APP_PASSWORD"}}
	}})
	const appPassword = "app-Pa55-word"
	s.Env = append(s.Env, "APP_PASSWORD="+appPassword)
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	primary, secondary := openDB(t, s.Standin["primary"].DSN("")), openDB(t, s.Standin["secondary"].DSN(""))
	for _, stmt := range []string{
		"CREATE DATABASE " + db + " " + onS3(s.MinIO["primary"]),
		"CREATE TABLE " + db + ".t (writer INT NOT NULL, seq INT NOT NULL, PRIMARY KEY (writer, seq))",
		// Users, roles, groups and grants are cluster state: the failover must carry them.
		"CREATE ROLE 'reader'",
		"GRANT SELECT ON " + db + ".* TO ROLE 'reader'",
		"CREATE GROUP 'readers'",
		"GRANT ROLE 'reader' TO 'readers'",
		"CREATE USER 'app'@'%' IDENTIFIED BY '" + appPassword + "'",
		"GRANT GROUP 'readers' TO 'app'@'%'",
		"CREATE USER 'nopassword'@'%' IDENTIFIED BY 'not-in-the-config'",
	} {
		if _, err := primary.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
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

// TestPlannedFailoverSurvivesWorkerCrashes kills the worker three times while a planned
// failover runs, restarting it each time: the workflow resumes and finishes with RPO 0, every
// committed row is in the secondary, and the database is attached there once and detached in
// the primary (the steps are idempotent).
func TestPlannedFailoverSurvivesWorkerCrashes(t *testing.T) {
	ctx := context.Background()
	s := stack.New(t, stack.Options{Standins: true, Configure: fastConfig})
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	primary, secondary := openDB(t, s.Standin["primary"].DSN("")), openDB(t, s.Standin["secondary"].DSN(""))
	for _, stmt := range []string{
		"CREATE DATABASE " + db + " " + onS3(s.MinIO["primary"]),
		"CREATE TABLE " + db + ".t (writer INT NOT NULL, seq INT NOT NULL, PRIMARY KEY (writer, seq))",
	} {
		if _, err := primary.Exec(stmt); err != nil {
			t.Fatal(err)
		}
	}
	const rows = 200
	for seq := range rows {
		if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (0, %d)", db, seq)); err != nil {
			t.Fatal(err)
		}
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)

	failover, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.FailoverID(db),
		TaskQueue: s.Config.Temporal.TaskQueue}, workflows.FailoverName,
		workflows.FailoverInput{Database: db, From: "primary", To: "secondary", Mode: workflows.ModePlanned})
	if err != nil {
		t.Fatal(err)
	}
	for _, after := range []time.Duration{300 * time.Millisecond, 700 * time.Millisecond, 1200 * time.Millisecond} {
		time.Sleep(after)
		if err := s.KillWorker(); err != nil {
			t.Fatal(err)
		}
		if err := s.StartWorker(ctx); err != nil {
			t.Fatal(err)
		}
	}
	waitCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var res workflows.FailoverResult
	if err := failover.Get(waitCtx, &res); err != nil {
		t.Fatalf("failover after worker crashes: %v", err)
	}
	t.Logf("after 3 crashes: RPO %.0fs RTO %.2fs, steps %+v", res.RPOSeconds, res.RTOSeconds, res.Steps)
	if res.RPOSeconds != 0 || res.Compared.Missing != 0 || res.NewPrimary != "secondary" {
		t.Errorf("result: %+v", res)
	}
	if got := rowsPerWriter(t, secondary, db); got[0] != rows {
		t.Errorf("%d rows in the secondary, %d committed", got[0], rows)
	}
	for region, conn := range map[string]*sql.DB{"primary": primary, "secondary": secondary} {
		attached := 0
		dbs, err := conn.Query("SHOW DATABASES")
		if err != nil {
			t.Fatal(err)
		}
		for dbs.Next() {
			var name string
			_ = dbs.Scan(&name)
			if name == db {
				attached++
			}
		}
		dbs.Close()
		if want := map[string]int{"primary": 0, "secondary": 1}[region]; attached != want {
			t.Errorf("%s: %s attached %d times, want %d", region, db, attached, want)
		}
	}
}
