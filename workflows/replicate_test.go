package workflows

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

var defaultPrepared = activities.PrepareResult{RootPath: "folder", PollInterval: time.Second, SettleWindow: 2 * time.Second}

func newEnv(t *testing.T) *testsuite.TestWorkflowEnvironment { return newEnvWith(defaultPrepared) }

// newEnvWith returns a test environment whose Prepare activity answers prepared.
func newEnvWith(prepared activities.PrepareResult) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(Replicate, workflow.RegisterOptions{Name: ReplicateName})
	var a *activities.Replicator
	env.RegisterActivity(a)
	env.OnActivity(a.Prepare, mock.Anything, mock.Anything).Return(prepared, nil)
	return env
}

// syncing answers Sync with a watermark that advances by one second per call, all caught up.
func syncing(calls *[]activities.SyncInput) func(context.Context, activities.SyncInput) (activities.SyncResult, error) {
	return func(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		*calls = append(*calls, in)
		n := len(*calls)
		w := t0.Add(time.Duration(n) * time.Second)
		return activities.SyncResult{Watermark: replication.Watermark{Time: w, CopiedObjects: int64(10 * n)},
			StoreTime: w.Add(2 * time.Second), NewestWrite: t0.Add(3 * time.Second), TotalObjects: 30,
			CaughtUp: true}, nil
	}
}

func update(t *testing.T, env *testsuite.TestWorkflowEnvironment, name string, arg any, result any) {
	env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnReject: func(err error) { t.Errorf("%s rejected: %v", name, err) },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			require.NoError(t, err, name)
			if result != nil {
				switch r := result.(type) {
				case *Status:
					*r = v.(Status)
				case *DrainResult:
					*r = v.(DrainResult)
				}
			}
		},
	}, arg)
}

func TestReplicateStatusPauseResumeDrain(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	var calls []activities.SyncInput
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(syncing(&calls))
	var afterPause, afterResume Status
	var drained DrainResult
	var syncsWhilePaused int
	env.RegisterDelayedCallback(func() {
		st := queryStatus(t, env)
		require.True(t, st.InitialSync.Complete, "initial sync after the watermark passed the newest write")
		require.Equal(t, StateReplicating, st.State)
		update(t, env, UpdatePause, PauseRequest{}, &afterPause)
	}, 10*time.Second)
	env.RegisterDelayedCallback(func() { syncsWhilePaused = len(calls) }, 11*time.Second)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, syncsWhilePaused, len(calls), "no sync while paused")
		update(t, env, UpdateResume, ResumeRequest{}, &afterResume)
	}, time.Minute)
	env.RegisterDelayedCallback(func() { update(t, env, UpdateDrain, DrainRequest{}, &drained) }, 2*time.Minute)
	env.RegisterDelayedCallback(func() {
		require.Equal(t, StatePaused, queryStatus(t, env).State)
		env.CancelWorkflow()
	}, 3*time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.True(t, env.IsWorkflowCompleted())
	require.Equal(t, StatePaused, afterPause.State)
	require.False(t, drained.Watermark.Time.IsZero())
	require.Equal(t, StatePaused, drained.Status.State)
	require.True(t, calls[0].Resume, "a run's first sync verifies what is already in the target")
	require.False(t, calls[1].Resume)
	var sawDrain bool
	for _, c := range calls {
		sawDrain = sawDrain || c.Drain
	}
	require.True(t, sawDrain, "drain ran a sync without the settle window")
}

func queryStatus(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	t.Helper()
	v, err := env.QueryWorkflow(QueryStatus)
	require.NoError(t, err)
	var st Status
	require.NoError(t, v.Get(&st))
	return st
}

func TestReplicateRecordsFailuresAndVerifiesAfterThem(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	var calls []activities.SyncInput
	ok := syncing(&calls)
	failures := 0
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		if len(calls) == 2 && failures < 1 {
			failures++
			calls = append(calls, in)
			return activities.SyncResult{}, temporal.NewNonRetryableApplicationError("store down", "test", nil)
		}
		return ok(ctx, in)
	})
	var during Status
	env.RegisterDelayedCallback(func() { during = queryStatus(t, env) }, 2500*time.Millisecond)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 30*time.Second)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.Contains(t, during.LastError, "store down")
	require.Equal(t, StateFailing, during.State)
	require.True(t, calls[3].Resume, "the sync after a failure checks the target before copying")
	require.Empty(t, queryStatusOrEmpty(env).LastError, "a later success clears the error")
}

