package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// RegionDatabase names a database in a region.
type RegionDatabase struct {
	Database string `json:"database"`
	Region   string `json:"region"`
}

// Health checks that the region's database cluster answers.
func (c *Cluster) Health(ctx context.Context, in RegionDatabase) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	conn, err := c.client(ctx, in.Region)
	if err != nil {
		return err
	}
	return conn.Health(ctx)
}

// Detach detaches the database in the region: its outstanding changes are uploaded, a
// milestone is made and its storage lock is released (DESIGN 6). It is idempotent: a
// database that is not attached there is already detached.
func (c *Cluster) Detach(ctx context.Context, in RegionDatabase) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	return c.detach(ctx, in)
}

func (c *Cluster) detach(ctx context.Context, in RegionDatabase) error {
	conn, attached, err := c.attached(ctx, in)
	if err != nil || !attached {
		return err
	}
	return conn.Detach(ctx, in.Database, false)
}

// AttachInput names a database to attach in a region, at latest or at a milestone or time.
type AttachInput struct {
	RegionDatabase
	AtMilestone string    `json:"atMilestone,omitempty"`
	AtTime      time.Time `json:"atTime,omitzero"`
}

// Attach attaches the database in the region from that region's bucket, at latest unless a
// milestone or a time is given. The location and credentials come from the worker's
// configuration, never from the input. It is idempotent: a database already attached there is
// left as it is.
func (c *Cluster) Attach(ctx context.Context, in AttachInput) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	conn, attached, err := c.attached(ctx, in.RegionDatabase)
	if err != nil || attached {
		return err
	}
	db, err := c.cfg.Database(in.Database)
	if err != nil {
		return invalid(err)
	}
	store := c.cfg.Regions[in.Region].ObjectStore
	creds, ok := c.creds[in.Region]
	if !ok {
		return invalid(fmt.Errorf("regions.%s.object_store: no credentials for ATTACH", in.Region))
	}
	err = conn.Attach(ctx, database.AttachSpec{
		Database: in.Database, Bucket: store.Bucket, Path: db.RootPath,
		Store: database.StoreConfig{Region: store.Region, EndpointURL: store.Endpoint, ForcePathStyle: store.PathStyle},
		Creds: creds, AtMilestone: in.AtMilestone, AtTime: in.AtTime,
	})
	if database.IsInvalid(err) {
		return invalid(err)
	}
	return err
}

// Attached reports whether the database is attached in the region's cluster. A failover asks
// before it removes any storage lock: a database already attached there (a failover run again
// after a failure, or two at once) owns the locks.
func (c *Cluster) Attached(ctx context.Context, in RegionDatabase) (bool, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, attached, err := c.attached(ctx, in)
	return attached, err
}

// attached reports whether the database is attached in the region.
func (c *Cluster) attached(ctx context.Context, in RegionDatabase) (*database.Client, bool, error) {
	if _, err := c.cfg.Database(in.Database); err != nil {
		return nil, false, invalid(err)
	}
	return c.attachedAs(ctx, in.Region, in.Database)
}

// ValidateInput lists read-only queries to run against an attached database.
type ValidateInput struct {
	RegionDatabase
	Queries []string `json:"queries"`
	// KeepRows keeps each query's first row in the result. Without it the result holds the
	// columns and the row counts only: it enters the workflow's history, and the rows may be
	// data nobody meant to keep there.
	KeepRows bool `json:"keepRows,omitempty"`
}

// QueryResult is database.QueryResult.
type QueryResult = database.QueryResult

// Validate runs the read-only validation queries against the region's database, on the
// region's read-only connection (regions.<r>.database.validate_dsn_env) when one is
// configured, else on its main one; a query that is not read-only is refused before anything
// runs. Which DSN it used is never in its input or result.
func (c *Cluster) Validate(ctx context.Context, in ValidateInput) ([]QueryResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	return c.validate(ctx, in, func(conn *database.Client) ([]QueryResult, error) {
		return conn.Validate(ctx, in.Queries)
	})
}

