package activities

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// Budget of one Sync call: it returns after this long so that the workflow sees progress,
// can honour pause and drain, and keeps its history bounded.
const syncBudget = 20 * time.Second

// syncCheckpointEvery is how often a Sync call moves the watermark record while it copies.
// The record is what a failover keeps, so the blobs of a batch count as replicated as their
// prefix lands rather than when the whole batch has; a record is one small PUT.
const syncCheckpointEvery = 250 * time.Millisecond

// SyncRecorder receives every sync result, and the copies as a sync makes them, for metrics.
// nil is allowed.
type SyncRecorder interface {
	RecordSync(ctx context.Context, database, from, to string, res SyncResult)
	// RecordCopied counts blobs copied since the last call for the same sync: a sync of an
	// initial copy runs for its whole budget, and its copies count as they land.
	RecordCopied(ctx context.Context, database, from, to string, objects, bytes int64)
	// RecordDeletes receives what an anti-entropy pass did about the source's deletes.
	RecordDeletes(ctx context.Context, database, from, to string, report replication.DeleteReport)
}

// Replicator holds the object-store clients of every region and runs replication activities.
// It is safe for concurrent use.
type Replicator struct {
	cfg       *config.Config
	stores    map[string]*objectstore.Client
	transfers map[[2]string]*objectstore.Transfer
	recorder  SyncRecorder
	heartbeat *HeartbeatWatch        // nil: Syncs rely on the SDK alone to learn they are cut off
	hints     *Hints                 // nil: Syncs learn of new blobs by listing only
	below     replication.BelowCache // what each replication's record vouched for (replication/belowset.go)
}

// ReplicatorOption configures a Replicator. (Options rather than methods: every exported
// method of a Replicator is registered as an activity.)
type ReplicatorOption func(*Replicator)

// WithHeartbeatWatch makes every Sync stop copying once Temporal has acknowledged none of its
// heartbeats for its heartbeat timeout (see HeartbeatWatch).
func WithHeartbeatWatch(w *HeartbeatWatch) ReplicatorOption {
	return func(r *Replicator) { r.heartbeat = w }
}

// WithHints makes every Sync read hints from h (bucket notifications) while it runs: the keys
// published for its source bucket under its database's folder, which it copies early
// (replication.SyncInput.Hints). Hints change nothing but speed.
func WithHints(h *Hints) ReplicatorOption {
	return func(r *Replicator) { r.hints = h }
}

// NewReplicator returns a Replicator over the given region stores (keyed by region name).
func NewReplicator(cfg *config.Config, stores map[string]*objectstore.Client, recorder SyncRecorder, opts ...ReplicatorOption) *Replicator {
	r := &Replicator{cfg: cfg, stores: stores, transfers: map[[2]string]*objectstore.Transfer{}, recorder: recorder}
	for _, o := range opts {
		o(r)
	}
	for from, src := range stores {
		for to, dst := range stores {
			if from != to {
				r.transfers[[2]string{from, to}] = objectstore.NewTransfer(src, dst,
					int64(cfg.Replication.MultipartThreshold), int64(cfg.Replication.PartSize))
			}
		}
	}
	return r
}

// PrepareInput names a replication to check.
type PrepareInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	// FromMayFail skips the check of From's bucket: an unplanned failover runs because that
	// region may be gone. Its name is still checked.
	FromMayFail bool `json:"fromMayFail,omitempty"`
}

// PrepareResult carries the non-secret settings the workflow needs.
type PrepareResult struct {
	RootPath            string        `json:"rootPath"`
	PollInterval        time.Duration `json:"pollInterval"`
	Retention           time.Duration `json:"retention"`    // how far back an attach at a time can go
	FenceTimeout        time.Duration `json:"fenceTimeout"` // how long a failed region is given to answer
	SettleWindow        time.Duration `json:"settleWindow"`
	AntiEntropyInterval time.Duration `json:"antiEntropyInterval"`
	// The bounds of a failover's checks and drains (failover.max_lag, failover.drain_timeout,
	// failover.unplanned_drain_timeout).
	MaxLag                time.Duration `json:"maxLag,omitempty"`
	DrainTimeout          time.Duration `json:"drainTimeout,omitempty"`
	UnplannedDrainTimeout time.Duration `json:"unplannedDrainTimeout,omitempty"`
	// Hints says that this worker reads bucket notifications (WithHints): a hint ends a Sync's
	// wait (replication.SyncInput.Wait), so a caught-up replication does better to wait
	// inside the next Sync than in a workflow timer, where a hint is lost.
	Hints bool `json:"hints,omitempty"`
}

