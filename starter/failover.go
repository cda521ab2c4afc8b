package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// failoverCmd starts a Failover and waits for its result: one CLI line for a switchover, an
// unplanned failover or a dry run of either.
func (a *app) failoverCmd() *cobra.Command {
	var r routeArgs
	var f failoverFlags
	cmd := &cobra.Command{
		Use:   "failover DB",
		Short: "Move DB's service to another region (planned: zero loss; unplanned: the primary is gone) and report RPO and RTO",
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.db = args[0]
			ctx := cmd.Context()
			in, err := f.input(r)
			if err != nil {
				return err
			}
			cfg, c, err := a.connect(ctx, r)
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.FailoverID(r.db)
			summary := fmt.Sprintf("%s failover of %s: %s → %s", in.Mode, r.db, r.from, r.to)
			if in.DryRun {
				summary = "dry run: " + summary
			}
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(r.db)),
				StaticSummary:         summary,
			}, workflows.FailoverName, in)
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return fmt.Errorf("a failover of %s is already running (workflow ID %s)", r.db, id)
			}
			if err != nil {
				return fmt.Errorf("start failover of %s: %w", r.db, err)
			}
			done := a.spinner(ctx, "failing over "+r.db)
			var res workflows.FailoverResult
			err = run.Get(ctx, &res)
			done()
			if err != nil {
				return fmt.Errorf("failover of %s (workflow ID %s): %w", r.db, id, err)
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			return writeFailover(a.stdout, res)
		},
	}
	r.addFlags(cmd)
	cmd.Flags().StringVar(&f.mode, "mode", workflows.ModePlanned, "planned (zero loss, the primary answers) or unplanned (the primary region is gone)")
	cmd.Flags().StringArrayVar(&f.validate, "validate", nil, "a read-only query to run on the attached database (repeatable)")
	cmd.Flags().StringVar(&f.milestone, "at-milestone", "", "unplanned: attach at this recorded milestone instead of at latest")
	cmd.Flags().StringVar(&f.time, "at-time", "", "unplanned: attach at this UTC time ('YYYY-MM-DD HH:MM:SS' or RFC 3339) instead of at latest")
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "run every check and report what would happen; change nothing")
	cmd.Flags().BoolVar(&f.keepRows, "keep-rows", false, "keep the first row of each validation query in the result (and the workflow's history)")
	cmd.Flags().BoolVar(&f.failback, "failback", false, "unplanned: then start the failback, which waits for the old primary to come back, keeps its unreplicated tail as a recovered branch and makes it the replica")
	cmd.Flags().BoolVar(&f.force, "force", false, "unplanned: declare the primary lost even if its database answers the DETACH with an error (only if you know it takes no writes)")
	return cmd
}

type failoverFlags struct {
	mode, milestone, time string
	validate              []string
	dryRun                bool
	force                 bool
	keepRows              bool
	failback              bool
}

// input checks the flags and builds the workflow input; errors name the flag.
func (f failoverFlags) input(r routeArgs) (workflows.FailoverInput, error) {
	in := workflows.FailoverInput{Database: r.db, From: r.from, To: r.to, Mode: f.mode, Validate: f.validate, DryRun: f.dryRun, Force: f.force, KeepRows: f.keepRows, Failback: f.failback}
	if f.mode != workflows.ModePlanned && f.mode != workflows.ModeUnplanned {
		return in, usageErrorf("--mode: must be %q or %q, got %q", workflows.ModePlanned, workflows.ModeUnplanned, f.mode)
	}
	if f.milestone == "" && f.time == "" {
		return in, nil
	}
	if f.mode != workflows.ModeUnplanned {
		return in, usageErrorf("--at-milestone/--at-time: only with --mode unplanned (a planned failover attaches at latest, with nothing lost)")
	}
	if f.milestone != "" && f.time != "" {
		return in, usageErrorf("--at-milestone and --at-time are exclusive")
	}
	in.At = &workflows.FailoverAt{Milestone: f.milestone}
	if f.time != "" {
		t, err := parseUTC(f.time)
		if err != nil {
			return in, usageErrorf("--at-time: %v", err)
		}
		in.At.Time = t
	}
	return in, nil
}

// parseUTC reads a time as SingleStore writes it ('YYYY-MM-DD HH:MM:SS', UTC) or RFC 3339.
func parseUTC(s string) (time.Time, error) {
	if t, err := time.ParseInLocation(time.DateTime, s, time.UTC); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("want 'YYYY-MM-DD HH:MM:SS' (UTC) or RFC 3339, got %q", s)
	}
	return t.UTC(), nil
}

