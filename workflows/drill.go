package workflows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/database"
)

// TestFailover is the DR drill (DESIGN 4): it proves that the replica in To comes up, without
// pausing replication and without sending a single request to the primary region.
//
//  1. check: read To's watermark record W as one version (To's bucket only), the milestones
//     and the users and grants snapshot recorded there, and the would-be RPO from the
//     running replication's status (Temporal, not the primary);
//  2. branch: copy the replica's sealed view at W into its own root path in To's bucket,
//     server-side, resumable;
//  3. attach the branch as <db>_drill_<yyyymmddhhmmss>, at latest or at the milestone/time;
//  4. run the validation queries with the branch as the default database, and check that the
//     snapshot would apply;
//  5. report (returned, recorded in .bdr/<db>/drills/<id>.json, and as metrics);
//  6. after keepFor or the finish update, detach the branch and delete its root path.
//
// A drill that fails after its branch exists cleans the branch up all the same, and fails
// with ErrDrillFailed carrying its report. A drill and a failover of the same database may
// overlap: the drill's branch has its own name and root path, which a failover neither reads
// nor waits on, and the drill reads only blobs at or before W, which a failover's seal
// leaves in place.
func TestFailover(ctx workflow.Context, in DrillInput) (DrillResult, error) {
	keepFor, err := validateDrillInput(in)
	if err != nil {
		return DrillResult{}, err
	}
	started := workflow.Now(ctx)
	id := workflow.GetInfo(ctx).WorkflowExecution.ID
	stamp := drillStamp(id, started)
	d := &drill{in: in, keepFor: keepFor, res: DrillResult{
		ID: stamp, WorkflowID: id, Database: in.Database, To: in.To,
		Branch: BranchName(in.Database, stamp), StartedAt: started, Phase: DrillChecking,
	}}
	if err := d.setup(ctx); err != nil {
		return d.res, err
	}
	err = d.run(ctx)
	return d.res, err
}

type drill struct {
	in       DrillInput
	keepFor  time.Duration
	res      DrillResult
	check    activities.DrillCheck
	finish   bool // the finish update came
	branched bool // the branch's root path may hold blobs: clean-up must delete them
	// shownState is the BdrState last upserted.
	shownState string
}

// drillStamp is a drill's <yyyymmddhhmmss>: the time in its workflow ID when there is one
// (DrillID's form, or a Schedule's "-<RFC 3339>" suffix), so that the ID bdr printed and the
// branch's name agree; else the workflow's start.
func drillStamp(workflowID string, started time.Time) string {
	i := strings.LastIndexAny(workflowID, "/-")
	for ; i >= 0; i = strings.LastIndexAny(workflowID[:i], "/-") {
		tail := workflowID[i+1:]
		if t, err := time.Parse(DrillStampLayout, tail); err == nil {
			return t.Format(DrillStampLayout)
		}
		if t, err := time.Parse(time.RFC3339, tail); err == nil {
			return t.UTC().Format(DrillStampLayout)
		}
		if len(workflowID)-i > 40 {
			break
		}
	}
	return started.UTC().Format(DrillStampLayout)
}

func validateDrillInput(in DrillInput) (time.Duration, error) {
	var errs []error
	if in.Database == "" {
		errs = append(errs, errors.New("database: required"))
	}
	if in.To == "" {
		errs = append(errs, errors.New("to: required (the region whose replica is drilled)"))
	}
	if err := checkAtShape(in.At); err != nil {
		errs = append(errs, err)
	}
	if err := database.CheckReadOnly(in.Validate); err != nil {
		errs = append(errs, err)
	}
	var keepFor time.Duration
	if in.KeepFor != "" {
		var err error
		keepFor, err = time.ParseDuration(in.KeepFor)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("keepFor: %q is not a duration (e.g. \"30m\", \"2h\")", in.KeepFor))
		case keepFor < 0 || keepFor > MaxKeepFor:
			errs = append(errs, fmt.Errorf("keepFor: %s is outside 0..%s", keepFor, MaxKeepFor))
		}
	}
	if len(errs) > 0 {
		return 0, temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return keepFor, nil
}