// validate runs queries on the region's validation connection: input errors are not
// retryable, nor is a query the database answered with an error (it would answer so again),
// and rows are kept only with KeepRows.
func (c *Cluster) validate(ctx context.Context, in ValidateInput, run func(conn *database.Client) ([]QueryResult, error)) ([]QueryResult, error) {
	conn, err := c.validateClient(ctx, in.Region)
	if err != nil {
		return nil, err
	}
	res, err := run(conn)
	switch {
	case database.IsInvalid(err):
		return nil, invalid(err)
	case database.Answered(err):
		err = temporal.NewNonRetryableApplicationError(err.Error(), ErrQueryFailed, nil)
	}
	if !in.KeepRows {
		for i := range res {
			res[i].FirstRow = nil
		}
	}
	return res, err
}

// ErrQueryFailed is the error type of a validation query the database answered with an error.
const ErrQueryFailed = "QueryFailed"

// CompareInput names a replication whose target is compared with its whole source.
type CompareInput = VerifyInput

// CompareAll compares every source blob with the target and repairs nothing: zero missing and
// zero different proves the target holds the whole source (RPO 0).
func (r *Replicator) CompareAll(ctx context.Context, in CompareInput) (VerifyReport, error) {
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return VerifyReport{}, invalid(err)
	}
	src, dst, _, err := r.pair(in.From, in.To)
	if err != nil {
		return VerifyReport{}, err
	}
	stopBeat := heartbeatEverySecond(ctx, func() any { return nil })
	defer stopBeat()
	return replication.Compare(ctx, src, dst, in.Database, db.RootPath, r.cfg.Replication.Exclude)
}

// RemoveLocks deletes the storage locks under the database's folder in the region's bucket,
// so that the database can be attached there. Only call it once the owner of the locks is
// fenced (detached) or declared lost (DESIGN 5.4). It returns the keys removed.
func (r *Replicator) RemoveLocks(ctx context.Context, in RegionDatabase) ([]string, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return nil, err
	}
	locks, err := storageLocks(ctx, store, db.RootPath)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, key := range locks {
		if err := store.Delete(ctx, key); err != nil {
			return removed, err
		}
		removed = append(removed, key)
	}
	return removed, nil
}

// storageLocks lists the storage locks of the database under root. SingleStore keeps them at
// <root>/<storage-id>/storage_locks/ (singlestore-notes): listing just those folders costs a
// few requests, where listing the whole folder costs one per thousand blobs.
func storageLocks(ctx context.Context, store *objectstore.Client, root string) ([]string, error) {
	ids, err := store.Folders(ctx, root+"/")
	if err != nil {
		return nil, err
	}
	var locks []string
	for _, folder := range append([]string{root + "/"}, ids...) {
		l, err := store.List(ctx, folder+"storage_locks/")
		if err != nil {
			return nil, err
		}
		for _, o := range l.Objects {
			locks = append(locks, o.Key)
		}
	}
	return locks, nil
}

// CurrentPrimary reads the recorded primary of a database from every region's bucket at once
// and returns the newest record; found is false when none was ever recorded. Every failover
// records the primary in every bucket that answers, so a region that is still silent a moment
// after another answered is left out rather than waited for: the failed region is exactly the
// one that may not answer. It fails only when no bucket answers within fence_timeout.
func (r *Replicator) CurrentPrimary(ctx context.Context, database string) (CurrentPrimaryResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if _, err := r.cfg.Database(database); err != nil {
		return CurrentPrimaryResult{}, invalid(err)
	}
	type answer struct {
		region string
		p      replication.Primary
		found  bool
		err    error
	}
	regions := r.cfg.RegionNames()
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Failover.FenceTimeout)
	defer cancel()
	answers := make(chan answer, len(regions))
	for _, region := range regions {
		go func() {
			p, found, err := replication.ReadPrimary(ctx, r.stores[region], database)
			answers <- answer{region, p, found, err}
		}()
	}
	var best CurrentPrimaryResult
	var lastErr error
	var answeredRegions []string
	var grace <-chan time.Time // starts at the first answer
	for pending, answered := len(regions), 0; pending > 0; pending-- {
		var a answer
		select {
		case a = <-answers:
		case <-grace:
			activity.GetLogger(ctx).Warn("primary record: regions left out", "silent", pending)
			best.Silent = append(best.Silent, silentRegions(regions, best.Silent, answeredRegions)...)
			return best, nil
		}
		if a.err != nil {
			activity.GetLogger(ctx).Warn("primary record not read", "region", a.region, "error", a.err)
			best.Silent = append(best.Silent, a.region)
			lastErr = a.err
			if answered == 0 && pending == 1 {
				return CurrentPrimaryResult{}, lastErr
			}
			continue
		}
		answeredRegions = append(answeredRegions, a.region)
		if answered++; answered == 1 {
			grace = time.After(primaryGrace)
		}
		if a.found && (!best.Found || a.p.Since.After(best.Primary.Since)) {
			best = CurrentPrimaryResult{Primary: a.p, Found: true}
		}
	}
	return best, nil
}