// Prepare checks a replication's input against the configuration and both buckets: the
// database and regions exist, they differ, and both buckets answer to their credentials.
// Errors name the field; input errors are not retryable.
//
// When neither bucket records a primary yet (replication's first start), it records From as
// the primary in both (replication.EnsurePrimary): from then on no Sync or Verify writes into
// From's folder. It never overwrites a record; a record found in one bucket only is copied to
// the other. With FromMayFail it writes nothing: From's bucket may be gone.
func (r *Replicator) Prepare(ctx context.Context, in PrepareInput) (PrepareResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return PrepareResult{}, invalid(err)
	}
	if in.From == in.To {
		return PrepareResult{}, invalid(fmt.Errorf("to: must differ from from (both %q)", in.From))
	}
	for _, side := range []struct{ field, region string }{{"from", in.From}, {"to", in.To}} {
		if _, err := r.cfg.Region(side.region); err != nil {
			return PrepareResult{}, invalid(fmt.Errorf("%s: %s", side.field, strings.TrimPrefix(err.Error(), "region: ")))
		}
		if side.field == "from" && in.FromMayFail {
			continue
		}
		if err := r.stores[side.region].Check(ctx); err != nil {
			return PrepareResult{}, storeError(side.region, err)
		}
	}
	if !in.FromMayFail {
		by := "replication " + in.From + "->" + in.To
		if info := activity.GetInfo(ctx); info.WorkflowExecution.ID != "" {
			by = info.WorkflowExecution.ID
		}
		if _, err := replication.EnsurePrimary(ctx, []replication.Store{r.stores[in.To], r.stores[in.From]},
			in.Database, in.From, by, time.Now()); err != nil {
			return PrepareResult{}, fmt.Errorf("record the primary of %s: %w", in.Database, err)
		}
	}
	return PrepareResult{RootPath: db.RootPath, PollInterval: r.cfg.Replication.PollInterval, Retention: r.cfg.Failover.Retention, FenceTimeout: r.cfg.Failover.FenceTimeout,
		SettleWindow: r.cfg.Replication.SettleWindow, AntiEntropyInterval: r.cfg.Replication.AntiEntropyInterval,
		MaxLag: r.cfg.Failover.MaxLag, DrainTimeout: r.cfg.Failover.DrainTimeout, UnplannedDrainTimeout: r.cfg.Failover.UnplannedDrainTimeout,
		Hints: r.hints != nil}, nil
}

// SyncInput asks for one sync of a database from one region to another.
type SyncInput struct {
	Database  string    `json:"database"`
	From      string    `json:"from"`
	To        string    `json:"to"`
	Watermark time.Time `json:"watermark"`
	Drain     bool      `json:"drain"`
	// Resume is set on the first sync of a run: the previous run may have stopped mid-batch,
	// so blobs already in the target are checked and skipped rather than copied again.
	Resume bool `json:"resume"`
	// Wait delays the sync: the previous one's NextEligibleIn, shorter than a workflow timer
	// can wait (see workflows.Replicate).
	Wait time.Duration `json:"wait,omitempty"`
	// Quiescent (with Drain) says the source takes no more writes: every listed blob is
	// settled (replication.Policy.Quiescent).
	Quiescent bool `json:"quiescent,omitempty"`
}

// SyncResult is replication.SyncResult: the watermark and counts after the sync.
type SyncResult = replication.SyncResult

