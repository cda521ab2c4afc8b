package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
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
// every failover to it), and the branch's root path holds no blob; it reads To's watermark
// record and milestones. It reads only To's bucket. Errors name the field.
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
	if l, err := store.List(ctx, check.BranchRoot+"/"); err != nil {
		return check, storeError(in.To, err)
	} else if len(l.Objects) > 0 {
		return check, invalid(fmt.Errorf("to: the branch's root path %s in %s's bucket holds %d blobs already (e.g. %s): a drill never reuses a branch; remove them or start again a second later",
			check.BranchRoot, in.To, len(l.Objects), l.Objects[0].Key))
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
	if err := stillReplica(ctx, store, in.Database, in.Region); err != nil {
		return BranchReport{}, err
	}
	var mu sync.Mutex
	var beat branchHeartbeat
	defer heartbeatEverySecond(ctx, func() any { mu.Lock(); defer mu.Unlock(); return beat })()
	info := activity.GetInfo(ctx)
	alive, stopWatch := r.heartbeat.watch(info.TaskToken, info.HeartbeatTimeout)
	defer stopWatch()

	plan, err := replication.PlanBranch(ctx, store, db.RootPath, in.Record, r.cfg.Replication.Exclude)
	if err != nil {
		return BranchReport{}, storeError(in.Region, err)
	}
	mu.Lock()
	beat.Planned = int64(len(plan.Objects))
	mu.Unlock()
	done, err := replication.CopyBranch(ctx, store, plan.Objects, db.RootPath, in.BranchRoot, r.cfg.Replication.Concurrency, alive,
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

// ErrDrillClaimed is the error type of RecordDrill's claim when another drill has the id.
const ErrDrillClaimed = "DrillClaimed"

// ErrPrimaryChanged is the error type of a drill whose region became the primary (a failover
// to it) before its branch was copied: the replica is the database now, and its folder is no
// longer a replicated prefix.
const ErrPrimaryChanged = "PrimaryChanged"

// stillReplica refuses to branch a region that the buckets' record names the primary.
func stillReplica(ctx context.Context, store *objectstore.Client, db, region string) error {
	p, found, err := replication.ReadPrimary(ctx, store, db)
	if err != nil {
		return storeError(region, err)
	}
	if found && p.Region == region {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s became the primary of %s at %s (%s): a drill branches a replica, and %s is not one any more",
			region, db, p.Since.UTC().Format(time.RFC3339), p.By, region), ErrPrimaryChanged, nil)
	}
	return nil
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
	// Claim: the drill's first report, written only if no other drill has this id.
	Claim bool `json:"claim,omitempty"`
}

// RecordDrill writes a drill's report to .bdr/<db>/drills/<id>.json in the drill's region's
// bucket; a later report of the same drill replaces it. With Claim (its first report) it
// writes only if no other workflow recorded a drill with the same id: two drills started in
// the same second would share a branch. It is idempotent.
func (r *Replicator) RecordDrill(ctx context.Context, rec DrillRecord) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, store, err := r.regionStore(rec.Database, rec.Region)
	if err != nil {
		return err
	}
	if !rec.Claim {
		err = replication.WriteDrill(ctx, store, rec.Database, rec.ID, rec.Report)
	} else if err = replication.ClaimDrill(ctx, store, rec.Database, rec.ID, activity.GetInfo(ctx).WorkflowExecution.ID, rec.Report); errors.Is(err, replication.ErrDrillClaimed) {
		return temporal.NewNonRetryableApplicationError(err.Error(), ErrDrillClaimed, err)
	}
	if err != nil {
		return storeError(rec.Region, err)
	}
	return nil
}
