package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// queryTimeout bounds one status query. A running workflow with no worker polling its task
// queue never answers; bdr must then say so rather than hang.
const queryTimeout = 10 * time.Second

func (a *app) statusCmd() *cobra.Command {
	var watch bool
	var interval time.Duration
	cmd := &cobra.Command{
		Use:   "status [DB...]",
		Short: "Show the replication status of every configured database, or of those given",
		Long: "status queries the Replicate workflow of every ordered pair of configured regions\n" +
			"for each database and prints those that are running.",
		RunE: func(cmd *cobra.Command, args []string) error {
			if interval <= 0 {
				return usageErrorf("--interval: must be positive, got %s", interval)
			}
			cfg, err := a.loadConfig()
			if err != nil {
				return err
			}
			dbs, err := selectDatabases(cfg, args)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			c, err := a.dial(ctx, cfg)
			if err != nil {
				return err
			}
			defer c.Close()
			if watch {
				return a.watchStatus(ctx, c, cfg, dbs, interval)
			}
			sts, qerr := queryStatuses(ctx, c, cfg, dbs)
			if a.json {
				err = writeJSON(a.stdout, sts, false)
			} else {
				err = writeStatusTable(a.stdout, sts)
			}
			return errors.Join(err, qerr)
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh until interrupted (Ctrl-C)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes with --watch")
	return cmd
}

// selectDatabases returns the databases named in args, or every configured one when args is
// empty. Naming an unknown database is a usage error.
func selectDatabases(cfg *config.Config, args []string) ([]string, error) {
	if len(args) == 0 {
		return databaseNames(cfg), nil
	}
	for _, db := range args {
		if err := validateDB(cfg, db); err != nil {
			return nil, err
		}
	}
	return args, nil
}

// queryStatuses queries the status of the Replicate workflow of every database in dbs and every
// ordered pair of configured regions, in that order. It derives the workflow IDs from the
// configuration rather than listing workflows, so it needs no search attributes or visibility
// store. Workflows that do not exist or have ended are left out. A query that fails still
// yields a row, in state "unknown" with the error as LastError, and the failures are returned
// joined, so that one stuck workflow neither hides the others nor passes unnoticed.
func queryStatuses(ctx context.Context, c client.Client, cfg *config.Config, dbs []string) ([]workflows.Status, error) {
	var routes []routeArgs
	regions := cfg.RegionNames()
	for _, db := range dbs {
		for _, from := range regions {
			for _, to := range regions {
				if from != to {
					routes = append(routes, routeArgs{db: db, from: from, to: to})
				}
			}
		}
	}
	type answer struct {
		st    workflows.Status
		found bool
		err   error
	}
	answers := make([]answer, len(routes))
	var wg sync.WaitGroup
	for i, r := range routes {
		wg.Go(func() {
			st, found, err := queryStatus(ctx, c, r)
			answers[i] = answer{st, found, err}
		})
	}
	wg.Wait()
	var sts []workflows.Status
	var errs []error
	for i, ans := range answers {
		switch {
		case ans.err != nil:
			r := routes[i]
			sts = append(sts, workflows.Status{State: stateUnknown, Database: r.db, From: r.from, To: r.to, LastError: ans.err.Error()})
			errs = append(errs, ans.err)
		case ans.found:
			sts = append(sts, ans.st)
		}
	}
	if sts == nil {
		sts = []workflows.Status{} // JSON [] rather than null: "nothing runs" is an answer
	}
	return sts, errors.Join(errs...)
}

// queryStatus queries the status of r's workflow. found is false when the workflow does not
// exist or is no longer running (the query is rejected rather than answered from a replay of
// a closed workflow, whose status would look current but is not).
func queryStatus(ctx context.Context, c client.Client, r routeArgs) (st workflows.Status, found bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	resp, err := c.QueryWorkflowWithOptions(ctx, &client.QueryWorkflowWithOptionsRequest{
		WorkflowID:           r.id(),
		QueryType:            workflows.QueryStatus,
		QueryRejectCondition: enumspb.QUERY_REJECT_CONDITION_NOT_OPEN,
	})
	var nf *serviceerror.NotFound
	switch {
	case errors.As(err, &nf):
		return st, false, nil
	case err != nil:
		return st, false, fmt.Errorf("query status of %s: %w", r.id(), err)
	case resp.QueryRejected != nil:
		return st, false, nil
	}
	if err := resp.QueryResult.Get(&st); err != nil {
		return st, false, fmt.Errorf("decode status of %s: %w", r.id(), err)
	}
	if p, ok := runningSync(ctx, c, r.id()); ok {
		st = st.WithProgress(p)
	}
	return st, true, nil
}

// runningSync returns the last heartbeat of the Sync activity the workflow id runs now, if
// any: its progress since the workflow last folded a result. It is an extra: when it cannot
// be read, the status stands as queried.
func runningSync(ctx context.Context, c client.Client, id string) (activities.SyncProgress, bool) {
	var p activities.SyncProgress
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return p, false
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() != activities.SyncActivity || pa.GetHeartbeatDetails() == nil {
			continue
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p); err == nil {
			return p, true
		}
	}
	return p, false
}

// watchStatus refreshes the status every interval until ctx ends, which is the normal way out
// (Ctrl-C), so it then returns nil. Query failures show in the rows and do not stop it.
//   - --json: one JSON array per line per refresh;
//   - text, stdout a terminal: a live table with mpb progress bars;
//   - text otherwise: one line per replication per refresh.
func (a *app) watchStatus(ctx context.Context, c client.Client, cfg *config.Config, dbs []string, interval time.Duration) error {
	var live *liveView
	if !a.json && isTerminal(a.stdout) {
		live = newLiveView(ctx, a.stdout)
		defer live.close()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		sts, _ := queryStatuses(ctx, c, cfg, dbs)
		if ctx.Err() != nil {
			return nil
		}
		var err error
		switch {
		case a.json:
			err = writeJSON(a.stdout, sts, true)
		case live != nil:
			live.update(sts)
		default:
			err = writeStatusLines(a.stdout, time.Now(), sts)
		}
		if err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// liveView draws the status table on a terminal as mpb bars: a header line, one text line per
// replication, and below them a progress bar per replication in initial sync. mpb redraws the
// block in place, so the view updates without scrolling. It is used by one goroutine.
type liveView struct {
	p      *mpb.Progress
	header *liveLine
	rows   map[string]*liveLine // by workflow ID
	bars   map[string]*mpb.Bar  // progress bars, by workflow ID
}

// liveLine is a text-only bar whose text can change between refreshes.
type liveLine struct {
	bar  *mpb.Bar
	mu   sync.Mutex
	text string
}

func (l *liveLine) set(s string) { l.mu.Lock(); l.text = s; l.mu.Unlock() }
func (l *liveLine) get() string  { l.mu.Lock(); defer l.mu.Unlock(); return l.text }

// Priorities of the live view: header, then rows in table order, then progress bars.
const (
	headerPriority  = 0
	rowPriority     = 1
	barPriorityBase = 1 << 20
)

func newLiveView(ctx context.Context, w interface{ Write([]byte) (int, error) }) *liveView {
	v := &liveView{
		p:    mpb.NewWithContext(ctx, mpb.WithOutput(w), mpb.WithWidth(progressWidth), mpb.WithRefreshRate(200*time.Millisecond)),
		rows: map[string]*liveLine{},
		bars: map[string]*mpb.Bar{},
	}
	v.header = v.newLine(headerPriority)
	return v
}

// newLine adds a text line. Its bar is nil once the view has shut down (ctx ended), and nil
// bars are skipped: mpb refuses new bars then, and there is nothing left to draw on.
func (v *liveView) newLine(priority int) *liveLine {
	l := &liveLine{}
	l.bar, _ = v.p.Add(0, mpb.NopStyle().Build(), mpb.BarPriority(priority),
		mpb.PrependDecorators(decor.Any(func(decor.Statistics) string { return l.get() })))
	return l
}

// update shows sts: rows are created, reordered, changed and dropped to match.
func (v *liveView) update(sts []workflows.Status) {
	lines := tableLines(sts)
	v.header.set(lines[0])
	if len(sts) == 0 {
		v.header.set("no replication is running")
	}
	seen := map[string]bool{}
	for i, s := range sts {
		id := workflows.ReplicateID(s.Database, s.From, s.To)
		seen[id] = true
		row, ok := v.rows[id]
		if !ok {
			if row = v.newLine(rowPriority + i); row.bar == nil {
				return
			}
			v.rows[id] = row
		}
		row.set(lines[i+1])
		row.bar.SetPriority(rowPriority + i)

		bar, hasBar := v.bars[id]
		switch {
		case inInitialSync(s) && !hasBar:
			name := fmt.Sprintf("%s %s initial sync ", s.Database, route(s.From, s.To))
			var err error
			bar, err = v.p.Add(s.InitialSync.Total, mpb.BarStyle().Build(), mpb.BarPriority(barPriorityBase+i),
				mpb.BarRemoveOnComplete(),
				mpb.PrependDecorators(decor.Name(name)),
				mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.CountersNoUnit(" %d/%d")))
			if err != nil {
				return
			}
			v.bars[id] = bar
			fallthrough
		case inInitialSync(s):
			bar.SetTotal(s.InitialSync.Total, false)
			bar.SetCurrent(min(s.InitialSync.Done, s.InitialSync.Total))
			bar.SetPriority(barPriorityBase + i)
		case hasBar:
			bar.Abort(true)
			delete(v.bars, id)
		}
	}
	for id, row := range v.rows {
		if !seen[id] {
			row.bar.Abort(true)
			delete(v.rows, id)
			if bar, ok := v.bars[id]; ok {
				bar.Abort(true)
				delete(v.bars, id)
			}
		}
	}
}

// close draws the view one last time and releases the terminal.
func (v *liveView) close() {
	for _, b := range v.bars {
		b.Abort(false)
	}
	for _, r := range v.rows {
		r.bar.Abort(false)
	}
	if v.header.bar != nil {
		v.header.bar.Abort(false)
	}
	v.p.Wait()
}