// primaryGrace is how long CurrentPrimary waits for the other regions once one answered: a
// healthy bucket answers a GET in milliseconds.
const primaryGrace = time.Second

// CurrentPrimaryResult is the recorded primary, if any, and the regions whose bucket did not
// answer.
type CurrentPrimaryResult struct {
	Primary replication.Primary `json:"primary"`
	Found   bool                `json:"found"`
	Silent  []string            `json:"silent,omitempty"`
}

// silentRegions returns the regions neither answered nor already counted silent.
func silentRegions(all, silent, answered []string) []string {
	var out []string
	for _, r := range all {
		if !slices.Contains(silent, r) && !slices.Contains(answered, r) {
			out = append(out, r)
		}
	}
	return out
}

// RecordPrimary writes the primary record to every region's bucket and returns those regions.
// A region whose bucket does not answer is skipped and left out of the result: the failed
// region is exactly the one that may not answer.
func (r *Replicator) RecordPrimary(ctx context.Context, p replication.Primary) ([]string, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	var recorded []string
	for _, region := range r.cfg.RegionNames() {
		// A failed region may not answer at all: it gets fence_timeout, not the SDK's retries.
		regionCtx, cancel := context.WithTimeout(ctx, r.cfg.Failover.FenceTimeout)
		err := replication.WritePrimary(regionCtx, r.stores[region], p)
		cancel()
		if err != nil {
			activity.GetLogger(ctx).Warn("primary not recorded", "region", region, "error", err)
			continue
		}
		recorded = append(recorded, region)
	}
	if len(recorded) == 0 {
		return nil, fmt.Errorf("record primary of %s: no bucket answered", p.Database)
	}
	return recorded, nil
}

// Control sends updates to other workflows (activities may call Temporal; workflows cannot
// send an update themselves).
type Control struct {
	Temporal client.Client
}

// CheckRunning returns nil if the workflow is running, and a non-retryable error naming it
// otherwise.
func (c *Control) CheckRunning(ctx context.Context, workflowID string) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return invalid(fmt.Errorf("replication %s is not running: start it (bdr replicate start) and let it catch up first", workflowID))
	}
	if err != nil {
		return fmt.Errorf("describe %s: %w", workflowID, err)
	}
	if s := d.GetWorkflowExecutionInfo().GetStatus(); s != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
		return invalid(fmt.Errorf("replication %s is not running (%s): start it and let it catch up first", workflowID, s))
	}
	return nil
}

// DrainInput names the replication workflow to drain and its update.
type DrainInput struct {
	WorkflowID string `json:"workflowId"`
	UpdateName string `json:"updateName"`
	// Quiescent: the source's database is detached, nothing more is written (the drain
	// update's request field of the same name).
	Quiescent bool `json:"quiescent,omitempty"`
	// Timeout bounds the drain (the update's timeoutSeconds): past it the replication
	// abandons the drain and the update fails.
	Timeout time.Duration `json:"timeout,omitempty"`
}

// DrainOutcome is the part of the drain update's result a failover needs.
type DrainOutcome struct {
	Watermark struct {
		Time time.Time `json:"time"`
	} `json:"watermark"`
}

// DrainReplication asks the running replication to copy everything that exists now and
// pause, and waits for it. It is idempotent: draining a drained replication returns at once.
func (c *Control) DrainReplication(ctx context.Context, in DrainInput) (DrainOutcome, error) {
	stopBeat := heartbeatEverySecond(ctx, func() any { return nil })
	defer stopBeat()
	if running, err := c.running(ctx, in.WorkflowID); err != nil || !running {
		if err == nil {
			err = temporal.NewNonRetryableApplicationError(fmt.Sprintf("drain replication %s: it is not running", in.WorkflowID), ErrDrainFailed, nil)
		}
		return DrainOutcome{}, err
	}
	if in.Timeout > 0 {
		// A replication that predates bounded drains ignores the timeout: the update's
		// answer is then bounded here.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, in.Timeout+drainAnswerMargin)
		defer cancel()
	}
	req := struct {
		Quiescent      bool    `json:"quiescent,omitempty"`
		TimeoutSeconds float64 `json:"timeoutSeconds,omitempty"`
	}{in.Quiescent, in.Timeout.Seconds()}
	var out DrainOutcome
	if err := c.update(ctx, in.WorkflowID, in.UpdateName, req, &out); err != nil {
		if isUpdateFailure(err) || errors.Is(err, context.DeadlineExceeded) {
			// The replication answered: the drain timed out or was interrupted. Trying again
			// would wait as long again; the workflow decides what to do.
			return out, temporal.NewNonRetryableApplicationError(fmt.Sprintf("drain replication %s: %v", in.WorkflowID, err), ErrDrainFailed, nil)
		}
		return out, fmt.Errorf("drain replication %s: %w", in.WorkflowID, err)
	}
	return out, nil
}

