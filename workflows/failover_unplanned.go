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
)

// attachMargin is how far the copy's watermark must be past a milestone or a time for the
// copy to hold everything committed up to it: AT TIME takes a whole second, and a commit's
// blob reaches the store a moment after the commit.
const attachMargin = time.Second

// unplanned fails over after From was lost: fence From if it still answers (an error in
// answer stops it unless forced), drain while From's bucket answers, stop replication, fence
// replication into the target and seal it at its watermark, attach in To at latest, a
// milestone or a time, apply the users and grants, validate and record the new primary; a
// failure once the ATTACH may have run fails forward. RTO counts from the
// start; RPO is the newest source write known minus the point attached.
func (f *failover) unplanned(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	var ctl *activities.Control
	in := f.in
	began := workflow.Now(ctx)
	from := activities.RegionDatabase{Database: in.Database, Region: in.From}
	target := activities.RegionDatabase{Database: in.Database, Region: in.To}
	copyState, err := f.checkUnplanned(ctx)
	if err != nil {
		return err
	}
	if err := f.step(ctx, "fence "+in.From, func(actx workflow.Context) error {
		var fence activities.FenceResult
		err := workflow.ExecuteActivity(actx, c.Fence, activities.FenceInput{RegionDatabase: from, Force: in.Force}).Get(ctx, &fence)
		f.res.Fence = &fence
		return err
	}); err != nil {
		return err
	}
	f.security = f.res.Fence.Security // nil when From's cluster did not answer
	f.drainWhileFromAnswers(ctx)
	var repl activities.ReplicationState
	if err := f.step(ctx, "stop replication", func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, ctl.StopReplication, activities.StopInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdatePause}).Get(ctx, &repl)
	}); err != nil {
		return err
	}
	if err := f.fenceTarget(ctx); err != nil {
		return err
	}
	if err := f.step(ctx, "seal "+in.To, func(actx workflow.Context) error {
		var sealed activities.SealReport
		sealID := "failover-" + began.UTC().Format("20060102T150405Z")
		err := workflow.ExecuteActivity(long(actx), r.Seal, activities.SealInput{Database: in.Database, Region: in.To, SealID: sealID}).Get(ctx, &sealed)
		f.res.Sealed, f.res.Watermark = &sealed, sealed.Watermark
		return err
	}); err != nil {
		return err
	}
	// The watermark only grows until the seal, so the check of the attach point still holds;
	// latest is now the sealed watermark.
	copyState.Watermark = f.res.Watermark
	at, point := f.attachPoint(copyState)
	if f.security == nil {
		if err := f.step(ctx, "load users and grants from "+in.To+"'s bucket", func(actx workflow.Context) error {
			var loaded activities.LoadedSecurity
			if err := workflow.ExecuteActivity(actx, r.LoadSecurity, target).Get(ctx, &loaded); err != nil {
				return err
			}
			if loaded.Found {
				f.security = &loaded.Record.Security
			} else {
				f.warn("no users and grants snapshot of %s is recorded: none applied in %s", in.Database, in.To)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	if err := f.serveFromTarget(ctx, at); err != nil {
		if f.attachStarted {
			return f.failForward(ctx, err)
		}
		return err
	}
	f.res.RTOSeconds = workflow.Now(ctx).Sub(began).Seconds()
	// Measured once the database serves again, and beside the record of the new primary: a
	// dead From's bucket takes fence_timeout to not answer each of them, which need not delay
	// the recovery nor be waited for twice.
	var rpoErr error
	measured := workflow.NewWaitGroup(ctx)
	measured.Add(1)
	workflow.Go(ctx, func(ctx workflow.Context) {
		defer measured.Done()
		rpoErr = f.measureRPO(ctx, repl, point)
	})
	recordErr := f.recordPrimary(ctx)
	measured.Wait(ctx)
	if err := errors.Join(recordErr, rpoErr); err != nil {
		return err
	}
	if in.Failback {
		f.startFailback(ctx)
	}
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**done**: %s is served from %s, attached at %s. RPO %.1fs (newest write known from %s), RTO %.1fs  \nfence: %s  \nsteps: %s",
		in.Database, in.To, f.res.AttachedAt, f.res.RPOSeconds, f.res.RPOFrom, f.res.RTOSeconds, f.fenceWords(), f.stepNames()))
	return nil
}

// startFailback starts the Failback of the database from To back to From, which waits for
// From to return. The failover has succeeded by then: a failback that cannot start is a
// warning that says how to start it, not a failed failover.
func (f *failover) startFailback(ctx workflow.Context) {
	var ctl *activities.Control
	in := f.in
	id := FailbackID(in.Database)
	err := f.step(ctx, "start failback", func(actx workflow.Context) error {
		start := activities.StartWorkflowInput{WorkflowID: id, Workflow: FailbackName, Database: in.Database, From: in.To, To: in.From,
			Summary: fmt.Sprintf("failback of %s: %s → %s (started by the failover)", in.Database, in.To, in.From), RefuseRunning: true}
		return workflow.ExecuteActivity(actx, ctl.StartWorkflow, start).Get(ctx, &f.res.Failback)
	})
	switch {
	case hasErrorType(err, activities.ErrAlreadyRunning):
		// An older failback, of an earlier failover: it stops by itself when it finds this
		// failover's record of the primary.
		f.warn("the failback was not started: an older one (%s) is running, which stops before changing anything once it finds %s recorded as the primary, or cancel it (temporal workflow cancel --workflow-id %s); then start this one with bdr failback %s --from %s --to %s",
			id, in.To, id, in.Database, in.To, in.From)
	case err != nil:
		f.warn("the failback was not started (%v): start it with bdr failback %s --from %s --to %s", err, in.Database, in.To, in.From)
	}
}

// failForward ends an unplanned failover that failed once its ATTACH in To may have run (the
// ATTACH itself, the users and grants, a validation query): From is fenced or lost, so To, if
// the database is attached there, is the one region serving and is recorded as the primary
// (DESIGN 5a.1); a run again would refuse a database already attached in To. If it is not
// attached there, nothing serves and the failover can simply run again.
func (f *failover) failForward(ctx workflow.Context, cause error) error {
	in := f.in
	rb := &Rollback{Outcome: FailedForward, Serving: in.To}
	f.res.Rollback = rb
	var attached bool
	err := f.step(ctx, "is it attached in "+in.To, func(actx workflow.Context) error {
		var err error
		attached, err = f.attachedInTo(ctx, actx)
		return err
	})
	switch {
	case err != nil:
		rb.Outcome, rb.Serving = NotRolledBack, ""
		rb.Reason = fmt.Sprintf("whether %s is attached in %s could not be found out (%v): check it by hand", in.Database, in.To, err)
	case !attached:
		rb.Outcome, rb.Serving = NotRolledBack, ""
		rb.Reason = fmt.Sprintf("%s is not attached in %s: run the failover again", in.Database, in.To)
	default:
		if err := f.recordPrimary(ctx); err != nil {
			rb.Reason = fmt.Sprintf("recording %s as the primary failed: %v", in.To, err)
		}
	}
	return f.failed(ctx, cause)
}

// drainWhileFromAnswers copies what From's bucket holds beyond the watermark before the
// target is sealed, for failover.unplanned_drain_timeout at most, when that bucket answers:
// the fence's DETACH uploads From's last writes, and sealing them aside would lose what could
// have been copied. A drain that fails or times out is a warning: the failover goes on with
// what arrived.
func (f *failover) drainWhileFromAnswers(ctx workflow.Context) {
	var r *activities.Replicator
	var ctl *activities.Control
	in := f.in
	if f.bounds.unplannedDrainTimeout <= 0 || !f.fromSilentAt.IsZero() {
		return // no drain asked for, or From's bucket was already silent at the check
	}
	var probe activities.StoreProbe
	if err := f.step(ctx, "probe "+in.From+"'s bucket", func(actx workflow.Context) error {
		return workflow.ExecuteActivity(actx, r.ProbeStore, activities.RegionDatabase{Database: in.Database, Region: in.From}).Get(ctx, &probe)
	}); err != nil || !probe.Answered {
		return
	}
	err := f.step(ctx, "drain replication", func(actx workflow.Context) error {
		var out activities.DrainOutcome
		// The drain's own timeout ends it; the activity's leaves room for that answer.
		opts := workflow.GetActivityOptions(actx)
		opts.StartToCloseTimeout = f.bounds.unplannedDrainTimeout + time.Minute
		return workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), ctl.DrainReplication, activities.DrainInput{
			WorkflowID: ReplicateID(in.Database, in.From, in.To), UpdateName: UpdateDrain,
			Quiescent: f.res.Fence.Fenced, Timeout: f.bounds.unplannedDrainTimeout}).Get(ctx, &out)
	})
	if err != nil {
		f.warn("%s's bucket answered, but the drain before sealing did not complete (%v): what it did not copy is sealed aside", in.From, err)
	}
}

