package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// minDrillEvery bounds how often a Schedule starts drills: each one copies the replica into a
// branch and attaches it, which is not free.
const minDrillEvery = time.Minute

func (a *app) drillCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Run, finish, list and schedule DR drills (a test failover on a branch of the replica)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(a.drillRunCmd(), a.drillFinishCmd(), a.drillListCmd(), a.drillScheduleCmd())
	return cmd
}

// drillFlags are the flags that shape a drill's input, shared by run and schedule.
type drillFlags struct {
	to                string
	validate          []string
	milestone, atTime string
	keepFor           time.Duration
	keepRows          bool
}

func (f *drillFlags) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.to, "to", defaultTo, "the region whose replica is branched and attached (a key of regions in bdr.yaml)")
	cmd.Flags().StringArrayVar(&f.validate, "validate", nil, "a read-only query to run on the attached branch (repeatable)")
	cmd.Flags().DurationVar(&f.keepFor, "keep-for", 0, "keep the branch attached this long after the report (at most 168h); bdr drill finish ends it early")
	cmd.Flags().BoolVar(&f.keepRows, "keep-rows", false, "keep the first row of each validation query in the result (and the workflow's history)")
}

// input checks the flags that need no configuration and builds the drill's input; errors
// name the flag.
func (f drillFlags) input(db string) (workflows.DrillInput, error) {
	in := workflows.DrillInput{Database: db, To: f.to, Validate: f.validate, KeepRows: f.keepRows}
	if f.keepFor < 0 || f.keepFor > workflows.MaxKeepFor {
		return in, usageErrorf("--keep-for: must be between 0 and %s, got %s", workflows.MaxKeepFor, f.keepFor)
	}
	if f.keepFor > 0 {
		in.KeepFor = f.keepFor.String()
	}
	if f.milestone != "" && f.atTime != "" {
		return in, usageErrorf("--at-milestone and --at-time are exclusive")
	}
	if f.milestone != "" {
		if !milestoneName.MatchString(f.milestone) {
			return in, usageErrorf("--at-milestone: %q is not a milestone name", f.milestone)
		}
		in.At = &workflows.FailoverAt{Milestone: f.milestone}
	}
	if f.atTime != "" {
		t, err := parseUTC(f.atTime)
		if err != nil {
			return in, usageErrorf("--at-time: %v", err)
		}
		in.At = &workflows.FailoverAt{Time: t}
	}
	return in, nil
}

// validateDrill checks db and the target region against the configuration.
func validateDrill(cfg *config.Config, db, to string) error {
	if err := validateDB(cfg, db); err != nil {
		return err
	}
	if _, err := cfg.Region(to); err != nil {
		return usageErrorf("--to: unknown region %q (configured: %s)", to, strings.Join(cfg.RegionNames(), ", "))
	}
	return nil
}

func (a *app) drillRunCmd() *cobra.Command {
	var f drillFlags
	var noWait bool
	cmd := &cobra.Command{
		Use:   "run DB",
		Short: "Branch DB's replica in --to, attach it under a new name, validate it, report the would-be RPO and RTO, clean up",
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			in, err := f.input(args[0])
			if err != nil {
				return err
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := validateDrill(cfg, in.Database, in.To); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			run, err := startDrill(ctx, c, cfg.Temporal.TaskQueue, in, time.Now())
			if err != nil {
				return err
			}
			if noWait {
				return a.writeDrillStarted(run.GetID(), in)
			}
			return a.awaitDrill(ctx, run)
		},
	}
	f.addFlags(cmd)
	cmd.Flags().StringVar(&f.milestone, "at-milestone", "", "attach the branch at this recorded milestone instead of at latest")
	cmd.Flags().StringVar(&f.atTime, "at-time", "", "attach the branch at this UTC time ('YYYY-MM-DD HH:MM:SS' or RFC 3339) instead of at latest")
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "start the drill and print its workflow ID without waiting for the report")
	return cmd
}

