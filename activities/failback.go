package activities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// The object-store half of a failback (workflows.Failback, DESIGN 5.5): the primary is the
// region failed over to, the returning region the one failed over from.

// FailbackCheckInput names a failback to check.
type FailbackCheckInput struct {
	Database string `json:"database"`
	From     string `json:"from"` // the current primary
	To       string `json:"to"`   // the region coming back
}

// FailbackCheck is what a failback works from: the primary record an unplanned failover wrote.
type FailbackCheck struct {
	RootPath string              `json:"rootPath"`
	Primary  replication.Primary `json:"primary"`
}

// CheckFailback checks a failback's input against the configuration and the primary's
// bucket, changing nothing: the names exist, From is the recorded primary and a failover made
// it so. Only From's bucket is read: To may not answer yet. Errors name the field.
func (r *Replicator) CheckFailback(ctx context.Context, in FailbackCheckInput) (FailbackCheck, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return FailbackCheck{}, invalid(err)
	}
	for _, side := range []struct{ field, region string }{{"from", in.From}, {"to", in.To}} {
		if _, err := r.cfg.Region(side.region); err != nil {
			return FailbackCheck{}, invalid(fmt.Errorf("%s: %s", side.field, strings.TrimPrefix(err.Error(), "region: ")))
		}
	}
	p, found, err := replication.ReadPrimary(ctx, r.stores[in.From], in.Database)
	if err != nil {
		return FailbackCheck{}, storeError(in.From, err)
	}
	switch {
	case !found:
		return FailbackCheck{}, invalid(fmt.Errorf("from: %s's bucket records no primary of %s: there is no failover to fail back from", in.From, in.Database))
	case p.Region != in.From:
		return FailbackCheck{}, invalid(fmt.Errorf("from: the primary of %s is %s (recorded %s by %s), not %s",
			in.Database, p.Region, p.Since.UTC().Format(time.RFC3339), p.By, in.From))
	case !strings.HasPrefix(p.By, "failover/"):
		return FailbackCheck{}, invalid(fmt.Errorf("from: %s became the primary of %s without a failover (recorded by %q): there is nothing to fail back",
			in.From, in.Database, p.By))
	}
	return FailbackCheck{RootPath: db.RootPath, Primary: p}, nil
}

// RecoverInput names the recovered branch to build: the returning region's folder, rebuilt in
// the primary's bucket under <root>_recovered_<stamp>.
type RecoverInput struct {
	Database  string              `json:"database"`
	Primary   replication.Primary `json:"primary"`   // the record of the failover being failed back
	Returning string              `json:"returning"` // the region coming back
	Stamp     string              `json:"stamp"`     // <yyyymmddhhmmss>, unless an earlier attempt recorded another
}

// Recovered is a recovered branch's record in the primary's bucket (.bdr/<db>/recovered/) and
// what RecoverTail returns: enough for a new worker to finish a failback whose history is
// lost.
type Recovered struct {
	Database   string          `json:"database"`
	Returning  string          `json:"returning"`
	FailoverAt time.Time       `json:"failoverAt"` // the primary record's Since: which failover
	Stamp      string          `json:"stamp"`
	Tail       TailReport      `json:"tail"`
	Branch     RecoveredReport `json:"branch"`
	Complete   bool            `json:"complete"` // every blob is in the branch
}

// RecoverTail finds the returning region's tail (the blobs the primary holds nowhere) and,
// when there is one, rebuilds the returning region's whole folder in the primary's bucket as
// a recovered branch: blobs the primary holds are server-side copies there, the tail crosses
// regions. The branch is recorded before it is built, so a retry (or a new failback, its
// history lost) resumes the same branch instead of starting another; a branch recorded whole
// is returned as it is. An empty tail builds nothing.
func (r *Replicator) RecoverTail(ctx context.Context, in RecoverInput) (Recovered, error) {
	db, primary, err := r.regionStore(in.Database, in.Primary.Region)
	if err != nil {
		return Recovered{}, err
	}
	returning, _, crossing, err := r.pair(in.Returning, in.Primary.Region)
	if err != nil {
		return Recovered{}, err
	}
	var mu sync.Mutex
	var beat replication.RecoveredProgress
	defer heartbeatEverySecond(ctx, func() any { mu.Lock(); defer mu.Unlock(); return beat })()
	rec, found, err := findRecovered(ctx, primary, in)
	if err != nil {
		return Recovered{}, storeError(in.Primary.Region, err)
	}
	if found && rec.Complete {
		return rec, nil
	}
	d, err := replication.FindDivergence(ctx, returning, primary, in.Database, db.RootPath, r.cfg.Replication.Exclude)
	if err != nil {
		return Recovered{}, err
	}
	tail := d.Tail()
	if !found {
		if len(tail) == 0 {
			return Recovered{Database: in.Database, Returning: in.Returning, FailoverAt: in.Primary.Since, Complete: true}, nil
		}
		rec = Recovered{Database: in.Database, Returning: in.Returning, FailoverAt: in.Primary.Since, Stamp: in.Stamp,
			Tail: tailReport(tail)}
		rec.Branch = RecoveredReport{Region: in.Primary.Region, Root: replication.BranchRoot(db.RootPath, "recovered", rec.Stamp)}
		rec.Branch.Objects, rec.Branch.Bytes = replication.Sum(d.Objects)
		if err := replication.WriteRecovered(ctx, primary, in.Database, rec.Stamp, rec); err != nil {
			return rec, storeError(in.Primary.Region, err)
		}
	}
	info := activity.GetInfo(ctx)
	alive, stopWatch := r.heartbeat.watch(info.TaskToken, info.HeartbeatTimeout)
	defer stopWatch()
	p, err := replication.BuildRecovered(ctx, primary, crossing, d, db.RootPath, rec.Branch.Root, r.cfg.Replication.Concurrency, alive,
		func(p replication.RecoveredProgress) { mu.Lock(); beat = p; mu.Unlock() })
	rec.Branch.Within, rec.Branch.Crossed, rec.Branch.CrossedBytes, rec.Branch.Present = p.Within, p.Crossed, p.CrossedBytes, p.Present
	if err != nil {
		return rec, err
	}
	rec.Complete = true
	if err := replication.WriteRecovered(ctx, primary, in.Database, rec.Stamp, rec); err != nil {
		return rec, storeError(in.Primary.Region, err)
	}
	return rec, nil
}

