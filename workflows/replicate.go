package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Bounds of one run's history: continue-as-new after this many syncs even when the server does
// not suggest it, so that replaying a run stays fast.
const maxSyncsPerRun = 500

// Backoff after a failed sync: doubles from minBackoff up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// Replicate runs until cancelled: it copies the database's folder from one region's bucket to
// the other's in write order, advancing the watermark (DESIGN 4, 5). Updates pause, resume and
// drain; query status. It continues as new to keep its history bounded.
func Replicate(ctx workflow.Context, in ReplicateInput) error {
	r := &replicator{in: in, unsure: true}
	if err := r.setup(ctx); err != nil {
		return err
	}
	return r.run(ctx)
}

type replicator struct {
	in       ReplicateInput
	settings Settings
	status   Status
	paused   bool

	verifyWanted bool // a verify update is waiting
	verifyRuns   int  // anti-entropy passes done by this run
	lastVerifyAt time.Time
	drainWanted  bool      // a drain update is waiting
	drainTarget  time.Time // copy everything written at or before this source time
	quiescent    bool      // the drain's source takes no more writes (DrainRequest.Quiescent)
	// drainRounds counts drains that ended, and drainFailure says why the last one ended
	// without draining (abandoned at its timeout, or interrupted by a pause): every drain
	// update waiting on that round returns then.
	drainRounds  int
	drainFailure string
	// wakes counts requests from update handlers (pause, drain, verify): a backoff after a
	// failure waits for a new one, not for one that is already being served, so that a drain
	// whose syncs fail backs off instead of retrying at once.
	wakes      int
	cancelStep workflow.CancelFunc // cancels the sync or verify in flight
	stepKind   string              // stepSync or stepVerify, while one is in flight
	// drainDeadline is when the drain in progress is abandoned: the latest of its callers'.
	drainDeadline time.Time
	syncs         int
	failures      int
	// unsure is set when a sync did not finish cleanly (a run's first sync, a failure, a
	// cancellation): the target may hold blobs beyond the record, so the next sync checks
	// each blob before copying it instead of copying it twice.
	unsure       bool
	lastUIDetail string
	// waitInSync is set for runs started by code that waits less than a poll interval in the
	// next Sync activity rather than in a timer (workflow.GetVersion; histories recorded
	// before keep their timer), and syncWait is that wait.
	waitInSync bool
	syncWait   time.Duration
	// boundedUpdates is set for runs whose pause and drain handlers wait within a bound
	// (workflow.GetVersion: their timers are commands that histories recorded before lack).
	boundedUpdates bool
	// hintWaits is set for runs started by code that waits a whole poll interval in the next
	// Sync when the worker reads bucket notifications (Settings.WaitInSync). A GetVersion, not
	// the setting alone: a run a worker of the code before recorded with the setting (another
	// worker's Prepare) has timers there, and its replay must find them.
	hintWaits bool
}

// workflow.GetVersion change IDs.
const (
	versionWaitInSync     = "wait-in-sync"
	versionHintWaits      = "hint-waits"
	versionBoundedUpdates = "bounded-updates"
)

func (r *replicator) setup(ctx workflow.Context) error {
	if err := validateInput(r.in); err != nil {
		return err
	}
	r.status = Status{State: StateStarting, Database: r.in.Database, From: r.in.From, To: r.in.To}
	if st := r.in.State; st != nil {
		r.paused, r.settings, r.status = st.Paused, st.Settings, st.Status
		r.verifyWanted = st.VerifyWanted
		r.unsure = !st.Clean
	}
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (Status, error) { return r.status, nil }); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdatePause, r.pause); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateResume, r.resume); err != nil {
		return err
	}
	if err := workflow.SetUpdateHandler(ctx, UpdateVerify, r.verify); err != nil {
		return err
	}
	return workflow.SetUpdateHandler(ctx, UpdateDrain, r.drain)
}