// checkUnplanned checks, changing nothing, that the failover can go ahead: the names, To's
// bucket and cluster, the recorded primary, a replicated copy in To and the attach point.
func (f *failover) checkUnplanned(ctx workflow.Context) (activities.CopyState, error) {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	var st activities.CopyState
	err := f.step(ctx, "check", func(actx workflow.Context) error {
		var prep activities.PrepareResult
		if err := workflow.ExecuteActivity(actx, r.Prepare, activities.PrepareInput{Database: in.Database, From: in.From, To: in.To, FromMayFail: true}).Get(ctx, &prep); err != nil {
			return err
		}
		f.retention, f.fenceTimeout, f.bounds = prep.Retention, prep.FenceTimeout, boundsOf(prep)
		if err := f.checkPrimary(ctx, actx); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(actx, c.Health, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, nil); err != nil {
			return err
		}
		if err := f.checkNotAttachedInTo(ctx, actx); err != nil {
			return err
		}
		if err := workflow.ExecuteActivity(actx, r.InspectCopy, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, &st); err != nil {
			return err
		}
		return f.checkAt(st, workflow.Now(ctx))
	})
	return st, err
}

// checkPrimary refuses a failover to the recorded primary, or from a region that is not it.
func (f *failover) checkPrimary(ctx, actx workflow.Context) error {
	var r *activities.Replicator
	in := f.in
	var current activities.CurrentPrimaryResult
	if err := workflow.ExecuteActivity(actx, r.CurrentPrimary, in.Database).Get(ctx, &current); err != nil {
		return err
	}
	if slices.Contains(current.Silent, in.From) && f.fromSilentAt.IsZero() {
		f.fromSilentAt = workflow.Now(ctx)
	}
	if current.Found && current.Primary.Region == in.To {
		return invalidInput(fmt.Sprintf("to: %s is already the primary of %s (since %s)",
			in.To, in.Database, current.Primary.Since.UTC().Format(time.RFC3339)))
	}
	if current.Found && current.Primary.Region != in.From {
		return invalidInput(fmt.Sprintf("from: the primary of %s is %s, not %s", in.Database, current.Primary.Region, in.From))
	}
	return nil
}

