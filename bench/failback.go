package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/stores"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// failbackCopiedTarget is the failback's goal (issue text): replicating back writes into the
// returning region at most this many bytes per byte the secondary wrote while it was the
// primary, i.e. it copies what changed, not the database.
const failbackCopiedTarget = 1.05

// failbackTail is how many commits the primary makes while cut off from the worker: the tail
// the unplanned failover loses and the failback keeps as a recovered branch. A fixed, small
// count: the run measures the copy back, the tail only has to exist.
const failbackTail = 100

// failbackTimeout bounds the failback (its wait for the region included), so that one that
// never ends is a failed run in the report instead of a bench that never ends.
const failbackTimeout = 30 * time.Minute

// failbackDatabase is the database failed over and failed back.
var failbackDatabase = config.Database{Name: "failback_db", RootPath: "failback_db"}

// failbackResult is one failback's measured figures: what it recovered, what it copied back
// against what changed, and its switchback.
type failbackResult struct {
	Commits int `json:"commits"` // in the database before the primary was cut off, one log blob each
	// TailCommits were committed in the primary while it was cut off (lost by the failover);
	// NewInSecondary in the secondary after the failover (what replicating back must copy).
	TailCommits    int `json:"tailCommits"`
	NewInSecondary int `json:"newInSecondary"`
	// FailoverRTOSeconds and FailoverRPOSeconds are the unplanned failover's, before the failback.
	FailoverRTOSeconds float64 `json:"failoverRtoSeconds"`
	FailoverRPOSeconds float64 `json:"failoverRpoSeconds"`
	// TailBlobs and TailBytes are the tail the failback found in the primary's folder.
	TailBlobs int64 `json:"tailBlobs"`
	TailBytes int64 `json:"tailBytes"`
	// RecoverSeconds is the step that built the recovered branch (in the secondary's bucket);
	// RecoveredBlobs what it holds, RecoveredCrossed and RecoveredCrossedBytes the tail copied
	// across regions (the rest are server-side copies).
	RecoverSeconds        float64 `json:"recoverSeconds"`
	RecoveredName         string  `json:"recoveredName,omitempty"`
	RecoveredBlobs        int64   `json:"recoveredBlobs"`
	RecoveredCrossed      int64   `json:"recoveredCrossed"`
	RecoveredCrossedBytes int64   `json:"recoveredCrossedBytes"`
	// CopiedBack* is what the failback says replicating back (its catch-up, before the
	// switchback) wrote into the primary's store, WrittenSinceFailover what it says the
	// secondary had written after the failover by then, DatabaseBytes the secondary's folder.
	CopiedBackObjects    int64 `json:"copiedBackObjects"`
	CopiedBackBytes      int64 `json:"copiedBackBytes"`
	WrittenSinceFailover int64 `json:"writtenSinceFailoverBytes"`
	DatabaseBytes        int64 `json:"databaseBytes"`
	FullCopy             bool  `json:"fullCopy,omitempty"`
	// The same counted at the stores, as the e2e test counts them: PutIntoPrimaryBytes is the
	// bodies of the replication's PUTs under the database's folder that the request recorder
	// saw reach the primary's store during the whole failback, SecondaryWroteBytes what the
	// secondary's folder holds written after the failover (storage locks aside), listed after
	// the failback. Both include the switchback's DETACH in the secondary (its snapshot), which
	// the switchback's drain copies back; the failback's own figures end before it.
	PutIntoPrimaryBytes int64 `json:"putIntoPrimaryBytes"`
	SecondaryWroteBytes int64 `json:"secondaryWroteBytes"`
	// CopiedOverWritten is CopiedBackBytes / WrittenSinceFailover, PutOverWrote
	// PutIntoPrimaryBytes / SecondaryWroteBytes (0 when the stores could not be counted); the
	// target judges the larger, so that neither count can hide the other. CopiedOverDatabase
	// is CopiedBackBytes / DatabaseBytes (what a full copy would be: 1).
	CopiedOverWritten  float64 `json:"copiedOverWritten"`
	PutOverWrote       float64 `json:"putOverWrote"`
	CopiedOverDatabase float64 `json:"copiedOverDatabase"`
	// Switchback* is the planned switchover back to the primary.
	SwitchbackRTOSeconds float64 `json:"switchbackRtoSeconds"`
	SwitchbackRPOSeconds float64 `json:"switchbackRpoSeconds"`
	SwitchedBack         bool    `json:"switchedBack"`
	// FailbackSeconds is bdr failback's wall time, from its start to its result.
	FailbackSeconds float64 `json:"failbackSeconds"`
	// Counted is what the live database counted in the primary after the switchback (want
	// Commits+NewInSecondary), RecoveredCounted what the recovered branch counted (want
	// Commits+TailCommits).
	Counted          int64            `json:"counted"`
	RecoveredCounted int64            `json:"recoveredCounted"`
	CopiedTarget     float64          `json:"copiedTarget"`
	SwitchbackTarget float64          `json:"switchbackTargetSeconds"`
	Steps            []workflows.Step `json:"steps"`
	Error            string           `json:"error,omitempty"`
}

