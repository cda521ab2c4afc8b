package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// Default regions of --from and --to: the names DESIGN 3 uses.
const (
	defaultFrom = "primary"
	defaultTo   = "secondary"
)

// routeArgs are the DB argument and the --from/--to flags of every replicate subcommand.
type routeArgs struct{ db, from, to string }

func (r *routeArgs) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.from, "from", defaultFrom, "source region (a key of regions in bdr.yaml)")
	cmd.Flags().StringVar(&r.to, "to", defaultTo, "target region (a key of regions in bdr.yaml)")
}

func (r routeArgs) id() string { return workflows.ReplicateID(r.db, r.from, r.to) }

func (r routeArgs) String() string { return describeRoute(r.db, r.from, r.to) }

// validateRoute checks, before anything is contacted, that db is a configured database and
// from and to are two different configured regions. Errors are usage errors naming the
// argument or flag at fault.
func validateRoute(cfg *config.Config, r routeArgs) error {
	if err := validateDB(cfg, r.db); err != nil {
		return err
	}
	for _, f := range []struct{ flag, region string }{{"--from", r.from}, {"--to", r.to}} {
		if _, err := cfg.Region(f.region); err != nil {
			return usageErrorf("%s: unknown region %q (configured: %s)", f.flag, f.region, strings.Join(cfg.RegionNames(), ", "))
		}
	}
	if r.from == r.to {
		return usageErrorf("--from and --to are both %q: replication needs two different regions", r.from)
	}
	return nil
}

// validateDB checks that db is a configured database; the usage error names the DB argument.
func validateDB(cfg *config.Config, db string) error {
	if _, err := cfg.Database(db); err != nil {
		return usageErrorf("argument DB: unknown database %q (configured: %s)", db, strings.Join(databaseNames(cfg), ", "))
	}
	return nil
}

// databaseNames returns the configured database names in configuration order.
func databaseNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Databases))
	for i, d := range cfg.Databases {
		names[i] = d.Name
	}
	return names
}

// connect loads the configuration, validates the route locally and only then dials Temporal,
// so that a typo never waits on a network timeout.
func (a *app) connect(ctx context.Context, r routeArgs) (*config.Config, client.Client, error) {
	cfg, err := a.loadConfig()
	if err != nil {
		return nil, nil, err
	}
	if err := validateRoute(cfg, r); err != nil {
		return nil, nil, err
	}
	c, err := a.dial(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	return cfg, c, nil
}

func (a *app) replicateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replicate",
		Short: "Start and control the replication of a database between two regions",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(
		a.replicateStartCmd(),
		a.replicateUpdateCmd(workflows.UpdatePause, "Pause replication once the batch in flight is in", "paused"),
		a.replicateUpdateCmd(workflows.UpdateResume, "Resume a paused replication", "resumed"),
		a.replicateUpdateCmd(workflows.UpdateDrain, "Copy everything that exists now, then pause; prints the watermark", "drained"),
		a.replicateVerifyCmd(),
		a.replicateStopCmd(),
	)
	return cmd
}

// startResult is the --json output of replicate start.
type startResult struct {
	WorkflowID string `json:"workflowId"`
	RunID      string `json:"runId"`
}

func (a *app) replicateStartCmd() *cobra.Command {
	return a.routeCmd("start", "Start replicating DB from one region to another",
		func(ctx context.Context, cfg *config.Config, c client.Client, r routeArgs) error {
			res, err := startReplicate(ctx, c, cfg.Temporal.TaskQueue, r)
			if err != nil {
				return err
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			return writeStarted(a.stdout, r, res)
		})
}

// routeCmd builds a replicate subcommand over one route (DB, --from, --to): it checks the
// route against the configuration before any connection, dials Temporal, and calls run.
func (a *app) routeCmd(name, short string, run func(ctx context.Context, cfg *config.Config, c client.Client, r routeArgs) error) *cobra.Command {
	var r routeArgs
	cmd := &cobra.Command{
		Use:   name + " DB",
		Short: short,
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			r.db = args[0]
			cfg, c, err := a.connect(cmd.Context(), r)
			if err != nil {
				return err
			}
			defer c.Close()
			return run(cmd.Context(), cfg, c, r)
		},
	}
	r.addFlags(cmd)
	return cmd
}

