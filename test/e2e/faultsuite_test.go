package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/monitor"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The fault suite of issue 11 (DESIGN 5a): failovers and replication under the faults of a bad
// day, on the real stack with the fault layer between the worker and each region, and the
// invariant monitor sampling both regions every 100 ms throughout. Each test ends by logging
// the monitor's counts; any violation fails it.

// insertRows commits n more rows of writer 0 through conn, one statement each, and returns
// the new count of acknowledged rows.
func insertRows(t *testing.T, conn *sql.DB, acked, n int) int {
	t.Helper()
	for range n {
		execAll(t, conn, fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (0, %d)", db, acked))
		acked++
	}
	return acked
}

// TestSwitchoverUnderFaults: planned switchovers that fail in every way the issue names leave
// the database served from exactly one region, the recorded primary, and never attached in
// two at once; then a switchover run again succeeds with nothing lost.
func TestSwitchoverUnderFaults(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := faultStack(t, func(c *config.Config) {
		c.Failover.DrainTimeout = 15 * time.Second
		c.Failover.MaxLag = 10 * time.Second
	})
	m := monitor.Start(t, s, db)
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	acked := insertRows(t, primary, 0, 20)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)

	// settled checks the invariants once a failure is over: one region serves, the recorded
	// one, with every acknowledged row; replication runs again.
	settled := func(t *testing.T, serving string, conn *sql.DB) {
		t.Helper()
		if err := m.CheckSettled(ctx); err != nil {
			t.Error(err)
		}
		if p, found, err := replication.ReadPrimary(ctx, store(t, s.MinIO["secondary"]), db); err != nil || !found || p.Region != serving {
			t.Errorf("recorded primary: %+v, %v, %v; want %s", p, found, err, serving)
		}
		rows, err := monitor.ReadRows(ctx, conn, db)
		if err != nil {
			t.Fatal(err)
		}
		if err := monitor.NoneLost(rows, []int{acked}); err != nil {
			t.Errorf("rows in %s: %v", serving, err)
		}
	}

	t.Run("an abandoned multipart upload stops the switchover before anything changes", func(t *testing.T) {
		c := s.MinIO["primary"].S3()
		up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(rootPath + "/abandoned/upload")})
		if err != nil {
			t.Fatal(err)
		}
		// An upload in progress holds the watermark too; one older than failover.max_lag may
		// have been abandoned.
		waitFor(t, time.Minute, "status to name the upload holding the watermark for longer than failover.max_lag", func() (bool, error) {
			st, err := queryStatus(ctx, tc, repl.GetID())
			return strings.Contains(st.HeldBy, "abandoned/upload") && time.Since(st.HeldSince) > s.Config.Failover.MaxLag, err
		})
		out, err := s.Bdr(ctx, "status")
		if err != nil || !strings.Contains(string(out), "watermark held back by "+rootPath+"/abandoned/upload") {
			t.Errorf("bdr status: %v\n%s", err, out)
		}
		if _, err := s.Bdr(ctx, "failover", db, "--from", "primary", "--to", "secondary"); err == nil || !strings.Contains(err.Error(), "is held back by "+rootPath+"/abandoned/upload") || !strings.Contains(err.Error(), "longer than failover.max_lag") {
			t.Errorf("switchover with an upload holding the watermark: %v", err)
		}
		settled(t, "primary", primary)
		if _, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: aws.String(bucket),
			Key: aws.String(rootPath + "/abandoned/upload"), UploadId: up.UploadId}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "the watermark to be free", func() (bool, error) {
			st, err := queryStatus(ctx, tc, repl.GetID())
			return err == nil && st.HeldBy == "", err
		})
	})

	t.Run("validation that fails after the attach: To is detached before From attaches again", func(t *testing.T) {
		acked = insertRows(t, primary, acked, 5)
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		_, err := s.Bdr(ctx, "failover", db, "--from", "primary", "--to", "secondary", "--validate", "SELECT COUNT(*) FROM "+db+".no_such_table")
		if err == nil || !strings.Contains(err.Error(), "rolled back: the database serves from primary") {
			t.Fatalf("switchover with a failing validation: %v", err)
		}
		settled(t, "primary", primary)
		waitFor(t, time.Minute, "replication to resume", func() (bool, error) {
			st, err := queryStatus(ctx, tc, repl.GetID())
			return err == nil && st.State == workflows.StateReplicating, err
		})
		acked = insertRows(t, primary, acked, 5) // the database takes writes again
		// The secondary's cluster wrote into its folder while attached (its DETACH's
		// milestone, which replaces the replicated one when named for the same second): the
		// rollback repaired the replica, which holds every source blob again. The repair runs
		// whether or not the two DETACHes fell in one second; the comparison finds its work.
		if n := activityAttempt(t, tc, tc.GetWorkflow(ctx, workflows.FailoverID(db), ""), "Verify"); n == 0 {
			t.Error("the rollback did not repair the replica (no Verify in the failover's history)")
		}
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		cmp, err := replication.Compare(ctx, store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"]), db, rootPath, s.Config.Replication.Exclude)
		if err != nil || cmp.Missing != 0 || cmp.Mismatched != 0 {
			t.Errorf("the replica after the rollback: %+v, %v", cmp, err)
		}
	})

	t.Run("the primary's store cut mid-drain: the drain times out and the switchover rolls back", func(t *testing.T) {
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		if err := s.FreezeWorker(); err != nil {
			t.Fatal(err)
		}
		run := startFailover(t, s, tc, workflows.ModePlanned)
		// Two failovers of one database at once: the second is refused by its workflow ID.
		if _, err := s.Bdr(ctx, "failover", db, "--from", "primary", "--to", "secondary"); err == nil || !strings.Contains(err.Error(), "a failover of "+db+" is already running") {
			t.Errorf("a second failover while one runs: %v", err)
		}
		if _, ended := sliceWorker(t, s, tc, run, time.Now().Add(2*time.Minute), func(started []string) string {
			return pickName(started, "DrainReplication")
		}); ended {
			t.Fatal("the failover ended before its drain")
		}
		// The worker is frozen inside the drain, before any of its syncs: cut, then let it go.
		if err := s.Faults.Cut(stack.StoreOf("primary")); err != nil {
			t.Fatal(err)
		}
		if err := s.ThawWorker(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 2*time.Minute, "the drain to fail", func() (bool, error) {
			d, err := tc.DescribeWorkflowExecution(ctx, run.GetID(), run.GetRunID())
			if err != nil {
				return false, err
			}
			for _, a := range d.GetPendingActivities() {
				if a.GetActivityType().GetName() == "DrainReplication" {
					return false, nil
				}
			}
			return true, nil
		})
		// The rollback attaches in primary from its bucket: that bucket is back (the attach
		// retries until it is).
		if err := s.Faults.Heal(stack.StoreOf("primary")); err != nil {
			t.Fatal(err)
		}
		err := run.Get(ctx, nil)
		if err == nil || !strings.Contains(err.Error(), "did not complete within 15s") || !strings.Contains(err.Error(), "rolled back: the database serves from primary") {
			t.Fatalf("switchover with the primary's store cut mid-drain: %v", err)
		}
		settled(t, "primary", primary)
		acked = insertRows(t, primary, acked, 5)
	})

	t.Run("pause during a failing drain completes at once", func(t *testing.T) {
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		if err := s.Faults.Cut(stack.StoreOf("primary")); err != nil {
			t.Fatal(err)
		}
		drained := make(chan error, 1)
		go func() {
			_, err := s.Bdr(ctx, "replicate", "drain", db)
			drained <- err
		}()
		waitFor(t, 2*time.Minute, "the drain's syncs to fail", func() (bool, error) {
			st, err := queryStatus(ctx, tc, repl.GetID())
			return err == nil && st.State == workflows.StateFailing, err
		})
		out, err := s.Bdr(ctx, "--json", "replicate", "pause", db)
		if err != nil {
			t.Fatalf("pause during a failing drain: %v", err)
		}
		var st workflows.Status
		if err := json.Unmarshal(out, &st); err != nil || st.State != workflows.StatePaused {
			t.Errorf("pause returned %v: %s", err, out)
		}
		if err := <-drained; err == nil || !strings.Contains(err.Error(), "drain interrupted: replication was paused") {
			t.Errorf("the drain a pause interrupted: %v", err)
		}
		if err := s.Faults.Heal(stack.StoreOf("primary")); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Bdr(ctx, "replicate", "resume", db); err != nil {
			t.Fatal(err)
		}
		settled(t, "primary", primary)
	})

	t.Run("run again after the failures: the switchover succeeds with nothing lost", func(t *testing.T) {
		acked = insertRows(t, primary, acked, 5)
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		out, err := s.Bdr(ctx, "--json", "failover", db, "--from", "primary", "--to", "secondary", "--validate", "SELECT COUNT(*) FROM "+db+".t")
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.FailoverResult
		if err := json.Unmarshal(out, &res); err != nil || res.NewPrimary != "secondary" || res.RPOSeconds != 0 {
			t.Fatalf("switchover: %v: %s", err, out)
		}
		settled(t, "secondary", secondary)
	})
}

