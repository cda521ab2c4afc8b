package workflows

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/temporal"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// unplannedMocks: From's cluster and bucket are gone; the copy in To is replicated up to w.
func unplannedMocks(w time.Time) failoverMocks {
	return failoverMocks{
		fence: activities.FenceResult{Lost: true, Reason: "dial tcp: connection refused"},
		repl: activities.ReplicationState{Running: true, Watermark: w, NewestWrite: w.Add(4 * time.Second), LastSyncAt: w.Add(5 * time.Second),
			FailingSince: w.Add(6 * time.Second)},
		copy: activities.CopyState{Watermark: w, WatermarkFound: true, Locks: []string{"f/1/storage_locks/1_1"},
			Milestones: []replication.Milestone{{Name: "nightly", Time: w.Add(-time.Hour)}, {Name: "too_new", Time: w.Add(-time.Millisecond)}}},
		source: activities.SourceState{Answered: false, Reason: "connection refused"},
	}
}

func runFailover(t *testing.T, m failoverMocks, in FailoverInput) (FailoverResult, []string, error) {
	t.Helper()
	env, calls := failoverEnv(m)
	env.ExecuteWorkflow(Failover, in)
	var res FailoverResult
	if err := env.GetWorkflowError(); err != nil {
		return res, *calls, err
	}
	require.NoError(t, env.GetWorkflowResult(&res))
	return res, *calls, nil
}

// TestUnplannedFailoverWhenFromIsLost: From does not answer; it is declared lost, replication
// stops, the copy is sealed, the locks go, the database is attached at latest with the users
// from the bucket's snapshot, and the RPO comes from the replication's last status.
func TestUnplannedFailoverWhenFromIsLost(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	res, calls, err := runFailover(t, unplannedMocks(w), FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.NoError(t, err)
	require.Equal(t, []string{"fence primary", "stop replicate/db/primary->secondary", "fence target secondary", "seal secondary",
		"attach secondary", "security secondary from-bucket", "primary secondary"}, calls)
	require.True(t, res.Fence.Lost)
	require.Equal(t, "secondary", res.NewPrimary)
	require.Equal(t, "latest", res.AttachedAt)
	require.InDelta(t, 4.0, res.RPOMinSeconds, 1e-9, "newest write known (last sync) minus the sealed watermark")
	require.Contains(t, res.RPOFrom, "last listing")
	require.InDelta(t, 6.0, res.RPOSeconds, 1e-9, "at most: no client saw the silence, so when the syncs began to fail")
	require.NotEmpty(t, res.Warnings)
	var steps []string
	for _, s := range res.Steps {
		steps = append(steps, s.Name)
	}
	require.Equal(t, []string{"check", "fence primary", "stop replication", "fence replication into secondary", "seal secondary",
		"load users and grants from secondary's bucket", "remove storage locks in secondary", "attach in secondary",
		"apply users and grants in secondary", "validate in secondary"}, steps[:10], "the RTO split by step")
	require.ElementsMatch(t, []string{"measure RPO", "record primary"}, steps[10:], "after the RTO, side by side")
	require.Nil(t, res.Unreplicated)
}

// TestUnplannedFailoverStartsItsFailback: asked to, a failover that succeeded starts the
// failback from To back to From, which then waits for From; a failback that cannot start is a
// warning saying how to start it, not a failed failover. A planned failover refuses the
// option, changing nothing.
func TestUnplannedFailoverStartsItsFailback(t *testing.T) {
	in := FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned, Failback: true}
	res, calls, err := runFailover(t, unplannedMocks(time.Now().Add(-time.Minute).UTC()), in)
	require.NoError(t, err)
	require.Equal(t, "start Failback failback/db secondary->primary", calls[len(calls)-1], "after the primary is recorded")
	require.Equal(t, "failback/db", res.Failback)

	m := unplannedMocks(time.Now().Add(-time.Minute).UTC())
	m.fail = map[string]error{"start Failback": temporal.NewNonRetryableApplicationError("namespace unavailable", "test", nil)}
	res, _, err = runFailover(t, m, in)
	require.NoError(t, err, "the failover itself succeeded")
	require.Equal(t, "secondary", res.NewPrimary)
	require.Empty(t, res.Failback)
	require.Contains(t, res.Warnings[len(res.Warnings)-1], "start it with bdr failback db --from secondary --to primary")

	m = unplannedMocks(time.Now().Add(-time.Minute).UTC())
	m.fail = map[string]error{"start Failback": temporal.NewNonRetryableApplicationError("start failback/db: one is already running", activities.ErrAlreadyRunning, nil)}
	res, _, err = runFailover(t, m, in)
	require.NoError(t, err)
	require.Empty(t, res.Failback, "an older failback runs: not this failover's")
	require.Contains(t, res.Warnings[len(res.Warnings)-1], "an older one (failback/db) is running")

	withFailback := planned
	withFailback.Failback = true
	_, calls, err = runFailover(t, failoverMocks{}, withFailback)
	require.ErrorContains(t, err, "failback: a planned failover")
	require.Empty(t, calls)
}

