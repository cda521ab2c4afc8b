package workflows

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// Tests of DESIGN 5a.5: every update of Replicate completes or fails within a bound, whatever
// the syncs do.

// outcome is what an update returned, once it has.
type outcome struct {
	done   bool
	at     time.Time // the environment's clock when it returned
	err    error
	status Status
	drain  DrainResult
}

// sendUpdate sends an update and records its outcome instead of asserting it.
func sendUpdate(t *testing.T, env *testsuite.TestWorkflowEnvironment, name string, arg any, out *outcome) {
	env.UpdateWorkflow(name, "", &testsuite.TestUpdateCallback{
		OnReject: func(err error) { t.Errorf("%s rejected: %v", name, err) },
		OnAccept: func() {},
		OnComplete: func(v any, err error) {
			out.done, out.at, out.err = true, env.Now(), err
			switch r := v.(type) {
			case Status:
				out.status = r
			case DrainResult:
				out.drain = r
			}
		},
	}, arg)
}

// syncLog answers Sync as syncing does (a watermark one second further per call, caught up),
// every drain sync with a failure when failDrains, and counts the calls. The activity
// goroutines and the test's share it: a sync cut short by the end of the test may still be
// answering when the test reads the counts.
type syncLog struct {
	failDrains bool

	mu            sync.Mutex
	calls, drains int
}

func (l *syncLog) sync(_ context.Context, in activities.SyncInput) (activities.SyncResult, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	if in.Drain {
		l.drains++
		if l.failDrains {
			return activities.SyncResult{}, temporal.NewNonRetryableApplicationError("source bucket unreachable", "test", nil)
		}
	}
	w := t0.Add(time.Duration(l.calls) * time.Second)
	return activities.SyncResult{Watermark: replication.Watermark{Time: w, CopiedObjects: int64(10 * l.calls)},
		StoreTime: w.Add(2 * time.Second), NewestWrite: t0.Add(3 * time.Second), TotalObjects: 30, CaughtUp: true}, nil
}

// counts returns the syncs and the drain syncs answered so far.
func (l *syncLog) counts() (calls, drains int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.calls, l.drains
}

// syncLogEnv returns a Replicate environment whose syncs log answers.
func syncLogEnv(t *testing.T, failDrains bool) (*testsuite.TestWorkflowEnvironment, *syncLog) {
	env := newEnv(t)
	var a *activities.Replicator
	log := &syncLog{failDrains: failDrains}
	env.OnActivity(a.Sync, mock.Anything, mock.Anything).Return(log.sync)
	return env, log
}

// TestDrainSentAtTheEndOfARunCompletes: a drain that arrives as the run reaches its sync
// budget completes, and the run continues as new only once no handler waits for its loop.
// Before, the loop waited for the drain handler at continue-as-new while the handler waited
// for the loop's syncs: the drain never completed.
func TestDrainSentAtTheEndOfARunCompletes(t *testing.T) {
	env, log := syncLogEnv(t, false)
	var drained, resumed outcome
	var syncsAtDrain int
	start := env.Now()
	// Caught-up syncs run one poll interval (1 s) apart: sync n starts at n-1 s. The drain
	// arrives between the budget's last two syncs and needs three syncs to end.
	env.RegisterDelayedCallback(func() {
		syncsAtDrain, _ = log.counts()
		sendUpdate(t, env, UpdateDrain, DrainRequest{}, &drained)
	}, time.Duration(maxSyncsPerRun-2)*time.Second+500*time.Millisecond)
	env.RegisterDelayedCallback(func() {
		require.True(t, drained.done, "the drain completed")
		sendUpdate(t, env, UpdateResume, ResumeRequest{}, &resumed)
	}, time.Duration(maxSyncsPerRun+60)*time.Second)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})

	require.Equal(t, maxSyncsPerRun-1, syncsAtDrain, "the drain arrived before the budget's last sync")
	require.True(t, drained.done, "drain completed")
	require.NoError(t, drained.err)
	require.Equal(t, StatePaused, drained.drain.Status.State)
	calls, _ := log.counts()
	require.Greater(t, calls, maxSyncsPerRun, "the run went past its budget to finish the drain")
	require.Less(t, drained.at.Sub(start), time.Duration(maxSyncsPerRun+10)*time.Second)
	var can *workflow.ContinueAsNewError
	require.True(t, errors.As(env.GetWorkflowError(), &can), "after the resume the run continues as new, got %v", env.GetWorkflowError())
	var next ReplicateInput
	require.NoError(t, converterDecode(can, &next))
	require.False(t, next.State.Paused, "resumed before continuing")
}

