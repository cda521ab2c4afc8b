package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/monitor"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// runFailback starts a failback with in and waits for its end.
func runFailback(t *testing.T, s *stack.Stack, tc client.Client, in workflows.FailbackInput) (workflows.FailbackResult, error) {
	t.Helper()
	var res workflows.FailbackResult
	err := startFailbackWith(t, s, tc, in).Get(context.Background(), &res)
	return res, err
}

// failbackKeys lists the keys a failback writes in region's bucket: recovered branch records
// and roots, and blobs moved aside.
func failbackKeys(t *testing.T, s *stack.Stack, region string) []string {
	t.Helper()
	var keys []string
	c := store(t, s.MinIO[region])
	for _, prefix := range []string{replication.RecoveredPrefix(db), replication.StateRoot + "/" + db + "/diverged/", rootPath + "_recovered_"} {
		got, err := listKeys(context.Background(), c, prefix)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, got...)
	}
	return keys
}

// TestFailbackFindings: a failback on a bad day. Bad input is refused naming the field, with
// nothing changed; a region that does not come back is waited for (by the failback the
// unplanned failover started), visibly, and the wait cancels with nothing changed; a region whose cluster is gone but whose bucket is alive
// still has its tail recovered.
func TestFailbackFindings(t *testing.T) {
	ctx := context.Background()
	r := startReplicatedRows(t, stack.Options{Faults: true}, nil, 20)
	s, primary, secondary, tc, m, repl, acked := r.s, r.primary, r.secondary, r.tc, r.m, r.repl, r.acked

	t.Run("bad input: an error naming the field, nothing changed", func(t *testing.T) {
		before, _, err := replication.ReadPrimary(ctx, store(t, s.MinIO["secondary"]), db)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc2 := range []struct {
			name string
			in   workflows.FailbackInput
			want string
		}{
			{"unknown database", workflows.FailbackInput{Database: "no_such_db", From: "secondary", To: "primary"}, `database: unknown database "no_such_db"`},
			{"unknown region", workflows.FailbackInput{Database: db, From: "secondary", To: "mars"}, `to: unknown region "mars"`},
			{"the same region twice", workflows.FailbackInput{Database: db, From: "secondary", To: "secondary"}, "to: must differ from from"},
			{"from is not the recorded primary", workflows.FailbackInput{Database: db, From: "secondary", To: "primary"}, "from: the primary of " + db + " is primary"},
			{"no failover behind it", workflows.FailbackInput{Database: db, From: "primary", To: "secondary"}, "from: primary became the primary of " + db + " without a failover"},
		} {
			_, err := runFailback(t, s, tc, tc2.in)
			if err == nil || !strings.Contains(err.Error(), tc2.want) || !strings.Contains(err.Error(), "type: "+activities.ErrInvalidInput) {
				t.Errorf("%s: %v; want an %s naming %q", tc2.name, err, activities.ErrInvalidInput, tc2.want)
			}
		}
		after, _, err := replication.ReadPrimary(ctx, store(t, s.MinIO["secondary"]), db)
		if err != nil || after.Region != before.Region || !after.Since.Equal(before.Since) || after.By != before.By {
			t.Errorf("primary record: %+v, then %+v, %v", before, after, err)
		}
		for _, region := range []string{"primary", "secondary"} {
			if keys := failbackKeys(t, s, region); len(keys) > 0 {
				t.Errorf("%s's bucket holds %v after refused failbacks", region, keys)
			}
		}
		if st, err := queryStatus(ctx, tc, repl.GetID()); err != nil || st.State != workflows.StateReplicating {
			t.Errorf("replication: %q, %v; want it untouched", st.State, err)
		}
		if n := countAttached(t, primary, db); n != 1 {
			t.Errorf("%s attached %d times in the primary; want it untouched", db, n)
		}
	})

	// A is cut off from the worker and commits a tail; the failover makes B the primary.
	cutOff(t, s, "primary")
	acked = insertRows(t, primary, acked, 10)
	// The failover starts the failback at its end, as bdr failover --failback asks.
	out, err := s.Bdr(ctx, "--json", "failover", db, "--mode", "unplanned", "--failback")
	if err != nil {
		t.Fatalf("unplanned failover: %v", err)
	}
	var failover workflows.FailoverResult
	if err := json.Unmarshal(out, &failover); err != nil || failover.Failback != workflows.FailbackID(db) {
		t.Fatalf("the failover did not start the failback: %v: %s", err, out)
	}
	aBefore := targetBlobs(t, store(t, s.MinIO["primary"]))

	t.Run("a region that does not come back: waited for, visibly; cancelled, nothing changed", func(t *testing.T) {
		run := tc.GetWorkflow(ctx, failover.Failback, "")
		var st workflows.FailbackResult
		waitFor(t, 2*time.Minute, "the failback to wait, probing", func() (bool, error) {
			v, err := tc.QueryWorkflow(ctx, run.GetID(), run.GetRunID(), workflows.QueryStatus)
			if err != nil {
				return false, err
			}
			if err := v.Get(&st); err != nil {
				return false, err
			}
			return st.Phase == workflows.FailbackWaiting && st.Probes >= 2 && st.LastProblem != "", nil
		})
		out, err := s.Bdr(ctx, "status")
		if err != nil || !strings.Contains(string(out), "failback of "+db+": waiting for primary since") {
			t.Errorf("bdr status while the failback waits: %v\n%s", err, out)
		}
		if err := tc.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
			t.Fatal(err)
		}
		var canceled *temporal.CanceledError
		if err := run.Get(ctx, nil); !errors.As(err, &canceled) {
			t.Errorf("the cancelled failback ended with %v", err)
		}
		if p, _, err := replication.ReadPrimary(ctx, store(t, s.MinIO["secondary"]), db); err != nil || p.Region != "secondary" || !strings.HasPrefix(p.By, "failover/") {
			t.Errorf("primary record after the cancelled failback: %+v, %v", p, err)
		}
		for _, region := range []string{"primary", "secondary"} {
			if keys := failbackKeys(t, s, region); len(keys) > 0 {
				t.Errorf("%s's bucket holds %v after a cancelled failback", region, keys)
			}
		}
		if after := targetBlobs(t, store(t, s.MinIO["primary"])); !maps.Equal(aBefore, after) {
			t.Errorf("the primary's folder changed under a cancelled failback: %d blobs, then %d", len(aBefore), len(after))
		}
	})

	t.Run("a region whose cluster is gone and whose bucket is alive: the tail is recovered", func(t *testing.T) {
		if err := s.Standin["primary"].Kill(); err != nil {
			t.Fatal(err)
		}
		if err := s.Faults.HealAll(); err != nil {
			t.Fatal(err)
		}
		res, err := runFailback(t, s, tc, workflows.FailbackInput{Database: db, From: "secondary", To: "primary"})
		if err != nil {
			t.Fatalf("failback: %v", err)
		}
		if res.Fence == nil || !res.Fence.Lost || len(res.Warnings) == 0 || !strings.Contains(res.Warnings[0], "primary's cluster did not answer") {
			t.Errorf("fence of a cluster that is gone: %+v, warnings %q", res.Fence, res.Warnings)
		}
		if res.Recovered == nil || !res.Recovered.Attached || res.Tail.Objects == 0 {
			t.Fatalf("no recovered branch: %+v", res)
		}
		rows, err := monitor.ReadRows(ctx, secondary, res.Recovered.Name)
		if err != nil {
			t.Fatal(err)
		}
		if err := monitor.NoneLost(rows, []int{acked}); err != nil {
			t.Errorf("recovered branch against the %d rows A acknowledged: %v", acked, err)
		}
		if res.Phase != workflows.FailbackDone || res.ReverseReplication != workflows.ReplicateID(db, "secondary", "primary") {
			t.Errorf("failback result: %+v", res)
		}

		// Run again (an operator who was not sure, or a failback whose history was lost): it
		// finds its recorded branch and makes no other, and finds nothing left to move.
		again, err := runFailback(t, s, tc, workflows.FailbackInput{Database: db, From: "secondary", To: "primary"})
		if err != nil {
			t.Fatalf("failback run again: %v", err)
		}
		if again.Recovered == nil || again.Recovered.Name != res.Recovered.Name || again.MovedAside != 0 || again.Phase != workflows.FailbackDone {
			t.Errorf("failback run again: %+v; first %+v", again, res)
		}
		records, err := listKeys(ctx, store(t, s.MinIO["secondary"]), replication.RecoveredPrefix(db))
		if err != nil || len(records) != 1 {
			t.Errorf("recovered branch records after two failbacks: %v, %v", records, err)
		}
		names, err := attachedNames(secondary)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(slices.DeleteFunc(names, func(n string) bool { return !strings.HasPrefix(n, db+"_recovered_") })); n != 1 {
			t.Errorf("%d recovered branches attached in the secondary after two failbacks", n)
		}
		out, err := s.Bdr(ctx, "failback", "list", db)
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if err != nil || len(lines) != 2 || !strings.HasPrefix(lines[1], res.Recovered.Name+" ") || !strings.HasSuffix(lines[1], "  attached") {
			t.Errorf("bdr failback list: %v\n%s", err, out)
		}
	})
	m.Stop()
}