// routeErrors checks a database and its two regions as far as can be judged without the
// configuration: all named, and the regions different. Each error names its field.
func routeErrors(database, from, to string) []error {
	var errs []error
	for _, f := range []struct{ name, value string }{{"database", database}, {"from", from}, {"to", to}} {
		if f.value == "" {
			errs = append(errs, fmt.Errorf("%s: required", f.name))
		}
	}
	if from != "" && from == to {
		errs = append(errs, fmt.Errorf("to: must differ from from (both %q)", from))
	}
	return errs
}

// validateInput rejects what can be judged without the configuration, naming the field.
func validateInput(in ReplicateInput) error {
	errs := routeErrors(in.Database, in.From, in.To)
	if len(errs) > 0 {
		return temporal.NewNonRetryableApplicationError("invalid input: "+sortedJoin(errs), activities.ErrInvalidInput, nil)
	}
	return nil
}

func (r *replicator) run(ctx workflow.Context) error {
	r.waitInSync = workflow.GetVersion(ctx, versionWaitInSync, workflow.DefaultVersion, 1) >= 1
	r.boundedUpdates = workflow.GetVersion(ctx, versionBoundedUpdates, workflow.DefaultVersion, 1) >= 1
	r.hintWaits = workflow.GetVersion(ctx, versionHintWaits, workflow.DefaultVersion, 1) >= 1
	prep, err := r.prepare(ctx)
	if err != nil {
		return err
	}
	r.settings = prep
	r.lastVerifyAt = workflow.Now(ctx) // the first periodic pass is one interval after start
	if v := r.status.LastVerify; v != nil {
		r.lastVerifyAt = v.At
	}
	r.setState(ctx, r.currentState())
	for {
		if err := r.step(ctx); err != nil {
			return err
		}
		// Handlers still running are waiting for this loop (a drain for its syncs, a pause
		// for the sync in flight to stop): waiting for them here would wait forever, so the
		// run goes on until they finish, which each does within its bound.
		if r.shouldContinueAsNew(ctx) {
			if !r.boundedUpdates {
				// As recorded before bounded updates (it could wait forever).
				if err := workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) }); err != nil {
					return err
				}
			} else if !workflow.AllHandlersFinished(ctx) {
				continue
			}
			next := r.in
			next.State = &ReplicateState{Paused: r.paused, Settings: r.settings, Status: r.status, Clean: !r.unsure,
				VerifyWanted: r.verifyWanted}
			return workflow.NewContinueAsNewError(ctx, Replicate, next)
		}
	}
}

// prepare validates the input against the worker's configuration and both stores.
func (r *replicator) prepare(ctx workflow.Context) (Settings, error) {
	var a *activities.Replicator
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 5, NonRetryableErrorTypes: []string{activities.ErrInvalidInput}},
		Summary:             "check database, regions and buckets",
	})
	var res activities.PrepareResult
	err := workflow.ExecuteActivity(actx, a.Prepare, activities.PrepareInput{Database: r.in.Database, From: r.in.From, To: r.in.To}).Get(ctx, &res)
	if err != nil {
		return Settings{}, err
	}
	return Settings{RootPath: res.RootPath, PollInterval: res.PollInterval, SettleWindow: res.SettleWindow,
		AntiEntropyInterval: res.AntiEntropyInterval, WaitInSync: res.Hints}, nil
}

// step does one unit of work: wait while paused, drain when asked, otherwise one sync.
func (r *replicator) step(ctx workflow.Context) error {
	// A wait asked for by the last sync is only for the next regular sync: any other step
	// takes at least as long.
	wait := r.syncWait
	r.syncWait = 0
	if r.verifyWanted || r.verifyDue(ctx) {
		return r.verifyStep(ctx)
	}
	if r.paused && !r.drainWanted {
		r.setState(ctx, StatePaused)
		if err := workflow.Await(ctx, func() bool { return !r.paused || r.drainWanted || r.verifyWanted }); err != nil {
			return err
		}
		r.setState(ctx, r.currentState())
		return nil
	}
	if r.drainWanted {
		return r.drainStep(ctx)
	}
	res, err := r.sync(ctx, false, wait)
	if err != nil {
		return r.backoff(ctx, err)
	}
	if res.CaughtUp {
		return r.waitCaughtUp(ctx, res)
	}
	return nil
}