// TestPauseDuringAFailingDrainCompletes: a pause sent while every drain sync fails completes
// at once, and the drain fails saying it was interrupted. The failing drain backs off instead
// of retrying at once.
func TestPauseDuringAFailingDrainCompletes(t *testing.T) {
	env, log := syncLogEnv(t, true)
	var drained, paused outcome
	var drainsBeforePause int
	start := env.Now()
	env.RegisterDelayedCallback(func() { sendUpdate(t, env, UpdateDrain, DrainRequest{TimeoutSeconds: 3600}, &drained) }, 5*time.Second)
	env.RegisterDelayedCallback(func() {
		_, drainsBeforePause = log.counts()
		sendUpdate(t, env, UpdatePause, PauseRequest{}, &paused)
	}, 95*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})

	require.True(t, paused.done, "pause completed")
	require.NoError(t, paused.err)
	require.Equal(t, StatePaused, paused.status.State)
	require.LessOrEqual(t, paused.at.Sub(start), 96*time.Second, "pause completed as soon as it was sent")
	require.True(t, drained.done, "drain completed")
	require.ErrorContains(t, drained.err, "interrupted")
	// 90 s of failures with a backoff of 1, 2, 4, 8, 16, 30, 30 s: 7 tries, not one per
	// workflow task.
	require.GreaterOrEqual(t, drainsBeforePause, 5)
	require.LessOrEqual(t, drainsBeforePause, 8, "a failing drain backs off")
	_, drains := log.counts()
	require.Equal(t, drainsBeforePause, drains, "no drain sync after the pause")
}

// TestDrainTimesOutAndReplicationGoesOn: a drain whose syncs keep failing fails at its
// timeout, naming the last error, and replication goes on as before the drain.
func TestDrainTimesOutAndReplicationGoesOn(t *testing.T) {
	env, log := syncLogEnv(t, true)
	var drained outcome
	var drainsAtTimeout, callsAtTimeout int
	start := env.Now()
	env.RegisterDelayedCallback(func() { sendUpdate(t, env, UpdateDrain, DrainRequest{TimeoutSeconds: 60}, &drained) }, 5*time.Second)
	env.RegisterDelayedCallback(func() { callsAtTimeout, drainsAtTimeout = log.counts() }, 66*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 2*time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})

	require.True(t, drained.done, "drain completed")
	require.ErrorContains(t, drained.err, "did not complete within 1m0s")
	require.ErrorContains(t, drained.err, "source bucket unreachable")
	require.Equal(t, 65*time.Second, drained.at.Sub(start), "the drain failed at its timeout")
	calls, drains := log.counts()
	require.Equal(t, drainsAtTimeout, drains, "no drain sync after the timeout")
	require.Greater(t, calls, callsAtTimeout+10, "replication went on")
	require.Equal(t, StateReplicating, queryStatusOrEmpty(env).State)
}

// TestJoinedDrainTakesTheLaterBound: a drain that joins one in progress extends it to its own
// timeout, and both callers get the same outcome: a short drain an operator sent does not cut
// short the drain of a switchover that joined it.
func TestJoinedDrainTakesTheLaterBound(t *testing.T) {
	env, _ := syncLogEnv(t, true)
	var first, second outcome
	start := env.Now()
	env.RegisterDelayedCallback(func() { sendUpdate(t, env, UpdateDrain, DrainRequest{TimeoutSeconds: 60}, &first) }, 5*time.Second)
	env.RegisterDelayedCallback(func() { sendUpdate(t, env, UpdateDrain, DrainRequest{TimeoutSeconds: 300}, &second) }, 35*time.Second)
	env.RegisterDelayedCallback(env.CancelWorkflow, 10*time.Minute)
	env.ExecuteWorkflow(Replicate, ReplicateInput{Database: "db", From: "primary", To: "secondary"})

	require.True(t, first.done && second.done)
	require.ErrorContains(t, first.err, "did not complete")
	require.ErrorContains(t, second.err, "did not complete")
	require.Equal(t, 335*time.Second, first.at.Sub(start), "the first caller waits for the later bound")
	require.Equal(t, first.at, second.at)
}