func queryStatusOrEmpty(env *testsuite.TestWorkflowEnvironment) Status {
	v, err := env.QueryWorkflow(QueryStatus)
	if err != nil {
		return Status{}
	}
	var st Status
	_ = v.Get(&st)
	return st
}

func TestReplicateContinuesAsNewWithItsState(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	var calls []activities.SyncInput
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(syncing(&calls))
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	err := env.GetWorkflowError()
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(err, &can), "want continue-as-new, got %v", err)
	require.Len(t, calls, maxSyncsPerRun)
	var next ReplicateInput
	require.NoError(t, converterDecode(can, &next))
	require.NotNil(t, next.State)
	require.Equal(t, t0.Add(maxSyncsPerRun*time.Second), next.State.Status.Watermark.Time)
	require.True(t, next.State.Status.InitialSync.Complete)
}

func TestReplicateRejectsBadInput(t *testing.T) {
	for _, tc := range []struct {
		in   ReplicateInput
		want string
	}{
		{ReplicateInput{From: "primary", To: "secondary"}, "database: required"},
		{ReplicateInput{Database: "db", From: "primary", To: "primary"}, "to: must differ from from"},
		{ReplicateInput{Database: "db", From: "primary"}, "to: required"},
	} {
		env := newEnv(t)
		env.ExecuteWorkflow(Replicate, tc.in)
		err := env.GetWorkflowError()
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), tc.want), "%v does not contain %q", err, tc.want)
		var app *temporal.ApplicationError
		require.True(t, errors.As(err, &app) && app.NonRetryable())
	}
}

func TestReplicateRunsAntiEntropyPeriodically(t *testing.T) {
	prepared := defaultPrepared
	prepared.AntiEntropyInterval = time.Minute
	env := newEnvWith(prepared)
	var a *activities.Replicator
	var calls []activities.SyncInput
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(syncing(&calls))
	verifies := 0
	env.OnActivity(a.Verify, mock.Anything, mock.Anything).Return(func(context.Context, activities.VerifyInput) (activities.VerifyReport, error) {
		verifies++
		return activities.VerifyReport{Checked: 30, Missing: 1, Repaired: 1, RepairedKey: []string{"folder/x"}}, nil
	})
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 150*time.Second)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.Equal(t, 2, verifies, "one pass per minute over two and a half minutes")
	st := queryStatusOrEmpty(env)
	require.NotNil(t, st.LastVerify)
	require.Equal(t, 1, st.LastVerify.Repaired)
	require.Equal(t, []string{"folder/x"}, st.LastVerify.RepairedKeys)
}

