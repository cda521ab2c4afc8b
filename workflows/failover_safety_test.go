package workflows

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// Tests of DESIGN 5a: after any failure exactly one region serves; an answer is not silence;
// nothing changes before the checks pass.

var planned = FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned}

func withValidate(in FailoverInput, queries ...string) FailoverInput {
	in.Validate = queries
	return in
}

// TestSwitchoverRefusesAWritingValidationQueryBeforeAnything: a validation query that is not
// read-only is refused with the other input errors, before the milestone or the detach.
// Before, it was refused only after the ATTACH in To.
func TestSwitchoverRefusesAWritingValidationQueryBeforeAnything(t *testing.T) {
	for _, q := range []string{"DELETE FROM t", "SELECT 1; DROP TABLE t", "SELECT * FROM t INTO OUTFILE 'x'"} {
		_, calls, err := runFailover(t, failoverMocks{}, withValidate(planned, "SELECT COUNT(*) FROM t", q))
		require.ErrorContains(t, err, "validate[1]", q)
		require.Empty(t, calls, "%s: nothing changed", q)
	}
}

// TestFailedValidationDetachesToBeforeAttachingFromAgain: a validation that fails after the
// ATTACH in To detaches To first, so that the database is never attached in both regions;
// then From serves again, is recorded as the primary, replication resumes and the replica is
// repaired of what To's cluster wrote into it while attached.
func TestFailedValidationDetachesToBeforeAttachingFromAgain(t *testing.T) {
	m := failoverMocks{compare: activities.VerifyReport{Checked: 10}, attached: map[string]bool{"primary": true}, fail: map[string]error{
		"validate": temporal.NewNonRetryableApplicationError("validate: queries[1]: Table 't' doesn't exist", "test", nil)}}
	_, calls, err := runFailover(t, m, withValidate(planned, "SELECT COUNT(*) FROM t"))
	require.ErrorContains(t, err, "doesn't exist")
	require.ErrorContains(t, err, "rolled back: the database serves from primary")
	require.Equal(t, []string{"detach primary", "drain quiescent=true timeout=5m0s", "fence target secondary", "attach secondary", "security secondary read-in-primary",
		"detach secondary", "attach primary", "primary primary", "resume replicate/db/primary->secondary", "repair secondary from primary"}, calls)
	require.Equal(t, map[string]bool{"primary": true, "secondary": false}, m.attached)
}

// TestFailedAttachIsUndoneToo: an ATTACH that reported an error may still have attached; the
// rollback detaches To all the same (a no-op when it is not attached).
func TestFailedAttachIsUndoneToo(t *testing.T) {
	m := failoverMocks{compare: activities.VerifyReport{Checked: 10}, attached: map[string]bool{"primary": true}, fail: map[string]error{
		"attach secondary": temporal.NewNonRetryableApplicationError("connection reset", "test", nil)}}
	_, calls, err := runFailover(t, m, planned)
	require.ErrorContains(t, err, "rolled back")
	require.Equal(t, []string{"detach primary", "drain quiescent=true timeout=5m0s", "fence target secondary", "attach secondary failed",
		"detach secondary", "attach primary", "primary primary", "resume replicate/db/primary->secondary", "repair secondary from primary"}, calls)
}

// TestRollbackFailsForwardWhenToCannotBeDetached: when To cannot be detached and still serves,
// From is not attached again (two serving regions); To stays, recorded as the primary.
func TestRollbackFailsForwardWhenToCannotBeDetached(t *testing.T) {
	m := failoverMocks{compare: activities.VerifyReport{Checked: 10}, attached: map[string]bool{"primary": true}, fail: map[string]error{
		"validate":         temporal.NewNonRetryableApplicationError("validation failed", "test", nil),
		"detach secondary": temporal.NewNonRetryableApplicationError("Access denied", "test", nil)}}
	_, calls, err := runFailover(t, m, planned)
	require.ErrorContains(t, err, "failed forward: the database serves from secondary")
	require.NotContains(t, calls, "attach primary")
	require.Equal(t, "primary secondary", calls[len(calls)-1], "the region that serves is the recorded primary")
	require.Equal(t, map[string]bool{"primary": false, "secondary": true}, m.attached)
}