// TestUnplannedFailoverFencesFromThatAnswers: From's cluster detaches and its bucket answers:
// the users come from its cluster, the RPO and the unreplicated tail from its bucket.
func TestUnplannedFailoverFencesFromThatAnswers(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	m := unplannedMocks(w)
	m.fence = activities.FenceResult{Fenced: true}
	m.source = activities.SourceState{Answered: true, NewestWrite: w.Add(1500 * time.Millisecond), BeyondObjects: 3, BeyondBytes: 300}
	res, calls, err := runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.NoError(t, err)
	require.Contains(t, calls, "security secondary read-in-primary")
	require.InDelta(t, 1.5, res.RPOSeconds, 1e-9, "exact when the bucket answers")
	require.Zero(t, res.RPOMinSeconds)
	require.Equal(t, &Tail{Objects: 3, Bytes: 300}, res.Unreplicated)
	require.Contains(t, res.RPOFrom, "primary's bucket")
}

// TestUnplannedFailoverRPOFromTheFirstSilence: the worker's client saw From's bucket stop
// answering: that bounds the RPO from above, closer than the failing syncs; a silence older
// than the last listing was a passing failure and bounds nothing.
func TestUnplannedFailoverRPOFromTheFirstSilence(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	m := unplannedMocks(w)
	m.source.SilentSince = w.Add(5300 * time.Millisecond)
	res, _, err := runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.NoError(t, err)
	require.InDelta(t, 5.3, res.RPOSeconds, 1e-9)
	require.InDelta(t, 4.0, res.RPOMinSeconds, 1e-9)

	m.source.SilentSince = w.Add(4 * time.Second) // before the last listing at w+5s
	res, _, err = runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned})
	require.NoError(t, err)
	require.InDelta(t, 6.0, res.RPOSeconds, 1e-9, "when the syncs began to fail")
}

func TestSilentBy(t *testing.T) {
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return now.Add(time.Duration(s * float64(time.Second))) }
	repl := activities.ReplicationState{Running: true, LastSyncAt: at(-10), FailingSince: at(-5)}
	for _, tc := range []struct {
		name    string
		silent  time.Time
		checked time.Time
		repl    activities.ReplicationState
		want    time.Time
	}{
		{"the client's first silence", at(-8), at(-1), repl, at(-8)},
		{"a silence before the last listing is a passing failure", at(-11), at(-1), repl, at(-5)},
		{"the failover's check saw it first", at(-3), at(-4), repl, at(-4)},
		{"nothing known: now", time.Time{}, time.Time{}, activities.ReplicationState{}, now},
		{"no replication: the client's silence", at(-2), time.Time{}, activities.ReplicationState{}, at(-2)},
		{"the replication's silence, seen by the worker that ran the syncs", at(-2), at(-1),
			activities.ReplicationState{Running: true, LastSyncAt: at(-10), FailingSince: at(-5), SourceSilentSince: at(-7)}, at(-7)},
		{"a replication's silence before its last listing bounds nothing", time.Time{}, at(-1),
			activities.ReplicationState{Running: true, LastSyncAt: at(-10), FailingSince: at(-5), SourceSilentSince: at(-12)}, at(-5)},
	} {
		got := silentBy(now, activities.SourceState{SilentSince: tc.silent}, tc.repl, tc.checked)
		require.Equal(t, tc.want, got, tc.name)
	}
}