// drainAnswerMargin is how long past its own timeout a drain's answer is waited for.
const drainAnswerMargin = 30 * time.Second

// ErrDrainFailed is the error type of a drain that the replication answered with a failure
// (it timed out, or a pause interrupted it).
const ErrDrainFailed = "DrainFailed"

// isUpdateFailure reports whether err is the update handler's own failure, as opposed to not
// reaching the workflow.
func isUpdateFailure(err error) bool {
	var appErr *temporal.ApplicationError
	return errors.As(err, &appErr)
}

// ResumeReplication resumes a paused replication, if it runs; it is idempotent. A failover
// that rolls back resumes the replication its drain paused.
func (c *Control) ResumeReplication(ctx context.Context, in StopInput) error {
	defer heartbeatEverySecond(ctx, noDetails)()
	if running, err := c.running(ctx, in.WorkflowID); err != nil || !running {
		return err
	}
	var st replicationStatus
	if err := c.update(ctx, in.WorkflowID, in.UpdateName, struct{}{}, &st); err != nil {
		return fmt.Errorf("resume replication %s: %w", in.WorkflowID, err)
	}
	return nil
}

// ReplicationHealth is what a switchover checks of a replication before it changes anything.
type ReplicationHealth struct {
	State      string  `json:"state"`
	LagSeconds float64 `json:"lagSeconds"`
	HeldBy     string  `json:"heldBy,omitempty"` // the upload holding the watermark back, if any
	// HeldSince is when that upload began.
	HeldSince time.Time `json:"heldSince,omitzero"`
	LastError string    `json:"lastError,omitempty"`
	// FailingSince is when its syncs began to fail, if they fail now.
	FailingSince time.Time `json:"failingSince,omitzero"`
	// NewestWrite is the newest source blob its last listing saw: a drill's would-be RPO is
	// it minus the watermark.
	NewestWrite time.Time `json:"newestWrite,omitzero"`
	// InitialSync, CopiedObjects and CopiedBytes say how far its first copy got and what it
	// copied since it started: a failback waits for the one and reports the others.
	InitialSync struct {
		Complete bool `json:"complete"`
	} `json:"initialSync"`
	CopiedObjects int64 `json:"copiedObjects"`
	CopiedBytes   int64 `json:"copiedBytes"`
}

// QueryReplication returns the running replication's state, lag and the upload holding it
// back, from its status query. A replication that is not running is an invalid-input error.
func (c *Control) QueryReplication(ctx context.Context, in StopInput) (ReplicationHealth, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if err := c.CheckRunning(ctx, in.WorkflowID); err != nil {
		return ReplicationHealth{}, err
	}
	v, err := c.Temporal.QueryWorkflow(ctx, in.WorkflowID, "", in.UpdateName)
	if err != nil {
		return ReplicationHealth{}, fmt.Errorf("query %s: %w", in.WorkflowID, err)
	}
	var h ReplicationHealth
	if err := v.Get(&h); err != nil {
		return ReplicationHealth{}, fmt.Errorf("query %s: %w", in.WorkflowID, err)
	}
	return h, nil
}

// running reports whether the workflow runs now.
func (c *Control) running(ctx context.Context, workflowID string) (bool, error) {
	d, err := c.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
	var notFound *serviceerror.NotFound
	if errors.As(err, &notFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	return d.GetWorkflowExecutionInfo().GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, nil
}

// update sends a workflow update and waits for its result, decoded into out.
func (c *Control) update(ctx context.Context, workflowID, name string, arg, out any) error {
	h, err := c.Temporal.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflowID,
		UpdateName: name, Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, out)
}