// runFailback measures a failback (bdr failback --switchback) of a stand-in database of
// `commits` single-row commits replicated to the secondary, on a stack of its own with the
// fault layer: the primary is cut off from the worker, commits a tail the unplanned failover
// then loses, the secondary commits newInB rows as the primary, the primary comes back and
// the failback recovers the tail, replicates back and switches back. The error is for a
// failback that could not be set up; a failback that ran and failed is a result with its error.
func runFailback(ctx context.Context, commits, newInB int) (*failbackResult, error) {
	s, err := startReplicatedWith(ctx, "failback", stack.Options{Faults: true, RecordStoreRequests: true}, []config.Database{failbackDatabase}, commits)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res := &failbackResult{Commits: commits, TailCommits: failbackTail, NewInSecondary: newInB,
		CopiedTarget: failbackCopiedTarget, SwitchbackTarget: plannedRTOTarget.Seconds()}
	if err := s.failOver(ctx, res); err != nil {
		return nil, err
	}
	logf("failback: committing %d rows into the secondary as the primary, then healing the primary region", newInB)
	if err := commitInto(ctx, s.Standin["secondary"], commits+failbackTail, newInB); err != nil {
		return nil, fmt.Errorf("failback bench: the secondary's writes: %w", err)
	}
	if err := s.Faults.HealAll(); err != nil {
		return nil, fmt.Errorf("failback bench: heal the primary region: %w", err)
	}
	s.failBack(ctx, res)
	return res, nil
}

// failOver cuts the primary region (store and database) off from the worker, commits the tail
// into the primary's database over its own DSN (past the fault layer: it goes on writing into
// its bucket, as a region that lost only its link to the rest would) and fails over unplanned.
func (s *replicated) failOver(ctx context.Context, res *failbackResult) error {
	for _, target := range []stack.Target{stack.StoreOf("primary"), stack.DatabaseOf("primary")} {
		if err := s.Faults.Cut(target); err != nil {
			return fmt.Errorf("failback bench: cut the primary region: %w", err)
		}
	}
	logf("failback: the primary is cut off; committing a tail of %d rows into it", failbackTail)
	if err := commitInto(ctx, s.Standin["primary"], res.Commits, failbackTail); err != nil {
		return fmt.Errorf("failback bench: the primary's tail: %w", err)
	}
	logf("failback: unplanned failover of %s", failbackDatabase.Name)
	out, err := s.Bdr(ctx, "--json", "failover", failbackDatabase.Name, "--mode", workflows.ModeUnplanned)
	if err != nil {
		return fmt.Errorf("failback bench: %w", err)
	}
	var fr workflows.FailoverResult
	if err := json.Unmarshal(out, &fr); err != nil {
		return fmt.Errorf("failback bench: failover result: %w: %s", err, out)
	}
	res.FailoverRTOSeconds, res.FailoverRPOSeconds = fr.RTOSeconds, fr.RPOSeconds
	return nil
}

