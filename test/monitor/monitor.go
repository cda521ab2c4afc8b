// Package monitor checks the safety rules of DESIGN 5a while a fault test runs: it samples
// every region's stand-in and bucket of a stack over direct connections (never through the
// fault layer) and records every sample that breaks a rule.
package monitor

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // the stand-ins speak the MySQL protocol

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/stores"
)

// Violation is one broken rule, seen in the sample taken at At.
type Violation struct {
	At   time.Time
	What string
}

func (v Violation) String() string { return v.At.Format("15:04:05.000") + " " + v.What }

// Report is what a monitor saw: how many samples it took, how many region reads failed
// (a region that cannot be read is not a violation by itself), and every violation.
type Report struct {
	Samples    int
	Unreadable int
	Violations []Violation
}

// Option changes how a monitor runs.
type Option func(*Monitor)

// ExpectViolations keeps the monitor from failing the test at cleanup: for a test that makes
// violations on purpose and inspects the report itself.
func ExpectViolations() Option { return func(m *Monitor) { m.expect = true } }

// Unplanned is for an unplanned failover: a primary that is cut off may stay attached while
// another region takes over (DESIGN 5.5), so "never attached in two regions" is not checked
// on every sample; CheckSettled still demands exactly one serving region at the end.
func Unplanned() Option { return func(m *Monitor) { m.unplanned = true } }

// Every sets the sampling interval (default 100 ms).
func Every(d time.Duration) Option { return func(m *Monitor) { m.every = d } }

// Monitor samples one database of a stack until Stop. Its methods are safe for concurrent use.
type Monitor struct {
	t         testing.TB
	database  string
	root      string
	regions   []string
	dbs       map[string]*sql.DB
	stores    map[string]*objectstore.Client
	owners    map[string]string // stand-in address -> region, to attribute storage locks
	every     time.Duration
	expect    bool
	unplanned bool

	cancel context.CancelFunc
	done   chan struct{}

	mu        sync.Mutex
	report    Report
	lockOwner map[string]lockOwner // lock key -> who holds it (read once: keys are unique)
	storeDown map[string]bool      // the region's bucket failed the last read
	primary   map[string]replication.Primary
	stopped   bool
}

type lockOwner struct{ region, database string }