// setup registers the status query and the finish update.
func (d *drill) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (DrillResult, error) { return d.res, nil }); err != nil {
		return err
	}
	// finish only sets a flag: it completes at once whatever the drill is doing.
	return workflow.SetUpdateHandler(ctx, UpdateFinish, func(ctx workflow.Context) (DrillResult, error) {
		d.finish = true
		return d.res, nil
	})
}

func (d *drill) run(ctx workflow.Context) error {
	if err := d.checkInput(ctx); err != nil {
		return err // invalid input or an unreachable bucket: nothing branched, nothing recorded
	}
	err := d.prove(ctx)
	if err == nil && d.keepFor > 0 && !d.finish {
		d.keep(ctx)
	}
	// The clean-up runs even when the drill was cancelled: the branch is ours to remove.
	cleanCtx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	cancelled := temporal.IsCanceledError(ctx.Err())
	if cleanErr := d.cleanUp(cleanCtx); cleanErr != nil && err == nil {
		err = cleanErr
	}
	d.res.Phase = DrillDone
	d.res.FinishedAt = workflow.Now(cleanCtx)
	if err != nil {
		d.res.Passed = false
		if !cancelled {
			d.reportOutcome(cleanCtx)
		}
	}
	d.show(cleanCtx)
	d.record(cleanCtx)
	switch {
	case cancelled:
		return temporal.NewCanceledError("drill cancelled; its branch was cleaned up")
	case err != nil:
		return temporal.NewNonRetryableApplicationError(d.res.Summary(), ErrDrillFailed, err, d.res)
	}
	return nil
}

// prove makes the branch, attaches it, validates it and reports. A failure is the drill's
// finding: step puts it in the report's Reason as well as returning it.
func (d *drill) prove(ctx workflow.Context) error {
	if err := d.branch(ctx); err != nil {
		return err
	}
	if err := d.attach(ctx); err != nil {
		return err
	}
	if err := d.validate(ctx); err != nil {
		return err
	}
	d.res.Passed = true
	d.res.DrillSeconds = workflow.Now(ctx).Sub(d.res.StartedAt).Seconds()
	if d.keepFor > 0 {
		d.res.KeptUntil = workflow.Now(ctx).Add(d.keepFor)
		d.res.Phase = DrillKept
	}
	d.reportOutcome(ctx)
	d.record(ctx)
	return nil
}

// reasonOf is what an operator reads of a step's error: the innermost application error's
// message (the database's or the store's own words), without Temporal's wrapping.
func reasonOf(err error) string {
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) {
		return appErr.Message()
	}
	return err.Error()
}

// options are the activity options of a drill's steps: every activity heartbeats each
// second, so a worker that dies in a step is noticed within the heartbeat timeout.
func drillOptions(ctx workflow.Context, summary string, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumAttempts: 5,
			NonRetryableErrorTypes: []string{activities.ErrInvalidInput, activities.ErrAttachRefused}},
		Summary: summary,
	})
}