// pickName returns name if it is among started, else "".
func pickName(started []string, name string) string {
	for _, s := range started {
		if s == name {
			return name
		}
	}
	return ""
}

// TestUnplannedFailoverUnderFaults: an old primary that answers the fence's DETACH with an
// error is alive, and stops the failover with nothing changed; an old primary cut off from
// the worker during the fence is declared lost, and what its bucket still serves is drained
// before the seal, so the new primary holds exactly a prefix of the acknowledged rows.
func TestUnplannedFailoverUnderFaults(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := faultStack(t, func(c *config.Config) { c.Failover.UnplannedDrainTimeout = 2 * time.Minute })
	// The old primary stays attached where it is cut off, until failback fences it.
	m := monitor.Start(t, s, db, monitor.Unplanned())
	createWriterTable(t, s, primary, "",
		"CREATE USER 'ops'@'%' IDENTIFIED BY 'ops-Pa55'",
		"GRANT SELECT ON "+db+".* TO 'ops'@'%'")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	acked := insertRows(t, primary, 0, 20)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
	rootEnv := slices.Clone(s.Env)

	t.Run("the old primary answers DETACH with an error: the failover stops, nothing changed", func(t *testing.T) {
		// The worker reaches the primary's database as a user without the privilege to detach.
		opsDSN := fmt.Sprintf("ops:ops-Pa55@tcp(%s)/?interpolateParams=false", s.Faults.Addr(stack.DatabaseOf("primary")))
		ops := openDB(t, opsDSN)
		if n := countAttached(t, ops, db); n != 1 {
			t.Fatalf("ops sees %s attached %d times: the fence would not reach the DETACH", db, n)
		}
		restartWorker(t, s, append(slices.Clone(rootEnv), "PRIMARY_DB_DSN="+opsDSN))
		_, err := s.Bdr(ctx, "failover", db, "--mode", "unplanned")
		if err == nil || !strings.Contains(err.Error(), "answered the DETACH with an error") || !strings.Contains(err.Error(), activities.ErrFenceRefused) {
			t.Fatalf("unplanned failover of a primary that refuses the detach: %v", err)
		}
		if err := m.CheckSettled(ctx); err != nil {
			t.Error(err)
		}
		st, err := queryStatus(ctx, tc, repl.GetID())
		if err != nil || st.State != workflows.StateReplicating {
			t.Errorf("replication after the refused fence: %q, %v; want it untouched", st.State, err)
		}
		if p, found, err := replication.ReadPrimary(ctx, store(t, s.MinIO["secondary"]), db); err != nil || !found || p.Region != "primary" {
			t.Errorf("recorded primary: %+v, %v, %v", p, found, err)
		}
		restartWorker(t, s, rootEnv)
	})

	t.Run("the old primary cut off during the fence: declared lost, drained, exactly a prefix attached", func(t *testing.T) {
		stop := make(chan struct{})
		done := make(chan int)
		go func() {
			n := acked
			for {
				select {
				case <-stop:
					done <- n
					return
				default:
				}
				if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (0, %d)", db, n)); err != nil {
					t.Errorf("the old primary keeps committing while cut off from the worker: %v", err)
					done <- n
					return
				}
				n++
			}
		}()
		waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)
		if err := s.Faults.Blackhole(stack.DatabaseOf("primary")); err != nil {
			t.Fatal(err)
		}
		out, err := s.Bdr(ctx, "--json", "failover", db, "--mode", "unplanned")
		close(stop)
		acked = <-done
		if err != nil {
			t.Fatal(err)
		}
		var res workflows.FailoverResult
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if res.NewPrimary != "secondary" || res.Fence == nil || !res.Fence.Lost || !strings.Contains(res.Fence.Reason, "fence_timeout") {
			t.Errorf("failover result: %s", out)
		}
		steps := make([]string, len(res.Steps))
		for i, st := range res.Steps {
			steps[i] = st.Name
		}
		if !slices.Contains(steps, "drain replication") {
			t.Errorf("no drain while the old primary's bucket answered: steps %v", steps)
		}
		rows, err := monitor.ReadRows(ctx, secondary, db)
		if err != nil {
			t.Fatal(err)
		}
		if err := monitor.ExactPrefix(rows, []int{acked}); err != nil {
			t.Errorf("rows in the new primary against %d acknowledged: %v", acked, err)
		}
		t.Logf("%d rows acknowledged by the old primary, %d attached in the new one; RPO %.2fs, RTO %.2fs", acked, len(rows[0]), res.RPOSeconds, res.RTOSeconds)
		// The dust settles once the old primary is fenced for good (what failback does first):
		// one region serves, the recorded one.
		if err := s.Faults.Heal(stack.DatabaseOf("primary")); err != nil {
			t.Fatal(err)
		}
		execAll(t, primary, "DETACH DATABASE "+db)
		if err := m.CheckSettled(ctx); err != nil {
			t.Error(err)
		}
	})
}