// TestReplicateWaitsOnlyUntilTheNextBlobIsEligible: after a caught-up sync the next one starts
// when the oldest blob left behind becomes eligible, if that is sooner than the poll interval.
// The wait is in the next Sync activity (a Temporal timer fires no sooner than about a second);
// a full poll interval is still a timer, unless the worker reads bucket notifications.
func TestReplicateWaitsOnlyUntilTheNextBlobIsEligible(t *testing.T) {
	next := []time.Duration{250 * time.Millisecond, 0, 5 * time.Second, 40 * time.Millisecond}
	for _, tc := range []struct {
		name        string
		version     workflow.Version // of versionWaitInSync
		hintVersion workflow.Version // of versionHintWaits
		hints       bool             // the worker reads bucket notifications
		poll        time.Duration
		wantWait    []time.Duration // in the Sync activity after sync i
		wantTimer   []time.Duration // between sync i and the next
	}{
		{"waits in the next sync", 1, 1, false, time.Second,
			[]time.Duration{250 * time.Millisecond, 0, 0, 40 * time.Millisecond},
			[]time.Duration{0, time.Second, time.Second, 0}},
		// A hint ends a Sync's wait, never a timer's: with notifications every wait is a Sync's.
		{"with hints, whole poll intervals too", 1, 1, true, time.Second,
			[]time.Duration{250 * time.Millisecond, time.Second, time.Second, 40 * time.Millisecond},
			[]time.Duration{0, 0, 0, 0}},
		// Not a poll interval longer than maxHintWait: a drain or a verify would wait for it.
		{"with hints, a long poll interval in a timer", 1, 1, true, 10 * time.Second,
			[]time.Duration{250 * time.Millisecond, 0, 5 * time.Second, 40 * time.Millisecond},
			[]time.Duration{0, 10 * time.Second, 0, 0}},
		// A run begun before hint waits (another worker's Prepare may say hints) keeps its
		// timers.
		{"with hints, runs recorded before hint waits", 1, workflow.DefaultVersion, true, time.Second,
			[]time.Duration{250 * time.Millisecond, 0, 0, 40 * time.Millisecond},
			[]time.Duration{0, time.Second, time.Second, 0}},
		// A run begun before waitInSync (as the recorded history) keeps a timer after every
		// caught-up sync; only its duration changed.
		{"runs recorded before wait in a timer", workflow.DefaultVersion, workflow.DefaultVersion, false, time.Second,
			[]time.Duration{0, 0, 0, 0},
			[]time.Duration{250 * time.Millisecond, time.Second, time.Second, 40 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prepared := defaultPrepared
			prepared.Hints, prepared.PollInterval = tc.hints, tc.poll
			env := newEnvWith(prepared)
			env.OnGetVersion(versionWaitInSync, workflow.DefaultVersion, 1).Return(tc.version)
			env.OnGetVersion(versionHintWaits, workflow.DefaultVersion, 1).Return(tc.hintVersion)
			var a *activities.Replicator
			// A sync still in flight when the workflow is cancelled may finish on another
			// goroutine.
			var mu sync.Mutex
			var calls []activities.SyncInput
			var at []time.Time
			ok := syncing(&calls)
			env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.SyncInput) (activities.SyncResult, error) {
				mu.Lock()
				defer mu.Unlock()
				at = append(at, env.Now())
				res, err := ok(ctx, in)
				res.NextEligibleIn = next[(len(calls)-1)%len(next)]
				return res, err
			})
			env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 100*time.Second)
			env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
			mu.Lock()
			defer mu.Unlock()
			require.Greater(t, len(at), 8)
			for i := 1; i < 9; i++ {
				k := (i - 1) % len(next)
				require.Equal(t, tc.wantWait[k], calls[i].Wait, "wait in sync %d", i)
				require.Equal(t, tc.wantTimer[k], at[i].Sub(at[i-1]), "timer after sync %d", i-1)
			}
		})
	}
}

// TestReplicateWaitInSyncIsDroppedByOtherSteps: a verify (or drain) between two syncs takes
// the place of the wait; the sync after it does not wait again.
func TestReplicateWaitInSyncIsDroppedByOtherSteps(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	// A sync still in flight when the workflow is cancelled may finish on another goroutine.
	var mu sync.Mutex
	var waits []time.Duration
	verifiedAfter := -1
	// Each sync takes 200 ms of the workflow's clock, so that the update arrives during one.
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, in.Wait)
		w := t0.Add(time.Duration(len(waits)) * time.Second)
		return activities.SyncResult{Watermark: replication.Watermark{Time: w}, StoreTime: w, CaughtUp: true,
			NextEligibleIn: 100 * time.Millisecond}, nil
	}).After(200 * time.Millisecond)
	env.OnActivity(a.Verify, mock.Anything, mock.Anything).Return(func(context.Context, activities.VerifyInput) (activities.VerifyReport, error) {
		mu.Lock()
		defer mu.Unlock()
		verifiedAfter = len(waits)
		return activities.VerifyReport{}, nil
	})
	env.RegisterDelayedCallback(func() {
		env.UpdateWorkflow(UpdateVerify, "", &testsuite.TestUpdateCallback{OnReject: func(err error) { t.Error(err) },
			OnAccept: func() {}, OnComplete: func(any, error) {}}, VerifyRequest{})
	}, 5*time.Second)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 10*time.Second)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	mu.Lock()
	defer mu.Unlock()
	require.Positive(t, verifiedAfter)
	require.Greater(t, len(waits), verifiedAfter+1)
	require.Equal(t, 100*time.Millisecond, waits[verifiedAfter-1], "the sync before the verify")
	require.Zero(t, waits[verifiedAfter], "the sync after the verify")
	require.Equal(t, 100*time.Millisecond, waits[verifiedAfter+1])
}

