package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func TestFormatLag(t *testing.T) {
	for _, tc := range []struct {
		seconds float64
		want    string
	}{
		{-3, "0.0s"}, // stores' clocks disagree: shown as caught up
		{0, "0.0s"},
		{0.44, "0.4s"},
		{9.96, "10.0s"},
		{10, "10s"},
		{59.9, "59s"},
		{60, "1m00s"},
		{185, "3m05s"},
		{3599, "59m59s"},
		{3600, "1h00m"},
		{7620, "2h07m"},
		{100 * 3600, "100h00m"},
	} {
		assert.Equal(t, tc.want, formatLag(tc.seconds), "formatLag(%v)", tc.seconds)
	}
}

func TestProgressBar(t *testing.T) {
	assert.Equal(t, "[>         ]   0% 0/1000", progressBar(0, 1000, 10))
	assert.Equal(t, "[====>     ]  45% 450/1000", progressBar(450, 1000, 10))
	assert.Equal(t, "[=========>]  99% 999/1000", progressBar(999, 1000, 10))
	assert.Equal(t, "[==========] 100% 1000/1000", progressBar(1000, 1000, 10))
	assert.Equal(t, "[==========] 100% 7/7", progressBar(9, 7, 10), "done beyond total is clamped")
	assert.Equal(t, "[>         ]   0% 0/7", progressBar(-1, 7, 10), "negative done is clamped")
	assert.Equal(t, "", progressBar(0, 0, 10), "no total, no bar")
}

func TestOneLine(t *testing.T) {
	assert.Equal(t, "a; b", oneLine("a\nb", 60))
	assert.Equal(t, "abcd…", oneLine("abcdefgh", 5))
	assert.Equal(t, "short", oneLine("short", 5))
}

// sampleStatuses are one replication in steady state with an error, whose source's clock
// was read, and one in initial sync whose copy rate is known.
func sampleStatuses() []statusRow {
	t0 := time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)
	rpoNow, eta := 4.1, 44.0
	return []statusRow{
		{RPONowSeconds: &rpoNow, Status: workflows.Status{
			State: workflows.StateReplicating, Database: "bottomless_db", From: "primary", To: "secondary",
			Watermark:  workflows.Watermark{Time: t0.Add(-2 * time.Second), Key: "bottomless_db_folder/1/log_7"},
			LastSyncAt: t0, LagSeconds: 2.5,
			PendingObjects: 3, PendingBytes: 3 << 20, CopiedObjects: 1200, CopiedBytes: 40 << 30,
			InitialSync: workflows.InitialSync{Done: 1000, Total: 1000, Complete: true},
			LastError:   "copy batch: objectstore: put x: connection reset\nretrying",
		}},
		{CopyRate: 12.5, InitialSyncETASeconds: &eta, Status: workflows.Status{
			State: workflows.StateInitialSync, Database: "orders", From: "secondary", To: "primary",
			PendingObjects: 550, PendingBytes: 550 << 10, CopiedObjects: 450, CopiedBytes: 450 << 10,
			InitialSync: workflows.InitialSync{Done: 450, Total: 1000},
		}},
	}
}

func TestWriteStatusTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeStatusTable(&buf, sampleStatuses()))
	want := "" +
		"DATABASE       ROUTE              STATE         WATERMARK             LAG   RPO NOW  PENDING          COPIED           LAST SYNC             LAST ERROR\n" +
		"bottomless_db  primary→secondary  replicating   2025-03-04T05:06:05Z  2.5s  4.1s     3 (3.0 MiB)      1200 (40.0 GiB)  2025-03-04T05:06:07Z  copy batch: objectstore: put x: connection reset; retrying\n" +
		"orders         secondary→primary  initial-sync  -                     -     -        550 (550.0 KiB)  450 (450.0 KiB)  -                     -\n" +
		"\n" +
		"orders secondary→primary initial sync [=============>                ]  45% 450/1000, ETA 44s at 12.5 objects/s\n"
	assert.Equal(t, want, buf.String())
}

func TestWriteStatusTableEmpty(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeStatusTable(&buf, nil))
	assert.Equal(t, "no replication is running\n", buf.String())
}

func TestWriteStatusLines(t *testing.T) {
	now := time.Date(2025, 3, 4, 5, 6, 8, 0, time.UTC)
	var buf bytes.Buffer
	require.NoError(t, writeStatusLines(&buf, now, sampleStatuses()))
	want := "" +
		"2025-03-04T05:06:08Z bottomless_db primary→secondary replicating watermark 2025-03-04T05:06:05Z lag 2.5s rpo-now 4.1s" +
		" pending 3 (3.0 MiB) copied 1200 (40.0 GiB) last-sync 2025-03-04T05:06:07Z" +
		" error copy batch: objectstore: put x: connection reset; retrying\n" +
		"2025-03-04T05:06:08Z orders secondary→primary initial-sync watermark - lag - rpo-now - pending 550 (550.0 KiB)" +
		" copied 450 (450.0 KiB) last-sync - initial-sync [=============>                ]  45% 450/1000 eta 44s\n"
	assert.Equal(t, want, buf.String())

	buf.Reset()
	require.NoError(t, writeStatusLines(&buf, now, nil))
	assert.Equal(t, "2025-03-04T05:06:08Z no replication is running\n", buf.String())
}

