package workflows

import (
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// dryRun runs every check of the mode (names, buckets, the recorded primary, the copy in To,
// its locks and watermark, the attach point), asks From whether it answers, estimates the RPO
// and reports what the failover would do. It changes nothing: every activity it runs only
// reads.
func (f *failover) dryRun(ctx workflow.Context) error {
	var r *activities.Replicator
	var c *activities.Cluster
	in := f.in
	from := activities.RegionDatabase{Database: in.Database, Region: in.From}
	target := activities.RegionDatabase{Database: in.Database, Region: in.To}
	var st activities.CopyState
	if in.Mode == ModePlanned {
		if err := f.checkPlanned(ctx); err != nil {
			return err
		}
		if err := f.step(ctx, "inspect "+in.To, func(actx workflow.Context) error {
			return workflow.ExecuteActivity(actx, r.InspectCopy, target).Get(ctx, &st)
		}); err != nil {
			return err
		}
	} else {
		var err error
		if st, err = f.checkUnplanned(ctx); err != nil {
			return err
		}
	}
	report := &DryRun{Watermark: st.Watermark, Locks: st.Locks}
	f.res.DryRun, f.res.Watermark = report, st.Watermark
	// One attempt, bounded like the fence: a region that does not answer is what we report.
	_ = f.step(ctx, "ask "+in.From, func(actx workflow.Context) error {
		opts := workflow.GetActivityOptions(actx)
		opts.StartToCloseTimeout, opts.RetryPolicy = max(f.fenceTimeout, time.Second), &temporal.RetryPolicy{MaximumAttempts: 1}
		err := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), c.Health, from).Get(ctx, nil)
		report.FromAnswers = err == nil
		if err != nil {
			report.FromProblem = err.Error()
		}
		return nil
	})
	if in.Mode == ModeUnplanned {
		at, point := f.attachPoint(st)
		if err := f.measureRPO(ctx, activities.ReplicationState{}, point); err != nil {
			return err
		}
		report.EstimatedRPOSeconds = f.res.RPOSeconds
		report.WouldDo = f.unplannedPlan(st, at, report.FromAnswers)
	} else {
		report.WouldDo = f.plannedPlan(st)
	}
	f.res.RPOSeconds = 0 // nothing was lost: nothing happened
	workflow.SetCurrentDetails(ctx, fmt.Sprintf("**dry run** of a %s failover of %s: %s → %s. Nothing was changed.  \nwould: %v",
		in.Mode, in.Database, in.From, in.To, report.WouldDo))
	return nil
}

// plannedPlan lists what a switchover would do.
func (f *failover) plannedPlan(st activities.CopyState) []string {
	in := f.in
	return []string{
		"create a milestone in " + in.From + " and record the users and grants of its cluster",
		"DETACH " + in.Database + " in " + in.From + " (service stops here)",
		fmt.Sprintf("drain %s (within failover.drain_timeout, %s) and compare every source blob with %s",
			ReplicateID(in.Database, in.From, in.To), f.bounds.drainTimeout, in.To),
		"fence replication into " + in.To,
		fmt.Sprintf("remove %d storage lock(s) in %s", len(st.Locks), in.To),
		"ATTACH " + in.Database + " in " + in.To + " at latest, apply the users and grants, validate",
		"record " + in.To + " as the primary in every bucket",
	}
}

// unplannedPlan lists what an unplanned failover would do.
func (f *failover) unplannedPlan(st activities.CopyState, at activities.AttachInput, fromAnswers bool) []string {
	in := f.in
	fence := "DETACH " + in.Database + " in " + in.From + " within failover.fence_timeout, else declare it lost (an error in answer stops the failover"
	if in.Force {
		fence += ", but force declares it lost"
	}
	fence += ")"
	if !fromAnswers {
		fence += " (it does not answer now: it would be declared lost)"
	}
	drain := fmt.Sprintf("drain %s for failover.unplanned_drain_timeout (%s) at most while %s's bucket answers",
		ReplicateID(in.Database, in.From, in.To), f.bounds.unplannedDrainTimeout, in.From)
	point := f.res.AttachedAt
	if at.AtMilestone == "" && at.AtTime.IsZero() {
		point = "latest (" + utc(st.Watermark) + ")"
	}
	return []string{
		fence,
		drain,
		"pause " + ReplicateID(in.Database, in.From, in.To) + " and fence replication into " + in.To,
		"seal " + in.To + " at its watermark (blobs beyond it moved under .bdr/" + in.Database + "/sealed/)",
		fmt.Sprintf("remove %d storage lock(s) in %s", len(st.Locks), in.To),
		"ATTACH " + in.Database + " in " + in.To + " at " + point,
		"apply the users and grants, validate, record " + in.To + " as the primary",
	}
}
