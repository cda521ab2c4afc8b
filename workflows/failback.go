package workflows

import (
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// Failback finishes what an unplanned failover from To to From began (DESIGN 4, 5.5): no row
// either region acknowledged is lost, and the database can return to To.
//
//  1. check: From is the recorded primary, made so by a failover;
//  2. wait, for as long as it takes, until To's bucket answers (probes with backoff, shown in
//     the UI; continue-as-new keeps the history bounded);
//  3. fence To: DETACH without FORCE if its cluster still has the database attached, so its
//     last writes reach its bucket; a cluster that does not answer is noted, not waited for;
//     one that answers with an error stops the failback;
//  4. recover: To's whole folder is rebuilt in From's bucket as <root>_recovered_<stamp>
//     (blobs From holds are server-side copies, only the tail crosses regions) and attached in
//     From as <db>_recovered_<stamp>;
//  5. reverse: what From's folder does not hold is moved aside in To, To's stale storage
//     locks are removed (its cluster is fenced or gone), From is recorded as the primary in
//     every bucket, and From→To replication starts: its first sync copies only what To lacks;
//  6. with switchback (input or update): a planned, zero-loss switchover From→To, then
//     To→From replication again, copying only To's new writes.
//
// Every step is idempotent; a recovered branch is recorded in From's bucket before it is
// built, so a failback run again (its history lost) resumes it instead of making another.
func Failback(ctx workflow.Context, in FailbackInput) (FailbackResult, error) {
	if err := validateFailbackInput(in); err != nil {
		return FailbackResult{}, err
	}
	fb := &failback{in: in, res: FailbackResult{Database: in.Database, From: in.From, To: in.To, Phase: FailbackChecking},
		switchback: in.Switchback}
	if st := in.State; st != nil {
		fb.res.WaitingSince, fb.res.Probes, fb.res.LastProblem = st.WaitingSince, st.Probes, st.LastProblem
		fb.switchback = fb.switchback || st.Switchback
	}
	if err := fb.setup(ctx); err != nil {
		return fb.res, err
	}
	err := fb.run(ctx)
	if err == nil {
		fb.res.Phase = FailbackDone
	}
	fb.show(ctx)
	return fb.res, err
}

type failback struct {
	in         FailbackInput
	res        FailbackResult
	check      activities.FailbackCheck
	switchback bool // asked for, by the input or the update
	// reverseBase is what To's watermark record counted before From→To replication started.
	reverseBase activities.CatchUp
}

func validateFailbackInput(in FailbackInput) error {
	errs := routeErrors(in.Database, in.From, in.To)
	if len(errs) > 0 {
		return temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return nil
}

// setup registers the status query and the switchback update.
func (fb *failback) setup(ctx workflow.Context) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (FailbackResult, error) { return fb.res, nil }); err != nil {
		return err
	}
	// switchback only sets a flag: it completes at once whatever the failback is doing.
	return workflow.SetUpdateHandler(ctx, UpdateSwitchback, func(ctx workflow.Context) (FailbackResult, error) {
		fb.switchback = true
		return fb.res, nil
	})
}

func (fb *failback) run(ctx workflow.Context) error {
	if err := fb.checkInput(ctx); err != nil {
		return err
	}
	if err := fb.waitForTo(ctx); err != nil {
		return err
	}
	// The wait may have lasted days: the failover this failback undoes must still be the
	// last word before anything in To changes.
	if err := fb.checkStillPrimary(ctx, FailbackFencing); err != nil {
		return err
	}
	if err := fb.fenceTo(ctx); err != nil {
		return err
	}
	stamp := workflow.Now(ctx).UTC().Format(DrillStampLayout)
	if err := fb.recover(ctx, stamp); err != nil {
		return err
	}
	if err := fb.checkStillPrimary(ctx, FailbackReversing); err != nil {
		return err
	}
	if err := fb.reverse(ctx, stamp); err != nil {
		return err
	}
	if err := fb.catchUp(ctx); err != nil {
		return err
	}
	if !fb.switchback {
		return nil
	}
	return fb.switchBack(ctx)
}