// failBack runs bdr failback with switchback, timed, and fills res from its result; what went
// wrong is res.Error.
func (s *replicated) failBack(ctx context.Context, res *failbackResult) {
	ctx, cancel := context.WithTimeout(ctx, failbackTimeout)
	defer cancel()
	logf("failback: failback of %s from secondary to primary, with switchback", failbackDatabase.Name)
	mark, markSecondary, began := s.StoreRequestCount("primary"), s.StoreRequestCount("secondary"), time.Now()
	out, runErr := s.Bdr(ctx, "--json", "failback", failbackDatabase.Name, "--from", "secondary", "--to", "primary", "--switchback")
	elapsed := time.Since(began)
	res.PutIntoPrimaryBytes = putBytes(s.StoreRequestsSince("primary", mark), failbackDatabase.RootPath+"/")
	var fr workflows.FailbackResult
	if err := json.Unmarshal(out, &fr); err != nil {
		// No result: the failback failed (the error says why) or bdr printed something else.
		if runErr != nil {
			res.Error = runErr.Error()
		} else {
			res.Error = fmt.Sprintf("%v: %s", err, out)
		}
		return
	}
	res.FailbackSeconds = elapsed.Seconds()
	res.fill(fr)
	if runErr != nil && res.Error == "" {
		res.Error = runErr.Error() // a result printed, and an exit status that says it failed
	}
	if err := s.countWrites(ctx, res, fr.FailoverAt, markSecondary); err != nil {
		logf("failback: %v (the copy back is judged on the failback's own figures)", err)
	}
	if res.Error == "" {
		res.Error = s.count(ctx, res)
	}
}

// fill copies the failback's figures into res and says, as res.Error, what it left undone.
func (res *failbackResult) fill(fr workflows.FailbackResult) {
	res.TailBlobs, res.TailBytes = fr.Tail.Objects, fr.Tail.Bytes
	res.RecoverSeconds = stepSeconds(fr.Steps, "recover "+fr.To+"'s tail")
	if rec := fr.Recovered; rec != nil {
		res.RecoveredName, res.RecoveredBlobs, res.RecoveredCrossed, res.RecoveredCrossedBytes = rec.Name, rec.Objects, rec.Crossed, rec.CrossedBytes
	}
	res.CopiedBackObjects, res.CopiedBackBytes, res.FullCopy = fr.CopiedBackObjects, fr.CopiedBackBytes, fr.FullCopy
	res.WrittenSinceFailover, res.DatabaseBytes = fr.WrittenSinceFailover, fr.DatabaseBytes
	if res.WrittenSinceFailover > 0 {
		res.CopiedOverWritten = float64(res.CopiedBackBytes) / float64(res.WrittenSinceFailover)
	}
	if res.DatabaseBytes > 0 {
		res.CopiedOverDatabase = float64(res.CopiedBackBytes) / float64(res.DatabaseBytes)
	}
	if sb := fr.Switchback; sb != nil {
		res.SwitchedBack, res.SwitchbackRTOSeconds, res.SwitchbackRPOSeconds = true, sb.RTOSeconds, sb.RPOSeconds
	}
	res.Steps = fr.Steps
	switch {
	case fr.Recovered == nil || !fr.Recovered.Attached:
		res.Error = fmt.Sprintf("no recovered branch attached for a tail of %d commits", res.TailCommits)
	case !res.SwitchedBack:
		res.Error = "the failback did not switch back"
	}
}

// count counts the rows of the live database (in the primary again) and of the recovered
// branch (in the secondary), so that a fast failback that lost rows cannot pass for a fast
// failback; it returns what did not add up, or "".
func (s *replicated) count(ctx context.Context, res *failbackResult) string {
	live, err := countRows(ctx, s.Standin["primary"], failbackDatabase.Name)
	if err != nil {
		return "count the live database: " + err.Error()
	}
	recovered, err := countRows(ctx, s.Standin["secondary"], res.RecoveredName)
	if err != nil {
		return "count the recovered branch: " + err.Error()
	}
	res.Counted, res.RecoveredCounted = live, recovered
	if want := int64(res.Commits + res.NewInSecondary); live != want {
		return fmt.Sprintf("the live database counted %d rows in the primary, want %d", live, want)
	}
	if want := int64(res.Commits + res.TailCommits); recovered != want {
		return fmt.Sprintf("the recovered branch counted %d rows, want %d", recovered, want)
	}
	return ""
}

