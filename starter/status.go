package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	workflowpb "go.temporal.io/api/workflow/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
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
			"for each database and prints those that are running, then the phase of any running\n" +
			"Failback and the last drill of each database.",
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
			stores := a.storesForStatus(cfg)
			if watch {
				return a.watchStatus(ctx, c, cfg, stores, dbs, interval)
			}
			rows, qerr := queryStatuses(ctx, c, cfg, dbs)
			failbacks, ferr := runningFailbacks(ctx, c, dbs)
			addRPONow(ctx, rows, storeClock(stores))
			drills := lastDrills(ctx, stores, dbs)
			for i := range rows {
				rows[i].LastDrill = drills[rows[i].Database]
				rows[i].Failback = failbacks[rows[i].Database]
			}
			if a.json {
				err = writeJSON(a.stdout, rows, false)
			} else {
				err = writeStatusTable(a.stdout, rows)
				if err == nil {
					err = writeFailbacks(a.stdout, dbs, failbacks)
				}
				if err == nil {
					err = writeLastDrills(a.stdout, dbs, drills, time.Now())
				}
			}
			return errors.Join(err, qerr, ferr)
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "refresh until interrupted (Ctrl-C)")
	cmd.Flags().DurationVar(&interval, "interval", time.Second, "time between refreshes with --watch")
	return cmd
}

// statusRow is one replication as bdr status shows it: the workflow's Status and what bdr
// adds from elsewhere. Status is embedded, so --json prints the Status object with a few more
// fields, and a script that decodes a workflows.Status reads it as before.
type statusRow struct {
	workflows.Status
	// RPONowSeconds is the source store's clock now minus the watermark: the RPO if the source
	// were lost this instant (LagSeconds is the same as of the last sync, which may be a
	// while ago when syncs fail). Nil when unknown: no watermark yet, or the source's bucket
	// did not tell its time.
	RPONowSeconds *float64 `json:"rpoNowSeconds,omitempty"`
	// CopyRate is the running Sync's average rate, in objects per second; 0 when unknown.
	CopyRate float64 `json:"copyRate,omitempty"`
	// InitialSyncETASeconds is the time the initial sync needs at CopyRate for what is left;
	// nil when the rate is unknown or the initial sync is over.
	InitialSyncETASeconds *float64 `json:"initialSyncEtaSeconds,omitempty"`
	// LastDrill is the newest ended drill of the database recorded in a bucket; nil when
	// there is none, or with --watch (which does not read the records).
	LastDrill *workflows.DrillResult `json:"lastDrill,omitempty"`
	// Failback is the status of the database's running failback; nil when none runs, or with
	// --watch. Like LastDrill it rides on the database's replication rows, so a failback of a
	// database with no replication running shows in the text output only.
	Failback *workflows.FailbackResult `json:"failback,omitempty"`
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
func queryStatuses(ctx context.Context, c client.Client, cfg *config.Config, dbs []string) ([]statusRow, error) {
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
		st    statusRow
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
	var sts []statusRow
	var errs []error
	for i, ans := range answers {
		switch {
		case ans.err != nil:
			r := routes[i]
			sts = append(sts, statusRow{Status: workflows.Status{State: stateUnknown, Database: r.db, From: r.from, To: r.to, LastError: ans.err.Error()}})
			errs = append(errs, ans.err)
		case ans.found:
			sts = append(sts, ans.st)
		}
	}
	if sts == nil {
		sts = []statusRow{} // JSON [] rather than null: "nothing runs" is an answer
	}
	return sts, errors.Join(errs...)
}

// runningFailbacks queries the failback of each of dbs, all at once, and returns those that
// run, by database. Like queryStatuses it derives the IDs instead of listing workflows, and a
// query that fails leaves its database out and is returned, joined with the others.
func runningFailbacks(ctx context.Context, c client.Client, dbs []string) (map[string]*workflows.FailbackResult, error) {
	res := make([]*workflows.FailbackResult, len(dbs))
	errs := make([]error, len(dbs))
	var wg sync.WaitGroup
	for i, db := range dbs {
		wg.Go(func() { res[i], errs[i] = queryFailback(ctx, c, db) })
	}
	wg.Wait()
	running := map[string]*workflows.FailbackResult{}
	for i, db := range dbs {
		if res[i] != nil {
			running[db] = res[i]
		}
	}
	return running, errors.Join(errs...)
}

// queryStatus queries the status of r's workflow. found is false when the workflow does not
// exist or is no longer running (the query is rejected rather than answered from a replay of
// a closed workflow, whose status would look current but is not).
func queryStatus(ctx context.Context, c client.Client, r routeArgs) (row statusRow, found bool, err error) {
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
		return row, false, nil
	case err != nil:
		return row, false, fmt.Errorf("query status of %s: %w", r.id(), err)
	case resp.QueryRejected != nil:
		return row, false, nil
	}
	if err := resp.QueryResult.Get(&row.Status); err != nil {
		return row, false, fmt.Errorf("decode status of %s: %w", r.id(), err)
	}
	if p, rate, ok := runningSync(ctx, c, r.id()); ok {
		row.Status = row.WithProgress(p)
		row.CopyRate = rate
		if eta, ok := initialSyncETA(row.Status, rate); ok {
			row.InitialSyncETASeconds = &eta
		}
	}
	return row, true, nil
}