// startDrill starts a TestFailover of in.Database with the ID of a drill started at now. A
// second start within the same second is an error, not a second drill.
func startDrill(ctx context.Context, c client.Client, taskQueue string, in workflows.DrillInput, now time.Time) (client.WorkflowRun, error) {
	id := workflows.DrillID(in.Database, now)
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: id, TaskQueue: taskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(in.Database)),
		StaticSummary:         fmt.Sprintf("DR drill of %s in %s", in.Database, in.To),
	}, workflows.TestFailoverName, in)
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil, fmt.Errorf("a drill of %s started this second already (workflow ID %s)", in.Database, id)
	}
	if err != nil {
		return nil, fmt.Errorf("start drill of %s: %w", in.Database, err)
	}
	return run, nil
}

func (a *app) writeDrillStarted(id string, in workflows.DrillInput) error {
	if a.json {
		return writeJSON(a.stdout, map[string]string{"workflowId": id}, false)
	}
	_, err := fmt.Fprintf(a.stdout, "started a drill of %s in %s\nworkflow ID: %s\n", in.Database, in.To, id)
	return err
}

// awaitDrill waits for a drill's report and prints it. A drill that ran and failed is printed
// the same way, from its error's details, and then returned as an error for the exit code.
func (a *app) awaitDrill(ctx context.Context, run client.WorkflowRun) error {
	done := a.spinner(ctx, "drill "+run.GetID())
	var res workflows.DrillResult
	err := run.Get(ctx, &res)
	done()
	if err != nil {
		report, ok := drillFailure(err)
		if !ok {
			return fmt.Errorf("drill (workflow ID %s): %w", run.GetID(), err)
		}
		res = report
	}
	var werr error
	if a.json {
		werr = writeJSON(a.stdout, res, false)
	} else {
		werr = writeDrillReport(a.stdout, res, time.Now())
	}
	if werr != nil || err == nil {
		return werr
	}
	return fmt.Errorf("drill %s of %s failed: %s", res.ID, res.Database, res.Reason)
}

// drillFailure extracts the report a DrillFailed error carries; ok is false for any other
// error (the drill could not run, was canceled, or the wait was cut short): there is no
// report then.
func drillFailure(err error) (res workflows.DrillResult, ok bool) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || appErr.Type() != workflows.ErrDrillFailed || !appErr.HasDetails() {
		return res, false
	}
	return res, appErr.Details(&res) == nil
}

func (a *app) drillFinishCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "finish DB [ID]",
		Short: "End a kept drill now: detach and delete its branch (without ID: every live drill of DB)",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				return nil
			}
			return exactArgs("DB", "ID")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			db := args[0]
			if err := validateDB(cfg, db); err != nil {
				return err
			}
			if len(args) == 2 {
				if _, err := drillWorkflowID(db, args[1], nil); err != nil {
					return err // a bad ID is refused before any bucket is read
				}
			}
			ctx := cmd.Context()
			records, err := a.readDrills(ctx, cfg, db, cfg.RegionNames())
			if err != nil {
				return err
			}
			ids := liveDrillIDs(records)
			if len(args) == 2 {
				id, err := drillWorkflowID(db, args[1], records)
				if err != nil {
					return err
				}
				ids = []string{id}
			}
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			return a.finishDrills(ctx, c, db, ids, len(args) == 2)
		},
	}
}

// drillWorkflowID is the workflow ID of drill arg of db: arg is a drill's <yyyymmddhhmmss> id
// (as bdr drill list shows it) or a whole workflow ID. An id is looked up in the records
// first: a scheduled drill's workflow ID ends in the time Temporal appended, not in its id.
func drillWorkflowID(db, arg string, records []workflows.DrillResult) (string, error) {
	if strings.HasPrefix(arg, "drill/"+db+"/") {
		return arg, nil
	}
	t, err := time.ParseInLocation(workflows.DrillStampLayout, arg, time.UTC)
	if err != nil {
		return "", usageErrorf("argument ID: want a drill id (yyyymmddhhmmss, as bdr drill list shows it) or a workflow ID drill/%s/…, got %q", db, arg)
	}
	for _, r := range records {
		if r.ID == arg && r.WorkflowID != "" {
			return r.WorkflowID, nil
		}
	}
	return workflows.DrillID(db, t), nil
}

// liveDrillIDs returns the workflow IDs of the drills whose records say they have not ended.
func liveDrillIDs(records []workflows.DrillResult) []string {
	var ids []string
	for _, r := range records {
		if drillLive(r) && r.Phase != workflows.DrillDone && r.WorkflowID != "" && !slices.Contains(ids, r.WorkflowID) {
			ids = append(ids, r.WorkflowID)
		}
	}
	return ids
}

