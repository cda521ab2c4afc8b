package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// FailoverName is the workflow type of Failover.
const FailoverName = "Failover"

// Failover modes.
const (
	ModePlanned   = "planned"
	ModeUnplanned = "unplanned"
)

// FailoverID is the workflow ID of a failover of db: one at a time per database.
func FailoverID(db string) string { return "failover/" + db }

// FailoverInput starts a failover of a database from one region to another (DESIGN 4).
type FailoverInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	Mode     string `json:"mode"` // planned | unplanned
	// Validate lists read-only queries run against the database once attached in To.
	Validate []string    `json:"validate,omitempty"`
	At       *FailoverAt `json:"at,omitempty"`
	DryRun   bool        `json:"dryRun,omitempty"`
	// Force (unplanned only) declares From lost even when its database answers the DETACH
	// with an error. Without it such an answer stops the failover: a database that answers
	// is alive and may still be serving (DESIGN 5a.2).
	Force bool `json:"force,omitempty"`
	// KeepRows keeps the first row of each validation query in the result (and so in the
	// workflow's history); by default only columns and row counts are kept.
	KeepRows bool `json:"keepRows,omitempty"`
	// Failback (unplanned only) starts the database's Failback (To → From) once the failover
	// has succeeded: it waits for From to come back, fences it, keeps its tail as a recovered
	// branch in To and replicates back. It does not switch back unless asked.
	Failback bool `json:"failback,omitempty"`
}

// FailoverAt is the point an unplanned failover attaches at: a milestone or a time.
type FailoverAt struct {
	Milestone string    `json:"milestone,omitempty"`
	Time      time.Time `json:"time,omitzero"`
}

// FailoverResult is what a failover did and measured.
type FailoverResult struct {
	Database   string    `json:"database"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Mode       string    `json:"mode"`
	NewPrimary string    `json:"newPrimary"`
	Milestone  string    `json:"milestone"`
	Watermark  time.Time `json:"watermark"`
	// RPOSeconds is what the failover lost, in seconds of writes. Planned: 0, proved by
	// Compared. Unplanned: exact when From's bucket answered; otherwise at most this much,
	// and at least RPOMinSeconds.
	RPOSeconds float64                  `json:"rpoSeconds"`
	RTOSeconds float64                  `json:"rtoSeconds"` // from the detach to the verified attach
	Compared   replication.VerifyReport `json:"compared"`
	Validation []activities.QueryResult `json:"validation,omitempty"`
	// Security says which users, roles and groups were created in To and which users were
	// created locked (no password reference in the configuration).
	Security   activities.ApplyReport `json:"security"`
	RecordedIn []string               `json:"recordedIn"`
	Steps      []Step                 `json:"steps"` // the RTO split by step

	// Unplanned only. AttachedAt is "latest", "milestone <name>" or "time <UTC>".
	AttachedAt string                  `json:"attachedAt,omitempty"`
	Fence      *activities.FenceResult `json:"fence,omitempty"`
	Sealed     *activities.SealReport  `json:"sealed,omitempty"`
	// NewestWrite is the newest source write known, and RPOFrom where it was learnt: the
	// failed region's bucket when it answered, else the replication's last status.
	NewestWrite time.Time `json:"newestWrite,omitzero"`
	RPOFrom     string    `json:"rpoFrom,omitempty"`
	// RPOMinSeconds bounds the RPO from below when From's bucket did not answer: the newest
	// write the replication's last listing saw minus the point attached. RPOSeconds bounds
	// it from above then: when From's bucket was first seen not answering minus that point.
	RPOMinSeconds float64 `json:"rpoMinSeconds,omitempty"`
	// Unreplicated is the tail the failed region's bucket holds beyond the watermark, when it
	// answered: what failback preserves as a recovered branch (DESIGN 5.5).
	Unreplicated *Tail `json:"unreplicated,omitempty"`
	// Failback is the workflow ID of the Failback the failover started (input Failback).
	Failback string   `json:"failback,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	DryRun   *DryRun  `json:"dryRun,omitempty"`
	// Rollback says what a failed failover did to leave exactly one region serving.
	Rollback *Rollback `json:"rollback,omitempty"`
}

