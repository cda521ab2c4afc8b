package replication_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

func TestMilestonesRoundTripInTheBucket(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	later := replication.Milestone{Database: testDB, Name: "b", Region: "primary", Time: base.Add(time.Hour)}
	earlier := replication.Milestone{Database: testDB, Name: "a", Region: "primary", Time: base}
	require.NoError(t, replication.WriteMilestone(ctx, e.dst, later))
	require.NoError(t, replication.WriteMilestone(ctx, e.dst, earlier))
	got, err := replication.ListMilestones(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[0].Name, "oldest first")
	require.True(t, got[1].Time.Equal(later.Time))

	moved := earlier
	moved.Time = base.Add(2 * time.Hour)
	require.NoError(t, replication.WriteMilestone(ctx, e.dst, moved), "a reused name moves the milestone")
	got, err = replication.ListMilestones(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "a", got[1].Name)

	none, err := replication.ListMilestones(ctx, e.dst, "other_db")
	require.NoError(t, err)
	require.Empty(t, none)
}
