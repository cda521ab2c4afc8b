package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// Drill targets on this machine (issue 5): the branch's ATTACH, and the whole drill of a
// 10,000-blob database from its start to its report.
const (
	drillAttachTarget = 5 * time.Second
	drillTarget       = 30 * time.Second
)

// drillValidate is the drill's validation query: the branch is its default database.
const drillValidate = "SELECT COUNT(*) FROM t"

// drillDatabase is the database drilled.
var drillDatabase = config.Database{Name: "drill_db", RootPath: "drill_db"}

// drillResult is one drill's measured times, what it branched and the copy's rate beside the
// raw-PUT ceiling's of the same run.
type drillResult struct {
	Commits int `json:"commits"` // in the database, one log blob each
	// AttachSeconds is the branch's ATTACH; CopySeconds its server-side copy; DrillSeconds the
	// whole drill from its start to its report (clean-up excluded); CleanupSeconds the DETACH
	// and the deletion of the branch.
	AttachSeconds  float64 `json:"attachSeconds"`
	CopySeconds    float64 `json:"copySeconds"`
	DrillSeconds   float64 `json:"drillSeconds"`
	CleanupSeconds float64 `json:"cleanupSeconds"`
	// Blobs and Bytes are what the branch holds; Copied and Resumed split Blobs by attempt.
	Blobs   int64 `json:"blobs"`
	Bytes   int64 `json:"bytes"`
	Copied  int64 `json:"copied"`
	Resumed int64 `json:"resumed,omitempty"`
	// CopyBlobsPerSec is Blobs over CopySeconds; RawBlobsPerSec the raw-PUT ceiling's rate in
	// the small initial-sync run of the same bench (its blobs are -small-size, not log blobs),
	// 0 when that run did not happen.
	CopyBlobsPerSec float64 `json:"copyBlobsPerSec"`
	RawBlobsPerSec  float64 `json:"rawCeilingBlobsPerSec,omitempty"`
	RawBlobs        int     `json:"rawCeilingBlobs,omitempty"`
	RawBlobSize     int64   `json:"rawCeilingBlobSize,omitempty"`
	// Counted is what the validation query counted on the branch: the rows at the watermark.
	Counted      int64            `json:"counted"`
	AttachTarget float64          `json:"attachTargetSeconds"`
	DrillTarget  float64          `json:"drillTargetSeconds"`
	Steps        []workflows.Step `json:"steps"`
	Error        string           `json:"error,omitempty"`
}

// runDrill measures a DR drill (TestFailover, through bdr drill run) of a stand-in database of
// `commits` single-row commits replicated to the secondary, on a stack of its own with the
// default replication settings, cleaned up at once. The error is for a drill that could not be
// started; a drill that ran and failed is a result with its error.
func runDrill(ctx context.Context, commits int) (*drillResult, error) {
	s, err := startReplicated(ctx, "drill", []config.Database{drillDatabase}, commits)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	res := &drillResult{Commits: commits, AttachTarget: drillAttachTarget.Seconds(), DrillTarget: drillTarget.Seconds()}
	logf("drill: a drill of %s in secondary", drillDatabase.Name)
	out, runErr := s.Bdr(ctx, "--json", "drill", "run", drillDatabase.Name, "--to", "secondary",
		"--validate", drillValidate, "--keep-rows")
	var dr workflows.DrillResult
	if err := json.Unmarshal(out, &dr); err != nil {
		// No report: the drill could not run (the error says why) or bdr printed something else.
		if runErr != nil {
			res.Error = runErr.Error()
		} else {
			res.Error = fmt.Sprintf("%v: %s", err, out)
		}
		return res, nil
	}
	res.AttachSeconds, res.CopySeconds, res.DrillSeconds, res.CleanupSeconds = dr.AttachSeconds, dr.CopySeconds, dr.DrillSeconds, dr.CleanupSeconds
	res.Blobs, res.Bytes, res.Copied, res.Resumed = dr.Branched.Objects, dr.Branched.Bytes, dr.Branched.Copied, dr.Branched.Resumed
	res.Steps = dr.Steps
	if res.CopySeconds > 0 {
		res.CopyBlobsPerSec = float64(res.Blobs) / res.CopySeconds
	}
	if len(dr.Validation) > 0 && len(dr.Validation[0].FirstRow) > 0 {
		res.Counted, _ = strconv.ParseInt(dr.Validation[0].FirstRow[0], 10, 64)
	}
	switch {
	case !dr.Passed:
		res.Error = "drill failed: " + dr.Reason
	case !dr.CleanedUp:
		res.Error = "the drill's branch was not cleaned up"
	}
	return res, nil
}

// drillTable is the drill's part of the table on stdout.
func drillTable(r *drillResult) string {
	var b []byte
	b = fmt.Appendf(b, "\ndrill of a database of %d commits into secondary (stand-in, default settings, cleaned up at once)\n", r.Commits)
	if r.Error != "" {
		b = fmt.Appendf(b, "  FAILED: %s\n", r.Error)
		if len(r.Steps) == 0 {
			return string(b) // no report: nothing was measured
		}
	}
	b = fmt.Appendf(b, "  %-12s %6.2fs (target < %.0fs: %s)\n", "attach", r.AttachSeconds, r.AttachTarget, verdict(r.AttachSeconds, r.AttachTarget))
	b = fmt.Appendf(b, "  %-12s %6.2fs (target < %.0fs: %s), the branch counted %d rows\n", "whole drill", r.DrillSeconds, r.DrillTarget,
		verdict(r.DrillSeconds, r.DrillTarget), r.Counted)
	ceiling := "n/a (the initial-sync runs did not measure it)"
	if r.RawBlobsPerSec > 0 {
		ceiling = fmt.Sprintf("%.0f blobs/s (%d x %s)", r.RawBlobsPerSec, r.RawBlobs, sizeString(r.RawBlobSize))
	}
	b = fmt.Appendf(b, "  %-12s %6.2fs, %d blobs (%.1f MiB, %d copied, %d resumed) at %.0f blobs/s; raw-PUT ceiling %s\n", "branch copy",
		r.CopySeconds, r.Blobs, mib(r.Bytes), r.Copied, r.Resumed, r.CopyBlobsPerSec, ceiling)
	b = fmt.Appendf(b, "  %-12s %6.2fs\n", "clean-up", r.CleanupSeconds)
	for _, st := range r.Steps {
		b = fmt.Appendf(b, "      %-44s %6.2fs\n", st.Name, st.Seconds)
	}
	return string(b)
}

// verdict is a time against its target, as the RTO lines say it.
func verdict(seconds, target float64) string {
	if seconds < target {
		return "met"
	}
	return "MISSED"
}