// Rollback outcomes: after a failure exactly one region serves (DESIGN 5a.1).
const (
	// RolledBack: the database was detached in To (if attached) and attached in From again.
	RolledBack = "rolled back"
	// FailedForward: the database could not be detached in To and serves from there; it is
	// recorded as the primary.
	FailedForward = "failed forward"
	// NotRolledBack: whether To serves could not be found out, so From was not attached again
	// (two serving regions are worse than none); an operator must look.
	NotRolledBack = "not rolled back"
)

// Rollback is what a failed failover did after its failure.
type Rollback struct {
	Outcome string `json:"outcome"`
	Serving string `json:"serving,omitempty"` // the region serving afterwards, if one does
	Reason  string `json:"reason,omitempty"`  // why it is not a plain roll back, or what failed in it
}

// Tail counts blobs beyond the watermark.
type Tail struct {
	Objects int64 `json:"objects"`
	Bytes   int64 `json:"bytes"`
}

// DryRun is what a dry run found; nothing was changed.
type DryRun struct {
	FromAnswers bool      `json:"fromAnswers"`
	FromProblem string    `json:"fromProblem,omitempty"`
	Watermark   time.Time `json:"watermark"`
	Locks       []string  `json:"locks,omitempty"`
	// EstimatedRPOSeconds is what an unplanned failover would lose now; a planned one loses
	// nothing.
	EstimatedRPOSeconds float64  `json:"estimatedRpoSeconds"`
	WouldDo             []string `json:"wouldDo"`
}

// Step is one step of a failover and how long it took.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// Failover moves a database's service from one region to another. Mode planned (a
// switchover with zero loss): a milestone, a snapshot of the users and grants, and DETACH in
// From; drain replication; prove by a full comparison that the target holds every source blob;
// ATTACH in To, apply the users and grants, run the validation queries; record the new
// primary in every bucket. Replication stays paused after the drain.
// If a step fails after the DETACH and before the ATTACH in To, the database is attached in
// From again, so that a failed switchover does not leave it down.
func Failover(ctx workflow.Context, in FailoverInput) (FailoverResult, error) {
	if err := validateFailoverInput(in); err != nil {
		return FailoverResult{}, err
	}
	f := &failover{in: in, res: FailoverResult{Database: in.Database, From: in.From, To: in.To, Mode: in.Mode}}
	var err error
	switch {
	case in.DryRun:
		err = f.dryRun(ctx)
	case in.Mode == ModePlanned:
		err = f.planned(ctx)
	default:
		err = f.unplanned(ctx)
	}
	if !in.DryRun {
		f.recordMetrics(ctx, err)
	}
	return f.res, err
}

type failover struct {
	in           FailoverInput
	res          FailoverResult
	security     *activities.Security // applied in To; planned: read in From before the detach
	retention    time.Duration        // how far back an attach at a time can go
	fenceTimeout time.Duration        // how long From is given to answer
	fromSilentAt time.Time            // when From's bucket was first seen not answering
	bounds       failoverBounds
	// attachStarted is set once the ATTACH in To may have run: until then a rollback need
	// not (and, with To silent, cannot) detach To first.
	attachStarted bool
}

// failoverBounds are the configured limits of a failover's checks and drains.
type failoverBounds struct {
	maxLag, drainTimeout, unplannedDrainTimeout time.Duration
}

func boundsOf(p activities.PrepareResult) failoverBounds {
	return failoverBounds{maxLag: p.MaxLag, drainTimeout: p.DrainTimeout, unplannedDrainTimeout: p.UnplannedDrainTimeout}
}

func validateFailoverInput(in FailoverInput) error {
	errs := routeErrors(in.Database, in.From, in.To)
	switch in.Mode {
	case ModePlanned:
		if in.At != nil {
			errs = append(errs, errors.New("at: a planned failover attaches at latest, with nothing lost; at is for unplanned failovers"))
		}
	case ModeUnplanned:
		if err := checkAtShape(in.At); err != nil {
			errs = append(errs, err)
		}
	default:
		errs = append(errs, fmt.Errorf("mode: must be %q or %q, got %q", ModePlanned, ModeUnplanned, in.Mode))
	}
	if in.Force && in.Mode == ModePlanned {
		errs = append(errs, errors.New("force: a planned failover detaches From and stops at any error; force is for unplanned failovers"))
	}
	if in.Failback && in.Mode == ModePlanned {
		errs = append(errs, errors.New("failback: a planned failover loses nothing and leaves From a replica; failback is for unplanned failovers"))
	}
	// Checked before anything changes: a query refused only after the attach would leave a
	// switchover half done.
	if err := database.CheckReadOnly(in.Validate); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return nil
}