// step runs fn as a named step in phase, timing it and showing it in the UI.
func (fb *failback) step(ctx workflow.Context, phase, name string, fn func(actx workflow.Context) error) error {
	fb.res.Phase = phase
	fb.show(ctx)
	began := workflow.Now(ctx)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		// Every activity heartbeats each second; a recovered branch or a catch-up may be long.
		StartToCloseTimeout: 6 * time.Hour,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, MaximumInterval: time.Minute,
			NonRetryableErrorTypes: []string{activities.ErrInvalidInput, activities.ErrFenceRefused}},
		Summary: name,
	})
	err := fn(actx)
	fb.res.Steps = append(fb.res.Steps, Step{Name: name, Seconds: workflow.Now(ctx).Sub(began).Seconds()})
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// show puts the failback's phase in words in the Temporal UI and in BdrState.
func (fb *failback) show(ctx workflow.Context) {
	r := fb.res
	text := fmt.Sprintf("**failback** of %s: %s → %s  \nphase: %s", r.Database, r.From, r.To, r.Phase)
	if r.Phase == FailbackWaiting {
		text += fmt.Sprintf("  \nwaiting for %s's bucket since %s (%d probes)", r.To, utc(r.WaitingSince), r.Probes)
		if r.LastProblem != "" {
			text += "  \nlast: " + r.LastProblem
		}
	}
	if r.Recovered != nil {
		text += fmt.Sprintf("  \nrecovered branch: %s in %s (%d blobs of tail)", r.Recovered.Name, r.Recovered.Region, r.Tail.Objects)
	}
	if len(r.Steps) > 0 {
		names := make([]string, len(r.Steps))
		for i, s := range r.Steps {
			names[i] = s.Name
		}
		text += "  \ndone: " + strings.Join(names, ", ")
	}
	workflow.SetCurrentDetails(ctx, text)
	if err := workflow.UpsertTypedSearchAttributes(ctx, SearchAttrDatabase.ValueSet(r.Database), SearchAttrState.ValueSet("failback: "+r.Phase)); err != nil {
		workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
	}
}

func (fb *failback) checkInput(ctx workflow.Context) error {
	var r *activities.Replicator
	return fb.step(ctx, FailbackChecking, "check", func(actx workflow.Context) error {
		in := activities.FailbackCheckInput{Database: fb.in.Database, From: fb.in.From, To: fb.in.To}
		if err := workflow.ExecuteActivity(actx, r.CheckFailback, in).Get(ctx, &fb.check); err != nil {
			return err
		}
		fb.res.FailoverAt = fb.check.Primary.Since
		return nil
	})
}

// checkStillPrimary checks From's bucket again: the primary record must be the one the
// failback began from. Another failover since (From → elsewhere, or back again) makes this
// failback stale: acting on it would record a primary that no longer serves in every bucket,
// so it stops before it changes anything more in To.
func (fb *failback) checkStillPrimary(ctx workflow.Context, phase string) error {
	var r *activities.Replicator
	in := fb.in
	return fb.step(ctx, phase, "check "+in.From+" is still the primary", func(actx workflow.Context) error {
		var now activities.FailbackCheck
		if err := workflow.ExecuteActivity(actx, r.CheckFailback, activities.FailbackCheckInput{Database: in.Database, From: in.From, To: in.To}).Get(ctx, &now); err != nil {
			return err
		}
		was, is := fb.check.Primary, now.Primary
		if !is.Same(was) {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"the primary of %s was recorded again since this failback began (now %s since %s by %s; it began from %s since %s by %s): the failback is stale and stops before it changes anything more in %s; start a new one",
				in.Database, is.Region, utc(is.Since), is.By, was.Region, utc(was.Since), was.By, in.To), activities.ErrPrimaryChanged, nil)
		}
		return nil
	})
}

// Backoff of the probes of To while it does not answer.
const (
	firstProbeWait = 5 * time.Second
	maxProbeWait   = 5 * time.Minute
)

// waitForTo probes To's bucket until it answers, backing off to maxProbeWait; the wait may last
// days, so the failback continues as new when its history grows long.
func (fb *failback) waitForTo(ctx workflow.Context) error {
	var r *activities.Replicator
	fb.res.Phase = FailbackWaiting
	if fb.res.WaitingSince.IsZero() {
		fb.res.WaitingSince = workflow.Now(ctx)
	}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		HeartbeatTimeout: activities.SyncHeartbeatTimeout,
		RetryPolicy:      &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrInvalidInput}}})
	wait := firstProbeWait
	for {
		var probe activities.StoreProbe
		err := workflow.ExecuteActivity(actx, r.ProbeStore, activities.RegionDatabase{Database: fb.in.Database, Region: fb.in.To}).Get(ctx, &probe)
		fb.res.Probes++
		switch {
		case err == nil && probe.Answered:
			fb.res.LastProblem = ""
			fb.res.WaitedSeconds = workflow.Now(ctx).Sub(fb.res.WaitingSince).Seconds()
			fb.res.Steps = append(fb.res.Steps, Step{Name: "wait for " + fb.in.To, Seconds: fb.res.WaitedSeconds})
			return nil
		case err != nil:
			fb.res.LastProblem = reasonOf(err)
		default:
			fb.res.LastProblem = probe.Reason
		}
		fb.show(ctx)
		if workflow.GetInfo(ctx).GetContinueAsNewSuggested() {
			next := fb.in
			next.State = &FailbackState{WaitingSince: fb.res.WaitingSince, Probes: fb.res.Probes, LastProblem: fb.res.LastProblem, Switchback: fb.switchback}
			return workflow.NewContinueAsNewError(ctx, FailbackName, next)
		}
		if err := workflow.Sleep(ctx, wait); err != nil {
			return err // cancelled: nothing was changed yet
		}
		wait = min(2*wait, maxProbeWait)
	}
}

