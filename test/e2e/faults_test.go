package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/monitor"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/stores"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestFaultLayerAndMonitor is the self-test of the fault-test machinery on the real stack.
// Through the fault layer a stand-in and a MinIO answer, fail at once while cut, stay silent
// while blackholed and answer again once healed, and the traffic counters move only when
// traffic crosses; the worker reaches Temporal and bdr the stores through it. The invariant
// monitor sees nothing wrong in a healthy stack, catches a storage lock deleted under its
// attached owner and a database attached in two regions at once, and CheckSettled compares
// the serving region with primary.json.
func TestFaultLayerAndMonitor(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := faultStack(t, nil)

	t.Run("worker and bdr go through the proxies", func(t *testing.T) {
		// The worker polls Temporal through its proxy; bdr's config check reaches every
		// store through theirs (it does not try the databases).
		waitFor(t, time.Minute, "the worker's traffic through the Temporal proxy", func() (bool, error) {
			tr := s.Faults.Traffic(stack.TemporalFrontend)
			return tr.Conns > 0 && tr.Sent > 0 && tr.Received > 0, nil
		})
		before := map[stack.Target]stack.Traffic{}
		for region := range s.MinIO {
			before[stack.StoreOf(region)] = s.Faults.Traffic(stack.StoreOf(region))
		}
		if out, err := s.Bdr(ctx, "config", "check"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		for target, b := range before {
			if a := s.Faults.Traffic(target); a.Sent <= b.Sent || a.Received <= b.Received {
				t.Errorf("bdr config check sent nothing through %s: before %+v, after %+v", target, b, a)
			}
		}
	})

	t.Run("stand-in through its proxy", func(t *testing.T) {
		target := stack.DatabaseOf("primary")
		conn := openDB(t, s.Standin["primary"].DSNAt(s.Faults.Addr(target), "")+"&timeout=5s")
		conn.SetMaxIdleConns(0) // every query on a new connection: no stale one from a fault before
		query := func(deadline time.Duration) (expired bool, err error) {
			ctx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			var one int
			err = conn.QueryRowContext(ctx, "SELECT 1").Scan(&one)
			return ctx.Err() != nil, err
		}
		checkFaults(t, s, target, query)
	})

	t.Run("object store through its proxy", func(t *testing.T) {
		target := stack.StoreOf("primary")
		// Signed for the proxy's host:port, which is the Host header MinIO receives and checks.
		c, err := stores.ClientAt(s.MinIO["primary"], "http://"+s.Faults.Addr(target), bucket)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.PutBytes(ctx, "faults/probe", []byte("probe"), nil); err != nil {
			t.Fatalf("put through the proxy: %v", err)
		}
		query := func(deadline time.Duration) (expired bool, err error) {
			ctx, cancel := context.WithTimeout(ctx, deadline)
			defer cancel()
			err = getProbe(ctx, c)
			return ctx.Err() != nil, err
		}
		checkFaults(t, s, target, query)
	})

	t.Run("monitor", func(t *testing.T) {
		createWriterTable(t, s, primary, "")
		m := monitor.Start(t, s, db, monitor.ExpectViolations())
		waitSamples(t, m, 5)
		if r := m.Report(); len(r.Violations) != 0 || r.Unreadable != 0 {
			t.Fatalf("a healthy stack: %+v", r)
		}
		// CheckSettled against primary.json: none recorded, then the primary, then the
		// secondary recorded later (in one bucket only) while the primary serves.
		if err := m.CheckSettled(ctx); err == nil || !strings.Contains(err.Error(), "no bucket records a primary") {
			t.Errorf("CheckSettled with no primary.json: %v", err)
		}
		since := time.Now().UTC()
		for region := range s.MinIO {
			if err := replication.WritePrimary(ctx, store(t, s.MinIO[region]), replication.Primary{Database: db, Region: "primary", Since: since}); err != nil {
				t.Fatal(err)
			}
		}
		if err := m.CheckSettled(ctx); err != nil {
			t.Errorf("CheckSettled with the primary serving and recorded: %v", err)
		}
		if err := replication.WritePrimary(ctx, store(t, s.MinIO["secondary"]), replication.Primary{Database: db, Region: "secondary", Since: since.Add(time.Second)}); err != nil {
			t.Fatal(err)
		}
		if err := m.CheckSettled(ctx); err == nil || !strings.Contains(err.Error(), "says secondary") {
			t.Errorf("CheckSettled with the newest record naming the other region: %v", err)
		}

		// (iii) The storage lock of the attached database, deleted behind its back.
		primaryStore := store(t, s.MinIO["primary"])
		locks, err := listKeys(ctx, primaryStore, rootPath+"/")
		if err != nil {
			t.Fatal(err)
		}
		var lock string
		for _, k := range locks {
			if strings.Contains(k, "/storage_locks/") {
				lock = k
			}
		}
		if lock == "" {
			t.Fatalf("no storage lock under %s/ in the primary's bucket: %v", rootPath, locks)
		}
		waitSamples(t, m, m.Report().Samples+2) // the lock is in the samples before it goes
		if err := primaryStore.Delete(ctx, lock); err != nil {
			t.Fatal(err)
		}
		waitViolation(t, m, "storage lock "+lock+" in primary's bucket was removed while its owner (bottomless_db in primary) stayed attached")

		// (ii) The same database attached in the secondary too.
		execAll(t, secondary, "CREATE DATABASE "+db+" "+onS3(s.MinIO["secondary"]))
		waitViolation(t, m, "bottomless_db is attached in two regions at once: primary, secondary")
		if err := m.CheckSettled(ctx); err == nil || !strings.Contains(err.Error(), "attached in 2 regions") {
			t.Errorf("CheckSettled with two regions attached: %v", err)
		}
		r := m.Stop()
		t.Logf("report: %d samples, violations %v", r.Samples, r.Violations)
		if len(r.Violations) != 2 {
			t.Errorf("want exactly the two violations made on purpose, got %v", r.Violations)
		}
		execAll(t, secondary, "DETACH DATABASE "+db)
	})

	t.Run("monitor with a dead region", func(t *testing.T) {
		// A region that cannot be read is recorded, is not a violation, and does not stop the
		// sampling of the other. This monitor fails the test on any violation.
		m := monitor.Start(t, s, db)
		waitSamples(t, m, 3)
		if err := s.MinIO["secondary"].Kill(); err != nil {
			t.Fatal(err)
		}
		if err := s.Standin["secondary"].Kill(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, time.Minute, "the monitor to find the secondary unreadable", func() (bool, error) {
			return m.Report().Unreadable > 0, nil
		})
		waitSamples(t, m, m.Report().Samples+5)
		// The newest record among the buckets that answer: the secondary's, newer, is gone
		// with its region.
		if err := m.CheckSettled(ctx); err != nil {
			t.Errorf("CheckSettled with the secondary dead: %v", err)
		}
	})
}

// TestFaultStackPlannedSwitchoverIsClean is the monitor's positive control and shows that the
// fault layer, healthy, changes nothing: SQL writers commit into the primary while a planned
// switchover runs with every worker connection going through the proxies. The monitor,
// sampling throughout, sees no violation; afterwards exactly the secondary serves and is
// recorded, no acknowledged row is lost, and the worker's traffic to both regions' stores and
// databases crossed the proxies.
func TestFaultStackPlannedSwitchoverIsClean(t *testing.T) {
	ctx := context.Background()
	s, primary, secondary := faultStack(t, nil)
	m := monitor.Start(t, s, db)
	createWriterTable(t, s, primary, "")
	tc := temporalClient(t, s)
	startReplicate(t, s, tc, db)

	const writers = 2
	acked := make([]atomic.Int64, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			// Write until the database goes away under the switchover.
			for seq := 0; seq < 100000; seq++ {
				if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (%d, %d)", db, w, seq)); err != nil {
					return
				}
				acked[w].Store(int64(seq + 1))
			}
		})
	}
	waitFor(t, 2*time.Minute, "every writer to commit 20 rows", func() (bool, error) {
		for w := range acked {
			if acked[w].Load() < 20 {
				return false, nil
			}
		}
		return true, nil
	})
	out, err := s.Bdr(ctx, "--json", "failover", db, "--from", "primary", "--to", "secondary")
	if err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	var res workflows.FailoverResult
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if res.NewPrimary != "secondary" || res.RPOSeconds != 0 {
		t.Errorf("failover result: %s", out)
	}
	if err := m.CheckSettled(ctx); err != nil {
		t.Error(err)
	}
	got, err := monitor.ReadRows(ctx, secondary, db)
	if err != nil {
		t.Fatal(err)
	}
	ack := make([]int, writers)
	for w := range acked {
		ack[w] = int(acked[w].Load())
	}
	if err := monitor.NoneLost(got, ack); err != nil {
		t.Errorf("rows in the secondary against the acknowledged %v: %v", ack, err)
	}
	for region := range s.MinIO {
		for _, target := range []stack.Target{stack.StoreOf(region), stack.DatabaseOf(region)} {
			if tr := s.Faults.Traffic(target); tr.Sent == 0 || tr.Received == 0 {
				t.Errorf("no traffic of the worker crossed %s: %+v", target, tr)
			}
		}
	}
	r := m.Stop()
	t.Logf("acknowledged %v, rows %d+%d, monitor: %d samples, RTO %.2fs", ack, len(got[0]), len(got[1]), r.Samples, res.RTOSeconds)
}