// step runs fn as a named step, timing it and showing it in the UI.
func (f *failover) step(ctx workflow.Context, name string, fn func(ctx workflow.Context) error) error {
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**%s failover** of %s: %s → %s  \nstep: %s  \ndone: %s",
		f.in.Mode, f.in.Database, f.in.From, f.in.To, name, f.stepNames()))
	began := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Every failover activity heartbeats each second, so a worker that dies in a step is
		// noticed within the heartbeat timeout; an ATTACH of a large database may take long.
		StartToCloseTimeout: 30 * time.Minute,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{activities.ErrInvalidInput}},
		Summary: name,
	})
	err := fn(actx)
	f.res.Steps = append(f.res.Steps, Step{Name: name, Seconds: workflow.Now(ctx).Sub(began).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// drainOptions gives a drain's activity room for the drain's own answer at its timeout.
func (f *failover) drainOptions(actx workflow.Context, timeout time.Duration) workflow.Context {
	opts := workflow.GetActivityOptions(actx)
	opts.StartToCloseTimeout = timeout + 2*time.Minute
	return workflow.WithActivityOptions(actx, opts)
}

// long gives a step that may take long (a drain, a full comparison) room.
func long(ctx workflow.Context) workflow.Context {
	opts := workflow.GetActivityOptions(ctx)
	opts.StartToCloseTimeout = 6 * time.Hour
	return workflow.WithActivityOptions(ctx, opts)
}

func (f *failover) stepNames() string {
	names := make([]string, len(f.res.Steps))
	for i, s := range f.res.Steps {
		names[i] = s.Name
	}
	return strings.Join(names, ", ")
}

func (f *failover) planned(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	if err := f.checkPlanned(ctx); err != nil {
		return err
	}
	began := workflow.Now(ctx)
	f.res.Milestone = "failover_" + began.UTC().Format("20060102150405")
	if err := f.step(ctx, "milestone in "+in.From, func(actx workflow.Context) error {
		var created activities.MilestoneCreated
		if err := workflow.ExecuteActivity(actx, c.CreateMilestone, activities.CreateMilestoneInput{Database: in.Database, Region: in.From, Name: f.res.Milestone}).Get(ctx, &created); err != nil {
			return err
		}
		m := replication.Milestone{Database: in.Database, Name: f.res.Milestone, Region: in.From, Time: created.Time, CreatedBy: workflow.GetInfo(ctx).WorkflowExecution.ID}
		return workflow.ExecuteActivity(actx, r.RecordMilestone, m).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "snapshot users and grants in "+in.From, func(actx workflow.Context) error {
		var sec activities.Security
		if err := workflow.ExecuteActivity(actx, c.ReadSecurity, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, &sec); err != nil {
			return err
		}
		f.security = &sec
		rec := activities.SecurityRecord{Database: in.Database, Region: in.From, Security: sec}
		return workflow.ExecuteActivity(actx, r.RecordSecurity, rec).Get(ctx, nil)
	}); err != nil {
		return err
	}
	// The service stops here: RTO counts from the detach.
	stopped := workflow.Now(ctx)
	if err := f.step(ctx, "detach in "+in.From, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Detach, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, nil)
	}); err != nil {
		// A detach that failed may still have happened: attach in From again (a no-op if it
		// is still attached) so that the database serves.
		return f.rollback(ctx, err)
	}
	if err := f.switchOver(ctx); err != nil {
		return f.rollback(ctx, err)
	}
	f.res.RTOSeconds = workflow.Now(ctx).Sub(stopped).Seconds()
	if err := f.recordPrimary(ctx); err != nil {
		return err
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**done**: %s is served from %s. RPO %.0fs (proved: %d blobs compared, none missing), RTO %.1fs  \nsteps: %s",
		in.Database, in.To, f.res.RPOSeconds, f.res.Compared.Checked, f.res.RTOSeconds, f.stepNames()))
	return nil
}