// waitCaughtUp waits after a caught-up sync until the next blob it listed becomes eligible,
// for a poll interval at most, or less if an update arrives.
//
// A wait shorter than the poll interval is left to the next Sync activity (syncWait) when
// the run allows it: Temporal fires a timer no sooner than about a second after it is
// started, whatever its duration (the history service's timer queue reads up to
// history.timerProcessorMaxTimeShift, 1 s by default, ahead of now), so a timer here would
// add a second to every cycle under a steady write load. A pause cancels that sync, wait
// included, as it cancels any sync; drain and verify run after it. A whole poll interval is
// waited in a timer, unless the worker reads bucket notifications (Settings.WaitInSync) and
// it is at most maxHintWait: a hint ends a Sync's wait, and the Sync's first listing copies
// the hinted blob at once. The bound keeps what a drain or a verify waits for short (they do
// not cancel a sync).
func (r *replicator) waitCaughtUp(ctx workflow.Context, res activities.SyncResult) error {
	wait := caughtUpWait(r.settings.PollInterval, res)
	hintWait := r.hintWaits && r.settings.WaitInSync && wait <= maxHintWait
	if r.waitInSync && (wait < r.settings.PollInterval || hintWait) {
		r.syncWait = wait
		return nil
	}
	_, err := workflow.AwaitWithTimeout(ctx, wait, func() bool { return r.paused || r.drainWanted || r.verifyWanted })
	return err
}

// maxHintWait bounds a whole poll interval waited in a Sync for hints (waitCaughtUp): with a
// longer poll_interval, the wait is a timer and a hint that arrives meanwhile is lost.
const maxHintWait = 5 * time.Second

// minCaughtUpWait is the shortest wait after a caught-up sync. It is never zero: a zero
// timeout starts no timer, and histories recorded before waitInSync have a timer after every
// caught-up sync, so their replay must find one.
const minCaughtUpWait = time.Millisecond

// caughtUpWait returns how long to wait after a caught-up sync: the poll interval, or less
// when a blob the sync listed becomes eligible sooner. Under a steady write load that is a
// few milliseconds, so the next sync starts as soon as there is something to copy instead of
// up to a poll interval later. It is deterministic: a function of the activity's result.
func caughtUpWait(poll time.Duration, res activities.SyncResult) time.Duration {
	wait := poll
	if res.NextEligibleIn > 0 {
		wait = min(wait, res.NextEligibleIn)
	}
	return max(wait, minCaughtUpWait)
}

// verifyDue reports whether the periodic anti-entropy pass is due. Replication that is paused
// is left alone: its target is not changing.
func (r *replicator) verifyDue(ctx workflow.Context) bool {
	every := r.settings.AntiEntropyInterval
	return every > 0 && !r.paused && r.status.InitialSync.Complete && workflow.Now(ctx).Sub(r.lastVerifyAt) >= every
}

// verifyStep runs the anti-entropy pass and records its report in the status.
func (r *replicator) verifyStep(ctx workflow.Context) error {
	previous := r.status.State
	r.setState(ctx, StateVerifying)
	var a *activities.Replicator
	actx := ctx
	if r.boundedUpdates {
		// Recorded runs before bounded updates could not cancel a verify.
		actx = r.cancellable(ctx, stepVerify)
		defer r.stepDone()
	}
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Hour,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		// A pause waits until the repairs in flight have stopped.
		WaitForCancellation: true,
		RetryPolicy:         &temporal.RetryPolicy{MaximumAttempts: 3, NonRetryableErrorTypes: []string{activities.ErrInvalidInput}},
		Summary:             "compare source and target, repair differences",
	})
	var report activities.VerifyReport
	// The pass carries the source's deletes too: it runs between Syncs, so no copy lands
	// between its listings and its deletes (replication/deletes.go).
	err := workflow.ExecuteActivity(actx, a.Verify, activities.VerifyInput{Database: r.in.Database, From: r.in.From, To: r.in.To,
		Deletes: true}).Get(ctx, &report)
	r.lastVerifyAt = workflow.Now(ctx)
	r.verifyWanted = false
	r.verifyRuns++
	if err != nil {
		r.status.LastVerify = nil
		r.setState(ctx, previous)
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && ctx.Err() == nil {
			r.status.LastError = "verify interrupted"
			return nil
		}
		return r.backoff(ctx, fmt.Errorf("verify: %w", err))
	}
	r.status.LastVerify = &Verified{At: r.lastVerifyAt, Watermark: report.Watermark, Checked: report.Checked,
		Missing: report.Missing, Mismatched: report.Mismatched, Repaired: report.Repaired, RepairedKeys: report.RepairedKey,
		Vanished: report.Vanished, Deletes: report.Deletes}
	if report.Repaired > 0 {
		workflow.GetLogger(ctx).Warn("anti-entropy repaired blobs the incremental path missed",
			"repaired", report.Repaired, "keys", report.RepairedKey)
	}
	r.setState(ctx, previous)
	return nil
}

