package activities

import (
	"testing"

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
