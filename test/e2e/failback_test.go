package e2e

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/monitor"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// startFailback starts a failback of db from the secondary (the primary since an unplanned
// failover) to the primary region.
func startFailback(t *testing.T, s *stack.Stack, tc client.Client, switchback bool) client.WorkflowRun {
	t.Helper()
	return startFailbackWith(t, s, tc, workflows.FailbackInput{Database: db, From: "secondary", To: "primary", Switchback: switchback})
}

// startFailbackWith starts a failback with in.
func startFailbackWith(t *testing.T, s *stack.Stack, tc client.Client, in workflows.FailbackInput) client.WorkflowRun {
	t.Helper()
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.FailbackID(in.Database),
		TaskQueue: s.Config.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.FailbackName, in)
	if err != nil {
		t.Fatalf("start failback: %v", err)
	}
	return run
}

// only keeps the rows of the given writers.
func only(rows monitor.Rows, writers ...int) monitor.Rows {
	out := monitor.Rows{}
	for _, w := range writers {
		if seqs, ok := rows[w]; ok {
			out[w] = seqs
		}
	}
	return out
}

// replicatedRows is a stack whose primary committed rows of writer 0, replicated to the
// secondary; the invariant monitor (unplanned: the old primary may stay attached where it is
// cut off) samples it.
type replicatedRows struct {
	s                  *stack.Stack
	primary, secondary *sql.DB
	tc                 client.Client
	m                  *monitor.Monitor
	repl               client.WorkflowRun
	acked              int
}

// startReplicatedRows starts a stack with opts and configure, commits n rows into the primary
// and waits for the secondary's watermark to pass them.
func startReplicatedRows(t *testing.T, opts stack.Options, configure func(*config.Config), n int) *replicatedRows {
	t.Helper()
	r := &replicatedRows{}
	r.s, r.primary, r.secondary = standinStack(t, opts, configure)
	r.m = monitor.Start(t, r.s, db, monitor.Unplanned())
	createWriterTable(t, r.s, r.primary, "")
	r.tc = temporalClient(t, r.s)
	r.repl = startReplicate(t, r.s, r.tc, db)
	r.acked = insertRows(t, r.primary, 0, n)
	waitWatermarkPastNewest(t, r.s, r.tc, r.repl.GetID(), rootPath)
	return r
}

// cutOff cuts region's store and database off from the worker; the region's own database
// goes on writing into its bucket.
func cutOff(t *testing.T, s *stack.Stack, region string) {
	t.Helper()
	for _, target := range []stack.Target{stack.StoreOf(region), stack.DatabaseOf(region)} {
		if err := s.Faults.Cut(target); err != nil {
			t.Fatal(err)
		}
	}
}

// failedOver is a stack just after an unplanned failover that lost a tail.
type failedOver struct {
	s                  *stack.Stack
	primary, secondary *sql.DB
	tc                 client.Client
	m                  *monitor.Monitor
	acksA              *ackLog // what A's writers (0 and 1) acknowledged
}

// failOverWithATail brings up a stack (fault layer and store request recorder on) where SQL
// writers commit into the primary (A) while it replicates; A is cut off from the worker, store
// and database, and goes on committing into its bucket; an unplanned failover makes the
// secondary (B) the primary; A's writers stop. A stays cut off: what it committed meanwhile
// is its tail.
func failOverWithATail(t *testing.T, configure func(*config.Config)) *failedOver {
	t.Helper()
	ctx := context.Background()
	f := &failedOver{}
	f.s, f.primary, f.secondary = standinStack(t, stack.Options{Faults: true, RecordStoreRequests: true}, configure)
	f.m = monitor.Start(t, f.s, db, monitor.Unplanned())
	createWriterTable(t, f.s, f.primary, "")
	f.tc = temporalClient(t, f.s)
	repl := startReplicate(t, f.s, f.tc, db)

	load, stop := context.WithCancel(ctx)
	acks, wait := writeRows(load, f.primary, 0, 2)
	defer func() { stop(); wait() }()
	f.acksA = acks
	// Rows replicated: the watermark past them, not copies counted (early copies are
	// copies beyond the watermark, which a seal moves aside).
	waitFor(t, time.Minute, "rows to commit", func() (bool, error) { return acks.total() >= 20, nil })
	waitWatermarkPastNewest(t, f.s, f.tc, repl.GetID(), rootPath)
	cutOff(t, f.s, "primary")
	cutAt := acks.total()
	waitFor(t, time.Minute, "A to commit rows while cut off", func() (bool, error) { return acks.total() >= cutAt+20, nil })
	if err := startFailover(t, f.s, f.tc, workflows.ModeUnplanned).Get(ctx, nil); err != nil {
		t.Fatalf("unplanned failover: %v", err)
	}
	return f
}