// drainStep copies with no settle window until everything that existed when the drain began
// is in, then pauses and releases the drain update.
func (r *replicator) drainStep(ctx workflow.Context) error {
	r.setState(ctx, StateDraining)
	res, err := r.sync(ctx, true, 0)
	if err != nil {
		return r.backoff(ctx, err)
	}
	if !r.drainWanted {
		return nil // abandoned or interrupted while the sync ran
	}
	if r.drainTarget.IsZero() && r.quiescent {
		// Nothing is written any more: what this listing saw is all there is.
		r.drainTarget = res.Watermark.Time
		if res.NewestWrite.After(r.drainTarget) {
			r.drainTarget = res.NewestWrite
		}
	}
	if r.drainTarget.IsZero() {
		// StoreTime is a lower bound of the source's clock when the listing began, never
		// earlier than the Date header of its first response (truncated to the second, and
		// stamped after the listing began): the store's clock was then before that second's
		// end, so every blob that existed is covered by the end of StoreTime's second.
		r.drainTarget = res.StoreTime.Truncate(time.Second).Add(time.Second)
	}
	if !res.Watermark.Time.Before(r.drainTarget) {
		r.paused = true
		r.endDrain("")
		r.setState(ctx, StatePaused)
		return nil
	}
	if res.CaughtUp {
		// The watermark passes the drain's start once the source clock has moved past it.
		return workflow.Sleep(ctx, 500*time.Millisecond)
	}
	return nil
}

// sync runs one Sync activity, which waits first for wait, and folds its result into the
// status.
func (r *replicator) sync(ctx workflow.Context, drain bool, wait time.Duration) (activities.SyncResult, error) {
	var a *activities.Replicator
	actx := r.cancellable(ctx, stepSync)
	defer r.stepDone()
	actx = workflow.WithActivityOptions(actx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		HeartbeatTimeout:    activities.SyncHeartbeatTimeout,
		WaitForCancellation: true,
		// One attempt: the workflow retries with its own backoff, so that a failure shows in
		// status at once (state failing, lastError, failingSince) instead of after retries.
		RetryPolicy: &temporal.RetryPolicy{MaximumAttempts: 1},
		Summary:     "copy eligible blobs in write order",
	})
	in := activities.SyncInput{Database: r.in.Database, From: r.in.From, To: r.in.To,
		Watermark: r.status.Watermark.Time, Drain: drain, Quiescent: drain && r.quiescent, Resume: r.unsure, Wait: wait}
	var res activities.SyncResult
	err := workflow.ExecuteActivity(actx, a.Sync, in).Get(ctx, &res)
	r.syncs++
	r.unsure = err != nil
	if err != nil {
		var canceled *temporal.CanceledError
		if errors.As(err, &canceled) && ctx.Err() == nil {
			return res, nil // cancelled by pause: not a failure
		}
		r.noteListing(err)
		return res, err
	}
	r.fold(res)
	if res.VerifyWanted {
		// A blob showed up at or below the watermark: only a full comparison repairs it.
		r.verifyWanted = true
	}
	r.failures, r.status.FailingSince, r.status.SourceSilentSince = 0, time.Time{}, time.Time{}
	if !drain {
		r.setState(ctx, r.currentState())
	} else {
		r.updateDetails(ctx)
	}
	return res, nil
}