// finishDrills sends finish to each drill. It goes on past a failure, so that one drill that
// ended meanwhile does not keep the others' branches attached, and returns the failures. A
// drill that is not running is a failure when the operator named it (named), and only a note
// when its record said it was live: the record of a drill whose worker died says so forever.
func (a *app) finishDrills(ctx context.Context, c client.Client, db string, ids []string, named bool) error {
	if len(ids) == 0 {
		if a.json {
			return writeJSON(a.stdout, []string{}, false)
		}
		_, err := fmt.Fprintf(a.stdout, "no live drill of %s is recorded\n", db)
		return err
	}
	var finished []string
	var errs []error
	for _, id := range ids {
		err := finishDrill(ctx, c, id)
		if errors.Is(err, errDrillNotRunning) && !named {
			fmt.Fprintf(a.stderr, "bdr: %v (its record says it is live: it ended without writing its report)\n", err)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		finished = append(finished, id)
		if !a.json {
			fmt.Fprintf(a.stdout, "finished drill %s: its branch is being detached and deleted\n", id)
		}
	}
	if a.json {
		errs = append(errs, writeJSON(a.stdout, append([]string{}, finished...), false))
	}
	return errors.Join(errs...)
}

// errDrillNotRunning is the error of finish for a drill that is not running.
var errDrillNotRunning = errors.New("is not running")

// finishDrill sends the finish update to drill id and waits until the workflow has accepted
// it (the clean-up follows in the workflow).
func finishDrill(ctx context.Context, c client.Client, id string) error {
	h, err := c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: id, UpdateName: workflows.UpdateFinish, WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("finish: drill %s %w", id, errDrillNotRunning)
	}
	if err != nil {
		return fmt.Errorf("finish drill %s: %w", id, err)
	}
	return nil
}

func (a *app) drillListCmd() *cobra.Command {
	return a.recordsListCmd("List the drills of DB recorded in the buckets (live branches first)", replication.ListDrills,
		func(_ string, raws []bucketRecord) error {
			records, err := decodeDrills(raws)
			if err != nil {
				return err
			}
			sortDrills(records)
			if a.json {
				return writeJSON(a.stdout, records, false)
			}
			return writeDrillList(a.stdout, records, time.Now())
		})
}

// recordsListCmd is a `list DB` command over DB's records of one kind (list) in the buckets
// of every region, or of --region's: show decodes and prints them.
func (a *app) recordsListCmd(short string, list func(context.Context, replication.Store, string) ([]json.RawMessage, error),
	show func(db string, raws []bucketRecord) error) *cobra.Command {
	var region string
	cmd := &cobra.Command{
		Use:   "list DB",
		Short: short,
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			db := args[0]
			if err := validateDB(cfg, db); err != nil {
				return err
			}
			regions, err := regionsToRead(cfg, region)
			if err != nil {
				return err
			}
			raws, err := a.readRecords(cmd.Context(), cfg, db, regions, list)
			if err != nil {
				return err
			}
			return show(db, raws)
		},
	}
	cmd.Flags().StringVar(&region, "region", "", "read only this region's bucket (default: every configured region's)")
	return cmd
}

// regionsToRead is the regions whose buckets a list reads: region (the --region flag) when
// given, else every configured one.
func regionsToRead(cfg *config.Config, region string) ([]string, error) {
	regions := cfg.RegionNames()
	if region == "" {
		return regions, nil
	}
	if _, err := cfg.Region(region); err != nil {
		return nil, usageErrorf("--region: unknown region %q (configured: %s)", region, strings.Join(regions, ", "))
	}
	return []string{region}, nil
}

// readDrills reads the drill records of db in the buckets of regions. A drill records its
// report only in its target's bucket, so reading every region finds each once.
func (a *app) readDrills(ctx context.Context, cfg *config.Config, db string, regions []string) ([]workflows.DrillResult, error) {
	raws, err := a.readRecords(ctx, cfg, db, regions, replication.ListDrills)
	if err != nil {
		return nil, err
	}
	return decodeDrills(raws)
}