// step runs fn as a named step of the drill in phase, timing it and showing it in the UI.
func (d *drill) step(ctx workflow.Context, phase, name string, timeout time.Duration, fn func(actx workflow.Context) error) error {
	d.res.Phase = phase
	d.show(ctx)
	began := workflow.Now(ctx)
	err := fn(drillOptions(ctx, name, timeout))
	d.res.Steps = append(d.res.Steps, Step{Name: name, Seconds: workflow.Now(ctx).Sub(began).Seconds()})
	if err != nil {
		if d.res.Reason == "" {
			d.res.Reason = name + ": " + reasonOf(err)
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// show puts the drill's phase in words in the Temporal UI, and in the BdrState search
// attribute ("drill: <phase>").
func (d *drill) show(ctx workflow.Context) {
	r := d.res
	if state := "drill: " + r.Phase; state != d.shownState {
		d.shownState = state
		// Search attributes must be registered on the namespace; without them the drill still
		// runs, so the error is logged rather than failing it.
		if err := workflow.UpsertTypedSearchAttributes(ctx, SearchAttrDatabase.ValueSet(r.Database), SearchAttrState.ValueSet(state)); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		}
	}
	text := fmt.Sprintf("**DR drill** of %s in %s  \nbranch: %s  \nphase: %s", r.Database, r.To, r.Branch, r.Phase)
	if !r.Watermark.IsZero() {
		text += "  \nwatermark: " + utc(r.Watermark)
	}
	if r.Branched.Objects > 0 {
		text += fmt.Sprintf("  \nbranched: %d blobs", r.Branched.Objects)
	}
	switch {
	case r.Phase == DrillKept:
		text += "  \npassed; the branch stays attached until " + utc(r.KeptUntil) + " (or the finish update)"
	case r.Phase == DrillDone && r.Passed:
		text += fmt.Sprintf("  \n**passed**: would-be RPO %s, attach %.1fs, drill %.1fs", rpoWords(r), r.AttachSeconds, r.DrillSeconds)
	case r.Reason != "":
		text += "  \n**FAILED**: " + r.Reason
	}
	workflow.SetCurrentDetails(ctx, text)
}

func rpoWords(r DrillResult) string {
	if !r.RPOKnown {
		return "unknown"
	}
	return fmt.Sprintf("%.1fs", r.RPOSeconds)
}

// checkInput checks the input against To's bucket and the attach point, reads the would-be
// RPO and the users and grants snapshot, and records the drill as started. It changes
// nothing but that record.
func (d *drill) checkInput(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	in := d.in
	return d.step(ctx, DrillChecking, "check", 5*time.Minute, func(actx workflow.Context) error {
		if err := d.checkAndClaim(ctx, actx); err != nil {
			return err
		}
		d.branched = true // from here on the branch's root path may hold blobs
		d.measureRPO(ctx, actx, ctl)
		var loaded activities.LoadedSecurity
		if err := workflow.ExecuteActivity(actx, r.LoadSecurity, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, &loaded); err != nil {
			return err
		}
		var sec activities.SecurityCheck
		if err := workflow.ExecuteActivity(actx, c.CheckSecurity, loaded).Get(ctx, &sec); err != nil {
			return err
		}
		d.res.Security = &sec
		if !sec.Found {
			d.warn("no users and grants snapshot is recorded in %s's bucket: a failover would attach %s without its users (a planned failover records one)", in.To, in.Database)
		}
		return nil
	})
}

// checkAndClaim checks the input against To's bucket and the attach point, then claims the
// drill's id (its first record, written only if no other drill has that id). Two drills
// started in the same second (a Schedule's and an operator's) would share a branch: the
// later one takes the next free second instead.
func (d *drill) checkAndClaim(ctx, actx workflow.Context) error {
	var r *activities.Replicator
	in := d.in
	for tries := 1; ; tries++ {
		checkIn := activities.DrillCheckInput{Database: in.Database, To: in.To, Stamp: d.res.ID, WorkflowID: d.res.WorkflowID}
		if err := workflow.ExecuteActivity(actx, r.CheckDrill, checkIn).Get(ctx, &d.check); err != nil {
			return err
		}
		if !d.check.Copy.WatermarkFound {
			return invalidInput(fmt.Sprintf("to: %s's bucket holds no replicated copy of %s (no watermark record): nothing to drill", in.To, in.Database))
		}
		if err := checkAttachAt(in.At, d.check.Copy, d.check.Retention, workflow.Now(ctx), in.Database, in.To); err != nil {
			return err
		}
		d.res.From, d.res.Watermark, d.res.BranchRoot = d.check.Record.From, d.check.Record.Time, d.check.BranchRoot
		d.res.AttachedAt = attachPointOf(in.At, d.check.Copy).words
		err := d.recordNow(ctx, actx, true)
		if err == nil || !hasErrorType(err, activities.ErrDrillClaimed) || tries == maxClaimTries {
			return err
		}
		next, _ := time.Parse(DrillStampLayout, d.res.ID) // ours: it parses
		d.res.ID = next.Add(time.Second).Format(DrillStampLayout)
		d.res.Branch = BranchName(in.Database, d.res.ID)
	}
}

// maxClaimTries bounds how many seconds a drill tries when its id is taken.
const maxClaimTries = 10

// hasErrorType reports whether an application error of type typ is in err's chain (a step's
// fmt.Errorf wrapping reaches the caller as an application error of type wrapError).
func hasErrorType(err error, typ string) bool {
	for err != nil {
		var appErr *temporal.ApplicationError
		if !errors.As(err, &appErr) {
			return false
		}
		if appErr.Type() == typ {
			return true
		}
		err = appErr.Unwrap()
	}
	return false
}

// measureRPO asks the running replication into To for the newest source write its last
// listing saw: the would-be RPO is it minus W. A replication that does not answer leaves the
// RPO unknown, with a warning; it does not fail the drill, whose job is the replica.
func (d *drill) measureRPO(ctx, actx workflow.Context, ctl *activities.Control) {
	if d.res.From == "" {
		d.warn("the watermark record does not name its source: would-be RPO unknown")
		return
	}
	id := ReplicateID(d.in.Database, d.res.From, d.in.To)
	var h activities.ReplicationHealth
	if err := workflow.ExecuteActivity(actx, ctl.QueryReplication, activities.StopInput{WorkflowID: id, UpdateName: QueryStatus}).Get(ctx, &h); err != nil {
		d.warn("replication %s did not answer (%v): would-be RPO unknown", id, err)
		return
	}
	if h.NewestWrite.IsZero() {
		d.warn("replication %s has listed no source write yet: would-be RPO unknown", id)
		return
	}
	d.res.NewestWrite, d.res.RPOKnown = h.NewestWrite, true
	d.res.RPOSeconds = max(0, h.NewestWrite.Sub(d.res.Watermark).Seconds())
}

func (d *drill) branch(ctx workflow.Context) error {
	var r *activities.Replicator
	began := workflow.Now(ctx)
	err := d.step(ctx, DrillBranching, "branch", 6*time.Hour, func(actx workflow.Context) error {
		in := activities.BranchInput{Database: d.in.Database, Region: d.in.To, BranchRoot: d.res.BranchRoot, Record: d.check.Record}
		return workflow.ExecuteActivity(actx, r.BranchCopy, in).Get(ctx, &d.res.Branched)
	})
	d.res.CopySeconds = workflow.Now(ctx).Sub(began).Seconds()
	return err
}

func (d *drill) attach(ctx workflow.Context) error {
	var c *activities.Cluster
	p := attachPointOf(d.in.At, d.check.Copy)
	in := activities.BranchAttachInput{Database: d.in.Database, Region: d.in.To, Branch: d.res.Branch, BranchRoot: d.res.BranchRoot,
		AtMilestone: p.milestone, AtTime: p.time}
	began := workflow.Now(ctx)
	err := d.step(ctx, DrillAttaching, "attach "+d.res.Branch, 30*time.Minute, func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, c.AttachBranch, in).Get(ctx, nil)
	})
	d.res.AttachSeconds = workflow.Now(ctx).Sub(began).Seconds()
	return err
}