// fold records a sync result in the status.
func (r *replicator) fold(res activities.SyncResult) {
	s := &r.status
	s.Watermark = Watermark{Time: res.Watermark.Time, Key: res.Watermark.Key}
	s.LastSyncAt = res.StoreTime
	s.LagSeconds = max(0, res.StoreTime.Sub(res.Watermark.Time).Seconds())
	s.PendingObjects, s.PendingBytes = res.PendingObjects, res.PendingBytes
	s.CopiedObjects, s.CopiedBytes = res.Watermark.CopiedObjects, res.Watermark.CopiedBytes
	s.NewestWrite, s.HeldBy, s.HeldSince = res.NewestWrite, res.HeldBy, res.HeldSince
	s.VanishedObjects += res.VanishedObjects
	s.EarlyObjects += res.EarlyObjects
	if c := listingCost(res); c != nil {
		s.Listing = c
	}
	if res.LateObjects > 0 {
		// Never silently clamped: the count adds up and the keys stay until newer ones come.
		s.LateObjects += res.LateObjects
		s.LateKeys = res.LateKeys
	}
	// The initial sync is the backlog found by the first listing: it is complete once the
	// watermark has passed the newest blob that listing saw.
	is := &s.InitialSync
	if !is.Complete {
		if is.Until.IsZero() {
			is.Until, is.Total = res.NewestWrite, res.TotalObjects
		}
		is.Done = min(is.Total, res.Watermark.CopiedObjects)
		if !res.Watermark.Time.Before(is.Until) {
			is.Complete, is.Done = true, is.Total
		}
	}
	s.LastError = ""
}

// WithProgress returns s with the counts of the Sync running now, from its last heartbeat:
// the workflow folds a Sync's result only when it returns, up to a Sync budget later, so a
// reader of the status (bdr status) overlays them to keep the initial-sync bar moving. Only
// counts move, and only forward; the watermark, lag and pending stay those of the last sync
// that returned. Before the first one returns, the heartbeat's source count is the total.
func (s Status) WithProgress(p activities.SyncProgress) Status {
	s.CopiedObjects = max(s.CopiedObjects, p.RecordCopiedObjects)
	s.CopiedBytes = max(s.CopiedBytes, p.RecordCopiedBytes)
	if is := &s.InitialSync; !is.Complete {
		if is.Total == 0 {
			is.Total = p.TotalObjects
		}
		is.Done = max(is.Done, min(is.Total, p.RecordCopiedObjects))
	}
	return s
}

// backoff records a failed sync and waits before the next try; replication never gives up
// on its own (an operator sees the error in status and the UI).
func (r *replicator) backoff(ctx workflow.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	r.failures++
	r.status.LastError = err.Error()
	r.status.LastErrorAt = workflow.Now(ctx)
	if r.failures == 1 {
		r.status.FailingSince = r.status.LastErrorAt
	}
	r.setState(ctx, StateFailing)
	wait := minBackoff << min(r.failures-1, 5)
	woken := func() bool { return r.paused || r.drainWanted } // as recorded before bounded updates
	if r.boundedUpdates {
		wakes := r.wakes
		woken = func() bool { return r.wakes != wakes }
	}
	_, werr := workflow.AwaitWithTimeout(ctx, min(wait, maxBackoff), woken)
	return werr
}

// The kinds of step an update may cancel.
const (
	stepSync   = "sync"
	stepVerify = "verify"
)

// cancellable returns a context whose activity (a step of kind) a pause or an abandoned drain
// cancels.
func (r *replicator) cancellable(ctx workflow.Context, kind string) workflow.Context {
	actx, cancel := workflow.WithCancel(ctx)
	r.cancelStep, r.stepKind = cancel, kind
	return actx
}

