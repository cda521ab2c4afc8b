package monitor

import (
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

const testDB = "bottomless_db"

// state builds a region's sample: attached says whether testDB is attached (nil: the stand-in
// could not be read), locks are the lock keys in its bucket.
func state(attached *bool, locks ...string) regionSample {
	rs := regionSample{storeOK: true, locks: map[string]bool{}}
	for _, l := range locks {
		rs.locks[l] = true
	}
	if attached != nil {
		rs.dbOK = true
		rs.attached = map[string]bool{testDB: *attached}
	}
	return rs
}

var yes, no = new(bool), new(bool)

func init() { *yes = true }

func newTestMonitor(t *testing.T, opts ...Option) *Monitor {
	m := &Monitor{t: t, database: testDB, regions: []string{"primary", "secondary"},
		dbs:       map[string]*sql.DB{"primary": nil, "secondary": nil}, // each region has a stand-in
		lockOwner: map[string]lockOwner{}, primary: map[string]replication.Primary{}}
	for _, o := range opts {
		o(m)
	}
	return m
}

// feed runs check over a sequence of samples, each a pair (primary, secondary).
func feed(m *Monitor, samples ...[2]regionSample) {
	var prev *sample
	at := time.Now()
	for _, rs := range samples {
		cur := &sample{at: at, regions: map[string]regionSample{"primary": rs[0], "secondary": rs[1]}}
		m.check(prev, cur)
		prev, at = cur, at.Add(100*time.Millisecond)
	}
}

func whats(r Report) string {
	var s []string
	for _, v := range r.Violations {
		s = append(s, v.What)
	}
	return strings.Join(s, "\n")
}

func TestAttachedInTwoRegionsIsReportedOncePerEpisode(t *testing.T) {
	m := newTestMonitor(t)
	feed(m,
		[2]regionSample{state(yes), state(no)},
		[2]regionSample{state(yes), state(yes)}, // starts
		[2]regionSample{state(yes), state(yes)}, // lasts: not again
		[2]regionSample{state(nil), state(yes)}, // primary unreadable: not a violation
		[2]regionSample{state(no), state(yes)},
		[2]regionSample{state(yes), state(yes)}, // again
	)
	r := m.Report()
	if r.Samples != 6 || r.Unreadable != 1 || len(r.Violations) != 2 || !strings.Contains(r.Violations[0].What, "attached in two regions at once: primary, secondary") {
		t.Fatalf("report %+v:\n%s", r, whats(r))
	}

	u := newTestMonitor(t, Unplanned())
	feed(u, [2]regionSample{state(yes), state(yes)})
	if r := u.Report(); len(r.Violations) != 0 {
		t.Errorf("unplanned: %s", whats(r))
	}
}

func TestLockRemovedUnderItsOwner(t *testing.T) {
	const lock = "bottomless_db_folder/00000001-ab/storage_locks/1_1"
	for _, tc := range []struct {
		name   string
		before regionSample
		after  regionSample
		want   bool
	}{
		{"owner stayed attached", state(yes, lock), state(yes), true},
		{"owner detached (a DETACH releases its lock)", state(yes, lock), state(no), false},
		{"owner was not attached", state(no, lock), state(no), false},
		{"owner unreadable", state(yes, lock), state(nil), false},
		{"lock still there", state(yes, lock), state(yes, lock), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newTestMonitor(t)
			m.lockOwner[lock] = lockOwner{region: "primary", database: testDB}
			feed(m, [2]regionSample{tc.before, state(no)}, [2]regionSample{tc.after, state(no)})
			r := m.Report()
			if got := len(r.Violations) == 1 && strings.Contains(r.Violations[0].What, "removed while its owner"); got != tc.want || len(r.Violations) > 1 {
				t.Errorf("violations:\n%s\nwant a lock violation: %v", whats(r), tc.want)
			}
		})
	}

	// The owner is read from the lock, not assumed from the bucket: a lock in the secondary's
	// bucket held by the primary's server counts against the primary's attachment.
	m := newTestMonitor(t)
	m.lockOwner[lock] = lockOwner{region: "primary", database: testDB}
	feed(m, [2]regionSample{state(yes), state(no, lock)}, [2]regionSample{state(yes), state(no)})
	if r := m.Report(); len(r.Violations) != 1 {
		t.Errorf("lock of the primary's server in the secondary's bucket: %s", whats(r))
	}
}