// runningSync returns the last heartbeat of the Sync activity the workflow id runs now, if
// any: its progress since the workflow last folded a result, and its copy rate (0 when
// unknown). It is an extra: when it cannot be read, the status stands as queried.
func runningSync(ctx context.Context, c client.Client, id string) (p activities.SyncProgress, rate float64, ok bool) {
	desc, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return p, 0, false
	}
	for _, pa := range desc.GetPendingActivities() {
		if pa.GetActivityType().GetName() != activities.SyncActivity || pa.GetHeartbeatDetails() == nil {
			continue
		}
		if err := converter.GetDefaultDataConverter().FromPayloads(pa.GetHeartbeatDetails(), &p); err == nil {
			return p, copyRate(pa, p), true
		}
	}
	return p, 0, false
}

// minRateWindow is the least time a copy rate is measured over: the first batches of a Sync
// (its wait, its listing, the first copies in flight) say nothing about its pace.
const minRateWindow = 5 * time.Second

// copyRate is the average rate of a running Sync in objects per second: the objects it has
// copied, over the time from its start to the heartbeat that reported them. Both times are
// the server's, so the local clock plays no part. It errs slow (the time includes the Sync's
// wait and listing), never fast; 0 when it cannot tell.
func copyRate(pa *workflowpb.PendingActivityInfo, p activities.SyncProgress) float64 {
	started, beat := pa.GetLastStartedTime(), pa.GetLastHeartbeatTime()
	if started == nil || beat == nil || p.CopiedObjects <= 0 {
		return 0
	}
	elapsed := beat.AsTime().Sub(started.AsTime())
	if elapsed < minRateWindow {
		return 0
	}
	return float64(p.CopiedObjects) / elapsed.Seconds()
}

// initialSyncETA is how long the initial sync of s needs for the objects it has left at
// rate objects per second; false when there is no initial sync in progress or no rate.
func initialSyncETA(s workflows.Status, rate float64) (seconds float64, ok bool) {
	if !inInitialSync(s) || rate <= 0 {
		return 0, false
	}
	return float64(max(s.InitialSync.Total-s.InitialSync.Done, 0)) / rate, true
}

// watchStatus refreshes the status every interval until ctx ends, which is the normal way out
// (Ctrl-C), so it then returns nil. Query failures show in the rows and do not stop it.
//   - --json: one JSON array per line per refresh;
//   - text, stdout a terminal: a live table with mpb progress bars;
//   - text otherwise: one line per replication per refresh.
func (a *app) watchStatus(ctx context.Context, c client.Client, cfg *config.Config, stores map[string]*objectstore.Client, dbs []string, interval time.Duration) error {
	var live *liveView
	if !a.json && isTerminal(a.stdout) {
		live = newLiveView(ctx, a.stdout)
		defer live.close()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		sts, _ := queryStatuses(ctx, c, cfg, dbs)
		addRPONow(ctx, sts, storeClock(stores))
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
	bars   map[string]syncBar   // progress bars, by workflow ID
}

// liveLine is a text-only bar whose text can change between refreshes.
type liveLine struct {
	bar *mpb.Bar
	liveText
}

// liveText is text that a decorator draws and a refresh changes: mpb draws from its own
// goroutine.
type liveText struct {
	mu   sync.Mutex
	text string
}

func (l *liveText) set(s string) { l.mu.Lock(); l.text = s; l.mu.Unlock() }
func (l *liveText) get() string  { l.mu.Lock(); defer l.mu.Unlock(); return l.text }

// syncBar is the progress bar of an initial sync and the ETA it draws after its counters.
type syncBar struct {
	*mpb.Bar
	eta *liveText
}

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
		bars: map[string]syncBar{},
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

// newSyncBar adds the progress bar of s's initial sync; false once the view has shut down.
func (v *liveView) newSyncBar(s statusRow, priority int) (syncBar, bool) {
	name := fmt.Sprintf("%s %s initial sync ", s.Database, route(s.From, s.To))
	eta := &liveText{}
	bar, err := v.p.Add(s.InitialSync.Total, mpb.BarStyle().Build(), mpb.BarPriority(priority),
		mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(name)),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5}), decor.CountersNoUnit(" %d/%d"),
			decor.Any(func(decor.Statistics) string { return eta.get() })))
	return syncBar{bar, eta}, err == nil
}