// restartWorker stops the worker and starts it again with env as the stack's environment.
func restartWorker(t *testing.T, s *stack.Stack, env []string) {
	t.Helper()
	if err := s.StopWorker(); err != nil {
		t.Fatal(err)
	}
	s.Env = env
	if err := s.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestZombieSyncWritesNothingAfterTheFence: the worker is cut off from Temporal in the middle
// of a Sync (it still reaches the stores: a zombie); a spare worker takes over and fails over.
// The zombie's Sync stops on its own (it cannot heartbeat), so that not one byte of it reaches
// the target once the failover fences the target and seals it; the new primary holds every
// acknowledged row.
func TestZombieSyncWritesNothingAfterTheFence(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := faultStack(t, nil)
	m := monitor.Start(t, s, db)
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	repl := startReplicate(t, s, tc, db)
	acked := insertRows(t, primary, 0, 5)
	waitWatermarkPastNewest(t, s, tc, repl.GetID(), rootPath)

	// Copies into the secondary crawl (a second per answer), so that a Sync is in the middle
	// of a backlog when the worker is cut off.
	target := stack.StoreOf("secondary")
	if err := s.Faults.Delay(target, time.Second); err != nil {
		t.Fatal(err)
	}
	before, err := listKeys(ctx, store(t, s.MinIO["secondary"]), rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	acked = insertRows(t, primary, acked, 200)
	waitFor(t, time.Minute, "the Sync to land its first copies of the backlog", func() (bool, error) {
		keys, err := listKeys(ctx, store(t, s.MinIO["secondary"]), rootPath+"/")
		return len(keys) > len(before), err
	})
	if err := s.Faults.Cut(stack.TemporalFrontend); err != nil {
		t.Fatal(err)
	}
	if err := s.StartSpareWorker(ctx); err != nil {
		t.Fatal(err)
	}
	run := startFailover(t, s, tc, workflows.ModeUnplanned)
	var res workflows.FailoverResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("failover by the spare worker: %v", err)
	}
	// Once the zombie has ended, nothing of it can land any more: every copy in the target
	// (a blob carrying its source's time) must predate the fence.
	if err := s.StopWorker(); err != nil {
		t.Fatal(err)
	}
	dst := store(t, s.MinIO["secondary"])
	fence, err := dst.Head(ctx, replication.FenceKey(db))
	if err != nil {
		t.Fatalf("the fence marker: %v", err)
	}
	keys, err := listKeys(ctx, dst, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	copies := 0
	for _, key := range keys {
		info, err := dst.Head(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if _, copied := info.Metadata[replication.MetaSourceLastModified]; !copied {
			continue // written by the new primary itself
		}
		copies++
		if info.LastModified.After(fence.LastModified) {
			t.Errorf("%s was copied at %s, after the fence at %s", key, info.LastModified.Format(time.RFC3339Nano), fence.LastModified.Format(time.RFC3339Nano))
		}
	}
	if len(before) >= copies {
		t.Errorf("%d copies in the target, %d before the backlog: the backlog was not copied", copies, len(before))
	}
	zombieLog, err := os.ReadFile(filepath.Join(s.Dir, "logs", "worker.log"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(zombieLog), "RecordActivityHeartbeat with error") {
		t.Errorf("the zombie's log says nothing of its heartbeats failing: its Sync was not cut off mid-way")
	}
	if res.NewPrimary != "secondary" || res.Fence == nil || !res.Fence.Fenced || res.RPOSeconds != 0 {
		t.Errorf("failover result: %+v", res)
	}
	rows, err := monitor.ReadRows(ctx, secondary, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(rows, []int{acked}); err != nil {
		t.Errorf("rows in the new primary: %v", err)
	}
	if err := m.CheckSettled(ctx); err != nil {
		t.Error(err)
	}
}