// Start starts sampling database in every region of s every 100 ms, until Stop. A cleanup of
// t stops it, logs "monitor: N samples, M violations" and fails t on any violation (unless
// ExpectViolations).
func Start(t testing.TB, s *stack.Stack, database string, opts ...Option) *Monitor {
	t.Helper()
	m := &Monitor{t: t, database: database, dbs: map[string]*sql.DB{}, stores: map[string]*objectstore.Client{},
		owners: map[string]string{}, every: 100 * time.Millisecond, done: make(chan struct{}),
		lockOwner: map[string]lockOwner{}, primary: map[string]replication.Primary{}, storeDown: map[string]bool{}}
	for _, o := range opts {
		o(m)
	}
	d, err := s.Config.Database(database)
	if err != nil {
		t.Fatalf("monitor: %v", err)
	}
	m.root = d.RootPath
	for region := range s.Config.Regions {
		m.regions = append(m.regions, region)
	}
	sort.Strings(m.regions)
	for _, region := range m.regions {
		c, err := stores.Client(s.MinIO[region], s.Config.Regions[region].ObjectStore.Bucket)
		if err != nil {
			t.Fatalf("monitor: %v", err)
		}
		m.stores[region] = c
		if sb := s.Standin[region]; sb != nil {
			// Short driver timeouts: a dead stand-in must cost a sample little, not block it.
			conn, err := sql.Open("mysql", sb.DSN("")+"&timeout=1s&readTimeout=2s&writeTimeout=2s")
			if err != nil {
				t.Fatalf("monitor: %v", err)
			}
			conn.SetMaxOpenConns(2)
			m.dbs[region] = conn
			m.owners[sb.Addr] = region
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	go m.run(ctx)
	t.Cleanup(func() {
		r := m.Stop()
		t.Logf("monitor: %d samples, %d violations (%d region reads failed)", r.Samples, len(r.Violations), r.Unreadable)
		for _, v := range r.Violations {
			if m.expect {
				t.Logf("monitor: expected violation: %s", v)
			} else {
				t.Errorf("monitor: %s", v)
			}
		}
	})
	return m
}

// Stop ends sampling and returns the report; later calls return the same report.
func (m *Monitor) Stop() Report {
	m.cancel()
	<-m.done
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.stopped {
		m.stopped = true
		for _, conn := range m.dbs {
			conn.Close()
		}
	}
	return m.snapshot()
}

// Report returns what the monitor has seen so far, without stopping it.
func (m *Monitor) Report() Report {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.snapshot()
}

func (m *Monitor) snapshot() Report {
	r := m.report
	r.Violations = append([]Violation(nil), r.Violations...)
	return r
}

// regionSample is one region's state in one sample; ok is false when it could not be read.
type regionSample struct {
	dbOK     bool
	attached map[string]bool // database names attached in the region's stand-in
	storeOK  bool
	locks    map[string]bool // storage lock keys under the database's root path
	primary  *replication.Primary
}

type sample struct {
	at      time.Time
	regions map[string]regionSample
}

// run is the one sampler goroutine. A ticker drops the ticks a slow sample misses, so samples
// never pile up.
func (m *Monitor) run(ctx context.Context) {
	defer close(m.done)
	tick := time.NewTicker(m.every)
	defer tick.Stop()
	var prev *sample
	for {
		cur := m.sample(ctx)
		if ctx.Err() != nil {
			return // a sample cut short by Stop says nothing
		}
		m.check(prev, cur)
		prev = cur
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// sample reads every region: the stand-ins' attached databases, then the buckets, then the
// stand-ins again. A database counts as attached only if both reads saw it, which brackets
// the bucket reads: a lock seen gone while its owner counts as attached was gone while the
// owner was attached (short of a detach and re-attach within one sample), and two regions
// that count as attached were attached at one instant.
func (m *Monitor) sample(ctx context.Context) *sample {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	s := &sample{at: time.Now(), regions: map[string]regionSample{}}
	first := m.readAttached(ctx)
	buckets := m.readBuckets(ctx)
	second := m.readAttached(ctx)
	for _, region := range m.regions {
		rs := buckets[region]
		a, b := first[region], second[region]
		rs.dbOK = a != nil && b != nil
		if rs.dbOK {
			rs.attached = map[string]bool{}
			for name := range a {
				if b[name] {
					rs.attached[name] = true
				}
			}
		}
		s.regions[region] = rs
	}
	return s
}

// readAttached runs SHOW DATABASES in every region at once; a region that fails maps to nil.
func (m *Monitor) readAttached(ctx context.Context) map[string]map[string]bool {
	out := map[string]map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for region, conn := range m.dbs {
		wg.Go(func() {
			names, err := showDatabases(ctx, conn)
			if err != nil {
				return
			}
			mu.Lock()
			out[region] = names
			mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

func showDatabases(ctx context.Context, conn *sql.DB) (map[string]bool, error) {
	rows, err := conn.QueryContext(ctx, "SHOW DATABASES")
	if err != nil {
		return nil, fmt.Errorf("show databases: %w", err)
	}
	defer rows.Close()
	names := map[string]bool{}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("show databases: %w", err)
		}
		names[name] = true
	}
	return names, rows.Err()
}

// readBuckets reads every region's storage locks and recorded primary at once. A bucket that
// failed its last read gets a short budget: the store client retries a refused connection for
// seconds, and a dead region must not slow the sampling of the others.
func (m *Monitor) readBuckets(ctx context.Context) map[string]regionSample {
	out := map[string]regionSample{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, region := range m.regions {
		m.mu.Lock()
		budget := 2 * time.Second
		if m.storeDown[region] {
			budget = 200 * time.Millisecond
		}
		m.mu.Unlock()
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, budget)
			defer cancel()
			var rs regionSample
			locks, err := storageLocks(ctx, m.stores[region], m.root)
			if err == nil {
				rs.storeOK = true
				rs.locks = locks
				m.learnOwners(ctx, region, locks)
				if p, found, err := replication.ReadPrimary(ctx, m.stores[region], m.database); err != nil {
					rs.storeOK = false
				} else if found {
					rs.primary = &p
				}
			}
			mu.Lock()
			out[region] = rs
			mu.Unlock()
			m.mu.Lock()
			m.storeDown[region] = !rs.storeOK
			m.mu.Unlock()
		})
	}
	wg.Wait()
	return out
}

// storageLocks lists the storage locks under root: <root>/storage_locks/ and
// <root>/<storage-id>/storage_locks/ (as activities.storageLocks finds them).
func storageLocks(ctx context.Context, store *objectstore.Client, root string) (map[string]bool, error) {
	ids, err := store.Folders(ctx, root+"/")
	if err != nil {
		return nil, err
	}
	locks := map[string]bool{}
	for _, folder := range append([]string{root + "/"}, ids...) {
		l, err := store.List(ctx, folder+"storage_locks/")
		if err != nil {
			return nil, err
		}
		for _, o := range l.Objects {
			locks[o.Key] = true
		}
	}
	return locks, nil
}

// learnOwners reads who holds each lock not seen before. The stand-in writes its address and
// the attached name into the lock; a lock it cannot read is the bucket's region's, for the
// monitored database (a region's server attaches from its own bucket).
func (m *Monitor) learnOwners(ctx context.Context, region string, locks map[string]bool) {
	for key := range locks {
		m.mu.Lock()
		_, known := m.lockOwner[key]
		m.mu.Unlock()
		if known {
			continue
		}
		owner := lockOwner{region: region, database: m.database}
		var lf struct {
			Owner    string `json:"owner"`
			Database string `json:"database"`
		}
		if err := readJSON(ctx, m.stores[region], key, &lf); err == nil {
			if r, ok := m.owners[lf.Owner]; ok {
				owner.region = r
			}
			if lf.Database != "" {
				owner.database = lf.Database
			}
		} else if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			continue // try again next sample
		}
		m.mu.Lock()
		m.lockOwner[key] = owner
		m.mu.Unlock()
	}
}

func readJSON(ctx context.Context, store *objectstore.Client, key string, v any) error {
	data, err := store.GetBytes(ctx, key)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, v)
}

// check records the violations that cur shows, given prev (nil for the first sample).
func (m *Monitor) check(prev, cur *sample) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.report.Samples++
	for _, region := range m.regions {
		rs := cur.regions[region]
		if _, hasDB := m.dbs[region]; (hasDB && !rs.dbOK) || !rs.storeOK {
			m.report.Unreadable++
		}
		if rs.primary != nil && m.primary[region] != *rs.primary {
			m.primary[region] = *rs.primary
			m.t.Logf("monitor: %s's bucket records %s as the primary since %s (by %s)",
				region, rs.primary.Region, rs.primary.Since.Format(time.RFC3339Nano), rs.primary.By)
		}
	}

	// (a) Never attached in two regions at once (planned). Reported when it starts, not on
	// every sample while it lasts.
	if !m.unplanned {
		both := attachedIn(cur, m.regions, m.database)
		if len(both) > 1 && (prev == nil || len(attachedIn(prev, m.regions, m.database)) < 2) {
			m.violate(cur.at, fmt.Sprintf("%s is attached in two regions at once: %s", m.database, strings.Join(both, ", ")))
		}
	}

	// (c) No storage lock is removed while its owner is attached: a lock gone since the last
	// sample whose owner had its database attached in both samples.
	if prev == nil {
		return
	}
	for _, region := range m.regions {
		p, c := prev.regions[region], cur.regions[region]
		if !p.storeOK || !c.storeOK {
			continue
		}
		for key := range p.locks {
			if c.locks[key] {
				continue
			}
			owner, ok := m.lockOwner[key]
			if !ok {
				continue
			}
			po, co := prev.regions[owner.region], cur.regions[owner.region]
			if po.dbOK && co.dbOK && po.attached[owner.database] && co.attached[owner.database] {
				m.violate(cur.at, fmt.Sprintf("storage lock %s in %s's bucket was removed while its owner (%s in %s) stayed attached",
					key, region, owner.database, owner.region))
			}
		}
	}
}

func (m *Monitor) violate(at time.Time, what string) {
	m.report.Violations = append(m.report.Violations, Violation{At: at, What: what})
	m.t.Logf("monitor: violation: %s", what)
}

// attachedIn returns the regions where s saw database attached.
func attachedIn(s *sample, regions []string, database string) []string {
	var in []string
	for _, region := range regions {
		if rs := s.regions[region]; rs.dbOK && rs.attached[database] {
			in = append(in, region)
		}
	}
	return in
}

// CheckSettled checks, once the dust has settled, that exactly one region has the database
// attached and that it is the region recorded in primary.json (the newest record among the
// buckets that answer, by Since). It reads afresh rather than from the last sample; a region
// that does not answer within a few seconds (a dead one) does not serve.
func (m *Monitor) CheckSettled(ctx context.Context) error {
	const budget = 5 * time.Second
	var serving, unreadable []string
	for _, region := range m.regions {
		conn := m.dbs[region]
		if conn == nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, budget)
		names, err := showDatabases(rctx, conn)
		cancel()
		if err != nil {
			unreadable = append(unreadable, region)
			continue
		}
		if names[m.database] {
			serving = append(serving, region)
		}
	}
	var newest *replication.Primary
	var where string
	for _, region := range m.regions {
		rctx, cancel := context.WithTimeout(ctx, budget)
		p, found, err := replication.ReadPrimary(rctx, m.stores[region], m.database)
		cancel()
		if err != nil || !found {
			continue
		}
		if newest == nil || p.Since.After(newest.Since) {
			newest, where = &p, region
		}
	}
	switch {
	case len(serving) != 1:
		return fmt.Errorf("monitor: %s is attached in %d regions %v, want exactly one (unreadable: %v)", m.database, len(serving), serving, unreadable)
	case newest == nil:
		return fmt.Errorf("monitor: no bucket records a primary for %s; %s serves it", m.database, serving[0])
	case newest.Region != serving[0]:
		return fmt.Errorf("monitor: %s serves %s but primary.json (newest, in %s's bucket, since %s) says %s",
			serving[0], m.database, where, newest.Since.Format(time.RFC3339Nano), newest.Region)
	}
	return nil
}
