package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/sync/errgroup"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The steady write load: 8 writers x 25 blobs/s x 16 KiB = 200 blobs/s.
const (
	lagDatabase = "lag_db"
	lagRoot     = "lag"
	lagWriters  = 8
	lagRate     = 25
	lagSize     = 16 << 10
	lagPoll     = 100 * time.Millisecond
)

// lagResult is the steady-lag measurement. Watermark lag (p50, p99, max) is, per blob, the
// time from its source LastModified until the target's watermark passed it: what a failover
// at that instant keeps. Arrived is until a listing of the target first showed the blob's
// copy (the target listed every ArrivalPoll seconds), measured as MinIO replication's is;
// Visible is the same by the copy's LastModified in the target, finer, but which MinIO's
// replicas do not have (they keep the source's).
type lagResult struct {
	Blobs        int          `json:"blobs"`
	BlobsPerSec  float64      `json:"blobsPerSec"`
	P50          float64      `json:"p50"`
	P99          float64      `json:"p99"`
	Max          float64      `json:"max"`
	SettleWindow float64      `json:"settleWindow"`
	PollInterval float64      `json:"pollInterval"`
	Visible      lagQuantiles `json:"visible"`
	Arrived      lagQuantiles `json:"arrived"`
	ArrivalPoll  float64      `json:"arrivalPoll"`
	// NotArrived is how many of the load's blobs the listings of the target had not shown
	// 10 s after the watermark had passed them all (a blob's copy precedes its watermark);
	// Arrived counts them as arriving then.
	NotArrived  int     `json:"notArrived"`
	Syncs       int     `json:"syncs"`       // Sync activities while the load ran
	MeanSync    float64 `json:"meanSync"`    // their mean duration, seconds
	MeanBetween float64 `json:"meanBetween"` // mean seconds from a Sync's end to the next one's start
	// RequestsPerRound is the LIST requests (blobs and uploads) per listing of the source,
	// over the run's Syncs: every round lists the whole folder, so it grows with the folder.
	RequestsPerRound float64 `json:"requestsPerRound,omitempty"`
	// SlowAtTurnover is the share of the slowest 1% of blobs (data in target) written within
	// turnoverMargin of a Sync's end or start, beside AllAtTurnover, that of all blobs: far
	// above it, the time between one Sync and the next sets the tail.
	SlowAtTurnover float64 `json:"slowAtTurnover,omitempty"`
	AllAtTurnover  float64 `json:"allAtTurnover,omitempty"`
	// Listings is how many times the Syncs listed the source while the load ran: each costs
	// the source's CPU, which the copies share on a small machine.
	Listings int                `json:"listings,omitempty"`
	CPU      map[string]float64 `json:"cpu"` // CPU seconds per process while the load ran
	// ByQuarter is the watermark lag of the blobs written in each quarter of the load, with
	// the folder's size at the quarter's end: every round lists the whole folder, so the lag
	// grows with it.
	ByQuarter  []lagSlice    `json:"byQuarter"`
	Resolution time.Duration `json:"-"`
	// EarlyCopies is replication.early_copies in the run.
	EarlyCopies bool `json:"earlyCopies"`
	// Notifications says that the primary posted bucket notifications to the worker during
	// the load, and NotificationsReceived is how many blobs they named, by the worker's
	// bdr_notifications_received_total.
	Notifications         bool `json:"notifications,omitempty"`
	NotificationsReceived int  `json:"notificationsReceived,omitempty"`
	// FolderBlobs is how many blobs the database's folder held at the end (every round lists
	// them all), and WorkerPeakMiB the worker's peak resident memory (VmHWM) since it started
	// for this run, its initial sync of the folder included.
	FolderBlobs   int     `json:"folderBlobs"`
	WorkerPeakMiB float64 `json:"workerPeakMiB"`
}

// lagSlice is the watermark lag of the blobs written in one part of the load.
type lagSlice struct {
	FromSecond  float64 `json:"fromSecond"` // since the first write
	ToSecond    float64 `json:"toSecond"`
	FolderBlobs int     `json:"folderBlobs"` // blobs in the folder at ToSecond
	lagQuantiles
}