// checkAt checks that To holds a replicated copy, and that the attach point is one it can
// reach (checkAttachAt).
func (f *failover) checkAt(st activities.CopyState, now time.Time) error {
	in := f.in
	if !st.WatermarkFound {
		return invalidInput(fmt.Sprintf("to: %s's bucket holds no replicated copy of %s (no watermark record): nothing to attach", in.To, in.Database))
	}
	return checkAttachAt(in.At, st, f.retention, now, in.Database, in.To)
}

// attachPoint turns the input's at into the attach and the time it stands for.
func (f *failover) attachPoint(st activities.CopyState) (activities.AttachInput, time.Time) {
	p := attachPointOf(f.in.At, st)
	f.res.AttachedAt = p.words
	return activities.AttachInput{RegionDatabase: activities.RegionDatabase{Database: f.in.Database, Region: f.in.To},
		AtMilestone: p.milestone, AtTime: p.time}, p.stands
}

// measureRPO finds the newest source write known, from From's bucket when it answers and
// from the replication's last status otherwise, and the tail never replicated.
func (f *failover) measureRPO(ctx workflow.Context, repl activities.ReplicationState, point time.Time) error {
	var r *activities.Replicator
	in := f.in
	return f.step(ctx, "measure RPO", func(actx workflow.Context) error {
		var src activities.SourceState
		input := activities.SourceInput{RegionDatabase: activities.RegionDatabase{Database: in.Database, Region: in.From}, Watermark: f.res.Watermark}
		if err := workflow.ExecuteActivity(actx, r.InspectSource, input).Get(ctx, &src); err != nil {
			return err
		}
		switch {
		case src.Answered:
			f.res.NewestWrite, f.res.RPOFrom = src.NewestWrite, in.From+"'s bucket"
			f.res.Unreplicated = &Tail{Objects: src.BeyondObjects, Bytes: src.BeyondBytes}
			f.res.RPOSeconds = max(0, src.NewestWrite.Sub(point).Seconds())
			return nil
		case repl.Running:
			f.res.NewestWrite, f.res.RPOFrom = repl.NewestWrite, "the replication's last listing of "+in.From
			f.warn("%s's bucket did not answer (%s): the RPO is at least the newest write the last listing saw and at most when %s was first seen not answering, each minus the point attached", in.From, src.Reason, in.From)
		default:
			f.res.NewestWrite, f.res.RPOFrom = f.res.Watermark, "nowhere: neither the bucket nor a replication answered"
			f.warn("the newest write in %s is unknown: the RPO lies between 0 and when %s was first seen not answering, minus the point attached", in.From, in.From)
		}
		// Without From's bucket, the writes lost are bounded: at least up to the newest the
		// last listing saw, and none after the bucket stopped answering.
		f.res.RPOMinSeconds = max(0, f.res.NewestWrite.Sub(point).Seconds())
		f.res.RPOSeconds = max(f.res.RPOMinSeconds, silentBy(workflow.Now(ctx), src, repl, f.fromSilentAt).Sub(point).Seconds())
		return nil
	})
}