// fenceTo detaches the database in To if its cluster still has it attached (without FORCE:
// what it had not uploaded reaches its bucket first). A cluster that does not answer is
// noted; one that answers with an error stops the failback (it is alive, and may serve).
func (fb *failback) fenceTo(ctx workflow.Context) error {
	var c *activities.Cluster
	return fb.step(ctx, FailbackFencing, "fence "+fb.in.To, func(actx workflow.Context) error {
		var fence activities.FenceResult
		err := workflow.ExecuteActivity(actx, c.Fence, activities.FenceInput{RegionDatabase: activities.RegionDatabase{Database: fb.in.Database, Region: fb.in.To}}).Get(ctx, &fence)
		fb.res.Fence = &fence
		if err == nil && fence.Lost {
			fb.warn("%s's cluster did not answer (%s): noted as gone; its folder is recovered from its bucket as it stands", fb.in.To, fence.Reason)
		}
		return err
	})
}

// recover rebuilds To's folder as a recovered branch in From and attaches it there, when To
// holds a tail.
func (fb *failback) recover(ctx workflow.Context, stamp string) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := fb.in
	return fb.step(ctx, FailbackRecovering, "recover "+in.To+"'s tail", func(actx workflow.Context) error {
		var rec activities.Recovered
		recIn := activities.RecoverInput{Database: in.Database, Primary: fb.check.Primary, Returning: in.To, Stamp: stamp}
		if err := workflow.ExecuteActivity(actx, r.RecoverTail, recIn).Get(ctx, &rec); err != nil {
			return err
		}
		fb.res.Tail = rec.Tail
		if rec.Stamp == "" {
			return nil // no tail: nothing to recover
		}
		rec.Branch.Name = RecoveredName(in.Database, rec.Stamp)
		fb.res.Recovered = &rec.Branch
		attach := activities.BranchAttachInput{Database: in.Database, Region: in.From, Branch: rec.Branch.Name, BranchRoot: rec.Branch.Root}
		if err := workflow.ExecuteActivity(actx, c.AttachBranch, attach).Get(ctx, nil); err != nil {
			return fmt.Errorf("attach the recovered branch %s in %s: %w", rec.Branch.Name, in.From, err)
		}
		fb.res.Recovered.Attached = true
		return workflow.ExecuteActivity(actx, r.RecordRecoveredAttached, rec).Get(ctx, nil)
	})
}

// reverse makes To the primary's replica: its diverged blobs go aside, its stale locks go,
// From is recorded as the primary in every bucket, and From→To replication starts.
func (fb *failback) reverse(ctx workflow.Context, stamp string) error {
	var r *activities.Replicator
	in := fb.in
	return fb.step(ctx, FailbackReversing, "make "+in.To+" the replica", func(actx workflow.Context) error {
		id := stamp
		if fb.res.Recovered != nil {
			id = strings.TrimPrefix(fb.res.Recovered.Name, in.Database+"_recovered_")
		}
		var moved activities.MoveDivergedResult
		if err := workflow.ExecuteActivity(actx, r.MoveDiverged, activities.MoveDivergedInput{Database: in.Database, Primary: in.From, Returning: in.To, ID: id}).Get(ctx, &moved); err != nil {
			return err
		}
		fb.res.MovedAside, fb.res.FullCopy = moved.Moved, moved.Left == 0
		if moved.Moved > 0 {
			fb.res.MovedAsideTo = moved.MovedTo
		}
		// To's cluster is detached or gone (fenceTo): a lock left in its folder is stale, and
		// would refuse the switchback's ATTACH there.
		if err := workflow.ExecuteActivity(actx, r.RemoveLocks, activities.RegionDatabase{Database: in.Database, Region: in.To}).Get(ctx, &fb.res.LocksRemoved); err != nil {
			return err
		}
		var recorded []string
		if err := workflow.ExecuteActivity(actx, r.RecordPrimary, fb.check.Primary).Get(ctx, &recorded); err != nil {
			return err
		}
		return fb.startReplication(ctx, actx, in.From, in.To, &fb.res.ReverseReplication, &fb.reverseBase)
	})
}

