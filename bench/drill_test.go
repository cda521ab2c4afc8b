package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The drill's targets are judged like the RTO's, and its copy rate stands beside the raw-PUT
// ceiling's of the same run, or n/a when the small initial-sync run did not measure it.
func TestDrillReport(t *testing.T) {
	drill := func() *drillResult {
		return &drillResult{Commits: 2000, AttachSeconds: 0.4, CopySeconds: 2, DrillSeconds: 31, CleanupSeconds: 1,
			Blobs: 2002, Bytes: 3 << 20, Copied: 2002, CopyBlobsPerSec: 1001, Counted: 2000,
			AttachTarget: drillAttachTarget.Seconds(), DrillTarget: drillTarget.Seconds(),
			Steps: []workflows.Step{{Name: "branch", Seconds: 2}}}
	}

	r := &report{Ratios: map[string]map[string]float64{}, Drill: drill()}
	r.finish()
	got := targetsByName(r)
	require.True(t, got["drill attach (s)"].Pass)
	require.False(t, got["drill whole (s)"].Pass)
	require.False(t, got["drill whole (s)"].Missing)
	table := drillTable(r.Drill)
	require.Contains(t, table, "(target < 5s: met)")
	require.Contains(t, table, "(target < 30s: MISSED)")
	require.Contains(t, table, "at 1001 blobs/s; raw-PUT ceiling n/a")

	r = &report{Ratios: map[string]map[string]float64{}, Drill: drill()}
	raw := runResult{Name: "initial-sync-small", Contender: contenderRaw, Objects: 100, Bytes: 100 << 16}
	raw.setRate(200_000_000) // 0.2 s: 500 obj/s
	r.add(raw)
	r.finish()
	require.InDelta(t, 500, r.Drill.RawBlobsPerSec, 0.01)
	require.Contains(t, drillTable(r.Drill), "raw-PUT ceiling 500 blobs/s (100 x 64 KiB)")

	// A drill with no report: its targets are n/a, not misses.
	r = &report{Ratios: map[string]map[string]float64{}, Drill: &drillResult{Commits: 2000, Error: "bdr drill run: exit status 1"}}
	r.finish()
	got = targetsByName(r)
	require.True(t, got["drill attach (s)"].Missing)
	require.True(t, got["drill whole (s)"].Missing)
	require.Equal(t, "\ndrill of a database of 2000 commits into secondary (stand-in, default settings, cleaned up at once)\n"+
		"  FAILED: bdr drill run: exit status 1\n", drillTable(r.Drill))
}

// targetsByName indexes a report's targets by name.
func targetsByName(r *report) map[string]target {
	m := map[string]target{}
	for _, t := range r.Targets {
		m[t.Name] = t
	}
	return m
}
