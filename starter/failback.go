package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// failbackPoll is how often bdr failback asks the running failback for its phase, to show it
// beside the spinner: often enough to follow a phase change, rarely enough to cost nothing.
const failbackPoll = 2 * time.Second

// failbackCmd starts a Failback, or asks the running one to switch back, and waits for its
// result.
//
// The defaults of --from and --to are those of failover swapped: after `bdr failover DB
// --mode unplanned` (primary → secondary), `bdr failback DB` brings primary back as
// secondary's replica. Regions named otherwise must be given explicitly, as for failover.
func (a *app) failbackCmd() *cobra.Command {
	var r routeArgs
	var switchback, noWait bool
	cmd := &cobra.Command{
		Use:   "failback DB",
		Short: "After an unplanned failover: wait for the old primary (--to), keep its unreplicated tail as a recovered branch, make it the replica of --from; --switchback then makes it the primary again",
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.db = args[0]
			ctx := cmd.Context()
			cfg, c, err := a.connect(ctx, r)
			if err != nil {
				return err
			}
			defer c.Close()
			in := workflows.FailbackInput{Database: r.db, From: r.from, To: r.to, Switchback: switchback}
			run, updated, err := startFailback(ctx, c, cfg.Temporal.TaskQueue, in)
			if err != nil {
				return err
			}
			if updated && !a.json {
				fmt.Fprintf(a.stderr, "a failback of %s is already running: asked it to switch back (workflow ID %s)\n", r.db, run.GetID())
			}
			if noWait {
				if a.json {
					return writeJSON(a.stdout, map[string]string{"workflowId": run.GetID()}, false)
				}
				_, err := fmt.Fprintf(a.stdout, "workflow ID: %s\n", run.GetID())
				return err
			}
			res, err := a.awaitFailback(ctx, c, run, r.db)
			if err != nil {
				return err
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			return writeFailback(a.stdout, res)
		},
	}
	cmd.Flags().StringVar(&r.from, "from", defaultTo, "the current primary: the region failed over to (a key of regions in bdr.yaml)")
	cmd.Flags().StringVar(&r.to, "to", defaultFrom, "the region coming back: the one failed over from (a key of regions in bdr.yaml)")
	cmd.Flags().BoolVar(&switchback, "switchback", false, "once --to is caught up, switch back to it (planned, zero loss) and replicate --to → --from again; sent as an update to a failback already running")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "start the failback (or send the switchback) and print its workflow ID without waiting for the result")
	cmd.AddCommand(a.failbackListCmd())
	return cmd
}

// startFailback starts the Failback of in.Database. One failback per database runs at a time
// (its ID is the database's), so a second start is an error, unless it asks for the
// switchback: that is then sent to the running failback as the switchback update, which is
// the only thing a second start could add. updated says which happened; run is the failback
// either way.
func startFailback(ctx context.Context, c client.Client, taskQueue string, in workflows.FailbackInput) (run client.WorkflowRun, updated bool, err error) {
	id := workflows.FailbackID(in.Database)
	summary := fmt.Sprintf("failback of %s: %s → %s", in.Database, in.From, in.To)
	if in.Switchback {
		summary += ", then switch back to " + in.To
	}
	run, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(in.Database)),
		StaticSummary:         summary,
	}, workflows.FailbackName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	switch {
	case errors.As(err, &started) && in.Switchback:
		if err := sendSwitchback(ctx, c, id); err != nil {
			return nil, false, err
		}
		return c.GetWorkflow(ctx, id, ""), true, nil
	case errors.As(err, &started):
		return nil, false, fmt.Errorf("a failback of %s is already running (workflow ID %s; add --switchback to ask it to switch back)", in.Database, id)
	case err != nil:
		return nil, false, fmt.Errorf("start failback of %s: %w", in.Database, err)
	}
	return run, false, nil
}

// sendSwitchback sends the switchback update to the running failback id. The workflow accepts
// it at once and switches back when the region is caught up, so waiting for its completion
// waits only for the acceptance (or its rejection, e.g. when the failback is past that point).
func sendSwitchback(ctx context.Context, c client.Client, id string) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.UpdateSwitchback, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) { // it ended between the start and the update
		return fmt.Errorf("switchback: the failback %s is no longer running", id)
	}
	if err != nil {
		return fmt.Errorf("switchback %s: %w", id, err)
	}
	return nil
}

// awaitFailback waits for the failback's result. On a terminal it shows a spinner with the
// phase the failback reports to its status query, which is what an operator watches while the
// failback waits, possibly for hours, for the region to come back.
func (a *app) awaitFailback(ctx context.Context, c client.Client, run client.WorkflowRun, db string) (workflows.FailbackResult, error) {
	set, done := a.textSpinner(ctx, "failback of "+db)
	stop := func() {}
	if a.drawsProgress() { // nobody sees the phase otherwise: no queries
		var pollCtx context.Context
		pollCtx, stop = context.WithCancel(ctx)
		go pollFailback(pollCtx, c, db, set)
	}
	var res workflows.FailbackResult
	err := run.Get(ctx, &res)
	stop()
	done()
	if err != nil && ctx.Err() != nil {
		// Ctrl-C ends the wait, not the failback, which may wait for the region for days.
		return res, fmt.Errorf("stopped waiting; the failback of %s goes on (workflow ID %s): %w", db, run.GetID(), ctx.Err())
	}
	if err != nil {
		return res, fmt.Errorf("failback of %s (workflow ID %s): %w", db, run.GetID(), err)
	}
	return res, nil
}