func TestWriteJSONStatuses(t *testing.T) {
	sts := sampleStatuses()
	for _, compact := range []bool{false, true} {
		var buf bytes.Buffer
		require.NoError(t, writeJSON(&buf, sts, compact))
		out := buf.String()
		if compact {
			assert.Equal(t, 1, strings.Count(out, "\n"), "--watch --json streams one array per line")
		}
		var back []workflows.Status
		require.NoError(t, json.Unmarshal(buf.Bytes(), &back))
		assert.Equal(t, []workflows.Status{sts[0].Status, sts[1].Status}, back, "the JSON is the workflow's Status, lossless, with bdr's additions beside it")
		assert.Contains(t, out, `"lagSeconds":`)
		assert.Contains(t, out, `"initialSync":`)
		assert.Contains(t, out, `"rpoNowSeconds":`)
		assert.Contains(t, out, `"initialSyncEtaSeconds":`)
		var rows []statusRow
		require.NoError(t, json.Unmarshal(buf.Bytes(), &rows))
		assert.Equal(t, sts, rows)
	}

	var buf bytes.Buffer
	require.NoError(t, writeJSON(&buf, []statusRow{}, true))
	assert.Equal(t, "[]\n", buf.String(), "nothing running is an empty array, not null")

	buf.Reset()
	require.NoError(t, writeJSON(&buf, startResult{WorkflowID: workflows.ReplicateID("db", "a", "b"), RunID: "r"}, true))
	assert.Equal(t, `{"workflowId":"replicate/db/a->b","runId":"r"}`+"\n", buf.String(), "no HTML escaping of ->")
}

func TestWriteUpdated(t *testing.T) {
	st := sampleStatuses()[0].Status
	r := routeArgs{db: "bottomless_db", from: "primary", to: "secondary"}
	var buf bytes.Buffer
	require.NoError(t, writeUpdated(&buf, "drained", r, workflows.DrainResult{Watermark: st.Watermark, Status: st}, true))
	lines := strings.Split(buf.String(), "\n")
	assert.Equal(t, "drained replication of bottomless_db from primary to secondary", lines[0])
	assert.Equal(t, "watermark: 2025-03-04T05:06:05.89Z (key bottomless_db_folder/1/log_7)", lines[1])
	assert.True(t, strings.HasPrefix(lines[2], "DATABASE"), lines[2])
	assert.True(t, strings.HasPrefix(lines[3], "bottomless_db  primary→secondary  replicating"), lines[3])
}

func TestWriteChecks(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, writeChecks(&buf, []checkResult{
		{Check: "config", Target: "bdr.yaml", OK: true},
		{Check: "regions.primary.object_store", Target: "bucket b at http://127.0.0.1:9", Error: "regions.primary.object_store.endpoint: refused"},
	}))
	assert.Equal(t, ""+
		"OK    config                        bdr.yaml\n"+
		"FAIL  regions.primary.object_store  bucket b at http://127.0.0.1:9  regions.primary.object_store.endpoint: refused\n",
		buf.String())
}

// TestStatusShowsTheUploadHoldingTheWatermark: an upload holding the watermark back (an
// abandoned one holds it forever and blocks a switchover) is named, with what to do.
func TestStatusShowsTheUploadHoldingTheWatermark(t *testing.T) {
	sts := sampleStatuses()[:1]
	sts[0].LastError = ""
	sts[0].HeldBy = "bottomless_db_folder/1/blob_9 (multipart upload started 2025-03-04T01:00:00Z)"
	var buf bytes.Buffer
	require.NoError(t, writeStatusTable(&buf, sts))
	assert.Contains(t, buf.String(), "\nbottomless_db primary→secondary watermark held back by bottomless_db_folder/1/blob_9 (multipart upload started 2025-03-04T01:00:00Z) until it completes; if it was abandoned, abort it (an AbortIncompleteMultipartUpload lifecycle rule")
	buf.Reset()
	require.NoError(t, writeStatusLines(&buf, time.Date(2025, 3, 4, 5, 6, 8, 0, time.UTC), sts))
	assert.Contains(t, buf.String(), " held-by bottomless_db_folder/1/blob_9 (multipart upload started 2025-03-04T01:00:00Z)\n")
}

func TestFormatAge(t *testing.T) {
	assert.Equal(t, "0s", formatAge(-time.Second), "clocks that disagree: no negative age")
	assert.Equal(t, "45s", formatAge(45*time.Second))
	assert.Equal(t, "12m", formatAge(12*time.Minute+30*time.Second))
	assert.Equal(t, "47h", formatAge(47*time.Hour))
	assert.Equal(t, "3d", formatAge(80*time.Hour))
	assert.Equal(t, "-", formatTimeNano(time.Time{}))
	assert.Equal(t, "2025-03-04T05:06:07.89Z", formatTimeNano(time.Date(2025, 3, 4, 5, 6, 7, 890_000_000, time.UTC)))
}