// SyncProgress is the heartbeat of a Sync: replication.Progress. The workflow folds a result
// only when the Sync returns, up to a Sync budget later; bdr status (and the Temporal UI's
// pending activity) show the heartbeat meanwhile (workflows.Status.WithProgress).
type SyncProgress = replication.Progress

// SyncActivity is the activity type of Replicator.Sync, as histories and pending activities
// name it.
const SyncActivity = "Sync"

// Sync waits in.Wait, then copies the eligible source blobs beyond the watermark to the
// target, in write order, for up to a fixed budget. It heartbeats every second (so a
// cancellation ends the wait too) and is idempotent: on a retry (or on a run's first sync) it
// checks the target first and does not copy a blob twice.
func (r *Replicator) Sync(ctx context.Context, in SyncInput) (SyncResult, error) {
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return SyncResult{}, invalid(err)
	}
	src, dst, copier, err := r.pair(in.From, in.To)
	if err != nil {
		return SyncResult{}, err
	}
	rc := r.cfg.Replication
	info := activity.GetInfo(ctx)
	var latest atomic.Pointer[SyncProgress]
	latest.Store(&SyncProgress{Watermark: in.Watermark})
	tally := copyTally{record: func(int64, int64) {}}
	if r.recorder != nil {
		tally.record = func(objects, bytes int64) { r.recorder.RecordCopied(ctx, in.Database, in.From, in.To, objects, bytes) }
	}
	stopBeat := heartbeatEverySecond(ctx, func() any { return *latest.Load() })
	defer stopBeat()
	alive, stopWatch := r.heartbeat.watch(info.TaskToken, info.HeartbeatTimeout)
	defer stopWatch()
	var hints <-chan string
	if r.hints != nil {
		var unsubscribe func()
		hints, unsubscribe = r.hints.Subscribe(src.Bucket(), db.RootPath+"/")
		defer unsubscribe()
	}
	res, err := replication.Sync(ctx, src, dst, copier, replication.SyncInput{
		Database: in.Database, From: in.From, To: in.To, RootPath: db.RootPath,
		SourceBucket: src.Bucket(), TargetBucket: dst.Bucket(),
		Policy: replication.Policy{SettleWindow: rc.SettleWindow, BatchMaxObjects: rc.BatchMaxObjects,
			BatchMaxBytes: int64(rc.BatchMaxBytes), Exclude: rc.Exclude, Strict: rc.Order == config.OrderStrict,
			Quiescent: in.Drain && in.Quiescent, NoEarlyCopies: !rc.EarlyCopies},
		Concurrency: rc.Concurrency, Watermark: in.Watermark, Drain: in.Drain, Wait: in.Wait,
		VerifyExisting: in.Resume || info.Attempt > 1,
		Budget:         syncBudget, CheckpointEvery: syncCheckpointEvery,
		// A caught-up call keeps listing and copying for up to a poll interval, longer with
		// hints (see follow, replication.SyncInput.Follow): most listings skip the round trip
		// through the workflow, which still folds a result into its status that often.
		Follow: follow(rc.PollInterval, r.hints != nil, in.Wait), PollInterval: rc.PollInterval,
		Hints: hints, HintedListingGap: syncCheckpointEvery, Below: &r.below, Alive: alive,
	}, func(p replication.Progress) {
		latest.Store(&p)
		tally.reach(p.CopiedObjects, p.CopiedBytes)
	})
	// What a failed sync copied counts too: it is in the target.
	tally.reach(res.CopiedObjects, res.CopiedBytes)
	if err != nil {
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		if replication.IsRefused(err) {
			return res, refused(fmt.Errorf("sync %s %s->%s: %w", in.Database, in.From, in.To, err))
		}
		// What the sync learnt of the source is news for an unplanned failover's RPO, so it
		// travels with the error: the newest write, if it listed the source before failing,
		// and whether the source's bucket answers (a dead one took no write after it fell
		// silent).
		err = fmt.Errorf("sync %s %s->%s: %w", in.Database, in.From, in.To, err)
		return res, temporal.NewApplicationErrorWithOptions(err.Error(), "SyncFailed",
			temporal.ApplicationErrorOptions{Details: []any{res, src.Contact()}})
	}
	if r.recorder != nil {
		r.recorder.RecordSync(ctx, in.Database, in.From, in.To, res)
	}
	return res, nil
}