// TestFailedDetachInFromIsUndone: a detach in From that reported an error may still have
// detached: From is attached again (a no-op when still attached).
func TestFailedDetachInFromIsUndone(t *testing.T) {
	m := failoverMocks{fail: map[string]error{"detach primary": temporal.NewNonRetryableApplicationError("timeout", "test", nil)}}
	_, calls, err := runFailover(t, m, planned)
	require.ErrorContains(t, err, "rolled back: the database serves from primary")
	require.NotContains(t, calls, "attach secondary")
	require.Contains(t, calls, "attach primary")
}

// TestSwitchoverChecksReplicationBeforeTheDetach: a replication that lags more than
// failover.max_lag, is held back by an upload, or is failing stops the switchover before
// anything changes.
func TestSwitchoverChecksReplicationBeforeTheDetach(t *testing.T) {
	for _, tc := range []struct {
		health activities.ReplicationHealth
		want   string
	}{
		{activities.ReplicationHealth{State: StateReplicating, LagSeconds: 31}, "lags 31.0s, more than failover.max_lag (30s)"},
		{activities.ReplicationHealth{State: StateReplicating, HeldBy: "folder/x (upload abc started 2026-11-23T11:00:00Z)",
			HeldSince: time.Date(2026, 11, 23, 11, 0, 0, 0, time.UTC)}, "held back by folder/x (upload abc started 2026-11-23T11:00:00Z), longer than failover.max_lag (30s)"},
		{activities.ReplicationHealth{State: StateFailing, LastError: "source down", FailingSince: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
			"has been failing since 2026-01-01T00:00:00Z (source down)"},
	} {
		_, calls, err := runFailover(t, failoverMocks{health: tc.health}, planned)
		require.ErrorContains(t, err, tc.want)
		require.Empty(t, calls, "nothing changed")
	}
}

// TestFailoverRefusesWhenAlreadyAttachedInTo: a failover to a region where the database is
// attached (a failover that failed forward, or one run twice) changes nothing, and so removes
// no storage lock of the live database.
func TestFailoverRefusesWhenAlreadyAttachedInTo(t *testing.T) {
	for _, in := range []FailoverInput{planned, {Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned}} {
		m := unplannedMocks(time.Now().Add(-time.Minute).UTC())
		m.attached = map[string]bool{"primary": true, "secondary": true}
		_, calls, err := runFailover(t, m, in)
		require.ErrorContains(t, err, "already attached in secondary", in.Mode)
		require.Empty(t, calls, "%s: nothing changed", in.Mode)
	}
}

// TestFenceThatAnswersNoStopsTheFailover: From's database answered the DETACH with an error:
// it is alive, so nothing else happens. force is for unplanned failovers only.
func TestFenceThatAnswersNoStopsTheFailover(t *testing.T) {
	m := unplannedMocks(time.Now().Add(-time.Minute).UTC())
	m.fail = map[string]error{"fence": temporal.NewNonRetryableApplicationError("answered the DETACH with an error", activities.ErrFenceRefused, nil)}
	_, calls, err := runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.ErrorContains(t, err, activities.ErrFenceRefused)
	require.Equal(t, []string{"fence primary"}, calls)

	forcedPlanned := planned
	forcedPlanned.Force = true
	_, calls, err = runFailover(t, failoverMocks{}, forcedPlanned)
	require.ErrorContains(t, err, "force: a planned failover")
	require.Empty(t, calls)
}

// TestUnplannedFailoverDrainsWhileFromsBucketAnswers: with From fenced and its bucket
// answering, replication drains (bounded) before the seal, so the fence's last uploads are
// copied rather than sealed aside; with the bucket silent it does not wait; a drain that
// fails is a warning.
func TestUnplannedFailoverDrainsWhileFromsBucketAnswers(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	m := unplannedMocks(w)
	m.fence, m.unplannedDrain = activities.FenceResult{Fenced: true}, 30*time.Second
	unplanned := FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned}
	_, calls, err := runFailover(t, m, unplanned)
	require.NoError(t, err)
	require.Equal(t, []string{"fence primary", "drain quiescent=true timeout=30s", "stop replicate/db/primary->secondary", "fence target secondary", "seal secondary"}, calls[:5])

	m = unplannedMocks(w)
	m.unplannedDrain, m.fromBucketSilent = 30*time.Second, true
	_, calls, err = runFailover(t, m, unplanned)
	require.NoError(t, err)
	require.Equal(t, []string{"fence primary", "stop replicate/db/primary->secondary", "fence target secondary", "seal secondary"}, calls[:4], "no drain from a silent bucket")

	m = unplannedMocks(w)
	m.unplannedDrain, m.fail = 30*time.Second, map[string]error{"drain": temporal.NewNonRetryableApplicationError("did not complete within 30s", activities.ErrDrainFailed, nil)}
	res, _, err := runFailover(t, m, unplanned)
	require.NoError(t, err)
	require.Contains(t, res.Warnings[0], "the drain before sealing did not complete")
}