// checkPlanned checks, changing nothing (but for recording From as the primary when no bucket
// records one, as replication does when it starts), that a switchover can go ahead: the names, both
// buckets, the recorded primary, a running, healthy replication (zero loss needs it to
// drain, soon), To's cluster, and that the database is not attached in To already.
func (f *failover) checkPlanned(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	return f.step(ctx, "check", func(actx workflow.Context) error {
		var prep activities.PrepareResult
		if err := workflow.ExecuteActivity(actx, r.Prepare, activities.PrepareInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &prep); err != nil {
			return err
		}
		f.fenceTimeout, f.bounds = prep.FenceTimeout, boundsOf(prep)
		if err := f.checkPrimary(ctx, actx); err != nil {
			return err
		}
		if err := f.checkReplicationHealthy(ctx, actx); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(actx, c.Health, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, nil); err != nil {
			return err
		}
		return f.checkNotAttachedInTo(ctx, actx)
	})
}

// checkReplicationHealthy refuses a switchover whose drain would take long or never end: a
// replication that is not running, has been failing for longer than failover.max_lag (a
// passing failure, such as a worker that died in a sync, is no reason), lags more than that,
// or whose watermark an upload has held back for longer than that (an abandoned multipart
// upload holds it forever).
func (f *failover) checkReplicationHealthy(ctx, actx workflow.Context) error {
	var ctl *activities.Control
	var h activities.ReplicationHealth
	id := ReplicateID(f.in.Database, f.in.From, f.in.To)
	if err := workflow.ExecuteActivity(actx, ctl.QueryReplication, activities.StopInput{WorkflowID: id, UpdateName: QueryStatus}).Get(ctx, &h); err != nil {
		return err
	}
	switch {
	case h.State == StateFailing && workflow.Now(ctx).Sub(h.FailingSince) > f.bounds.maxLag:
		return invalidInput(fmt.Sprintf("from: replication %s has been failing since %s (%s): a switchover now could not drain it",
			id, h.FailingSince.UTC().Format(time.RFC3339), h.LastError))
	case h.HeldBy != "" && workflow.Now(ctx).Sub(h.HeldSince) > f.bounds.maxLag:
		// An upload in progress holds the watermark until it completes; one older than the
		// lag a switchover accepts may have been abandoned, and would hold the drain forever.
		return invalidInput(fmt.Sprintf("from: replication %s is held back by %s, longer than failover.max_lag (%s): "+
			"if nothing will complete it, abort it (an AbortIncompleteMultipartUpload lifecycle rule removes abandoned ones)",
			id, h.HeldBy, f.bounds.maxLag))
	case f.bounds.maxLag > 0 && h.LagSeconds > f.bounds.maxLag.Seconds():
		return invalidInput(fmt.Sprintf("from: replication %s lags %.1fs, more than failover.max_lag (%s): let it catch up first",
			id, h.LagSeconds, f.bounds.maxLag))
	}
	return nil
}

// checkNotAttachedInTo refuses a failover to a region where the database is already attached:
// it serves there (a failover that failed forward, or one run by hand), and its storage locks
// must not be removed.
func (f *failover) checkNotAttachedInTo(ctx, actx workflow.Context) error {
	attached, err := f.attachedInTo(ctx, actx)
	if err != nil {
		return err
	}
	if attached {
		return invalidInput(fmt.Sprintf("to: %s is already attached in %s: it serves there; detach it there first if it must not",
			f.in.Database, f.in.To))
	}
	return nil
}

// attachedInTo asks To's cluster whether the database is attached there.
func (f *failover) attachedInTo(ctx, actx workflow.Context) (bool, error) {
	var c *activities.Cluster
	var attached bool
	err := workflow.ExecuteActivity(actx, c.Attached, activities.RegionDatabase{Database: f.in.Database, Region: f.in.To}).Get(ctx, &attached)
	return attached, err
}