// update shows sts: rows are created, reordered, changed and dropped to match.
func (v *liveView) update(sts []statusRow) {
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
		case inInitialSync(s.Status) && !hasBar:
			if bar, ok = v.newSyncBar(s, barPriorityBase+i); !ok {
				return
			}
			v.bars[id] = bar
			fallthrough
		case inInitialSync(s.Status):
			// The ETA is the one status computes from the running copy's rate (mpb's own
			// estimators would time our once-a-refresh updates, not the copy).
			bar.eta.set(etaText(s))
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

// storesForStatus returns the object-store client of every region, for what status reads
// besides Temporal (the stores' clocks, the drill records); nil, after a note on stderr, when
// they cannot be built (e.g. credentials not in this shell's environment): those extras are
// then left out rather than failing the status.
func (a *app) storesForStatus(cfg *config.Config) map[string]*objectstore.Client {
	stores, err := clients.Stores(cfg)
	if err != nil {
		fmt.Fprintf(a.stderr, "bdr: RPO now and last drills not shown: %v\n", err)
		return nil
	}
	return stores
}

// clockFunc returns a region's store clock now.
type clockFunc func(ctx context.Context, region string) (time.Time, error)

// clockTimeout bounds the read of a store's clock: RPO NOW is an extra, and a bucket that does
// not answer must not slow down every refresh of --watch.
const clockTimeout = 3 * time.Second

// storeClock reads the clock of the region's store (objectstore.Client.Now), within
// clockTimeout.
func storeClock(stores map[string]*objectstore.Client) clockFunc {
	return func(ctx context.Context, region string) (time.Time, error) {
		s, ok := stores[region]
		if !ok {
			return time.Time{}, fmt.Errorf("no store for region %s", region)
		}
		ctx, cancel := context.WithTimeout(ctx, clockTimeout)
		defer cancel()
		return s.Now(ctx)
	}
}

// addRPONow sets RPONowSeconds of every row with a watermark: its source store's clock now
// minus the watermark. The watermark is a time of the source's clock (the LastModified of
// its blobs), so it is compared with that clock, never the local one. Each source's clock is
// read once, all at once; a source whose clock cannot be read leaves its rows unknown.
func addRPONow(ctx context.Context, rows []statusRow, clock clockFunc) {
	nows := map[string]time.Time{} // written by the goroutines, under mu
	asked := map[string]bool{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, r := range rows {
		if asked[r.From] {
			continue
		}
		asked[r.From] = true
		wg.Go(func() {
			if t, err := clock(ctx, r.From); err == nil {
				mu.Lock()
				nows[r.From] = t
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for i := range rows {
		now, wm := nows[rows[i].From], rows[i].Watermark.Time
		if now.IsZero() || wm.IsZero() {
			continue
		}
		rpo := max(0, now.Sub(wm).Seconds())
		rows[i].RPONowSeconds = &rpo
	}
}

// lastDrills returns the newest ended drill of each of dbs found in the regions' buckets (a
// drill records its report in its target's bucket only, so every bucket is read). Buckets
// that do not answer are skipped: the last drill is an extra of the status.
func lastDrills(ctx context.Context, stores map[string]*objectstore.Client, dbs []string) map[string]*workflows.DrillResult {
	ctx, cancel := context.WithTimeout(ctx, queryTimeout)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	last := map[string]*workflows.DrillResult{}
	for _, s := range stores {
		wg.Go(func() {
			for _, db := range dbs {
				r, err := newestDrill(ctx, s, db)
				if err != nil || r == nil {
					continue
				}
				mu.Lock()
				if cur := last[db]; cur == nil || r.StartedAt.After(cur.StartedAt) {
					last[db] = r
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return last
}

// newestDrill returns the newest ended drill of db recorded in s, nil when there is none. It
// reads records newest first and stops at the first that has ended, so a bucket with a year
// of daily drills costs a listing and a read or two, not one read per drill.
func newestDrill(ctx context.Context, s replication.Store, db string) (*workflows.DrillResult, error) {
	l, err := s.List(ctx, replication.DrillPrefix(db))
	if err != nil {
		return nil, fmt.Errorf("list drills of %s: %w", db, err)
	}
	var ids []string
	for _, o := range l.Objects {
		if id, ok := strings.CutSuffix(strings.TrimPrefix(o.Key, replication.DrillPrefix(db)), ".json"); ok {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids) // ids are UTC times: newest last
	for _, id := range slices.Backward(ids) {
		var r workflows.DrillResult
		found, err := replication.ReadDrill(ctx, s, db, id, &r)
		if err != nil {
			return nil, err
		}
		if found && r.Phase == workflows.DrillDone {
			return &r, nil
		}
	}
	return nil, nil
}