// startReplicate starts the Replicate workflow of r. A second start of a running replication
// is an error (DESIGN 4: IDs are deterministic so that duplicates are rejected, not run twice).
func startReplicate(ctx context.Context, c client.Client, taskQueue string, r routeArgs) (startResult, error) {
	opts := client.StartWorkflowOptions{
		ID:                                       r.id(),
		TaskQueue:                                taskQueue,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchAttrDatabase.ValueSet(r.db),
			workflows.SearchAttrState.ValueSet(workflows.StateStarting),
		),
		StaticSummary: fmt.Sprintf("replicate %s: %s → %s", r.db, r.from, r.to),
	}
	in := workflows.ReplicateInput{Database: r.db, From: r.from, To: r.to}
	run, err := c.ExecuteWorkflow(ctx, opts, workflows.ReplicateName, in)
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	var invalid *serviceerror.InvalidArgument
	switch {
	case errors.As(err, &already):
		return startResult{}, fmt.Errorf("%s is already running (workflow ID %s, run ID %s)", r, r.id(), already.RunId)
	case errors.As(err, &invalid) && strings.Contains(invalid.Error(), "earch attribute"):
		return startResult{}, fmt.Errorf("start %s: %w (run `bdr setup` to register the search attributes)", r.id(), err)
	case err != nil:
		return startResult{}, fmt.Errorf("start %s: %w", r.id(), err)
	}
	return startResult{WorkflowID: run.GetID(), RunID: run.GetRunID()}, nil
}

// writeStarted is the text output of replicate start.
func writeStarted(w io.Writer, r routeArgs, res startResult) error {
	_, err := fmt.Fprintf(w, "started %s\nworkflow ID: %s\nrun ID: %s\n", r, res.WorkflowID, res.RunID)
	return err
}

// replicateUpdateCmd builds pause, resume and drain: each sends its update and waits for it to
// complete. pastTense is the verb of the text output ("paused …").
func (a *app) replicateUpdateCmd(update, short, pastTense string) *cobra.Command {
	return a.routeCmd(update, short, func(ctx context.Context, _ *config.Config, c client.Client, r routeArgs) error {
		done := a.spinner(ctx, fmt.Sprintf("%s %s", update, r.id()))
		var res workflows.DrainResult
		var err error
		switch update {
		case workflows.UpdatePause:
			res.Status, err = sendUpdate[workflows.Status](ctx, c, r, update, workflows.PauseRequest{})
		case workflows.UpdateResume:
			res.Status, err = sendUpdate[workflows.Status](ctx, c, r, update, workflows.ResumeRequest{})
		case workflows.UpdateDrain:
			res, err = sendUpdate[workflows.DrainResult](ctx, c, r, update, workflows.DrainRequest{})
		}
		done()
		if err != nil {
			return err
		}
		switch {
		case a.json && update == workflows.UpdateDrain:
			return writeJSON(a.stdout, res, false)
		case a.json:
			return writeJSON(a.stdout, res.Status, false)
		}
		return writeUpdated(a.stdout, pastTense, r, res, update == workflows.UpdateDrain)
	})
}

// replicateVerifyCmd runs the anti-entropy pass now: every source blob at or before the
// watermark is compared with the target, and what differs is copied again and reported.
func (a *app) replicateVerifyCmd() *cobra.Command {
	return a.routeCmd(workflows.UpdateVerify, "Compare source and target now, repair and report what differs",
		func(ctx context.Context, _ *config.Config, c client.Client, r routeArgs) error {
			done := a.spinner(ctx, fmt.Sprintf("%s %s", workflows.UpdateVerify, r.id()))
			res, err := sendUpdate[workflows.Verified](ctx, c, r, workflows.UpdateVerify, workflows.VerifyRequest{})
			done()
			if err != nil {
				return err
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			return writeVerified(a.stdout, r, res)
		})
}

// writeVerified is the text output of replicate verify.
func writeVerified(w io.Writer, r routeArgs, v workflows.Verified) error {
	_, err := fmt.Fprintf(w, "verified %s at watermark %s: %d blobs checked, %d missing, %d different, %d repaired\n",
		r, v.Watermark.UTC().Format(time.RFC3339), v.Checked, v.Missing, v.Mismatched, v.Repaired)
	for _, k := range v.RepairedKeys {
		if err == nil {
			_, err = fmt.Fprintf(w, "  repaired %s\n", k)
		}
	}
	return err
}

// sendUpdate sends the update name with req to the running replication r and waits until the
// workflow has completed it, for as long as ctx allows (a drain may take long).
func sendUpdate[T any](ctx context.Context, c client.Client, r routeArgs, name string, req any) (T, error) {
	var out T
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID:   r.id(),
		UpdateName:   name,
		Args:         []any{req},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, &out)
	}
	if err != nil {
		return out, notRunning(err, r, name)
	}
	return out, nil
}