func TestCaughtUpWait(t *testing.T) {
	for _, tc := range []struct {
		next, want time.Duration
	}{
		{0, time.Second}, // nothing listed beyond the watermark: poll
		{250 * time.Millisecond, 250 * time.Millisecond},
		{5 * time.Second, time.Second},       // never longer than the poll interval
		{time.Microsecond, time.Millisecond}, // never no timer at all
		{time.Millisecond, time.Millisecond},
	} {
		require.Equal(t, tc.want, caughtUpWait(time.Second, activities.SyncResult{NextEligibleIn: tc.next}), "next %s", tc.next)
	}
}

// TestReplicateKeepsWhatAFailedSyncListed: a sync that listed the source and then failed (the
// source died mid-copy) still moves newestWrite, failingSince marks the first failure, and
// sourceSilentSince when the source's bucket was first found silent; all feed an unplanned
// failover's RPO. A failure recorded before the silence travelled with it still counts. A
// later success clears failingSince and sourceSilentSince.
func TestReplicateKeepsWhatAFailedSyncListed(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	calls := 0
	listed := t0.Add(time.Hour)
	silent := listed.Add(300 * time.Millisecond)
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		calls++
		switch calls {
		case 1:
			return activities.SyncResult{Watermark: replication.Watermark{Time: t0}, StoreTime: t0, NewestWrite: t0, CaughtUp: true}, nil
		case 2: // the details of workers before the silence travelled with them
			return activities.SyncResult{}, temporal.NewApplicationErrorWithOptions("source gone", "SyncFailed",
				temporal.ApplicationErrorOptions{Details: []any{activities.SyncResult{StoreTime: listed, NewestWrite: listed}}})
		case 3:
			return activities.SyncResult{}, temporal.NewApplicationErrorWithOptions("source gone", "SyncFailed",
				temporal.ApplicationErrorOptions{Details: []any{activities.SyncResult{}, objectstore.Contact{AnsweredAt: listed, SilentSince: silent}}})
		}
		return activities.SyncResult{Watermark: replication.Watermark{Time: listed}, StoreTime: listed, NewestWrite: listed, CaughtUp: true}, nil
	})
	var failing, recovered Status
	env.RegisterDelayedCallback(func() { failing = queryStatus(t, env) }, 2500*time.Millisecond)
	env.RegisterDelayedCallback(func() {
		recovered = queryStatus(t, env)
		env.CancelWorkflow()
	}, time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.Equal(t, StateFailing, failing.State)
	require.True(t, failing.NewestWrite.Equal(listed), "newest write %s, want the failed sync's listing %s", failing.NewestWrite, listed)
	require.False(t, failing.FailingSince.IsZero())
	require.True(t, failing.SourceSilentSince.Equal(silent), "source silent since %s, want %s", failing.SourceSilentSince, silent)
	require.True(t, recovered.FailingSince.IsZero(), "cleared by the next success")
	require.True(t, recovered.SourceSilentSince.IsZero(), "cleared by the next success")
}

// TestReplicateSkipsTheTargetCheckAfterACleanContinueAsNew: a run continued from a run whose
// last sync ended cleanly does not check the target again on its first sync; one continued
// from an older state (no clean mark) does.
func TestReplicateSkipsTheTargetCheckAfterACleanContinueAsNew(t *testing.T) {
	for _, clean := range []bool{true, false} {
		env := newEnv(t)
		var a *activities.Replicator
		var calls []activities.SyncInput
		env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(syncing(&calls))
		env.RegisterDelayedCallback(env.CancelWorkflow, 3*time.Second)
		env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary",
			State: &ReplicateState{Settings: Settings{RootPath: "folder", PollInterval: time.Second, SettleWindow: 2 * time.Second},
				Status: Status{InitialSync: InitialSync{Complete: true}}, Clean: clean}})
		require.NotEmpty(t, calls)
		require.Equal(t, !clean, calls[0].Resume, "clean %v", clean)
	}
}