// findRecovered returns the recovered branch recorded for the same failover and returning
// region, if any.
func findRecovered(ctx context.Context, primary replication.Store, in RecoverInput) (Recovered, bool, error) {
	raws, err := replication.ListRecovered(ctx, primary, in.Database)
	if err != nil {
		return Recovered{}, false, err
	}
	for _, raw := range raws {
		var rec Recovered
		if err := json.Unmarshal(raw, &rec); err != nil {
			return Recovered{}, false, fmt.Errorf("recovered branch record of %s: %w", in.Database, err)
		}
		if rec.Returning == in.Returning && rec.FailoverAt.Equal(in.Primary.Since) {
			return rec, true, nil
		}
	}
	return Recovered{}, false, nil
}

func tailReport(tail []objectstore.Object) TailReport {
	n, bytes := replication.Sum(tail)
	oldest, newest := replication.Span(tail)
	return TailReport{Objects: n, Bytes: bytes, OldestWrite: oldest, NewestWrite: newest}
}

// RecordRecoveredAttached records that the recovered branch is attached.
func (r *Replicator) RecordRecoveredAttached(ctx context.Context, rec Recovered) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, primary, err := r.regionStore(rec.Database, rec.Branch.Region)
	if err != nil {
		return err
	}
	rec.Branch.Attached = true
	if err := replication.WriteRecovered(ctx, primary, rec.Database, rec.Stamp, rec); err != nil {
		return storeError(rec.Branch.Region, err)
	}
	return nil
}

// MoveDivergedInput names the returning region whose diverged blobs are moved aside.
type MoveDivergedInput struct {
	Database  string `json:"database"`
	Primary   string `json:"primary"`
	Returning string `json:"returning"`
	ID        string `json:"id"` // the diverged prefix's id: the recovered branch's stamp
}

// MoveDivergedResult says what was moved aside and what the returning region's folder holds
// now.
type MoveDivergedResult struct {
	Moved   int64  `json:"moved"`
	MovedTo string `json:"movedTo"`
	// Left counts the blobs left in the returning region's folder: 0 when its bucket held
	// nothing of the database (replaced), so that replicating back is a full copy.
	Left int64 `json:"left"`
}

// MoveDiverged moves aside, in the returning region's bucket, every blob of its folder the
// primary's folder does not hold identically (under .bdr/<db>/diverged/<id>/, never deleted),
// so that its folder is a prefix of the primary's history and can be its replica. Call it
// only once the recovered branch holds them. It is idempotent.
func (r *Replicator) MoveDiverged(ctx context.Context, in MoveDivergedInput) (MoveDivergedResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, primary, err := r.regionStore(in.Database, in.Primary)
	if err != nil {
		return MoveDivergedResult{}, err
	}
	_, returning, err := r.regionStore(in.Database, in.Returning)
	if err != nil {
		return MoveDivergedResult{}, err
	}
	d, err := replication.FindDivergence(ctx, returning, primary, in.Database, db.RootPath, r.cfg.Replication.Exclude)
	if err != nil {
		return MoveDivergedResult{}, err
	}
	diverged := d.Diverged()
	moved, err := replication.MoveAside(ctx, returning, in.Database, in.ID, diverged, r.cfg.Replication.Concurrency)
	res := MoveDivergedResult{Moved: moved, MovedTo: replication.DivergedPrefix(in.Database, in.ID),
		Left: int64(len(d.Objects) - len(diverged))}
	if err != nil {
		return res, storeError(in.Returning, err)
	}
	return res, nil
}

// WritesInput names a region's folder and a time.
type WritesInput struct {
	Database string    `json:"database"`
	Region   string    `json:"region"`
	Since    time.Time `json:"since"`
}