func (r *replicator) stepDone() { r.cancelStep, r.stepKind = nil, "" }

// cancelInFlight cancels the step in flight, if it is of one of kinds.
func (r *replicator) cancelInFlight(kinds ...string) {
	if r.cancelStep != nil && slices.Contains(kinds, r.stepKind) {
		r.cancelStep()
	}
}

// endDrain ends the drain in progress and releases every drain update waiting on it: done
// when failure is empty, else abandoned for that reason (replication then goes on as before
// the drain).
func (r *replicator) endDrain(failure string) {
	r.drainWanted, r.quiescent, r.drainTarget = false, false, time.Time{}
	r.drainFailure = failure
	r.drainRounds++
}

func (r *replicator) currentState() string {
	switch {
	case r.paused:
		return StatePaused
	case !r.status.InitialSync.Complete:
		return StateInitialSync
	}
	return StateReplicating
}

// setState records the state in status, the search attribute and the UI's current details.
func (r *replicator) setState(ctx workflow.Context, state string) {
	if state == StateReplicating || state == StateInitialSync {
		state = r.currentState()
	}
	if r.status.State != state {
		r.status.State = state
		// Search attributes must be registered on the namespace; without them replication
		// still runs, so the error is logged rather than failing the workflow.
		if err := workflow.UpsertTypedSearchAttributes(ctx, SearchAttrDatabase.ValueSet(r.in.Database), SearchAttrState.ValueSet(state)); err != nil {
			workflow.GetLogger(ctx).Warn("upsert search attributes", "error", err)
		}
	}
	r.updateDetails(ctx)
}

func (r *replicator) updateDetails(ctx workflow.Context) {
	s := r.status
	detail := fmt.Sprintf("**%s** %s: %s → %s  \nwatermark %s · lag %.1fs · pending %d objects (%s) · copied %d",
		s.State, s.Database, s.From, s.To, s.Watermark.Time.UTC().Format(time.RFC3339), s.LagSeconds,
		s.PendingObjects, units.Bytes(s.PendingBytes), s.CopiedObjects)
	if !s.InitialSync.Complete && s.InitialSync.Total > 0 {
		detail += fmt.Sprintf("  \ninitial sync %d/%d", s.InitialSync.Done, s.InitialSync.Total)
	}
	if s.LastError != "" {
		detail += "  \nlast error: " + s.LastError
	}
	if detail != r.lastUIDetail {
		workflow.SetCurrentDetails(ctx, detail)
		r.lastUIDetail = detail
	}
}

// noteListing keeps what a failed sync learnt of the source: the newest write it saw, if it
// listed the source before failing, and whether the source's bucket answered it. When the
// source dies mid-sync, they are the freshest news of what an unplanned failover loses (its
// RPO).
func (r *replicator) noteListing(err error) {
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) || !appErr.HasDetails() {
		return
	}
	var partial activities.SyncResult
	var source objectstore.Contact
	if appErr.Details(&partial, &source) != nil {
		// Recorded before the contact travelled with the failure: the result alone.
		source = objectstore.Contact{}
		if appErr.Details(&partial) != nil {
			return
		}
	}
	if partial.NewestWrite.After(r.status.NewestWrite) {
		r.status.NewestWrite = partial.NewestWrite
	}
	// The latest report is the one that counts: a bucket that answered since an earlier
	// silence was not dead then.
	r.status.SourceSilentSince = source.SilentSince
}

func (r *replicator) shouldContinueAsNew(ctx workflow.Context) bool {
	return r.syncs >= maxSyncsPerRun || workflow.GetInfo(ctx).GetContinueAsNewSuggested()
}

// Bounds of the update handlers (DESIGN 5a.5): each completes or fails within its bound,
// whatever the syncs do.
const (
	// pauseBound: a sync told to stop ends within a heartbeat (each second), or its heartbeat
	// timeout when its worker is gone; this leaves room for both.
	pauseBound = 6 * activities.SyncHeartbeatTimeout
	// DefaultDrainTimeout bounds a drain that asks for no timeout of its own.
	DefaultDrainTimeout = 10 * time.Minute
)