// TestFailbackFromAnEmptyBucket: the returning region was rebuilt, its cluster gone and its
// bucket empty. The failback recovers no branch (there is no tail to find), replicates the
// whole database back and says so.
func TestFailbackFromAnEmptyBucket(t *testing.T) {
	ctx := context.Background()
	f := failOverWithATail(t, nil)
	if err := f.s.Standin["primary"].Kill(); err != nil {
		t.Fatal(err)
	}
	a := store(t, f.s.MinIO["primary"])
	keys, err := listKeys(ctx, a, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := a.Delete(ctx, k); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.s.Faults.HealAll(); err != nil {
		t.Fatal(err)
	}
	res, err := runFailback(t, f.s, f.tc, workflows.FailbackInput{Database: db, From: "secondary", To: "primary"})
	if err != nil {
		t.Fatalf("failback: %v", err)
	}
	t.Logf("failback into an empty bucket: copied back %d blobs, %d bytes; the database holds %d bytes", res.CopiedBackObjects, res.CopiedBackBytes, res.DatabaseBytes)
	if !res.FullCopy || res.Recovered != nil || res.Tail.Objects != 0 || !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "replicating back copied the whole database") }) {
		t.Errorf("failback into an empty bucket: %+v", res)
	}
	if res.CopiedBackBytes == 0 || res.CopiedBackBytes < res.DatabaseBytes*9/10 {
		t.Errorf("copied back %d bytes of a %d-byte database: not a full copy", res.CopiedBackBytes, res.DatabaseBytes)
	}
	cmp, err := replication.Compare(ctx, store(t, f.s.MinIO["secondary"]), a, db, rootPath, f.s.Config.Replication.Exclude)
	if err != nil || cmp.Missing != 0 || cmp.Mismatched != 0 {
		t.Errorf("the primary's folder after the failback: %+v, %v", cmp, err)
	}
	f.m.Stop()
}

