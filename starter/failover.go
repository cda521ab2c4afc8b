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

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// failoverCmd starts a Failover and waits for its result: one CLI line for a switchover.
func (a *app) failoverCmd() *cobra.Command {
	var r routeArgs
	var mode string
	var validate []string
	cmd := &cobra.Command{
		Use:   "failover DB",
		Short: "Move DB's service to another region (planned: zero loss) and report RPO and RTO",
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.db = args[0]
			ctx := cmd.Context()
			if mode != workflows.ModePlanned {
				return usageErrorf("--mode: only %q is available in this release, got %q", workflows.ModePlanned, mode)
			}
			cfg, c, err := a.connect(ctx, r)
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.FailoverID(r.db)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(r.db)),
				StaticSummary:         fmt.Sprintf("%s failover of %s: %s → %s", mode, r.db, r.from, r.to),
			}, workflows.FailoverName, workflows.FailoverInput{Database: r.db, From: r.from, To: r.to, Mode: mode, Validate: validate})
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
	cmd.Flags().StringVar(&mode, "mode", workflows.ModePlanned, "planned (zero loss, the primary answers)")
	cmd.Flags().StringArrayVar(&validate, "validate", nil, "a read-only query to run on the attached database (repeatable)")
	return cmd
}

// writeFailover is the text output of a failover: the outcome, RPO, RTO and its split.
func writeFailover(w io.Writer, res workflows.FailoverResult) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s is now served from %s (%s failover from %s)\n", res.Database, res.NewPrimary, res.Mode, res.From)
	fmt.Fprintf(&b, "RPO %.0fs: %d source blobs compared with the target, %d missing, %d different\n",
		res.RPOSeconds, res.Compared.Checked, res.Compared.Missing, res.Compared.Mismatched)
	fmt.Fprintf(&b, "RTO %.1fs (from the detach in %s to the verified attach in %s)\n", res.RTOSeconds, res.From, res.NewPrimary)
	fmt.Fprintf(&b, "milestone %s, watermark %s, primary recorded in %s\n", res.Milestone,
		res.Watermark.UTC().Format(time.RFC3339), strings.Join(res.RecordedIn, ", "))
	for _, s := range res.Steps {
		fmt.Fprintf(&b, "  %-34s %6.2fs\n", s.Name, s.Seconds)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