// countWrites counts, at the stores, what the secondary wrote after the failover and what
// replication copied into the primary during the failback (res.PutIntoPrimaryBytes, noted
// already), and their ratio. What replicating forward copied into the secondary after the
// switchback (copied, listed since secondaryMark) is the primary's, not the secondary's.
func (s *replicated) countWrites(ctx context.Context, res *failbackResult, failoverAt time.Time, secondaryMark int) error {
	forward := map[string]bool{}
	for _, r := range stack.Writes(s.StoreRequestsSince("secondary", secondaryMark), workflows.ReplicateName+"/Sync", "") {
		forward[r.Key] = true
	}
	c, err := stores.Client(s.MinIO["secondary"], s.Config.Regions["secondary"].ObjectStore.Bucket)
	if err != nil {
		return fmt.Errorf("count the secondary's writes: %w", err)
	}
	l, err := c.List(ctx, failbackDatabase.RootPath+"/")
	if err != nil {
		return fmt.Errorf("count the secondary's writes: %w", err)
	}
	for _, o := range l.Objects {
		if o.LastModified.After(failoverAt) && !strings.Contains(o.Key, "/storage_locks/") && !forward[o.Key] {
			res.SecondaryWroteBytes += o.Size
		}
	}
	if res.SecondaryWroteBytes > 0 {
		res.PutOverWrote = float64(res.PutIntoPrimaryBytes) / float64(res.SecondaryWroteBytes)
	}
	return nil
}

// putBytes sums the bodies of the replication's PUTs under prefix among reqs: what it wrote
// into a store, counted at the store rather than by the writer. The database's own writes
// (after the switchback) and bdr's records are not copies.
func putBytes(reqs []stack.StoreRequest, prefix string) int64 {
	return stack.BodyBytes(stack.Writes(reqs, workflows.ReplicateName+"/Sync", prefix))
}

// commitInto commits n single-row inserts, ids from first on, into the failback database on a
// region's stand-in, over its own DSN (past the fault layer).
func commitInto(ctx context.Context, db *stack.Standin, first, n int) error {
	conn, err := sql.Open("mysql", db.DSN(""))
	if err != nil {
		return err
	}
	defer conn.Close()
	return commitRows(ctx, conn, failbackDatabase.Name, first, n)
}

// countRows counts the rows of database's table t on a region's stand-in.
func countRows(ctx context.Context, db *stack.Standin, database string) (int64, error) {
	conn, err := sql.Open("mysql", db.DSN(""))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	var n int64
	if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM %s.t", database)).Scan(&n); err != nil {
		return 0, fmt.Errorf("%s: %w", database, err)
	}
	return n, nil
}

// stepSeconds is the time of the step named name, 0 when there is none.
func stepSeconds(steps []workflows.Step, name string) float64 {
	for _, st := range steps {
		if st.Name == name {
			return st.Seconds
		}
	}
	return 0
}

// failbackTable is the failback's part of the table on stdout.
func failbackTable(r *failbackResult) string {
	var b []byte
	b = fmt.Appendf(b, "\nfailback of a database of %d commits after %d new in secondary (stand-in, default settings; a tail of %d commits lost by the unplanned failover)\n",
		r.Commits, r.NewInSecondary, r.TailCommits)
	if r.Error != "" {
		b = fmt.Appendf(b, "  FAILED: %s\n", r.Error)
		if len(r.Steps) == 0 {
			return string(b) // no result: nothing was measured
		}
	}
	b = append(b, copiedBackLines(r)...)
	b = fmt.Appendf(b, "  %-12s %6.2fs to build the branch %s: %d blobs (%d crossed regions, %s); the tail %d blobs, %s\n",
		"recovered", r.RecoverSeconds, r.RecoveredName, r.RecoveredBlobs, r.RecoveredCrossed, amount(r.RecoveredCrossedBytes), r.TailBlobs, amount(r.TailBytes))
	if r.SwitchedBack {
		b = fmt.Appendf(b, "  %-12s RTO %6.2fs (target < %.0fs: %s), RPO %.2fs\n", "switchback", r.SwitchbackRTOSeconds, r.SwitchbackTarget,
			verdict(r.SwitchbackRTOSeconds, r.SwitchbackTarget), r.SwitchbackRPOSeconds)
	}
	b = fmt.Appendf(b, "  %-12s %6.2fs (bdr failback, from its start to its result); rows: %d live in primary, %d in the recovered branch\n",
		"whole", r.FailbackSeconds, r.Counted, r.RecoveredCounted)
	b = fmt.Appendf(b, "  %-12s RTO %6.2fs, RPO %.2fs (the unplanned failover before it)\n", "failover", r.FailoverRTOSeconds, r.FailoverRPOSeconds)
	for _, st := range r.Steps {
		b = fmt.Appendf(b, "      %-44s %6.2fs\n", st.Name, st.Seconds)
	}
	return string(b)
}