// writeFailover is the text output of a failover: the outcome, RPO, RTO and its split.
func writeFailover(w io.Writer, res workflows.FailoverResult) error {
	var b strings.Builder
	switch {
	case res.DryRun != nil:
		writeDryRun(&b, res)
	case res.Mode == workflows.ModeUnplanned:
		fmt.Fprintf(&b, "%s is now served from %s (unplanned failover from %s), attached at %s\n", res.Database, res.NewPrimary, res.From, res.AttachedAt)
		rpo := fmt.Sprintf("%.1fs", res.RPOSeconds)
		if res.RPOSeconds > res.RPOMinSeconds && res.Unreplicated == nil {
			rpo = fmt.Sprintf("at most %.1fs (at least %.1fs; %s's bucket did not answer)", res.RPOSeconds, res.RPOMinSeconds, res.From)
		}
		fmt.Fprintf(&b, "RPO %s: newest write known %s (from %s), sealed watermark %s\n", rpo,
			res.NewestWrite.UTC().Format(time.RFC3339Nano), res.RPOFrom, res.Watermark.UTC().Format(time.RFC3339Nano))
		if res.Unreplicated != nil {
			fmt.Fprintf(&b, "not replicated: %d blobs, %s in %s (kept there; failback preserves them)\n",
				res.Unreplicated.Objects, units.Bytes(res.Unreplicated.Bytes), res.From)
		}
		fmt.Fprintf(&b, "RTO %.1fs (from the start to the verified attach in %s)\n", res.RTOSeconds, res.NewPrimary)
		if res.Fence != nil && res.Fence.Lost {
			fmt.Fprintf(&b, "%s was declared lost: %s\n", res.From, res.Fence.Reason)
		}
		if res.Sealed != nil && res.Sealed.Moved > 0 {
			fmt.Fprintf(&b, "sealed: %d blobs beyond the watermark moved under %s\n", res.Sealed.Moved, res.Sealed.SealedTo)
		}
		if res.Failback != "" {
			fmt.Fprintf(&b, "failback started (workflow ID %s): it waits for %s to come back; bdr status shows it\n", res.Failback, res.From)
		}
	default:
		fmt.Fprintf(&b, "%s is now served from %s (%s failover from %s)\n", res.Database, res.NewPrimary, res.Mode, res.From)
		fmt.Fprintf(&b, "RPO %.0fs: %d source blobs compared with the target, %d missing, %d different\n",
			res.RPOSeconds, res.Compared.Checked, res.Compared.Missing, res.Compared.Mismatched)
		fmt.Fprintf(&b, "RTO %.1fs (from the detach in %s to the verified attach in %s)\n", res.RTOSeconds, res.From, res.NewPrimary)
		fmt.Fprintf(&b, "milestone %s, watermark %s\n", res.Milestone, res.Watermark.UTC().Format(time.RFC3339))
	}
	if len(res.RecordedIn) > 0 {
		fmt.Fprintf(&b, "primary recorded in %s\n", strings.Join(res.RecordedIn, ", "))
	}
	if sec := res.Security; len(sec.Locked) > 0 {
		fmt.Fprintf(&b, "users created locked (no password reference in security.passwords): %s\n", strings.Join(sec.Locked, ", "))
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

func writeDryRun(b *strings.Builder, res workflows.FailoverResult) {
	d := res.DryRun
	fmt.Fprintf(b, "dry run of the %s failover of %s: %s → %s; nothing was changed\n", res.Mode, res.Database, res.From, res.To)
	fmt.Fprintf(b, "%s holds a copy replicated up to %s; %d storage lock(s)\n", res.To, d.Watermark.UTC().Format(time.RFC3339Nano), len(d.Locks))
	if d.FromAnswers {
		fmt.Fprintf(b, "%s answers\n", res.From)
	} else {
		fmt.Fprintf(b, "%s does not answer: %s\n", res.From, d.FromProblem)
	}
	if res.Mode == workflows.ModeUnplanned {
		fmt.Fprintf(b, "estimated RPO now: %.1fs (newest write known from %s)\n", d.EstimatedRPOSeconds, res.RPOFrom)
	}
	b.WriteString("would:\n")
	for i, step := range d.WouldDo {
		fmt.Fprintf(b, "  %d. %s\n", i+1, step)
	}
}