// ErrWriteRefused is the application error type of a Sync or Verify that refused to write
// into its target (replication.RefusedError): the target is the recorded primary, a failover
// fenced it, a fence or a seal changed its record's generation under the Sync, or its record
// belongs to another source. It is not retryable: someone has to act first.
const ErrWriteRefused = "WriteRefused"

func refused(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrWriteRefused, err)
}

// pair returns the stores and the copier between two regions.
func (r *Replicator) pair(from, to string) (src, dst *objectstore.Client, copier *objectstore.Transfer, err error) {
	src, dst, copier = r.stores[from], r.stores[to], r.transfers[[2]string{from, to}]
	if src == nil || dst == nil || copier == nil {
		return nil, nil, nil, invalid(fmt.Errorf("from/to: unknown region pair %q -> %q", from, to))
	}
	return src, dst, copier, nil
}

// VerifyInput names the replication whose target is compared with its source.
type VerifyInput struct {
	Database string `json:"database"`
	From     string `json:"from"`
	To       string `json:"to"`
	// Deletes also carries the source's deletes to the target after replication.delete_delay
	// (replication.Verify): asked by the Replicate workflow's periodic pass, which runs
	// between its Syncs, never by a failover's repair.
	Deletes bool `json:"deletes,omitempty"`
}

// VerifyReport is replication.VerifyReport.
type VerifyReport = replication.VerifyReport

// DeleteReport is replication.DeleteReport: what a pass did about the source's deletes.
type DeleteReport = replication.DeleteReport

// Verify runs the anti-entropy pass: every source blob at or before the target's watermark
// is compared with the target, and a missing or different one is copied again and reported.
// It is idempotent and heartbeats while it works.
func (r *Replicator) Verify(ctx context.Context, in VerifyInput) (VerifyReport, error) {
	db, err := r.cfg.Database(in.Database)
	if err != nil {
		return VerifyReport{}, invalid(err)
	}
	src, dst, copier, err := r.pair(in.From, in.To)
	if err != nil {
		return VerifyReport{}, err
	}
	stopBeat := heartbeatEverySecond(ctx, func() any { return nil })
	defer stopBeat()
	var deletes *replication.DeletePolicy
	if in.Deletes {
		delay := r.cfg.Replication.DeleteDelay
		deletes = &replication.DeletePolicy{Delay: delay.Duration(), Never: delay.Never()}
	}
	report, err := replication.Verify(ctx, src, dst, copier, in.Database,
		replication.Endpoint{Region: in.From, Bucket: src.Bucket(), RootPath: db.RootPath},
		replication.Endpoint{Region: in.To, Bucket: dst.Bucket(), RootPath: db.RootPath}, r.cfg.Replication.Exclude, deletes)
	if r.recorder != nil && report.Deletes != nil {
		r.recorder.RecordDeletes(ctx, in.Database, in.From, in.To, *report.Deletes)
	}
	if replication.IsRefused(err) {
		return report, refused(fmt.Errorf("verify %s %s->%s: %w", in.Database, in.From, in.To, err))
	}
	if err != nil {
		return report, fmt.Errorf("verify %s %s->%s: %w", in.Database, in.From, in.To, err)
	}
	return report, nil
}

// FenceTargetInput names the folder a failover is about to seal and promote.
type FenceTargetInput struct {
	Database string `json:"database"`
	Region   string `json:"region"` // the failover's target
}

// FenceTargetResult is the fence in force in the target's bucket.
type FenceTargetResult struct {
	Fence replication.Fence `json:"fence"`
}