// notRunning turns Temporal's NotFound (no such workflow, or it has ended) into a message an
// operator can act on, and wraps anything else with the operation.
func notRunning(err error, r routeArgs, op string) error {
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("%s: no %s is running (workflow ID %s)", op, r, r.id())
	}
	return fmt.Errorf("%s %s: %w", op, r.id(), err)
}

// writeUpdated is the text output of pause, resume and drain: what happened, the watermark
// for drain, then the status table of the replication.
func writeUpdated(w io.Writer, pastTense string, r routeArgs, res workflows.DrainResult, drain bool) error {
	if _, err := fmt.Fprintf(w, "%s %s\n", pastTense, r); err != nil {
		return err
	}
	if drain {
		if err := writeWatermark(w, res.Watermark); err != nil {
			return err
		}
	}
	return writeStatusTable(w, []statusRow{{Status: res.Status}})
}

// stopResult is the --json output of replicate stop. Result is "cancel-requested" with
// --no-wait, else how the workflow ended: "canceled", "completed", "terminated" or
// "failed: <error>".
type stopResult struct {
	WorkflowID string `json:"workflowId"`
	Result     string `json:"result"`
}

func (a *app) replicateStopCmd() *cobra.Command {
	var noWait bool
	cmd := a.routeCmd("stop", "Stop replicating DB: cancel the workflow and wait for it to end",
		func(ctx context.Context, _ *config.Config, c client.Client, r routeArgs) error {
			if err := c.CancelWorkflow(ctx, r.id(), ""); err != nil {
				return notRunning(err, r, "stop")
			}
			res := stopResult{WorkflowID: r.id(), Result: "cancel-requested"}
			if !noWait {
				done := a.spinner(ctx, "stopping "+r.id())
				res.Result = endResult(c.GetWorkflow(ctx, r.id(), "").Get(ctx, nil))
				done()
				if ctx.Err() != nil {
					return fmt.Errorf("stop %s: cancel requested, gave up waiting: %w", r.id(), ctx.Err())
				}
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			_, err := fmt.Fprintf(a.stdout, "stopped %s (workflow ID %s): %s\n", r, res.WorkflowID, res.Result)
			return err
		})
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once cancellation is requested instead of waiting for the workflow to end")
	return cmd
}

// endResult names how a workflow ended from the error of its result.
func endResult(err error) string {
	var canceled *temporal.CanceledError
	var terminated *temporal.TerminatedError
	switch {
	case err == nil:
		return "completed"
	case errors.As(err, &canceled):
		return "canceled"
	case errors.As(err, &terminated):
		return "terminated"
	}
	return "failed: " + err.Error()
}

// spinner shows a spinner with msg on stderr while a long call runs, when drawsProgress. The
// returned function removes it; call it before printing anything else.
func (a *app) spinner(ctx context.Context, msg string) (done func()) {
	_, done = a.textSpinner(ctx, msg)
	return done
}

// drawsProgress reports whether bdr draws live progress: only when stderr is a terminal and the
// output is text (a spinner in a log file or in JSON is noise).
func (a *app) drawsProgress() bool { return !a.json && isTerminal(a.stderr) }

// textSpinner is spinner with a message that set replaces while it spins (e.g. the phase of
// the workflow waited for). set is safe for concurrent use, also after done.
func (a *app) textSpinner(ctx context.Context, msg string) (set func(string), done func()) {
	text := &liveText{text: msg}
	if !a.drawsProgress() {
		return text.set, func() {}
	}
	p := mpb.NewWithContext(ctx, mpb.WithOutput(a.stderr), mpb.WithWidth(1))
	bar, err := p.Add(0, mpb.SpinnerStyle().Build(),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return text.get() + " " })),
		mpb.AppendDecorators(decor.Elapsed(decor.ET_STYLE_GO)))
	if err != nil { // ctx has ended: nothing to spin for
		return text.set, p.Wait
	}
	return text.set, func() {
		bar.Abort(true)
		p.Wait()
	}
}