func (d *drill) validate(ctx workflow.Context) error {
	var c *activities.Cluster
	return d.step(ctx, DrillValidating, "validate", 30*time.Minute, func(actx workflow.Context) error {
		if sec := d.res.Security; sec != nil && sec.Problem != "" {
			return fmt.Errorf("the users and grants snapshot in %s's bucket would not apply: %s", d.in.To, sec.Problem)
		}
		if len(d.in.Validate) == 0 {
			return nil
		}
		in := activities.ValidateInput{RegionDatabase: activities.RegionDatabase{Database: d.res.Branch, Region: d.in.To},
			Queries: d.in.Validate, KeepRows: d.in.KeepRows}
		return workflow.ExecuteActivity(actx, c.ValidateBranch, in).Get(ctx, &d.res.Validation)
	})
}

// reportOutcome records the drill's outcome as metrics.
func (d *drill) reportOutcome(ctx workflow.Context) {
	var rep *activities.Reporter
	out := activities.DrillOutcome{Database: d.in.Database, To: d.in.To, Passed: d.res.Passed, FinishedAt: workflow.Now(ctx),
		RPOSeconds: d.res.RPOSeconds, RPOKnown: d.res.RPOKnown, AttachSeconds: d.res.AttachSeconds}
	if err := workflow.ExecuteActivity(drillOptions(ctx, "report", time.Minute), rep.RecordDrillOutcome, out).Get(ctx, nil); err != nil {
		d.warn("metrics not recorded: %v", err)
	}
}