// switchOver drains, proves zero loss, and attaches in To. Any error leaves From detached;
// the caller rolls back.
func (f *failover) switchOver(ctx workflow.Context) error {
	var r *activities.Replicator
	var ctl *activities.Control
	in := f.in
	if err := f.step(ctx, "drain replication", func(actx workflow.Context) error {
		var out activities.DrainOutcome
		err := workflow.ExecuteActivity(f.drainOptions(actx, f.bounds.drainTimeout), ctl.DrainReplication, activities.DrainInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdateDrain, Quiescent: true,
			Timeout: f.bounds.drainTimeout}).Get(ctx, &out)
		f.res.Watermark = out.Watermark.Time
		return err
	}); err != nil {
		return err
	}
	if err := f.step(ctx, "compare source and target", func(actx workflow.Context) error {
		if err := workflow.ExecuteActivity(long(actx), r.CompareAll, activities.CompareInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &f.res.Compared); err != nil {
			return err
		}
		if n := f.res.Compared.Missing + f.res.Compared.Mismatched; n > 0 {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("the target lacks %d of %d source blobs (first: %v): a switchover now would lose data",
				n, f.res.Compared.Checked, f.res.Compared.DifferingKeys), "DataWouldBeLost", nil)
		}
		return nil
	}); err != nil {
		return err
	}
	f.res.RPOSeconds = 0 // proved: every source blob is in the target
	if err := f.fenceTarget(ctx); err != nil {
		return err
	}
	return f.serveFromTarget(ctx, activities.AttachInput{RegionDatabase: activities.RegionDatabase{Database: in.Database, Region: in.To}})
}

// fenceTarget closes To's folder to replication before it is sealed or attached (DESIGN 5a.3,
// 5a.4): no Sync, Verify or drain writes there again, not even a `resume` sent by hand or a
// Sync cut off from Temporal, until a new primary is recorded (which a rollback does too).
func (f *failover) fenceTarget(ctx workflow.Context) error {
	var r *activities.Replicator
	return f.step(ctx, "fence replication into "+f.in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, r.FenceTarget, activities.FenceTargetInput{Database: f.in.Database, Region: f.in.To}).Get(ctx, nil)
	})
}

// serveFromTarget removes the stale storage locks in To, attaches the database there (at
// latest, a milestone or a time), applies the users and grants snapshot and runs the
// validation queries. Only call it once From is fenced or declared lost (DESIGN 5.4).
func (f *failover) serveFromTarget(ctx workflow.Context, at activities.AttachInput) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	target := at.RegionDatabase
	if err := f.step(ctx, "remove storage locks in "+in.To, func(actx workflow.Context) error {
		// Asked again right before: the locks of a database attached there are its own.
		if err := f.checkNotAttachedInTo(ctx, actx); err != nil {
			return err
		}
		return workflow.ExecuteActivity(actx, r.RemoveLocks, target).Get(ctx, nil)
	}); err != nil {
		return err
	}
	f.attachStarted = true // from here on, To may serve
	if err := f.step(ctx, "attach in "+in.To, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Attach, at).Get(ctx, nil)
	}); err != nil {
		return err
	}
	if f.security != nil {
		if err := f.step(ctx, "apply users and grants in "+in.To, func(actx workflow.Context) error {
			return workflow.ExecuteActivity(actx, c.ApplySecurity, activities.ApplySecurityInput{Region: in.To, Security: *f.security}).Get(ctx, &f.res.Security)
		}); err != nil {
			return err
		}
	}
	return f.step(ctx, "validate in "+in.To, func(actx workflow.Context) error {
		queries := append([]string{"SHOW TABLES FROM `" + in.Database + "`"}, in.Validate...)
		return workflow.ExecuteActivity(actx, c.Validate, activities.ValidateInput{RegionDatabase: target, Queries: queries, KeepRows: in.KeepRows}).Get(ctx, &f.res.Validation)
	})
}

// recordPrimary writes the new primary to every bucket that answers.
func (f *failover) recordPrimary(ctx workflow.Context) error {
	err := f.recordRegion(ctx, "record primary", f.in.To, &f.res.RecordedIn)
	if err == nil {
		f.res.NewPrimary = f.in.To
	}
	return err
}