// checkFaults drives target through the faults and checks what query (one request with the
// given deadline, returning whether the deadline passed and its error) and the traffic
// counters see.
func checkFaults(t *testing.T, s *stack.Stack, target stack.Target, query func(time.Duration) (expired bool, err error)) {
	t.Helper()
	// A deadline no healthy or failing request gets near, and a short one for silence.
	const long, short = 60 * time.Second, 500 * time.Millisecond
	faults := s.Faults
	before := faults.Traffic(target)
	if _, err := query(long); err != nil {
		t.Fatalf("healthy: %v", err)
	}
	after := faults.Traffic(target)
	if after.Sent <= before.Sent || after.Received <= before.Received {
		t.Errorf("healthy: traffic before %+v, after %+v: a request crossed and the counters did not move", before, after)
	}

	if err := faults.Cut(target); err != nil {
		t.Fatal(err)
	}
	before = faults.Traffic(target)
	if expired, err := query(long); err == nil || expired {
		t.Errorf("cut: %v (deadline passed: %v), want a failure before the deadline", err, expired)
	}
	// No connection reaches the peer and nothing comes back. (A connection closed just
	// before the cut may still send its last bytes, such as the MySQL client's COM_QUIT.)
	if after := faults.Traffic(target); after.Conns != before.Conns || after.Received != before.Received {
		t.Errorf("cut: traffic moved from %+v to %+v", before, after)
	}

	if err := faults.Blackhole(target); err != nil {
		t.Fatal(err)
	}
	before = faults.Traffic(target)
	if expired, err := query(short); err == nil || !expired {
		t.Errorf("blackhole: %v, want the request to hang until its deadline", err)
	}
	if after := faults.Traffic(target); after.Sent != before.Sent || after.Received != before.Received {
		t.Errorf("blackhole: bytes crossed: before %+v, after %+v", before, after)
	}

	if err := faults.Reset(target); err != nil {
		t.Fatal(err)
	}
	if expired, err := query(long); err == nil || expired {
		t.Errorf("reset: %v (deadline passed: %v), want a failure before the deadline", err, expired)
	}

	if err := faults.Heal(target); err != nil {
		t.Fatal(err)
	}
	before = faults.Traffic(target)
	if _, err := query(long); err != nil {
		t.Errorf("healed: %v", err)
	}
	if after := faults.Traffic(target); after.Sent <= before.Sent || after.Received <= before.Received {
		t.Errorf("healed: traffic before %+v, after %+v", before, after)
	}
}

func getProbe(ctx context.Context, c *objectstore.Client) error {
	data, err := c.GetBytes(ctx, "faults/probe")
	if err != nil {
		return err
	}
	if !bytes.Equal(data, []byte("probe")) {
		return errors.New("probe: got " + string(data))
	}
	return nil
}

func waitSamples(t *testing.T, m *monitor.Monitor, n int) {
	t.Helper()
	waitFor(t, time.Minute, "the monitor to take samples", func() (bool, error) {
		return m.Report().Samples >= n, nil
	})
}

func waitViolation(t *testing.T, m *monitor.Monitor, what string) {
	t.Helper()
	waitFor(t, time.Minute, "the monitor to report: "+what, func() (bool, error) {
		for _, v := range m.Report().Violations {
			if v.What == what {
				return true, nil
			}
		}
		return false, nil
	})
}