// pollFailback sets the spinner's text to the failback's status every failbackPoll until ctx
// ends. A query that fails leaves the last text: the spinner is a view, the result is what
// counts.
func pollFailback(ctx context.Context, c client.Client, db string, set func(string)) {
	tick := time.NewTicker(failbackPoll)
	defer tick.Stop()
	for {
		if res, err := queryFailback(ctx, c, db); err == nil && res != nil {
			set(failbackLine(*res))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// queryFailback returns the status of the running failback of db, nil when none runs (never
// started, or ended: a closed workflow's status would be answered from a replay and look
// current).
func queryFailback(ctx context.Context, c client.Client, db string) (*workflows.FailbackResult, error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	id := workflows.FailbackID(db)
	resp, err := c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID:           id,
		QueryType:            workflows.QueryStatus,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("query status of %s: %w", id, err)
	case resp.QueryRejected != nil:
		return nil, nil
	}
	var res workflows.FailbackResult
	if err := resp.QueryResult.Get(&res); err != nil {
		return nil, fmt.Errorf("decode status of %s: %w", id, err)
	}
	return &res, nil
}

// failbackLine is a running failback in one line, for bdr status and the spinner of bdr
// failback: "failback of db: <phase>", where the phase of waiting names the region, since
// when, how often it was probed and its last problem, which is what tells an operator why
// the failback is not moving on.
func failbackLine(res workflows.FailbackResult) string {
	if res.Phase != workflows.FailbackWaiting {
		return fmt.Sprintf("failback of %s: %s", res.Database, orDash(res.Phase))
	}
	line := fmt.Sprintf("failback of %s: waiting for %s since %s (%d probes", res.Database, res.To, formatTime(res.WaitingSince), res.Probes)
	if res.LastProblem != "" {
		line += "; last: " + oneLine(res.LastProblem, maxErrorWidth)
	}
	return line + ")"
}

// writeFailback is the text output of a failback: what it found, recovered, moved and copied,
// then the switchback, the warnings and the steps.
func writeFailback(w io.Writer, res workflows.FailbackResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "failback of %s: %s → %s, %s\n", res.Database, res.From, res.To, orDash(res.Phase))
	row := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "  %-13s %s\n", name, fmt.Sprintf(format, args...))
	}
	if !res.FailoverAt.IsZero() {
		row("failover", "%s (%s became the primary)", formatTime(res.FailoverAt), res.From)
	}
	if !res.WaitingSince.IsZero() {
		row("waited", "%s for %s (%d probes)", formatLag(res.WaitedSeconds), res.To, res.Probes)
	}
	if f := res.Fence; f != nil {
		switch {
		case f.Lost:
			row("fence", "%s declared lost: %s", res.To, f.Reason)
		case f.Fenced:
			row("fence", "%s detached (its last writes uploaded first)", res.To)
		}
	}
	t := res.Tail
	if t.Objects == 0 {
		row("tail", "none: %s held nothing that %s lacks", res.To, res.From)
	} else {
		row("tail", "%d blobs, %s, written %s to %s (%s): what the failover lost, kept in the recovered branch",
			t.Objects, units.Bytes(t.Bytes), formatTime(t.OldestWrite), formatTime(t.NewestWrite), formatLag(t.NewestWrite.Sub(t.OldestWrite).Seconds()))
	}
	if rb := res.Recovered; rb != nil {
		attached := "attached"
		if !rb.Attached {
			attached = "NOT attached"
		}
		row("recovered", "%s in %s (%s), root %s", rb.Name, rb.Region, attached, rb.Root)
		copies := fmt.Sprintf("%d blobs, %s: %d copied within %s, %d (%s) crossed from %s", rb.Objects, units.Bytes(rb.Bytes), rb.Within, rb.Region, rb.Crossed, units.Bytes(rb.CrossedBytes), res.To)
		if rb.Present > 0 {
			copies += fmt.Sprintf(", %d there already", rb.Present)
		}
		row("", "%s", copies)
		row("", "to take rows from it, see README \"Recovering rows from a recovered branch\"; DETACH it when done")
	}
	if res.MovedAside > 0 {
		row("moved aside", "%d blobs in %s under %s", res.MovedAside, res.To, res.MovedAsideTo)
	}
	if len(res.LocksRemoved) > 0 {
		row("locks removed", "%s", strings.Join(res.LocksRemoved, ", "))
	}
	if res.ReverseReplication != "" {
		row("replicated", "%s (%s)", route(res.From, res.To), res.ReverseReplication)
		row("copied back", "%s: %s of what %s wrote since the failover (%s), %s of the database (%s)",
			formatCount(res.CopiedBackObjects, res.CopiedBackBytes), percent(res.CopiedBackBytes, res.WrittenSinceFailover),
			res.From, units.Bytes(res.WrittenSinceFailover), percent(res.CopiedBackBytes, res.DatabaseBytes), units.Bytes(res.DatabaseBytes))
	}
	if res.FullCopy {
		row("full copy", "%s's folder held nothing of the database (its bucket was replaced?): everything was copied back", res.To)
	}
	if s := res.Switchback; s != nil {
		row("switchback", "%s is the primary again: RPO %.1fs, RTO %.1fs", s.NewPrimary, s.RPOSeconds, s.RTOSeconds)
	}
	if res.ForwardReplication != "" {
		row("forward", "%s (%s): %d objects copied, only %s's new writes", route(res.To, res.From), res.ForwardReplication, res.ForwardCopiedObjects, res.To)
	}
	for _, warning := range res.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warning)
	}
	for _, s := range res.Steps {
		fmt.Fprintf(&b, "  %-44s %6.2fs\n", s.Name, s.Seconds)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// percent is part as a percentage of whole, "-" when whole is unknown (0).
func percent(part, whole int64) string {
	if whole <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(part)/float64(whole))
}