func TestUnplannedFailoverAtMilestoneAndTime(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	res, calls, err := runFailover(t, unplannedMocks(w), FailoverInput{Database: "db", From: "primary", To: "secondary",
		Mode: ModeUnplanned, At: &FailoverAt{Milestone: "nightly"}})
	require.NoError(t, err)
	require.Contains(t, calls, "attach secondary at milestone nightly")
	require.Equal(t, "milestone nightly", res.AttachedAt)
	require.InDelta(t, time.Hour.Seconds()+4, res.RPOMinSeconds, 1e-9, "everything after the milestone is not attached")
	require.InDelta(t, time.Hour.Seconds()+6, res.RPOSeconds, 1e-9, "at most until the syncs began to fail")

	at := w.Add(-10 * time.Minute).Truncate(time.Second)
	res, calls, err = runFailover(t, unplannedMocks(w), FailoverInput{Database: "db", From: "primary", To: "secondary",
		Mode: ModeUnplanned, At: &FailoverAt{Time: at.Add(300 * time.Millisecond)}})
	require.NoError(t, err)
	require.Contains(t, calls, "attach secondary at time "+at.Format(time.DateTime))
	require.Equal(t, "time "+at.Format(time.DateTime), res.AttachedAt)
}

// TestUnplannedFailoverRefusesUnreachablePoints: a milestone not recorded or newer than the
// copy, a time outside retention or past the copy, a copy that was never replicated: an
// error naming the field, and nothing changed.
func TestUnplannedFailoverRefusesUnreachablePoints(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	noCopy := unplannedMocks(w)
	noCopy.copy = activities.CopyState{}
	for _, tc := range []struct {
		m    failoverMocks
		at   *FailoverAt
		want string
	}{
		{unplannedMocks(w), &FailoverAt{Milestone: "weekly"}, `at.milestone: no milestone "weekly" of db is recorded in secondary's bucket (recorded: nightly, too_new)`},
		{unplannedMocks(w), &FailoverAt{Milestone: "too_new"}, `at.milestone: "too_new" was made at`},
		{unplannedMocks(w), &FailoverAt{Time: w.Add(-48 * time.Hour)}, `at.time: ` + w.Add(-48*time.Hour).Format(time.DateTime) + ` is outside the retention window (failover.retention 24h0m0s`},
		{unplannedMocks(w), &FailoverAt{Time: w}, `at.time: ` + w.Format(time.DateTime) + ` is after what secondary holds`},
		{noCopy, nil, `to: secondary's bucket holds no replicated copy of db`},
	} {
		_, calls, err := runFailover(t, tc.m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned, At: tc.at})
		require.Error(t, err)
		require.True(t, strings.Contains(err.Error(), tc.want), "%v does not contain %q", err, tc.want)
		require.Empty(t, calls, "nothing changed")
	}
}

// TestFailoverDryRunChangesNothing: a dry run of either mode runs the checks and reports
// what it would do, the estimated RPO and whether From answers, and changes nothing.
func TestFailoverDryRunChangesNothing(t *testing.T) {
	w := time.Now().Add(-time.Minute).UTC()
	m := unplannedMocks(w)
	m.source = activities.SourceState{Answered: true, NewestWrite: w.Add(2 * time.Second)}
	res, calls, err := runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModeUnplanned, DryRun: true})
	require.NoError(t, err)
	require.Empty(t, calls)
	require.NotNil(t, res.DryRun)
	require.InDelta(t, 2.0, res.DryRun.EstimatedRPOSeconds, 1e-9)
	require.True(t, res.DryRun.FromAnswers)
	require.Equal(t, []string{"f/1/storage_locks/1_1"}, res.DryRun.Locks)
	require.Contains(t, strings.Join(res.DryRun.WouldDo, "; "), "ATTACH db in secondary at latest")
	require.Empty(t, res.NewPrimary)

	res, calls, err = runFailover(t, m, FailoverInput{Database: "db", From: "primary", To: "secondary", Mode: ModePlanned, DryRun: true})
	require.NoError(t, err)
	require.Empty(t, calls)
	require.Contains(t, strings.Join(res.DryRun.WouldDo, "; "), "DETACH db in primary")
}
