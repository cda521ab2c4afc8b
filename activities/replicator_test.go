package activities

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestCopyTally: a sync's running totals become counter increments, each copy counted once,
// whether the totals come from a heartbeat or from the sync's result.
func TestCopyTally(t *testing.T) {
	var got [][2]int64
	tally := copyTally{record: func(objects, bytes int64) { got = append(got, [2]int64{objects, bytes}) }}
	tally.reach(3, 300)
	tally.reach(3, 300) // a checkpoint that copied nothing new
	tally.reach(5, 520)
	tally.reach(4, 400) // an older total arriving late
	tally.reach(5, 520) // the result, after the last heartbeat
	tally.reach(6, 600) // the result of a sync that copied once more after its last checkpoint
	require.Equal(t, [][2]int64{{3, 300}, {2, 220}, {1, 80}}, got)
}

// TestFollowLongerWithHints: a caught-up Sync follows for a poll interval, and with hints
// for what is left of hintFollow after its wait, unless the poll interval is longer.
func TestFollowLongerWithHints(t *testing.T) {
	for _, tc := range []struct {
		poll, wait time.Duration
		hints      bool
		want       time.Duration
	}{
		{time.Second, 0, false, time.Second},
		{time.Second, 800 * time.Millisecond, false, time.Second},
		{time.Second, 0, true, hintFollow},
		{time.Second, 2 * time.Second, true, hintFollow - 2*time.Second},
		{time.Second, hintFollow, true, time.Second},
		{10 * time.Second, 0, true, 10 * time.Second},
	} {
		if got := follow(tc.poll, tc.hints, tc.wait); got != tc.want {
			t.Errorf("follow(%s, %v, %s) = %s, want %s", tc.poll, tc.hints, tc.wait, got, tc.want)
		}
	}
}