// TestReplicateQuiescentDrainEndsAfterOneListing: a drain of a source that takes no more
// writes ends once everything its first listing showed is in, without waiting for the source
// clock to pass the drain's start.
func TestReplicateQuiescentDrainEndsAfterOneListing(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	newest := t0.Add(5 * time.Second)
	var drains int
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		if in.Drain {
			drains++
			require.True(t, in.Quiescent)
		}
		// The source clock stays where it was: a drain that waited for it would never end.
		return activities.SyncResult{Watermark: replication.Watermark{Time: newest}, StoreTime: newest.Add(200 * time.Millisecond),
			NewestWrite: newest, CaughtUp: true}, nil
	})
	var drained DrainResult
	env.RegisterDelayedCallback(func() {
		update(t, env, UpdateDrain, DrainRequest{Quiescent: true}, &drained)
	}, 1500*time.Millisecond)
	env.RegisterDelayedCallback(env.CancelWorkflow, time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.True(t, drained.Watermark.Time.Equal(newest), "drained to %s", drained.Watermark.Time)
	require.Equal(t, 1, drains, "one drain sync")
	require.Equal(t, StatePaused, drained.Status.State)
}

// TestStatusWithProgress: a running Sync's heartbeat moves the counts and the initial-sync
// bar forward, never back, and leaves alone what only a returned Sync can tell.
func TestStatusWithProgress(t *testing.T) {
	folded := Status{State: StateInitialSync, CopiedObjects: 40, CopiedBytes: 4000, PendingObjects: 60, LagSeconds: 9,
		InitialSync: InitialSync{Done: 40, Total: 100}}
	got := folded.WithProgress(activities.SyncProgress{RecordCopiedObjects: 75, RecordCopiedBytes: 7500, TotalObjects: 130})
	want := folded
	want.CopiedObjects, want.CopiedBytes, want.InitialSync.Done = 75, 7500, 75
	require.Equal(t, want, got, "total stays the first listing's; pending and lag stay the fold's")

	require.Equal(t, folded, folded.WithProgress(activities.SyncProgress{RecordCopiedObjects: 10}), "an older heartbeat changes nothing")

	first := Status{State: StateInitialSync}.WithProgress(activities.SyncProgress{RecordCopiedObjects: 30, TotalObjects: 20})
	require.Equal(t, InitialSync{Done: 20, Total: 20}, first.InitialSync, "before any fold the heartbeat's total counts; done never exceeds it")

	done := Status{CopiedObjects: 5, InitialSync: InitialSync{Done: 5, Total: 5, Complete: true}}
	require.Equal(t, InitialSync{Done: 5, Total: 5, Complete: true}, done.WithProgress(activities.SyncProgress{RecordCopiedObjects: 9, TotalObjects: 9}).InitialSync)
}

// TestReplicateStatusReportsLateBlobs: late blobs a sync reports add up in the status, and
// their keys stay there after syncs that found none.
func TestReplicateStatusReportsLateBlobs(t *testing.T) {
	env := newEnv(t)
	var a *activities.Replicator
	var calls []activities.SyncInput
	plain := syncing(&calls)
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(func(ctx context.Context, in activities.SyncInput) (activities.SyncResult, error) {
		res, err := plain(ctx, in)
		if n := len(calls); n == 2 || n == 3 {
			res.LateObjects, res.LateKeys, res.VerifyWanted = 1, []string{"folder/late_" + string(rune('0'+n))}, true
		}
		return res, err
	})
	var st Status
	env.RegisterDelayedCallback(func() {
		st = queryStatus(t, env)
		env.CancelWorkflow()
	}, 30*time.Second)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})
	require.Greater(t, len(calls), 3)
	require.Equal(t, int64(2), st.LateObjects)
	require.Equal(t, []string{"folder/late_3"}, st.LateKeys)
}

// TestListingCost: a sync's listings give the requests per round and per second, and the
// monthly LIST bill at S3 Standard's list price; a sync that listed nothing gives none.
func TestListingCost(t *testing.T) {
	got := listingCost(activities.SyncResult{ListRounds: 10, ListRequests: 40, Elapsed: 2 * time.Second})
	require.NotNil(t, got)
	require.Equal(t, 4.0, got.RequestsPerRound)
	require.Equal(t, 20.0, got.RequestsPerSecond)
	require.InDelta(t, 259.2, got.USDPerMonth, 1e-9, "20 requests/s for 30 days at $0.005 per 1,000")
	require.Nil(t, listingCost(activities.SyncResult{}))
}