// awaitWithin waits for cond for bound at most; it reports whether cond became true. Runs
// recorded before bounded updates wait without a bound, as they did.
func (r *replicator) awaitWithin(ctx workflow.Context, bound time.Duration, cond func() bool) (bool, error) {
	if !r.boundedUpdates {
		return true, workflow.Await(ctx, cond)
	}
	return workflow.AwaitWithTimeout(ctx, bound, cond)
}

// pause stops copying: it cancels the sync or verify in flight and abandons a drain in
// progress, and returns the status once nothing is copying. A sync that does not stop within
// pauseBound fails the update; replication still pauses as soon as it does.
func (r *replicator) pause(ctx workflow.Context, _ PauseRequest) (Status, error) {
	r.paused = true
	if r.boundedUpdates {
		r.wakes++
		if r.drainWanted {
			r.endDrain("drain interrupted: replication was paused")
		}
		r.cancelInFlight(stepSync, stepVerify)
	} else {
		r.cancelInFlight(stepSync) // as recorded before bounded updates
	}
	ok, err := r.awaitWithin(ctx, pauseBound, func() bool { return r.status.State == StatePaused })
	if err != nil {
		return r.status, err
	}
	if !ok {
		return r.status, fmt.Errorf("pause of %s: the step in flight did not stop within %s; replication pauses as soon as it does", r.in.Database, pauseBound)
	}
	return r.status, nil
}

// verify runs the anti-entropy pass now and returns its report.
func (r *replicator) verify(ctx workflow.Context, _ VerifyRequest) (Verified, error) {
	r.verifyWanted = true
	r.wakes++
	runs := r.verifyRuns
	if err := workflow.Await(ctx, func() bool { return r.verifyRuns > runs }); err != nil {
		return Verified{}, err
	}
	if r.status.LastVerify == nil {
		return Verified{}, fmt.Errorf("verify of %s failed: %s", r.in.Database, r.status.LastError)
	}
	return *r.status.LastVerify, nil
}

// resume starts copying again; it returns at once.
func (r *replicator) resume(ctx workflow.Context, _ ResumeRequest) (Status, error) {
	r.paused = false
	return r.status, nil
}

// drain copies everything that exists in the source now, then pauses; it returns the
// watermark reached. A drain already in progress is joined. It fails when the drain does not
// end within its timeout (the drain is then abandoned and replication goes on as before) or
// when a pause interrupts it.
func (r *replicator) drain(ctx workflow.Context, req DrainRequest) (DrainResult, error) {
	if !r.drainWanted {
		r.drainWanted, r.drainTarget, r.quiescent, r.drainDeadline = true, time.Time{}, false, time.Time{}
	}
	// A caller that joins a drain in progress extends it to its own bound, and a quiescent
	// source stays quiescent whoever said so.
	r.quiescent = r.quiescent || req.Quiescent
	if deadline := workflow.Now(ctx).Add(req.timeout()); deadline.After(r.drainDeadline) {
		r.drainDeadline = deadline
	}
	r.wakes++
	round := r.drainRounds
	for r.drainRounds == round {
		ended, err := r.awaitWithin(ctx, r.drainDeadline.Sub(workflow.Now(ctx)), func() bool { return r.drainRounds > round })
		if err != nil {
			return DrainResult{}, err
		}
		if !ended && !workflow.Now(ctx).Before(r.drainDeadline) {
			reason := fmt.Sprintf("drain of %s did not complete within %s (watermark %s)", r.in.Database, req.timeout(),
				r.status.Watermark.Time.UTC().Format(time.RFC3339))
			if r.status.LastError != "" {
				reason += "; last error: " + r.status.LastError
			}
			r.endDrain(reason)
			r.cancelInFlight(stepSync)
		}
	}
	if r.drainFailure != "" {
		return DrainResult{Watermark: r.status.Watermark, Status: r.status}, errors.New(r.drainFailure)
	}
	return DrainResult{Watermark: r.status.Watermark, Status: r.status}, nil
}
