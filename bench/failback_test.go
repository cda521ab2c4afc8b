package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The failback's copy back is judged against what the secondary wrote since the failover
// (<= 1.05x), its switchback against the planned RTO target; a failback with no result
// measured neither: n/a, not a miss.
func TestFailbackReport(t *testing.T) {
	failback := func(copiedBack int64) *failbackResult {
		return &failbackResult{Commits: 2000, TailCommits: 100, NewInSecondary: 200, FailoverRTOSeconds: 11, FailoverRPOSeconds: 3,
			TailBlobs: 100, TailBytes: 100 << 10, RecoverSeconds: 1.5, RecoveredName: "failback_db_recovered_20261207130000",
			RecoveredBlobs: 2102, RecoveredCrossed: 100, RecoveredCrossedBytes: 100 << 10,
			CopiedBackObjects: 200, CopiedBackBytes: copiedBack, WrittenSinceFailover: 200 << 10, DatabaseBytes: 2200 << 10,
			PutIntoPrimaryBytes: copiedBack + 40<<10, SecondaryWroteBytes: 240 << 10,
			CopiedOverWritten: float64(copiedBack) / float64(200<<10), CopiedOverDatabase: float64(copiedBack) / float64(2200<<10),
			PutOverWrote: float64(copiedBack+40<<10) / float64(240<<10),
			SwitchedBack: true, SwitchbackRTOSeconds: 6, FailbackSeconds: 20, Counted: 2200, RecoveredCounted: 2100,
			CopiedTarget: failbackCopiedTarget, SwitchbackTarget: plannedRTOTarget.Seconds(),
			Steps: []workflows.Step{{Name: "recover primary's tail", Seconds: 1.5}}}
	}

	// Copied back exactly what was written: met; the switchback's 6 s missed its 5 s.
	r := &report{Ratios: map[string]map[string]float64{}, Failback: failback(200 << 10)}
	r.finish()
	got := targetsByName(r)
	require.True(t, got["failback copied back / written"].Pass)
	require.InDelta(t, 1.0, got["failback copied back / written"].Measured, 1e-9)
	require.False(t, got["failback switchback RTO (s)"].Pass)
	require.False(t, got["failback switchback RTO (s)"].Missing)
	table := failbackTable(r.Failback)
	require.Contains(t, table, "copied back  1.00x what the secondary wrote since the failover (target <= 1.05x: met)")
	require.Contains(t, table, "RTO   6.00s (target < 5s: MISSED)")
	require.Contains(t, table, "1.50s to build the branch failback_db_recovered_20261207130000")
	require.Contains(t, table, "the failback's report:  200 blobs, 200.0 KiB / 200.0 KiB written: 1.00x; 0.091x of the database's 2.1 MiB\n")
	require.Contains(t, table, "the stores' count:      240.0 KiB PUT into primary by replication / 240.0 KiB in secondary's folder written since the failover: 1.00x")
	require.Contains(t, table, "recover primary's tail")

	// Copied back more than 1.05x what was written: a miss, not n/a.
	r = &report{Ratios: map[string]map[string]float64{}, Failback: failback(220 << 10)}
	r.finish()
	got = targetsByName(r)
	require.False(t, got["failback copied back / written"].Pass)
	require.False(t, got["failback copied back / written"].Missing)
	require.Contains(t, failbackTable(r.Failback), "1.10x what the secondary wrote since the failover (target <= 1.05x: MISSED)")

	// The stores' count is judged too: a failback that reports less than it copied misses.
	r = &report{Ratios: map[string]map[string]float64{}, Failback: failback(200 << 10)}
	r.Failback.PutOverWrote = 1.2
	r.finish()
	got = targetsByName(r)
	require.False(t, got["failback copied back / written"].Pass)
	require.InDelta(t, 1.2, got["failback copied back / written"].Measured, 1e-9)

	// Stores that could not be counted leave the failback's own figures.
	r = &report{Ratios: map[string]map[string]float64{}, Failback: failback(200 << 10)}
	r.Failback.PutIntoPrimaryBytes, r.Failback.SecondaryWroteBytes, r.Failback.PutOverWrote = 0, 0, 0
	r.finish()
	require.True(t, targetsByName(r)["failback copied back / written"].Pass)
	require.Contains(t, failbackTable(r.Failback), "the stores' count:      n/a (the stores could not be counted)")

	// A failback that lost rows misses, however small its copy back.
	r = &report{Ratios: map[string]map[string]float64{}, Failback: failback(200 << 10)}
	r.Failback.Error = "the recovered branch counted 2090 rows, want 2100"
	r.finish()
	got = targetsByName(r)
	require.False(t, got["failback copied back / written"].Pass)
	require.False(t, got["failback copied back / written"].Missing)

	// A failback with no result: its targets are n/a, not misses.
	r = &report{Ratios: map[string]map[string]float64{}, Failback: &failbackResult{Commits: 2000, TailCommits: 100, NewInSecondary: 200,
		CopiedTarget: failbackCopiedTarget, SwitchbackTarget: plannedRTOTarget.Seconds(), Error: "bdr failback: exit status 1"}}
	r.finish()
	got = targetsByName(r)
	require.True(t, got["failback copied back / written"].Missing)
	require.True(t, got["failback switchback RTO (s)"].Missing)
	require.Equal(t, "\nfailback of a database of 2000 commits after 200 new in secondary (stand-in, default settings; a tail of 100 commits lost by the unplanned failover)\n"+
		"  FAILED: bdr failback: exit status 1\n", failbackTable(r.Failback))

	// A failback that recovered no branch of its tail failed, whatever it copied.
	f := &failbackResult{TailCommits: 100}
	f.fill(workflows.FailbackResult{To: "primary", CopiedBackBytes: 100, WrittenSinceFailover: 200, DatabaseBytes: 1000})
	require.InDelta(t, 0.5, f.CopiedOverWritten, 1e-9)
	require.InDelta(t, 0.1, f.CopiedOverDatabase, 1e-9)
	require.Equal(t, "no recovered branch attached for a tail of 100 commits", f.Error)

	// Only the replication's PUT bodies under the database's folder count.
	total := putBytes([]stack.StoreRequest{
		{Method: "PUT", Key: "failback_db/log/1", Operation: "Replicate/Sync", Bytes: 10},
		{Method: "PUT", Key: "failback_db/log/2", Operation: "Replicate/Sync", Bytes: 5},
		{Method: "PUT", Key: "failback_db/log/3", Operation: "Failback/MoveAside", CopySource: "/b/failback_db/log/3"},
		{Method: "GET", Key: "failback_db/log/1", Bytes: 0},
		{Method: "PUT", Key: ".bdr/failback_db/watermark.json", Operation: "Replicate/Sync", Bytes: 7},
		{Method: "PUT", Key: "failback_db/log/4", Bytes: 9}, // the database's own write
	}, "failback_db/")
	require.Equal(t, int64(15), total)
}