// TestSwitchoverGoesAheadAfterAPassingFailureOrWithAFreshUpload: a replication that failed a
// moment ago (a worker that died in a sync), or whose watermark an upload in progress holds,
// is no reason to refuse: the drain copies the upload once it completes.
func TestSwitchoverGoesAheadAfterAPassingFailureOrWithAFreshUpload(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	now := s.NewTestWorkflowEnvironment().Now()
	for _, h := range []activities.ReplicationHealth{
		{State: StateFailing, LastError: "activity Heartbeat timeout", FailingSince: now.Add(-5 * time.Second)},
		{State: StateReplicating, HeldBy: "folder/big (multipart upload started now)", HeldSince: now.Add(-5 * time.Second)},
	} {
		res, _, err := runFailover(t, failoverMocks{compare: activities.VerifyReport{Checked: 10}, health: h}, planned)
		require.NoError(t, err)
		require.Equal(t, "secondary", res.NewPrimary)
	}
}

// TestRollbackWithToSilentBeforeItsAttach: To goes silent after the detach in From and before
// any ATTACH there: From attaches again at once, without waiting on To.
func TestRollbackWithToSilentBeforeItsAttach(t *testing.T) {
	m := failoverMocks{attached: map[string]bool{"primary": true}, fail: map[string]error{
		"drain":            temporal.NewNonRetryableApplicationError("did not complete within 5m0s", activities.ErrDrainFailed, nil),
		"detach secondary": temporal.NewNonRetryableApplicationError("dial tcp: connection refused", "test", nil)}}
	_, calls, err := runFailover(t, m, planned)
	require.ErrorContains(t, err, "rolled back: the database serves from primary")
	require.NotContains(t, calls, "detach secondary")
	require.Equal(t, map[string]bool{"primary": true}, m.attached)
}

// TestUnplannedFailoverFailsForwardAfterItsAttach: a validation that fails once the database is
// attached in To leaves To serving, recorded as the primary (From is fenced or lost; a run
// again would refuse a database attached in To).
func TestUnplannedFailoverFailsForwardAfterItsAttach(t *testing.T) {
	m := unplannedMocks(time.Now().Add(-time.Minute).UTC())
	m.attached = map[string]bool{"primary": true}
	m.fail = map[string]error{"validate": temporal.NewNonRetryableApplicationError("Table 't' doesn't exist", "test", nil)}
	_, calls, err := runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.ErrorContains(t, err, "failed forward: the database serves from secondary")
	require.Equal(t, "primary secondary", calls[len(calls)-1])
	require.True(t, m.attached["secondary"])
}