// FenceTarget fences db's folder in Region's bucket before a failover seals it
// (replication.WriteFence): it bumps the watermark record's generation, so that a Sync still
// running (even one cut off from Temporal) stops at its next check, and records
// .bdr/<db>/fence.json, so that no Sync or Verify (a drain's included) writes there again
// until the failover records a new primary. Call it after replication is stopped and before
// Seal. It is idempotent: a second call returns the fence in force.
func (r *Replicator) FenceTarget(ctx context.Context, in FenceTargetInput) (FenceTargetResult, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	_, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return FenceTargetResult{}, err
	}
	f, err := replication.WriteFence(ctx, store, in.Database, in.Region, activity.GetInfo(ctx).WorkflowExecution.ID, time.Now())
	if err != nil {
		return FenceTargetResult{}, fmt.Errorf("region %s: %w", in.Region, err)
	}
	return FenceTargetResult{Fence: f}, nil
}

// LiftFence removes the fence FenceTarget wrote, for a failover that fenced its target and
// then gave up (rolled back to the old primary): replication into the target may resume. The
// generation stays bumped. It is idempotent.
func (r *Replicator) LiftFence(ctx context.Context, in FenceTargetInput) error {
	_, store, err := r.regionStore(in.Database, in.Region)
	if err != nil {
		return err
	}
	if err := replication.LiftFence(ctx, store, in.Database); err != nil {
		return fmt.Errorf("region %s: %w", in.Region, err)
	}
	return nil
}

// RecordMilestone records a milestone in every region's bucket and returns those regions. It
// is idempotent: the record is a whole object under a key made of the names.
func (r *Replicator) RecordMilestone(ctx context.Context, m replication.Milestone) ([]string, error) {
	defer heartbeatEverySecond(ctx, noDetails)()
	if _, err := r.cfg.Database(m.Database); err != nil {
		return nil, invalid(err)
	}
	regions := r.cfg.RegionNames()
	for _, region := range regions {
		if err := replication.WriteMilestone(ctx, r.stores[region], m); err != nil {
			return nil, fmt.Errorf("region %s: %w", region, err)
		}
	}
	return regions, nil
}

// heartbeatEverySecond records details() as the heartbeat every second: it keeps the activity
// alive while a single large copy runs, shows progress in the UI, and lets Temporal deliver
// cancellation (which arrives only with a heartbeat).
func heartbeatEverySecond(ctx context.Context, details func() any) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, details())
			}
		}
	}()
	return func() { close(done) }
}

func invalid(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidInput, nil)
}

// storeError names the configuration field to look at when a store refuses us.
func storeError(region string, err error) error {
	key := "regions." + region + ".object_store"
	switch {
	case errors.Is(err, objectstore.ErrNoBucket):
		return invalid(fmt.Errorf("%s.bucket: %w", key, err))
	case errors.Is(err, objectstore.ErrAccessDenied):
		return invalid(fmt.Errorf("%s credentials (access_key_id_env/secret_access_key_env): %w", key, err))
	}
	return fmt.Errorf("%s.endpoint: %w", key, err)
}

// copyTally turns a sync's running totals of copies into increments for a counter.
type copyTally struct {
	mu             sync.Mutex
	objects, bytes int64
	record         func(objects, bytes int64)
}

// reach records what the totals grew by since the last call.
func (t *copyTally) reach(objects, bytes int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if objects <= t.objects && bytes <= t.bytes {
		return
	}
	t.record(max(0, objects-t.objects), max(0, bytes-t.bytes))
	t.objects, t.bytes = max(objects, t.objects), max(bytes, t.bytes)
}

// hintFollow is how long a Sync runs, its wait included, while it keeps following a steady
// load when the worker reads bucket notifications (replication.SyncInput.Follow): a hint
// that arrives between two Syncs waits for the next one, so they turn over less often. A
// drain or a verify waits for the Sync in flight: up to max(hintFollow, 2 poll intervals)
// with hints, 2 poll intervals without (its wait, then a poll interval of following). The
// status folds a Sync's result that often under a steady load.
const hintFollow = 5 * time.Second

// follow returns how long a caught-up Sync that first waited wait keeps following: a poll
// interval, or with hints what is left of hintFollow after the wait, if that is longer.
func follow(poll time.Duration, hints bool, wait time.Duration) time.Duration {
	if hints {
		return max(poll, hintFollow-wait)
	}
	return poll
}