// readRecords reads db's records of one kind (list) in the buckets of regions. A bucket that
// does not answer is named on stderr and skipped: a region that is down must not hide the
// others' records. It fails only when no bucket answered.
func (a *app) readRecords(ctx context.Context, cfg *config.Config, db string, regions []string,
	list func(context.Context, replication.Store, string) ([]json.RawMessage, error)) ([]bucketRecord, error) {
	stores, err := clients.Stores(cfg)
	if err != nil {
		return nil, err
	}
	var raws []bucketRecord
	var errs []error
	for _, r := range regions {
		got, err := list(ctx, stores[r], db)
		if err != nil {
			err = fmt.Errorf("%s's bucket: %w", r, err)
			fmt.Fprintf(a.stderr, "bdr: skipped %v\n", err)
			errs = append(errs, err)
			continue
		}
		for _, raw := range got {
			raws = append(raws, bucketRecord{Region: r, Raw: raw})
		}
	}
	if len(errs) == len(regions) {
		return nil, errors.Join(errs...)
	}
	return raws, nil
}

// bucketRecord is a record as read from a region's bucket.
type bucketRecord struct {
	Region string
	Raw    json.RawMessage
}

// decode decodes the record into v; an error names the bucket and what the record is.
func (r bucketRecord) decode(what string, v any) error {
	if err := json.Unmarshal(r.Raw, v); err != nil {
		return fmt.Errorf("%s's bucket: decode %s record: %w", r.Region, what, err)
	}
	return nil
}