// silentBy returns the earliest time known by which From's bucket had stopped answering, and
// so taking writes: when a request first failed to reach it after its last answer, as seen
// by the worker that ran the failing syncs (in the replication's status) or by the one
// inspecting it now; without either, when the replication's syncs began to fail. A silence
// older than the replication's last listing is a passing failure (the bucket answered that
// listing), not the end. This failover's own check finding From silent bounds it as well,
// and so does now.
func silentBy(now time.Time, src activities.SourceState, repl activities.ReplicationState, checkSilentAt time.Time) time.Time {
	by := now
	earlier := func(t time.Time) {
		if !t.IsZero() && t.Before(by) {
			by = t
		}
	}
	earlier(checkSilentAt)
	silenceKnown := false
	for _, silent := range []time.Time{src.SilentSince, repl.SourceSilentSince} {
		if !silent.IsZero() && !silent.Before(repl.LastSyncAt) {
			earlier(silent)
			silenceKnown = true
		}
	}
	if !silenceKnown {
		earlier(repl.FailingSince)
	}
	return by
}

func (f *failover) fenceWords() string {
	switch {
	case f.res.Fence == nil:
		return "not tried"
	case f.res.Fence.Fenced:
		return "detached in " + f.in.From
	}
	return f.in.From + " declared lost: " + f.res.Fence.Reason
}

// warn records a warning in the result and the log.
func (f *failover) warn(format string, args ...any) {
	f.res.Warnings = append(f.res.Warnings, fmt.Sprintf(format, args...))
}

func invalidInput(msg string) error {
	return temporal.NewNonRetryableApplicationError(msg, activities.ErrInvalidInput, nil)
}

func utc(t time.Time) string { return t.UTC().Format(time.DateTime) }

func orNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