// recordRegion records region as the database's primary in every bucket that answers.
func (f *failover) recordRegion(ctx workflow.Context, stepName, region string, recordedIn *[]string) error {
	var r *activities.Replicator
	if recordedIn == nil {
		recordedIn = new([]string)
	}
	return f.step(ctx, stepName, func(actx workflow.Context) error {
		p := replication.Primary{Database: f.in.Database, Region: region, Since: workflow.Now(ctx), By: workflow.GetInfo(ctx).WorkflowExecution.ID}
		return workflow.ExecuteActivity(actx, r.RecordPrimary, p).Get(ctx, recordedIn)
	})
}

// recordMetrics hands the outcome to the worker's metrics. A failure to record is logged,
// never the failover's result.
func (f *failover) recordMetrics(ctx workflow.Context, failure error) {
	var rep *activities.Reporter
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 3}})
	out := activities.FailoverOutcome{Database: f.in.Database, From: f.in.From, To: f.in.To, Mode: f.in.Mode,
		Succeeded: failure == nil, RPOSeconds: f.res.RPOSeconds, RTOSeconds: f.res.RTOSeconds}
	if err := workflow.ExecuteActivity(actx, rep.RecordFailover, out).Get(ctx, nil); err != nil {
		workflow.GetLogger(ctx).Warn("failover metrics not recorded", "error", err)
	}
}

// rollback leaves exactly one region serving after a switchover failed past the detach in
// From (DESIGN 5a.1): it detaches To (a failed step may have attached it, even an ATTACH that
// reported an error), attaches From again, records From as the primary (newer than any fence
// of To) and resumes the replication the drain paused. If To cannot be detached and still
// serves, it fails forward: To stays the primary. If whether To serves cannot be found out,
// From is not attached again. The original error is what the workflow reports; the result
// says which, and so does the error returned: cause, with what the rollback did.
func (f *failover) rollback(ctx workflow.Context, cause error) error {
	f.undo(ctx, cause)
	return f.failed(ctx, cause)
}

// failed ends a failover that failed with cause: the UI and the error say what its rollback
// (or failing forward) left serving.
func (f *failover) failed(ctx workflow.Context, cause error) error {
	rb := f.res.Rollback
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**failed**: %v  \n%s  \nsteps: %s", cause, rb, f.stepNames()))
	return fmt.Errorf("%w (%s)", cause, rb)
}

// versionRollbackRepairs is the workflow.GetVersion change ID of repairTarget in the rollback.
const versionRollbackRepairs = "rollback-repairs-target"

// repairTarget restores in To's folder every blob of From's after To was attached and detached:
// To's cluster wrote into its own folder meanwhile (its DETACH writes a milestone, and one
// named for the same second as From's replaces the replicated one), and replication, whose
// watermark is past those keys, would never copy them again. The anti-entropy pass copies
// back every source blob the target lacks or holds with other content. Blobs To's cluster
// wrote under keys From does not have stay (a milestone of its own is harmless; see the
// README). It runs under the step's bounds (30 minutes, 5 attempts) so that the rollback
// ends: a repair that fails is reported, and replication's periodic anti-entropy pass makes
// it later.
func (f *failover) repairTarget(ctx workflow.Context) error {
	var r *activities.Replicator
	return f.step(ctx, "roll back: repair the replica in "+f.in.To, func(actx workflow.Context) error {
		var report activities.VerifyReport
		err := workflow.ExecuteActivity(actx, r.Verify, activities.VerifyInput{Database: f.in.Database, From: f.in.From, To: f.in.To}).Get(ctx, &report)
		if err != nil {
			return fmt.Errorf("repair the replica in %s: %w", f.in.To, err)
		}
		if report.Repaired > 0 {
			workflow.GetLogger(ctx).Info("rollback repaired the replica", "region", f.in.To, "repaired", report.Repaired, "keys", report.RepairedKey)
		}
		return nil
	})
}

// String says what the rollback did, in words.
func (rb *Rollback) String() string {
	s := rb.Outcome
	if rb.Serving != "" {
		s += ": the database serves from " + rb.Serving
	} else {
		s += ": the database serves nowhere"
	}
	if rb.Reason != "" {
		s += "; " + rb.Reason
	}
	return s
}