// keep waits, with the branch attached, for keepFor or the finish update.
func (d *drill) keep(ctx workflow.Context) {
	d.res.Phase = DrillKept
	d.show(ctx)
	_, _ = workflow.AwaitWithTimeout(ctx, d.keepFor, func() bool { return d.finish })
}

// cleanUp detaches the branch and deletes its root path, if the drill got that far, and
// checks that nothing attached it again meanwhile (an ATTACH of a dead worker's attempt that
// the cluster finished late). It retries for as long as cleanUpTimeout: a branch left behind
// is a copy of the database nobody watches, and a cluster down for a while must not leak it.
func (d *drill) cleanUp(ctx workflow.Context) error {
	if !d.branched {
		return nil
	}
	var r *activities.Replicator
	var c *activities.Cluster
	began := workflow.Now(ctx)
	err := d.step(ctx, DrillCleaning, "clean up", 30*time.Minute, func(actx workflow.Context) error {
		opts := workflow.GetActivityOptions(actx)
		opts.StartToCloseTimeout, opts.ScheduleToCloseTimeout = 30*time.Minute, cleanUpTimeout
		opts.RetryPolicy = &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute,
			BackoffCoefficient: 2, NonRetryableErrorTypes: []string{activities.ErrInvalidInput}}
		actx = workflow.WithActivityOptions(actx, opts)
		branch := activities.BranchName{Region: d.in.To, Branch: d.res.Branch}
		for round := 0; ; round++ {
			var wasAttached bool
			if err := workflow.ExecuteActivity(actx, c.DetachBranch, branch).Get(ctx, &wasAttached); err != nil {
				return fmt.Errorf("detach %s: %w", d.res.Branch, err)
			}
			if round > 0 && !wasAttached {
				return nil
			}
			if round == maxCleanUpRounds {
				return fmt.Errorf("%s keeps being attached again", d.res.Branch)
			}
			in := activities.BranchInput{Database: d.in.Database, Region: d.in.To, BranchRoot: d.res.BranchRoot}
			if err := workflow.ExecuteActivity(actx, r.DeleteBranch, in).Get(ctx, nil); err != nil {
				return err
			}
		}
	})
	d.res.CleanupSeconds = workflow.Now(ctx).Sub(began).Seconds()
	d.res.CleanedUp = err == nil
	return err
}

// cleanUpTimeout bounds each clean-up activity with its retries; maxCleanUpRounds how often the
// branch may be found attached again after its blobs were deleted.
const (
	cleanUpTimeout   = 24 * time.Hour
	maxCleanUpRounds = 3
)

// record writes the report to To's bucket; a failure to is a warning (the result has it).
func (d *drill) record(ctx workflow.Context) {
	if err := d.recordNow(ctx, drillOptions(ctx, "record the report", time.Minute), false); err != nil {
		d.warn("report not recorded in %s's bucket: %v", d.in.To, err)
	}
}

func (d *drill) recordNow(ctx, actx workflow.Context, claim bool) error {
	var r *activities.Replicator
	rec := drillRecord{Database: d.in.Database, Region: d.in.To, ID: d.res.ID, Report: d.res, Claim: claim}
	return workflow.ExecuteActivity(actx, r.RecordDrill, rec).Get(ctx, nil)
}

// drillRecord is activities.DrillRecord as the workflow sends it: the report as a struct,
// which the data converter encodes into the JSON the activity reads as raw bytes (encoding
// it here would be encoding/json in workflow code, whose caches workflowcheck rejects).
type drillRecord struct {
	Database string      `json:"database"`
	Region   string      `json:"region"`
	ID       string      `json:"id"`
	Report   DrillResult `json:"report"`
	Claim    bool        `json:"claim,omitempty"`
}

func (d *drill) warn(format string, args ...any) {
	d.res.Warnings = append(d.res.Warnings, fmt.Sprintf(format, args...))
}