// TestFailbackResumesAfterTheWorkerDies: the worker is killed (SIGKILL) inside every activity
// of a failback with switchback, and restarted. The failback ends as one never interrupted
// does: every row A acknowledged in the recovered branch, the database back in A with every
// row B acknowledged, and no blob copied twice but those in flight at a kill.
func TestFailbackResumesAfterTheWorkerDies(t *testing.T) {
	ctx := context.Background()
	// One copy at a time, so that a kill interrupts at most one.
	r := startReplicatedRows(t, stack.Options{Faults: true, RecordStoreRequests: true},
		func(c *config.Config) { c.Replication.Concurrency = 1 }, 30)
	s, primary, secondary, tc, m, ackedA := r.s, r.primary, r.secondary, r.tc, r.m, r.acked
	cutOff(t, s, "primary")
	ackedA = insertRows(t, primary, ackedA, 10) // A's tail
	if err := startFailover(t, s, tc, workflows.ModeUnplanned).Get(ctx, nil); err != nil {
		t.Fatalf("unplanned failover: %v", err)
	}
	for seq := range 10 {
		execAll(t, secondary, fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (1, %d)", db, seq))
	}
	if err := s.Faults.HealAll(); err != nil {
		t.Fatal(err)
	}
	// Every answer of a store or a database takes a while, so that each activity, even one
	// of a single request, lasts many of killInEveryActivity's slices.
	for region := range s.MinIO {
		for _, target := range []stack.Target{stack.StoreOf(region), stack.DatabaseOf(region)} {
			if err := s.Faults.Delay(target, 100*time.Millisecond); err != nil {
				t.Fatal(err)
			}
		}
	}
	markA, markB := s.StoreRequestCount("primary"), s.StoreRequestCount("secondary")
	if err := s.FreezeWorker(); err != nil {
		t.Fatal(err)
	}
	run := startFailback(t, s, tc, true)
	steps := []string{"CheckFailback", "ProbeStore", "Fence", "RecoverTail", "AttachBranch", "RecordRecoveredAttached", "MoveDiverged",
		"RemoveLocks", "RecordPrimary", "CopyTotals", "StartWorkflow", "WaitCaughtUp", "MeasureWrites", "StopWorkflow"}
	killed := killInEveryActivity(t, s, tc, run, steps)
	waitCtx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	var res workflows.FailbackResult
	if err := run.Get(waitCtx, &res); err != nil {
		t.Fatalf("failback after %d kills: %v", len(killed), err)
	}
	t.Logf("killed in %v; tail %d blobs, copied back %d blobs, switchback RTO %.2fs", killed, res.Tail.Objects, res.CopiedBackObjects, res.Switchback.RTOSeconds)
	for _, step := range steps {
		if !slices.Contains(killed, step) {
			t.Errorf("the worker was never caught inside %s", step)
		}
	}
	if res.Recovered == nil || !res.Recovered.Attached || res.Tail.Objects == 0 || res.Switchback == nil || res.Switchback.NewPrimary != "primary" {
		t.Fatalf("failback result: %+v", res)
	}
	recovered, err := monitor.ReadRows(ctx, secondary, res.Recovered.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(recovered, []int{ackedA}); err != nil {
		t.Errorf("recovered branch: %v", err)
	}
	live, err := monitor.ReadRows(ctx, primary, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(only(live, 1), []int{0, 10}); err != nil {
		t.Errorf("live database, B's rows: %v", err)
	}
	// One copy at a time: each kill interrupts at most one copy of the recovered branch and
	// one of each replication, as the stores saw them.
	if n := checkCopiedOnce(t, s.StoreRequestsSince("secondary", markB), workflows.FailbackName+"/RecoverTail", res.Recovered.Root+"/", len(killed)); int64(n) != res.Recovered.Objects {
		t.Errorf("the store saw %d blobs written into the recovered branch; it holds %d", n, res.Recovered.Objects)
	}
	if n := checkCopiedOnce(t, s.StoreRequestsSince("primary", markA), workflows.ReplicateName+"/Sync", rootPath+"/", len(killed)); n == 0 || res.CopiedBackObjects == 0 {
		// A Sync killed between a copy and its checkpoint does not count the copy its retry
		// finds in place: the result may count fewer than the store saw, never none.
		t.Errorf("the primary's store saw %d blobs replicated back; the result says %d", n, res.CopiedBackObjects)
	}
	checkCopiedOnce(t, s.StoreRequestsSince("secondary", markB), workflows.ReplicateName+"/Sync", rootPath+"/", len(killed))
	m.Stop()
}

// checkCopiedOnce fails the test if operation wrote any key under prefix more than once, but
// for at most interrupted writes, and returns how many keys it wrote.
func checkCopiedOnce(t *testing.T, requests []stack.StoreRequest, operation, prefix string, interrupted int) int {
	t.Helper()
	writes := map[string]int{}
	var again []string
	for _, r := range stack.Writes(requests, operation, prefix) {
		if writes[r.Key]++; writes[r.Key] == 2 {
			again = append(again, r.Key)
		}
	}
	if len(again) > interrupted {
		var which []string
		for _, r := range stack.Writes(requests, operation, prefix) {
			if slices.Contains(again, r.Key) {
				which = append(which, fmt.Sprintf("%s at %s", r, r.At.Format("15:04:05.000")))
			}
		}
		t.Errorf("%s wrote %d keys under %s more than once, more than the %d a kill may interrupt: %v\n%s", operation, len(again), prefix,
			interrupted, again, strings.Join(which, "\n"))
	}
	return len(writes)
}