// amount is a byte count in KiB below a MiB, in MiB above: log blobs are small, and a figure
// of 0.04 MiB says less than one of 43.1 KiB.
func amount(n int64) string {
	if n < 1<<20 {
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%.1f MiB", mib(n))
}

// copiedBackLines are the copy back's lines: its judged figure, then the two counts it is
// the larger of.
func copiedBackLines(r *failbackResult) string {
	if r.WrittenSinceFailover == 0 {
		return fmt.Sprintf("  %-12s n/a (the failback reports nothing written since the failover)\n", "copied back")
	}
	judged := r.copiedRatio()
	counted := "n/a (the stores could not be counted)"
	if r.SecondaryWroteBytes > 0 {
		counted = fmt.Sprintf("%s PUT into primary by replication / %s in secondary's folder written since the failover: %.2fx",
			amount(r.PutIntoPrimaryBytes), amount(r.SecondaryWroteBytes), r.PutOverWrote)
	}
	return fmt.Sprintf("  %-12s %.2fx what the secondary wrote since the failover (target <= %.2fx: %s), the larger of\n", "copied back",
		judged, r.CopiedTarget, verdictAtMost(judged, r.CopiedTarget)) +
		fmt.Sprintf("      the failback's report:  %d blobs, %s / %s written: %.2fx; %.3fx of the database's %s%s\n",
			r.CopiedBackObjects, amount(r.CopiedBackBytes), amount(r.WrittenSinceFailover), r.CopiedOverWritten,
			r.CopiedOverDatabase, amount(r.DatabaseBytes), fullCopy(r.FullCopy)) +
		fmt.Sprintf("      the stores' count:      %s (the switchback's drain included)\n", counted)
}

func fullCopy(full bool) string {
	if full {
		return " (a full copy: the primary's folder held nothing)"
	}
	return ""
}

// verdictAtMost is a figure against a ceiling it may reach, as the RTO lines say it.
func verdictAtMost(got, limit float64) string {
	if got <= limit {
		return "met"
	}
	return "MISSED"
}

// copiedRatio is the copy back's figure for its target: the larger of the failback's own and
// the stores' count, when they were counted.
func (f *failbackResult) copiedRatio() float64 {
	return max(f.CopiedOverWritten, f.PutOverWrote)
}

// failbackTargets judges the failback: its copy back against what changed, and its switchback
// against the planned RTO target (it is a planned switchover). A failback that failed before
// replicating back, or before switching back, did not measure that figure: n/a, not a miss;
// one that lost rows or failed later misses both, however fast or small its copy.
func failbackTargets(f *failbackResult) []target {
	copied, switched := f.WrittenSinceFailover > 0, f.SwitchedBack
	return []target{
		{Name: "failback copied back / written", Want: fmt.Sprintf("<= %.2fx", f.CopiedTarget),
			Measured: f.copiedRatio(), Pass: f.Error == "" && copied && f.copiedRatio() <= f.CopiedTarget, Missing: !copied},
		{Name: "failback switchback RTO (s)", Want: fmt.Sprintf("< %.0fs", f.SwitchbackTarget),
			Measured: f.SwitchbackRTOSeconds, Pass: f.Error == "" && switched && f.SwitchbackRTOSeconds < f.SwitchbackTarget, Missing: !switched},
	}
}