// Writes is the size of a folder and of what was written to it since a time.
type Writes struct {
	Bytes      int64 `json:"bytes"`
	SinceBytes int64 `json:"sinceBytes"`
}

// MeasureWrites sizes the region's folder and what was written to it since in.Since: after a
// failover, the new primary's folder holds the copies replication made before it and its own
// writes after it.
func (r *Replicator) MeasureWrites(ctx context.Context, in WritesInput) (Writes, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return Writes{}, err
	}
	l, err := store.ListParallel(ctx, db.RootPath+"/")
	if err != nil {
		return Writes{}, storeError(in.Region, err)
	}
	var w Writes
	for _, o := range l.Objects {
		if replication.Excluded(r.cfg.Replication.Exclude, o.Key) {
			continue
		}
		w.Bytes += o.Size
		if o.LastModified.After(in.Since) {
			w.SinceBytes += o.Size
		}
	}
	return w, nil
}

// ErrAlreadyRunning is the error type of StartWorkflow asked to refuse a workflow already
// running.
const ErrAlreadyRunning = "AlreadyRunning"

// StartWorkflowInput names a workflow of a route to start: a replication, or a failback
// (both take {"database","from","to"}).
type StartWorkflowInput struct {
	WorkflowID string `json:"workflowId"`
	Workflow   string `json:"workflow"` // its type name
	Database   string `json:"database"`
	From       string `json:"from"`
	To         string `json:"to"`
	Summary    string `json:"summary,omitempty"` // for the UI; a replication's by default
	// RefuseRunning makes a workflow already running under WorkflowID an error rather than
	// the one asked for: it may be an older one, with another route.
	RefuseRunning bool `json:"refuseRunning,omitempty"`
}

// StartWorkflow starts the workflow on this worker's task queue (a replication as bdr
// replicate start does) and returns its workflow ID. One already running is left as it is.
func (c *Control) StartWorkflow(ctx context.Context, in StartWorkflowInput) (string, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	summary := in.Summary
	if summary == "" {
		summary = fmt.Sprintf("replicate %s: %s → %s", in.Database, in.From, in.To)
	}
	_, err := c.Temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: in.WorkflowID, TaskQueue: activity.GetInfo(ctx).TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
		StaticSummary: summary,
	}, in.Workflow, map[string]string{"database": in.Database, "from": in.From, "to": in.To})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) && in.RefuseRunning {
		return "", temporal.NewNonRetryableApplicationError(fmt.Sprintf("start %s: one is already running, started before", in.WorkflowID), ErrAlreadyRunning, err)
	}
	if errors.As(err, &started) {
		return in.WorkflowID, nil
	}
	if err != nil {
		return "", fmt.Errorf("start %s: %w", in.WorkflowID, err)
	}
	return in.WorkflowID, nil
}

// StopWorkflow cancels a running workflow and waits until it has ended, so that one with the
// same ID can start. A workflow that is not running is left alone. It is idempotent.
func (c *Control) StopWorkflow(ctx context.Context, workflowID string) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	running, err := c.running(ctx, workflowID)
	if err != nil || !running {
		return err
	}
	var nf *serviceerror.NotFound
	if err := c.Temporal.CancelWorkflow(ctx, workflowID, ""); err != nil && !errors.As(err, &nf) {
		return fmt.Errorf("stop %s: %w", workflowID, err)
	}
	for {
		d, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
		if err != nil {
			return fmt.Errorf("stop %s: %w", workflowID, err)
		}
		if d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// CatchUp is what a replication had copied when its initial sync completed.
type CatchUp struct {
	CopiedObjects int64 `json:"copiedObjects"`
	CopiedBytes   int64 `json:"copiedBytes"`
}

// WaitCaughtUp waits until the replication's initial sync is complete (its watermark passed
// the newest source blob there was when it started) and returns what it had copied then.
// in.UpdateName names its status query.
func (c *Control) WaitCaughtUp(ctx context.Context, in StopInput) (CatchUp, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	for {
		h, err := c.QueryReplication(ctx, in)
		if err != nil {
			return CatchUp{}, err
		}
		if h.InitialSync.Complete && h.State != "" && h.State != "starting" {
			return CatchUp{CopiedObjects: h.CopiedObjects, CopiedBytes: h.CopiedBytes}, nil
		}
		select {
		case <-ctx.Done():
			return CatchUp{}, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// CopyTotals returns the copies the region's watermark record counts (every copy into it
// since replication into it began, across runs), zero without a record: a failback reads them
// before it starts a replication, to tell what that replication copied.
func (r *Replicator) CopyTotals(ctx context.Context, in RegionDatabase) (CatchUp, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return CatchUp{}, err
	}
	w, _, err := replication.ReadWatermark(ctx, store, in.Database)
	if err != nil {
		return CatchUp{}, storeError(in.Region, err)
	}
	return CatchUp{CopiedObjects: w.CopiedObjects, CopiedBytes: w.CopiedBytes}, nil
}