// startReplication starts from→to replication, reading first what the target's record has
// counted so far (base), so that what this replication copies can be told apart.
func (fb *failback) startReplication(ctx, actx workflow.Context, from, to string, id *string, base *activities.CatchUp) error {
	var r *activities.Replicator
	var ctl *activities.Control
	if err := workflow.ExecuteActivity(actx, r.CopyTotals, activities.RegionDatabase{Database: fb.in.Database, Region: to}).Get(ctx, base); err != nil {
		return err
	}
	start := activities.StartWorkflowInput{WorkflowID: ReplicateID(fb.in.Database, from, to), Workflow: ReplicateName,
		Database: fb.in.Database, From: from, To: to}
	return workflow.ExecuteActivity(actx, ctl.StartWorkflow, start).Get(ctx, id)
}

// waitCaughtUp waits for replication id's first copy and returns what it copied beyond base.
func (fb *failback) waitCaughtUp(ctx, actx workflow.Context, id string, base activities.CatchUp) (activities.CatchUp, error) {
	var ctl *activities.Control
	var caught activities.CatchUp
	if err := workflow.ExecuteActivity(actx, ctl.WaitCaughtUp, activities.StopInput{WorkflowID: id, UpdateName: QueryStatus}).Get(ctx, &caught); err != nil {
		return caught, err
	}
	return activities.CatchUp{CopiedObjects: max(0, caught.CopiedObjects-base.CopiedObjects), CopiedBytes: max(0, caught.CopiedBytes-base.CopiedBytes)}, nil
}

// catchUp waits for From→To replication's first copy and measures it against what From wrote
// since the failover.
func (fb *failback) catchUp(ctx workflow.Context) error {
	var r *activities.Replicator
	in := fb.in
	return fb.step(ctx, FailbackCatchingUp, "replicate "+in.From+" → "+in.To, func(actx workflow.Context) error {
		caught, err := fb.waitCaughtUp(ctx, actx, fb.res.ReverseReplication, fb.reverseBase)
		if err != nil {
			return err
		}
		fb.res.CopiedBackObjects, fb.res.CopiedBackBytes = caught.CopiedObjects, caught.CopiedBytes
		var w activities.Writes
		if err := workflow.ExecuteActivity(actx, r.MeasureWrites, activities.WritesInput{Database: in.Database, Region: in.From, Since: fb.check.Primary.Since}).Get(ctx, &w); err != nil {
			return err
		}
		fb.res.WrittenSinceFailover, fb.res.DatabaseBytes = w.SinceBytes, w.Bytes
		if fb.res.FullCopy {
			fb.warn("%s's folder held nothing of %s: replicating back copied the whole database", in.To, in.Database)
		}
		return nil
	})
}

// switchBack runs a planned switchover From→To, stops both old replications, and starts
// To→From again.
func (fb *failback) switchBack(ctx workflow.Context) error {
	var ctl *activities.Control
	in := fb.in
	if err := fb.step(ctx, FailbackSwitching, "switch back to "+in.To, func(actx workflow.Context) error {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: FailoverID(in.Database),
			StaticSummary: fmt.Sprintf("switch %s back to %s (failback)", in.Database, in.To)})
		var res FailoverResult
		err := workflow.ExecuteChildWorkflow(cctx, FailoverName, FailoverInput{Database: in.Database, From: in.From, To: in.To, Mode: ModePlanned}).Get(ctx, &res)
		fb.res.Switchback = &res
		return err
	}); err != nil {
		return err
	}
	return fb.step(ctx, FailbackForward, "replicate "+in.To+" → "+in.From, func(actx workflow.Context) error {
		// The switchover drained and paused From→To; the failover paused To→From. Both
		// end, and To→From starts afresh: its first sync skips what From holds.
		for _, id := range []string{ReplicateID(in.Database, in.From, in.To), ReplicateID(in.Database, in.To, in.From)} {
			if err := workflow.ExecuteActivity(actx, ctl.StopWorkflow, id).Get(ctx, nil); err != nil {
				return err
			}
		}
		var base activities.CatchUp
		if err := fb.startReplication(ctx, actx, in.To, in.From, &fb.res.ForwardReplication, &base); err != nil {
			return err
		}
		caught, err := fb.waitCaughtUp(ctx, actx, fb.res.ForwardReplication, base)
		if err != nil {
			return err
		}
		fb.res.ForwardCopiedObjects = caught.CopiedObjects
		return nil
	})
}

func (fb *failback) warn(format string, args ...any) {
	fb.res.Warnings = append(fb.res.Warnings, fmt.Sprintf(format, args...))
}