type lagQuantiles struct {
	P50 float64 `json:"p50"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// sample is the target's watermark as read at one instant.
type sample struct {
	at time.Time
	w  time.Time
}

// lagSetup is one configuration of bottomless-dr under the steady load. Each writes into a
// sub-folder of its own of the lag database's folder.
type lagSetup struct {
	part        string // the sub-folder of lagRoot the load writes into
	earlyCopies bool   // replication.early_copies
	// notifications gives the worker a notifications listener (replication.notifications_listen)
	// and turns the primary bucket's event notifications to it on for the load only.
	notifications bool
}

// The steady-lag runs of bottomless-dr, in the order they run: each adds one thing to the one
// before.
var (
	lagWithoutEarly  = lagSetup{part: "without-early"}
	lagEarly         = lagSetup{part: "with-early", earlyCopies: true}
	lagNotifications = lagSetup{part: "notifications", earlyCopies: true, notifications: true}
)

// errNoNotifications fails a notifications run in which the worker took none: it measured
// early copies from listings only, not notifications.
var errNoNotifications = errors.New("the worker took no bucket notification")

// runLag restarts the worker with the default settle window and poll interval (early copies
// on or off, a notifications listener or none, as s says), starts replication of the lag
// database, writes the steady load into the folder's sub-folder s.part and measures each of
// its blobs' lag. With s.notifications the primary's bucket notifications are on during the
// load only, and the run fails with errNoNotifications if the worker's /metrics counted none.
func (e *env) runLag(ctx context.Context, duration time.Duration, s lagSetup) (lagResult, error) {
	def := config.Default().Replication
	cfg := *e.stack.Config // a copy: what one run sets is not the next one's
	cfg.Replication.SettleWindow, cfg.Replication.PollInterval = def.SettleWindow, def.PollInterval
	cfg.Replication.EarlyCopies = s.earlyCopies
	metricsAddr := ""
	if s.notifications {
		if e.stack.NotificationsAddr == "" {
			return lagResult{}, errors.New("lag: notifications: the stack was started without them")
		}
		port, err := stack.FreePort()
		if err != nil {
			return lagResult{}, fmt.Errorf("lag: %w", err)
		}
		metricsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		cfg.Replication.NotificationsListen, cfg.Telemetry.MetricsListen = e.stack.NotificationsAddr, metricsAddr
	}
	if err := config.Write(e.stack.ConfigPath, &cfg); err != nil {
		return lagResult{}, fmt.Errorf("lag: %w", err)
	}
	if err := e.stack.StopWorker(); err != nil {
		return lagResult{}, fmt.Errorf("lag: stop worker: %w", err)
	}
	if err := e.stack.StartWorker(ctx); err != nil {
		return lagResult{}, fmt.Errorf("lag: start worker: %w", err)
	}
	res := lagResult{SettleWindow: def.SettleWindow.Seconds(), PollInterval: def.PollInterval.Seconds(), Resolution: lagPoll,
		EarlyCopies: s.earlyCopies, Notifications: s.notifications, ArrivalPoll: arrivalPoll.Seconds()}
	folder := lagRoot + "/" + s.part
	run, err := e.startReplicate(ctx, lagDatabase)
	if err != nil {
		return res, fmt.Errorf("lag: %w", err)
	}
	defer e.stopWorkflow(run)
	// A folder seeded beforehand is copied first: about 300 blobs a second here at the least.
	initialSync := 2*time.Minute + time.Duration(e.o.lagFolder/300)*time.Second
	if _, err := e.waitStatus(ctx, run.GetID(), initialSync, 100*time.Millisecond, func(st workflows.Status) bool {
		return st.State == workflows.StateReplicating
	}); err != nil {
		return res, fmt.Errorf("lag: replication did not start: %w\nworker log:\n%s", err, e.workerLogTail())
	}
	src, err := e.store(e.src, e.bucket)
	if err != nil {
		return res, err
	}
	dst, err := e.store(e.dst, e.bucket)
	if err != nil {
		return res, err
	}
	notificationsOff := func() {}
	if s.notifications {
		// On for this load only: the seeding and the other runs write with them off.
		if err := e.src.NotifyOnCreate(ctx, e.bucket); err != nil {
			return res, fmt.Errorf("lag: %w", err)
		}
		notificationsOff = sync.OnceFunc(e.notificationsOff)
		defer notificationsOff()
	}
	cpuBefore := e.cpu()
	samples, stopWatermark := pollWatermark(ctx, dst)
	seen, stopArrivals := pollArrivals(ctx, e.dstS3, e.bucket, folder, lagWriters)
	stopPolling := func() { stopWatermark(); stopArrivals() }
	written, err := workload.Run(ctx, e.srcS3, workload.Options{Bucket: e.bucket, Prefix: folder,
		Writers: lagWriters, Rate: lagRate, Duration: duration, Size: func(*rand.Rand) int { return lagSize }})
	// Off as soon as the load ends: MinIO sends each PUT's event as the PUT completes.
	notificationsOff()
	if err != nil {
		stopPolling()
		return res, fmt.Errorf("lag: write load: %w", err)
	}
	res.BlobsPerSec = float64(written.Objects) / duration.Seconds()
	source, err := src.List(ctx, folder+"/")
	if err != nil {
		stopPolling()
		return res, fmt.Errorf("lag: %w", err)
	}
	newest := time.Time{}
	for _, o := range source.Objects {
		newest = later(newest, o.LastModified)
	}
	// Wait for the watermark to pass the last write, then stop polling.
	deadline := time.Now().Add(def.SettleWindow + def.PollInterval + time.Minute)
	for {
		if s := samples(); len(s) > 0 && !s[len(s)-1].w.Before(newest) {
			break
		}
		if time.Now().After(deadline) {
			stopPolling()
			return res, fmt.Errorf("lag: %w: the watermark did not reach the last write (%s) within a minute", errTimeout, newest.Format(time.RFC3339Nano))
		}
		select {
		case <-ctx.Done():
			stopPolling()
			return res, ctx.Err()
		case <-time.After(lagPoll):
		}
	}
	// Every copy is in the target by now; the next listings show the last ones.
	if res.NotArrived, err = waitArrived(ctx, source, seen, 10*time.Second); err != nil {
		stopPolling()
		return res, err
	}
	gaveUp := time.Now()
	stopPolling()
	res.CPU = e.cpu().minus(cpuBefore)
	tl, tlErr := e.readTimeline(ctx, run, time.Time{}, time.Now())
	if tlErr == nil && tl.Syncs > 0 {
		res.Syncs, res.MeanSync = tl.Syncs, tl.InSyncs/float64(tl.Syncs)
		res.Listings = tl.ListRounds
		if tl.ListRounds > 0 {
			res.RequestsPerRound = float64(tl.ListRequests) / float64(tl.ListRounds)
		}
		if tl.Syncs > 1 {
			res.MeanBetween = tl.BetweenSyncs / float64(tl.Syncs-1)
		}
	}
	target, err := dst.List(ctx, folder+"/")
	if err != nil {
		return res, fmt.Errorf("lag: %w", err)
	}
	if whole, err := src.List(ctx, lagRoot+"/"); err == nil {
		res.FolderBlobs = len(whole.Objects)
	}
	res.WorkerPeakMiB = peakMiB(e.stack.WorkerPID())
	watermarkLags, visibleLags := blobLags(source, target, samples())
	res.ByQuarter = lagByQuarter(source, samples())
	res.Blobs = len(watermarkLags)
	q := quantiles(watermarkLags)
	res.P50, res.P99, res.Max = q.P50, q.P99, q.Max
	res.Visible = quantiles(visibleLags)
	arrived, _ := arrivalLags(source, seen(), gaveUp)
	res.Arrived = quantiles(arrived)
	if tlErr == nil {
		res.SlowAtTurnover, res.AllAtTurnover = atTurnover(source, arrived, tl.syncs)
	}
	if s.notifications {
		// The worker started for this run: its counter holds this run's notifications only.
		n, err := workerCounter(ctx, metricsAddr, "bdr_notifications_received_total")
		if err != nil {
			return res, fmt.Errorf("lag: notifications: %w", err)
		}
		res.NotificationsReceived = int(n)
		if n == 0 {
			return res, fmt.Errorf("lag: notifications: %w while %d blobs were written (bdr_notifications_received_total 0): the run measured early copies from listings only",
				errNoNotifications, len(source.Objects))
		}
	}
	return res, nil
}

// turnoverMargin is how close to a Sync's end or start a write counts as at a turnover.
const turnoverMargin = 200 * time.Millisecond

// atTurnover returns the share of the slowest 1% of source's blobs (lags, in the same order)
// written within turnoverMargin of a Sync's end or start, and that of all blobs.
func atTurnover(source objectstore.Listing, lags []float64, syncs []span) (slow, all float64) {
	if len(lags) == 0 || len(lags) != len(source.Objects) || len(syncs) < 2 {
		return 0, 0
	}
	near := func(t time.Time) bool {
		for i := 1; i < len(syncs); i++ {
			if t.After(syncs[i-1].to.Add(-turnoverMargin)) && t.Before(syncs[i].from.Add(turnoverMargin)) {
				return true
			}
		}
		return false
	}
	order := make([]int, len(lags))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return lags[order[a]] > lags[order[b]] })
	nSlow := max(1, len(lags)/100)
	var slowNear, allNear int
	for rank, i := range order {
		if near(source.Objects[i].LastModified) {
			allNear++
			if rank < nSlow {
				slowNear++
			}
		}
	}
	return float64(slowNear) / float64(nSlow), float64(allNear) / float64(len(lags))
}

// notificationsOff removes the primary bucket's event notifications, as the e2e test does.
// It runs on the way out too, so it ignores the caller's cancellation.
func (e *env) notificationsOff() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.src.NotifyOff(ctx, e.bucket); err != nil {
		logf("lag: %v", err)
	}
}

// workerCounter reads a counter from the worker's /metrics at addr (host:port): the sum of
// its samples, 0 if the worker has not counted any yet.
func workerCounter(ctx context.Context, addr, name string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("worker metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("worker metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("worker metrics: %w", err)
	}
	var total float64
	if f, ok := families[name]; ok {
		for _, m := range f.GetMetric() {
			total += m.GetCounter().GetValue()
		}
	}
	return total, nil
}

// pollWatermark reads the target's watermark every lagPoll until stop is called, keeping a
// sample each time it moved.
func pollWatermark(ctx context.Context, dst *objectstore.Client) (samples func() []sample, stop func()) {
	var mu sync.Mutex
	var got []sample
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(lagPoll)
		defer tick.Stop()
		for {
			w, found, err := replication.ReadWatermark(ctx, dst, lagDatabase)
			at := time.Now()
			if err == nil && found {
				mu.Lock()
				if len(got) == 0 || w.Time.After(got[len(got)-1].w) {
					got = append(got, sample{at: at, w: w.Time})
				}
				mu.Unlock()
			}
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	samples = func() []sample {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(got)
	}
	return samples, func() { cancel(); <-done }
}

// blobLags returns, per source blob, the seconds until the watermark passed it (from the
// samples, which the poller keeps in time order with growing watermarks) and until its copy
// appeared in the target (the target's LastModified; both stores run on this machine's clock).
func blobLags(source, target objectstore.Listing, samples []sample) (watermark, visible []float64) {
	copied := make(map[string]time.Time, len(target.Objects))
	for _, o := range target.Objects {
		copied[o.Key] = o.LastModified
	}
	for _, o := range source.Objects {
		if lag, ok := watermarkLag(o, samples); ok {
			watermark = append(watermark, lag)
		}
		if t, ok := copied[o.Key]; ok {
			visible = append(visible, max(0, t.Sub(o.LastModified).Seconds()))
		}
	}
	return watermark, visible
}

// lagByQuarter splits the load into four equal spans of write time and returns the watermark
// lag of the blobs written in each (source holds only the load's blobs).
func lagByQuarter(source objectstore.Listing, samples []sample) []lagSlice {
	objs := slices.Clone(source.Objects)
	if len(objs) == 0 {
		return nil
	}
	slices.SortFunc(objs, func(a, b objectstore.Object) int { return a.LastModified.Compare(b.LastModified) })
	first, span := objs[0].LastModified, objs[len(objs)-1].LastModified.Sub(objs[0].LastModified)
	var out []lagSlice
	next := 0
	for q := 1; q <= 4; q++ {
		end := first.Add(span * time.Duration(q) / 4)
		var lags []float64
		for ; next < len(objs) && !objs[next].LastModified.After(end); next++ {
			if lag, ok := watermarkLag(objs[next], samples); ok {
				lags = append(lags, lag)
			}
		}
		out = append(out, lagSlice{FromSecond: (span * time.Duration(q-1) / 4).Seconds(), ToSecond: (span * time.Duration(q) / 4).Seconds(),
			FolderBlobs: next, lagQuantiles: quantiles(lags)})
	}
	return out
}

// watermarkLag returns the seconds from o's LastModified until the first sample whose
// watermark passed it, false if none did.
func watermarkLag(o objectstore.Object, samples []sample) (float64, bool) {
	i := sort.Search(len(samples), func(i int) bool { return !samples[i].w.Before(o.LastModified) })
	if i == len(samples) {
		return 0, false
	}
	return max(0, samples[i].at.Sub(o.LastModified).Seconds()), true
}

// quantiles returns p50, p99 and the maximum of xs (nearest rank).
func quantiles(xs []float64) lagQuantiles {
	if len(xs) == 0 {
		return lagQuantiles{}
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := func(p float64) float64 {
		i := int(p*float64(len(s))+0.5) - 1
		return s[min(max(i, 0), len(s)-1)]
	}
	return lagQuantiles{P50: rank(0.50), P99: rank(0.99), Max: s[len(s)-1]}
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// peakMiB returns the peak resident memory (VmHWM) of process pid in MiB, 0 if unknown.
func peakMiB(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb float64
			if _, err := fmt.Sscanf(strings.TrimSpace(rest), "%f kB", &kb); err == nil {
				return kb / 1024
			}
		}
	}
	return 0
}

// clearLagPart deletes the blobs a steady-lag run wrote under part, from the source and the
// target, with its replication stopped: both then hold what they held before the run.
func (e *env) clearLagPart(ctx context.Context, part string) error {
	for _, m := range []*stack.MinIO{e.src, e.dst} {
		c, err := e.store(m, e.bucket)
		if err != nil {
			return err
		}
		l, err := c.List(ctx, lagRoot+"/"+part+"/")
		if err != nil {
			return fmt.Errorf("lag: clear %s: %w", part, err)
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(32)
		for _, o := range l.Objects {
			g.Go(func() error { return c.Delete(gctx, o.Key) })
		}
		if err := g.Wait(); err != nil {
			return fmt.Errorf("lag: clear %s: %w", part, err)
		}
	}
	return nil
}