// undo does the rollback's steps and records them in the result.
func (f *failover) undo(ctx workflow.Context, cause error) {
	var c *activities.Cluster
	var ctl *activities.Control
	var r *activities.Replicator
	in := f.in
	to := activities.RegionDatabase{Database: in.Database, Region: in.To}
	from := activities.RegionDatabase{Database: in.Database, Region: in.From}
	rb := &Rollback{Outcome: RolledBack, Serving: in.From}
	f.res.Rollback = rb
	var detachErr error
	if f.attachStarted {
		detachErr = f.step(ctx, "roll back: detach in "+in.To, func(actx workflow.Context) error {
			return workflow.ExecuteActivity(actx, c.Detach, to).Get(ctx, nil)
		})
	}
	if detachErr != nil {
		var attached bool
		askErr := f.step(ctx, "roll back: is it attached in "+in.To, func(actx workflow.Context) error {
			var err error
			attached, err = f.attachedInTo(ctx, actx)
			return err
		})
		switch {
		case askErr != nil:
			rb.Outcome, rb.Serving = NotRolledBack, ""
			rb.Reason = fmt.Sprintf("could not detach in %s (%v) nor find out whether it is attached there (%v): %s was not attached again, so that two regions cannot serve; check %s by hand",
				in.To, detachErr, askErr, in.From, in.To)
			workflow.GetLogger(ctx).Error("failover failed; not rolled back", "cause", cause, "reason", rb.Reason)
			return
		case attached:
			rb.Outcome, rb.Serving = FailedForward, in.To
			rb.Reason = fmt.Sprintf("could not detach in %s: %v; it serves there", in.To, detachErr)
			if err := f.recordPrimary(ctx); err != nil {
				rb.Reason += fmt.Sprintf("; recording it as the primary failed: %v", err)
			}
			workflow.GetLogger(ctx).Error("failover failed; failed forward", "cause", cause, "reason", rb.Reason)
			return
		}
	}
	if err := f.step(ctx, "roll back: attach in "+in.From, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.Attach, activities.AttachInput{RegionDatabase: from}).Get(ctx, nil)
	}); err != nil {
		rb.Serving, rb.Reason = "", fmt.Sprintf("attach in %s again failed: %v", in.From, err)
		workflow.GetLogger(ctx).Error("failover failed; rollback failed", "cause", cause, "reason", rb.Reason)
		return
	}
	var problems []string
	var recordedIn []string
	if err := f.recordRegion(ctx, "roll back: record primary", in.From, &recordedIn); err != nil {
		problems = append(problems, err.Error())
	}
	if !slices.Contains(recordedIn, in.To) {
		// The new record did not reach To's bucket, so the fence there still holds: lift it,
		// or replication into To stays refused.
		if err := f.step(ctx, "roll back: lift the fence of "+in.To, func(actx workflow.Context) error {
			return workflow.ExecuteActivity(actx, r.LiftFence, activities.FenceTargetInput{Database: in.Database, Region: in.To}).Get(ctx, nil)
		}); err != nil {
			problems = append(problems, err.Error()+": replication into "+in.To+" stays refused until the fence is lifted")
		}
	}
	if err := f.step(ctx, "roll back: resume replication", func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, ctl.ResumeReplication, activities.StopInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdateResume}).Get(ctx, nil)
	}); err != nil {
		problems = append(problems, err.Error())
	}
	// After the resume: From takes writes again, and replication must not wait on the repair
	// (which copies only source content at or below the watermark, so it runs beside Syncs).
	// Failovers rolling back across an upgrade keep the history they started with.
	if f.attachStarted && workflow.GetVersion(ctx, versionRollbackRepairs, workflow.DefaultVersion, 1) >= 1 {
		if err := f.repairTarget(ctx); err != nil {
			problems = append(problems, err.Error())
		}
	}
	rb.Reason = strings.Join(problems, "; ")
	workflow.GetLogger(ctx).Error("failover failed; rolled back", "cause", cause, "problems", rb.Reason)
}
