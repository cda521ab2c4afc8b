package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

func TestLagByQuarter(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	sec := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	var source objectstore.Listing
	for i := range 9 { // written at 0, 1, ..., 8 s, listed in key order (newest first)
		source.Objects = append(source.Objects, objectstore.Object{Key: string(rune('z' - i)), LastModified: sec(float64(i))})
	}
	// The watermark as a poller saw it: at 3 s it had passed the blob written at 1 s, and so on.
	samples := []sample{{at: sec(3), w: sec(1)}, {at: sec(5), w: sec(3)}, {at: sec(8), w: sec(4)}, {at: sec(10), w: sec(6)}, {at: sec(12), w: sec(8)}}
	got := lagByQuarter(source, samples)
	require.Len(t, got, 4)
	require.Equal(t, []int{3, 5, 7, 9}, []int{got[0].FolderBlobs, got[1].FolderBlobs, got[2].FolderBlobs, got[3].FolderBlobs})
	require.Equal(t, 0.0, got[0].FromSecond)
	require.Equal(t, 8.0, got[3].ToSecond)
	require.Equal(t, 3.0, got[0].Max) // written at 0: passed at 3
	require.Equal(t, 4.0, got[1].Max) // written at 4: passed at 8
	require.Equal(t, 5.0, got[2].Max) // written at 5: passed at 10
	lag, ok := watermarkLag(objectstore.Object{LastModified: sec(9)}, samples)
	require.False(t, ok, "a blob the watermark never passed has no lag: %v", lag)
}