// TestFailbackFullCycle, the headline: SQL writers commit into the primary (A); A is cut off
// from the worker (its database keeps committing into its bucket); an unplanned failover
// makes the secondary (B) the primary; writers commit into B; A comes back; a Failback with
// switchback runs. Then every row A or B acknowledged is in the live database (in A again)
// or in the recovered branch (in B): the branch holds exactly A's acknowledged rows, the live
// database every row B acknowledged and a prefix of A's. Replicating back wrote into A's
// store at most 1.05x what B wrote after the failover, and replicating forward again copied
// into B nothing B already held.
func TestFailbackFullCycle(t *testing.T) {
	ctx := context.Background()
	f := failOverWithATail(t, nil)
	s, primary, secondary, tc, m, acksA := f.s, f.primary, f.secondary, f.tc, f.m, f.acksA
	loadB, stopB := context.WithCancel(ctx)
	acksB, waitB := writeRows(loadB, secondary, 2, 2)
	defer func() { stopB(); waitB() }()
	waitFor(t, time.Minute, "B to commit rows", func() (bool, error) { return acksB.total() >= 30, nil })
	stopB()
	waitB()

	if err := s.Faults.HealAll(); err != nil {
		t.Fatal(err)
	}
	bBefore := targetBlobs(t, store(t, s.MinIO["secondary"]))
	mark := s.StoreRequestCount("secondary")
	markA := s.StoreRequestCount("primary")
	var res workflows.FailbackResult
	if err := startFailback(t, s, tc, true).Get(ctx, &res); err != nil {
		t.Fatalf("failback: %v", err)
	}
	t.Logf("failback: tail %+v, recovered %+v, moved aside %d, copied back %d bytes (B wrote %d since the failover), switchback RTO %.1fs, forward copied %d",
		res.Tail, res.Recovered, res.MovedAside, res.CopiedBackBytes, res.WrittenSinceFailover, res.Switchback.RTOSeconds, res.ForwardCopiedObjects)

	// The recovered branch holds exactly A's acknowledged rows.
	if res.Recovered == nil || !res.Recovered.Attached || res.Tail.Objects == 0 {
		t.Fatalf("no recovered branch: %+v", res)
	}
	recovered, err := monitor.ReadRows(ctx, secondary, res.Recovered.Name)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(recovered, acksA.snapshot()); err != nil {
		t.Errorf("recovered branch: %v", err)
	}
	// The live database, in A again, holds every row B acknowledged and a prefix of A's.
	live, err := monitor.ReadRows(ctx, primary, db)
	if err != nil {
		t.Fatal(err)
	}
	if err := monitor.NoneLost(only(live, 2, 3), acksB.snapshot()); err != nil {
		t.Errorf("live database, B's rows: %v", err)
	}
	if err := monitor.ExactPrefix(only(live, 0, 1), acksA.snapshot()); err != nil {
		t.Errorf("live database, A's rows: %v", err)
	}
	if res.Switchback == nil || res.Switchback.RPOSeconds != 0 || res.Switchback.NewPrimary != "primary" {
		t.Errorf("switchback: %+v", res.Switchback)
	}

	// Replicating back copied only what A lacked: what B wrote while it was the primary.
	var wroteInB int64
	l, err := store(t, s.MinIO["secondary"]).List(ctx, rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range l.Objects {
		if o.LastModified.After(res.FailoverAt) && !strings.Contains(o.Key, "/storage_locks/") {
			wroteInB += o.Size
		}
	}
	putIntoA := stack.BodyBytes(stack.Writes(s.StoreRequestsSince("primary", markA), workflows.ReplicateName+"/Sync", rootPath+"/"))
	if wroteInB == 0 || float64(putIntoA) > 1.05*float64(wroteInB) || res.CopiedBackBytes > putIntoA {
		t.Errorf("replicating back wrote %d bytes into A's store (reported %d); B wrote %d while it was the primary", putIntoA, res.CopiedBackBytes, wroteInB)
	}
	// Replicating forward again copied nothing B held already.
	for _, r := range stack.Writes(s.StoreRequestsSince("secondary", mark), workflows.ReplicateName+"/Sync", rootPath+"/") {
		if _, held := bBefore[r.Key]; held {
			t.Errorf("replicating forward copied %s again, which B held before the failback", r.Key)
		}
	}
	if err := m.CheckSettled(ctx); err != nil {
		t.Error(err)
	}
	m.Stop()
}