func decodeDrills(raws []bucketRecord) ([]workflows.DrillResult, error) {
	out := make([]workflows.DrillResult, 0, len(raws))
	for _, raw := range raws {
		var r workflows.DrillResult
		if err := raw.decode("drill", &r); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

// drillLive reports whether a drill's branch may still be attached: it was not cleaned up
// (the drill runs, or ended without cleaning up).
func drillLive(r workflows.DrillResult) bool { return !r.CleanedUp }

// sortDrills puts live drills first, then the newest first.
func sortDrills(records []workflows.DrillResult) {
	slices.SortStableFunc(records, func(x, y workflows.DrillResult) int {
		if lx, ly := drillLive(x), drillLive(y); lx != ly {
			if lx {
				return -1
			}
			return 1
		}
		return y.StartedAt.Compare(x.StartedAt)
	})
}

func (a *app) drillScheduleCmd() *cobra.Command {
	var f drillFlags
	var every time.Duration
	var del bool
	cmd := &cobra.Command{
		Use:   "schedule DB",
		Short: "Create or update the Temporal Schedule that runs a drill of DB every interval (--delete removes it)",
		Args:  exactArgs("DB"),
		RunE: func(cmd *cobra.Command, args []string) error {
			db := args[0]
			in, err := f.input(db)
			if err != nil {
				return err
			}
			if !del && every < minDrillEvery {
				return usageErrorf("--every: %s is too often for drills (at least %s)", every, minDrillEvery)
			}
			if !del && f.keepFor >= every {
				// The Schedule skips a drill while the previous one runs: every other one would be lost.
				return usageErrorf("--keep-for: %s must be shorter than --every (%s)", f.keepFor, every)
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := validateDrill(cfg, db, in.To); err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.DrillScheduleID(db)
			status := "deleted"
			if del {
				err = deleteDrillSchedule(ctx, c.ScheduleClient(), id)
			} else {
				status, err = upsertDrillSchedule(ctx, c.ScheduleClient(), drillScheduleOptions(cfg.Temporal.TaskQueue, in, every))
			}
			if err != nil {
				return err
			}
			if a.json {
				return writeJSON(a.stdout, map[string]string{"scheduleId": id, "status": status}, false)
			}
			if del {
				_, err = fmt.Fprintf(a.stdout, "schedule %s deleted: no more scheduled drills of %s\n", id, db)
				return err
			}
			_, err = fmt.Fprintf(a.stdout, "schedule %s %s: a drill of %s in %s every %s\n", id, status, db, in.To, every)
			return err
		},
	}
	f.addFlags(cmd)
	cmd.Flags().DurationVar(&every, "every", 24*time.Hour, "interval between drills (at least 1m)")
	cmd.Flags().BoolVar(&del, "delete", false, "delete DB's drill schedule instead")
	return cmd
}

// drillScheduleOptions is the Schedule of db's drills: one per database (its ID says so), each
// drill a TestFailover whose ID Temporal completes with the scheduled time.
func drillScheduleOptions(taskQueue string, in workflows.DrillInput, every time.Duration) client.ScheduleOptions {
	return client.ScheduleOptions{
		ID:   workflows.DrillScheduleID(in.Database),
		Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
		Action: &client.ScheduleWorkflowAction{
			ID: workflows.ScheduledDrillID(in.Database), Workflow: workflows.TestFailoverName, TaskQueue: taskQueue,
			Args:                  []any{in},
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(in.Database)),
			StaticSummary:         fmt.Sprintf("scheduled DR drill of %s in %s", in.Database, in.To),
		},
	}
}

// upsertDrillSchedule creates the Schedule, or, when one with its ID exists, replaces its spec
// and action: scheduling a database's drills again changes them, it never adds a second
// Schedule. It returns "created" or "updated".
func upsertDrillSchedule(ctx context.Context, sc client.ScheduleClient, opts client.ScheduleOptions) (string, error) {
	_, err := sc.Create(ctx, opts)
	if err == nil {
		return "created", nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return "", fmt.Errorf("create schedule %s: %w", opts.ID, err)
	}
	err = sc.GetHandle(ctx, opts.ID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &opts.Spec, opts.Action
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return "", fmt.Errorf("update schedule %s: %w", opts.ID, err)
	}
	return "updated", nil
}

func deleteDrillSchedule(ctx context.Context, sc client.ScheduleClient, id string) error {
	err := sc.GetHandle(ctx, id).Delete(ctx)
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return fmt.Errorf("delete schedule %s: there is none", id)
	}
	if err != nil {
		return fmt.Errorf("delete schedule %s: %w", id, err)
	}
	return nil
}

// writeDrillReport is the text report of a drill: the outcome, then what a real failover to
// To would have looked like (RPO, attach time), what the branch copied, the checks, and
// whether the branch is still attached. now dates a kept branch's deadline.
func writeDrillReport(w io.Writer, r workflows.DrillResult, now time.Time) error {
	var b strings.Builder
	b.WriteString(r.Summary() + "\n")
	field := func(name, format string, args ...any) {
		fmt.Fprintf(&b, "  %-13s "+format+"\n", append([]any{name}, args...)...)
	}
	if r.Branch != "" {
		field("branch", "%s (attached at %s)", r.Branch, orDash(r.AttachedAt))
	}
	field("watermark", "%s", formatTimeNano(r.Watermark))
	field("RPO", "%s", drillRPO(r))
	if r.AttachSeconds > 0 {
		field("attach", "%.1fs (what the ATTACH of a real failover would take)", r.AttachSeconds)
	}
	field("drill", "%.1fs from the start to the report (branch copy %.1fs)", r.DrillSeconds, r.CopySeconds)
	if r.CleanupSeconds > 0 {
		field("clean-up", "%.1fs", r.CleanupSeconds)
	}
	br := r.Branched
	resumed := ""
	if br.Resumed > 0 {
		resumed = fmt.Sprintf(" (%d more copied before a worker died, not copied again)", br.Resumed)
	}
	field("branched", "%d blobs, %s; %d copied%s, %d past the watermark left out", br.Objects, units.Bytes(br.Bytes), br.Copied, resumed, br.Beyond)
	for _, q := range r.Validation {
		field("validated", "%s: %d rows, columns %s%s", q.Query, q.Rows, strings.Join(q.Columns, ", "), firstRow(q.FirstRow))
	}
	if r.Security != nil {
		field("users/grants", "%s", securityLine(*r.Security))
	}
	for _, warning := range r.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", warning)
	}
	b.WriteString(branchFate(r, now) + "\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// drillRPO is the would-be RPO of a drill: the newest source write known minus the
// watermark, or "unknown" when no running replication could tell what the newest write is.
func drillRPO(r workflows.DrillResult) string {
	if !r.RPOKnown {
		return "unknown (no running replication reported the newest source write)"
	}
	return fmt.Sprintf("%s (newest write known %s)", formatLag(r.RPOSeconds), formatTimeNano(r.NewestWrite))
}

func firstRow(row []string) string {
	if row == nil {
		return ""
	}
	return fmt.Sprintf("; first row [%s]", strings.Join(row, ", "))
}

// securityLine says whether the users and grants snapshot would apply in a failover, and who
// would come up locked.
func securityLine(s activities.SecurityCheck) string {
	switch {
	case !s.Found:
		return "no snapshot recorded: a failover would bring no users or grants"
	case s.Problem != "":
		return "would NOT apply: " + s.Problem
	}
	line := fmt.Sprintf("would apply: %d users, %d roles, %d groups, %d grants (snapshot read in %s)", s.Users, s.Roles, s.Groups, s.Grants, s.TakenIn)
	if len(s.Locked) > 0 {
		line += "; created locked (no password reference in security.passwords): " + strings.Join(s.Locked, ", ")
	}
	return line
}

// branchFate says what became of the branch: cleaned up, or kept and how to end it early.
func branchFate(r workflows.DrillResult, now time.Time) string {
	switch {
	case r.CleanedUp:
		return "branch cleaned up"
	case r.Phase == workflows.DrillDone:
		return fmt.Sprintf("branch %s was NOT cleaned up (the drill ended without it): DETACH DATABASE %s in %s, then delete %s/ in its bucket",
			r.Branch, r.Branch, r.To, r.BranchRoot)
	case !r.KeptUntil.IsZero() && r.Phase == workflows.DrillKept:
		return fmt.Sprintf("branch %s stays attached until %s (in %s); end it now: bdr drill finish %s %s",
			r.Branch, formatTime(r.KeptUntil), formatAge(r.KeptUntil.Sub(now)), r.Database, r.ID)
	case r.Branch != "":
		return fmt.Sprintf("branch %s may still be attached (phase %s); bdr drill finish %s %s ends it", r.Branch, orDash(r.Phase), r.Database, r.ID)
	}
	return "no branch was made"
}

// drillHeader is the header of the drill list.
func drillHeader() []string {
	return []string{"ID", "IN", "PHASE", "RESULT", "STARTED", "RPO", "ATTACH", "BRANCH", "REASON"}
}

// drillCells are the drill list's cells of r, in the order of drillHeader.
func drillCells(r workflows.DrillResult) []string {
	result := "-" // not decided while it runs
	switch {
	case r.Passed:
		result = "passed"
	case r.Phase == workflows.DrillDone || r.Reason != "":
		result = "FAILED"
	}
	rpo := "unknown"
	if r.RPOKnown {
		rpo = formatLag(r.RPOSeconds)
	}
	attach := "-"
	if r.AttachSeconds > 0 {
		attach = fmt.Sprintf("%.1fs", r.AttachSeconds)
	}
	branch := "cleaned-up"
	switch {
	case r.CleanedUp:
	case r.Phase == workflows.DrillDone:
		branch = "NOT-CLEANED:" + orDash(r.Branch)
	default:
		branch = "LIVE:" + orDash(r.Branch)
	}
	return []string{r.ID, r.To, orDash(r.Phase), result, formatTime(r.StartedAt), rpo, attach, branch, orDash(oneLine(r.Reason, maxErrorWidth))}
}

// writeDrillList writes the drill table (records sorted by sortDrills), then a line per live
// branch saying how to end it.
func writeDrillList(w io.Writer, records []workflows.DrillResult, now time.Time) error {
	if len(records) == 0 {
		_, err := fmt.Fprintln(w, "no drills recorded")
		return err
	}
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(drillHeader(), "\t"))
	for _, r := range records {
		fmt.Fprintln(tw, strings.Join(drillCells(r), "\t"))
	}
	_ = tw.Flush() // writes to a strings.Builder cannot fail
	for _, r := range records {
		if drillLive(r) {
			b.WriteString(branchFate(r, now) + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// drillLine is a database's last drill in one line, for bdr status: "passed 2h ago, RPO
// 1.2s, attach 0.8s", "FAILED 3h ago: <reason>", or "none".
func drillLine(r *workflows.DrillResult, now time.Time) string {
	if r == nil {
		return "none"
	}
	ago := formatAge(now.Sub(r.StartedAt)) + " ago"
	if !r.Passed {
		return fmt.Sprintf("FAILED %s: %s", ago, oneLine(r.Reason, 2*maxErrorWidth))
	}
	rpo := "unknown"
	if r.RPOKnown {
		rpo = formatLag(r.RPOSeconds)
	}
	return fmt.Sprintf("passed %s, RPO %s, attach %.1fs", ago, rpo, r.AttachSeconds)
}
