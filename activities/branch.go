package activities

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// The object-store half of a DR drill (workflows.TestFailover): every activity here reads or
// writes the drill's region's bucket only. A drill sends no request to the primary region.

// DrillCheckInput names a drill to check before it branches anything.
type DrillCheckInput struct {
	Database   string `json:"database"`
	To         string `json:"to"`
	Stamp      string `json:"stamp"` // the drill's <yyyymmddhhmmss>
	WorkflowID string `json:"workflowId"`
}

// DrillCheck is what a drill branches: the replica's watermark record as one version, and
// what the replica holds besides (milestones, the users and grants snapshot).
type DrillCheck struct {
	RootPath   string                 `json:"rootPath"`
	BranchRoot string                 `json:"branchRoot"`
	Record     replication.RecordView `json:"record"`
	Copy       CopyState              `json:"copy"`
	Retention  time.Duration          `json:"retention"` // how far back an attach at a time can go
}

// CheckDrill checks a drill's input against the configuration and To's bucket, changing
// nothing: the database and region exist, To is not the recorded primary (its bucket records
// every failover to it), To holds a replicated copy, and the branch's root path is free. It
// reads only To's bucket. Errors name the field.
func (r *Replicator) CheckDrill(ctx context.Context, in DrillCheckInput) (DrillCheck, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return DrillCheck{}, invalid(err)
	}
	store, ok := r.stores[in.To]
	if !ok {
		_, err := r.cfg.Region(in.To)
		return DrillCheck{}, invalid(fmt.Errorf("to: %s", strings.TrimPrefix(err.Error(), "region: ")))
	}
	check := DrillCheck{RootPath: db.RootPath, BranchRoot: replication.BranchRoot(db.RootPath, "drill", in.Stamp), Retention: r.cfg.Failover.Retention}
	if err := r.checkBranchRoot(check.BranchRoot); err != nil {
		return check, invalid(err)
	}
	p, found, err := replication.ReadPrimary(ctx, store, in.Database)
	if err != nil {
		return check, storeError(in.To, err)
	}
	if found && p.Region == in.To {
		return check, invalid(fmt.Errorf("to: %s is the primary of %s (since %s): a drill attaches a copy of the replica, in the region a failover would go to",
			in.To, in.Database, p.Since.UTC().Format(time.RFC3339)))
	}
	var earlier struct {
		WorkflowID string `json:"workflowId"`
	}
	if found, err := replication.ReadDrill(ctx, store, in.Database, in.Stamp, &earlier); err != nil {
		return check, storeError(in.To, err)
	} else if found && earlier.WorkflowID != in.WorkflowID {
		return check, invalid(fmt.Errorf("to: drill %s of %s is recorded already, by %s: start again a second later", in.Stamp, in.Database, earlier.WorkflowID))
	}
	if check.Record, check.Copy.WatermarkFound, err = replication.ReadRecordView(ctx, store, in.Database); err != nil {
		return check, storeError(in.To, err)
	}
	check.Copy.Watermark = check.Record.Time
	if check.Copy.Milestones, err = replication.ListMilestones(ctx, store, in.Database); err != nil {
		return check, storeError(in.To, err)
	}
	return check, nil
}

// checkBranchRoot refuses a branch root path that is, or holds, or lies in a configured
// database's root path: deleting the branch must never delete a database.
func (r *Replicator) checkBranchRoot(branch string) error {
	for _, d := range r.cfg.Databases {
		if d.RootPath == branch || strings.HasPrefix(d.RootPath, branch+"/") || strings.HasPrefix(branch, d.RootPath+"/") {
			return fmt.Errorf("database: the branch's root path %q would overlap database %s's root path %q", branch, d.Name, d.RootPath)
		}
	}
	return nil
}

// BranchInput names a drill's branch in a region's bucket and the record it copies.
type BranchInput struct {
	Database   string                 `json:"database"`
	Region     string                 `json:"region"`
	BranchRoot string                 `json:"branchRoot"`
	Record     replication.RecordView `json:"record"`
}

// branchHeartbeat is what BranchCopy's heartbeats show: its progress.
type branchHeartbeat struct {
	Planned int64 `json:"planned"`
	Copied  int64 `json:"copied"`
	Resumed int64 `json:"resumed"`
}

// BranchCopy copies the replica's sealed view at the record's watermark (every blob at or
// before it, no storage lock) into the branch's root path, with server-side copies,
// replication.concurrency at a time. It changes nothing in the replica, so replication goes
// on meanwhile. A retry after a crash skips what an earlier attempt copied.
func (r *Replicator) BranchCopy(ctx context.Context, in BranchInput) (BranchReport, error) {
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return BranchReport{}, err
	}
	if err := r.checkBranchRoot(in.BranchRoot); err != nil {
		return BranchReport{}, invalid(err)
	}
	var mu sync.Mutex
	var beat branchHeartbeat
	defer heartbeatEverySecond(ctx, func() any { mu.Lock(); defer mu.Unlock(); return beat })()

	plan, err := replication.PlanBranch(ctx, store, db.RootPath, in.Record, r.cfg.Replication.Exclude)
	if err != nil {
		return BranchReport{}, storeError(in.Region, err)
	}
	mu.Lock()
	beat.Planned = int64(len(plan.Objects))
	mu.Unlock()
	done, err := replication.CopyBranch(ctx, store, plan.Objects, db.RootPath, in.BranchRoot, r.cfg.Replication.Concurrency,
		func(p replication.BranchProgress) {
			mu.Lock()
			beat.Copied, beat.Resumed = p.Copied, p.Present
			mu.Unlock()
		})
	rep := BranchReport{Objects: int64(len(plan.Objects)), Bytes: plan.Bytes, Copied: done.Copied, Resumed: done.Present,
		Checked: plan.Checked, Beyond: plan.Beyond}
	if err != nil {
		return rep, storeError(in.Region, err)
	}
	return rep, nil
}

// DeleteBranch deletes every blob under the branch's root path and returns how many. It is
// idempotent; a branch that is still attached must be detached first.
func (r *Replicator) DeleteBranch(ctx context.Context, in BranchInput) (int64, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return 0, err
	}
	if err := r.checkBranchRoot(in.BranchRoot); err != nil {
		return 0, invalid(err)
	}
	n, err := replication.DeleteBranch(ctx, store, db.RootPath, in.BranchRoot, r.cfg.Replication.Concurrency)
	if err != nil {
		return n, storeError(in.Region, err)
	}
	return n, nil
}

// DrillRecord is a drill's report to record in its region's bucket.
type DrillRecord struct {
	Database string          `json:"database"`
	Region   string          `json:"region"`
	ID       string          `json:"id"`
	Report   json.RawMessage `json:"report"`
}

// RecordDrill writes a drill's report to .bdr/<db>/drills/<id>.json in the drill's region's
// bucket; a later report of the same drill replaces it. It is idempotent.
func (r *Replicator) RecordDrill(ctx context.Context, rec DrillRecord) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, store, err := r.regionStore(rec.Database, rec.Region)
	if err != nil {
		return err
	}
	if err := replication.WriteDrill(ctx, store, rec.Database, rec.ID, rec.Report); err != nil {
		return storeError(rec.Region, err)
	}
	return nil
}
