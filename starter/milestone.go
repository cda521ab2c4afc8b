package main

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// milestoneName is what bdr accepts as a milestone name or prefix before anything starts; the
// worker checks the same names again before any SQL is built.
var milestoneName = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

func (a *app) milestoneCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "milestone",
		Short: "Create, list and schedule milestones (restore points) of a database",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	cmd.AddCommand(a.milestoneCreateCmd(), a.milestoneListCmd(), a.milestoneScheduleCmd())
	return cmd
}

// milestoneArgs are the DB argument and --region flag of every milestone subcommand.
type milestoneArgs struct{ db, region string }

func (m *milestoneArgs) addFlags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&m.region, "region", defaultFrom, "the region whose database gets the milestone")
}

func (m milestoneArgs) validate(cfg *config.Config) error {
	if err := validateDB(cfg, m.db); err != nil {
		return err
	}
	if _, err := cfg.Region(m.region); err != nil {
		return usageErrorf("--region: unknown region %q (configured: %s)", m.region, strings.Join(cfg.RegionNames(), ", "))
	}
	return nil
}

// milestoneSubCmd builds a milestone subcommand: DB (and the other arguments named), the
// --region flag, checked against the configuration before run is called.
func (a *app) milestoneSubCmd(use, short string, argNames []string,
	run func(cmd *cobra.Command, cfg *config.Config, m milestoneArgs, args []string) error) *cobra.Command {
	var m milestoneArgs
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  exactArgs(argNames...),
		RunE: func(cmd *cobra.Command, args []string) error {
			m.db = args[0]
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			if err := m.validate(cfg); err != nil {
				return err
			}
			return run(cmd, cfg, m, args)
		},
	}
	m.addFlags(cmd)
	return cmd
}

func (a *app) milestoneCreateCmd() *cobra.Command {
	return a.milestoneSubCmd("create DB NAME", "CREATE MILESTONE in the region's database and record it in every bucket", []string{"DB", "NAME"},
		func(cmd *cobra.Command, cfg *config.Config, m milestoneArgs, args []string) error {
			name := args[1]
			if !milestoneName.MatchString(name) {
				return usageErrorf("argument NAME: %q is not a milestone name (letters, digits, _ . : -; at most 64)", name)
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			id := workflows.MilestoneID(m.db, name)
			run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
				ID: id, TaskQueue: cfg.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true,
				TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(m.db)),
				StaticSummary:         fmt.Sprintf("milestone %s of %s in %s", name, m.db, m.region),
			}, workflows.CreateMilestoneName, workflows.CreateMilestoneInput{Database: m.db, Region: m.region, Name: name})
			var started *serviceerror.WorkflowExecutionAlreadyStarted
			if errors.As(err, &started) {
				return fmt.Errorf("milestone %s of %s is being created already (workflow ID %s)", name, m.db, id)
			}
			if err != nil {
				return fmt.Errorf("create milestone: %w", err)
			}
			done := a.spinner(ctx, "creating milestone "+name)
			var res workflows.MilestoneResult
			err = run.Get(ctx, &res)
			done()
			if err != nil {
				return fmt.Errorf("create milestone %s of %s: %w", name, m.db, err)
			}
			if a.json {
				return writeJSON(a.stdout, res, false)
			}
			_, err = fmt.Fprintf(a.stdout, "milestone %s of %s at %s (created in %s, recorded in %s)\n",
				res.Name, res.Database, res.Time.UTC().Format(time.RFC3339), res.Region, strings.Join(res.RecordedIn, ", "))
			return err
		})
}

func (a *app) milestoneListCmd() *cobra.Command {
	cmd := a.milestoneSubCmd("list DB", "List the milestones recorded in the region's bucket", []string{"DB"},
		func(cmd *cobra.Command, cfg *config.Config, m milestoneArgs, _ []string) error {
			stores, err := clients.Stores(cfg)
			if err != nil {
				return err
			}
			list, err := replication.ListMilestones(cmd.Context(), stores[m.region], m.db)
			if err != nil {
				return err
			}
			if a.json {
				if list == nil {
					list = []replication.Milestone{}
				}
				return writeJSON(a.stdout, list, false)
			}
			return writeMilestones(a.stdout, list)
		})
	cmd.Flags().Lookup("region").Usage = "the region whose bucket is read"
	return cmd
}

func writeMilestones(w io.Writer, list []replication.Milestone) error {
	if len(list) == 0 {
		_, err := fmt.Fprintln(w, "no milestones recorded")
		return err
	}
	for _, m := range list {
		if _, err := fmt.Fprintf(w, "%-40s %s  (created in %s)\n", m.Name, m.Time.UTC().Format(time.RFC3339), m.Region); err != nil {
			return err
		}
	}
	return nil
}

// MilestoneScheduleID is the ID of the Temporal Schedule that makes milestones of db in region.
func MilestoneScheduleID(db, region string) string {
	return fmt.Sprintf("milestones/%s/%s", db, region)
}

func (a *app) milestoneScheduleCmd() *cobra.Command {
	var every time.Duration
	var prefix string
	cmd := a.milestoneSubCmd("schedule DB", "Create a Temporal Schedule that makes a milestone every interval", []string{"DB"},
		func(cmd *cobra.Command, cfg *config.Config, m milestoneArgs, _ []string) error {
			if every < time.Minute {
				return usageErrorf("--every: %s is too often for milestones (at least 1m)", every)
			}
			if !milestoneName.MatchString(prefix) || len(prefix) > 48 {
				return usageErrorf("--prefix: %q is not a milestone name prefix (letters, digits, _ . : -; at most 48)", prefix)
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			id := MilestoneScheduleID(m.db, m.region)
			_, err = c.ScheduleClient().Create(ctx, client.ScheduleOptions{
				ID:   id,
				Spec: client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: every}}},
				Action: &client.ScheduleWorkflowAction{
					ID: workflows.MilestoneID(m.db, prefix), Workflow: workflows.CreateMilestoneName, TaskQueue: cfg.Temporal.TaskQueue,
					Args:                  []any{workflows.CreateMilestoneInput{Database: m.db, Region: m.region, NamePrefix: prefix}},
					TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchAttrDatabase.ValueSet(m.db)),
				},
			})
			status := "created"
			if errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
				status, err = "already exists", nil
			}
			if err != nil {
				return fmt.Errorf("schedule milestones of %s: %w", m.db, err)
			}
			if a.json {
				return writeJSON(a.stdout, map[string]string{"scheduleId": id, "status": status}, false)
			}
			_, err = fmt.Fprintf(a.stdout, "schedule %s %s: a milestone %s_<time> of %s in %s every %s\n", id, status, prefix, m.db, m.region, every)
			return err
		})
	cmd.Flags().DurationVar(&every, "every", time.Hour, "interval between milestones")
	cmd.Flags().StringVar(&prefix, "prefix", "auto", "milestone names are PREFIX_YYYYMMDDhhmmss")
	return cmd
}
