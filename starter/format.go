package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The output formats of bdr are an interface (README.md documents them, test/e2e parses them):
// change them only together with the README.

// stateUnknown is the state bdr shows for a replication whose status query failed; the error
// is in LastError. Workflows never report it.
const stateUnknown = "unknown"

// Widths of the text renderings, chosen so a table row fits a 160-column terminal in the
// common case; errors are cut because a stack of wrapped errors would otherwise push every
// other column off screen (the full text is in --json).
const (
	progressWidth = 30
	maxErrorWidth = 60
)

// writeJSON writes v as indented JSON followed by a newline, or as one compact line when
// compact is set (one value per line is what --watch --json streams).
func writeJSON(w io.Writer, v any, compact bool) error {
	enc := json.NewEncoder(w)
	if !compact {
		enc.SetIndent("", "  ")
	}
	// Errors and keys are shown as they are: "->" in a workflow ID must not become \u003e.
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("write JSON: %w", err)
	}
	return nil
}

// formatLag formats a replication lag in seconds: "0.4s", "12s", "3m05s", "2h07m". The lag is
// the RPO right now, so sub-second precision matters only while it is small.
func formatLag(seconds float64) string {
	if seconds < 0 {
		seconds = 0 // clocks of two stores can disagree; a negative lag means "caught up"
	}
	switch s := int64(seconds); {
	case seconds < 10:
		return fmt.Sprintf("%.1fs", seconds)
	case s < 60:
		return fmt.Sprintf("%ds", s)
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	default:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
}

// formatTime formats t in UTC to the second, or "-" for the zero time (never happened).
func formatTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02T15:04:05Z")
}

// formatTimeNano formats t in UTC at full precision (a watermark is exact; seconds would
// hide MinIO's milliseconds), or "-" for the zero time.
func formatTimeNano(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// formatAge formats a duration for "… ago" and "in …": "45s", "12m", "3h", "2d".
func formatAge(d time.Duration) string {
	d = max(d, 0)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

// formatCount formats a number of objects and their size: "120 (40.0 MiB)".
func formatCount(objects, bytes int64) string {
	return fmt.Sprintf("%d (%s)", objects, units.Bytes(bytes))
}

// route is the "from→to" of a replication.
func route(from, to string) string { return from + "→" + to }

// inInitialSync reports whether s is copying its first full copy and knows how much there is,
// i.e. whether a progress bar means something.
func inInitialSync(s workflows.Status) bool {
	return !s.InitialSync.Complete && s.InitialSync.Total > 0
}

// progressBar renders done out of total as text: "[=========>          ]  45% 450/1000".
// done is clamped to [0, total] so that a racing counter never draws outside the brackets.
func progressBar(done, total int64, width int) string {
	if total <= 0 {
		return ""
	}
	done = min(max(done, 0), total)
	filled := int(done * int64(width) / total)
	bar := strings.Repeat("=", filled)
	if filled < width {
		bar += ">" + strings.Repeat(" ", width-filled-1)
	}
	return fmt.Sprintf("[%s] %3d%% %d/%d", bar, done*100/total, done, total)
}

// oneLine puts s on one line (lines of joined errors separated by "; ") and cuts it to at
// most n runes, the last being "…" when anything was cut.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n-1]) + "…"
	}
	return s
}

// orDash returns s, or "-" when s is empty, so that no table cell is blank and every row has
// the same number of whitespace-separated fields up to LAST ERROR.
func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// statusHeader is the header of the status table.
func statusHeader() []string {
	return []string{"DATABASE", "ROUTE", "STATE", "WATERMARK", "LAG", "RPO NOW", "PENDING", "COPIED", "LAST SYNC", "LAST ERROR"}
}

// statusCells are the table cells of s, in the order of statusHeader. LAG is the watermark's
// age at the last sync; RPO NOW its age by the source store's clock now, which keeps growing
// while syncs fail.
func statusCells(s statusRow) []string {
	lag := "-"
	if !s.LastSyncAt.IsZero() {
		lag = formatLag(s.LagSeconds)
	}
	rpoNow := "-"
	if s.RPONowSeconds != nil {
		rpoNow = formatLag(*s.RPONowSeconds)
	}
	return []string{
		s.Database, route(s.From, s.To), orDash(s.State), formatTime(s.Watermark.Time), lag, rpoNow,
		formatCount(s.PendingObjects, s.PendingBytes), formatCount(s.CopiedObjects, s.CopiedBytes),
		formatTime(s.LastSyncAt), orDash(oneLine(s.LastError, maxErrorWidth)),
	}
}

// tableLines renders the status table, header first, as aligned lines without newlines.
func tableLines(sts []statusRow) []string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(statusHeader(), "\t"))
	for _, s := range sts {
		fmt.Fprintln(tw, strings.Join(statusCells(s), "\t"))
	}
	_ = tw.Flush() // writes to a bytes.Buffer cannot fail
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return lines
}

// progressLine is the text progress line of a replication in initial sync:
// "bottomless_db primary→secondary initial sync [====>     ]  45% 450/1000, ETA 3m05s at 12.5 objects/s".
func progressLine(s statusRow) string {
	return fmt.Sprintf("%s %s initial sync %s%s", s.Database, route(s.From, s.To),
		progressBar(s.InitialSync.Done, s.InitialSync.Total, progressWidth), etaText(s))
}

// etaText is ", ETA <time> at <rate> objects/s" for a replication in initial sync whose copy
// rate is known, "" otherwise: no rate, no estimate.
func etaText(s statusRow) string {
	if s.InitialSyncETASeconds == nil {
		return ""
	}
	return fmt.Sprintf(", ETA %s at %.1f objects/s", formatLag(*s.InitialSyncETASeconds), s.CopyRate)
}

// writeStatusTable writes the status table of sts and, after a blank line, one text progress
// line per replication in initial sync. With no replication it writes one explanatory line
// instead of an empty table.
func writeStatusTable(w io.Writer, sts []statusRow) error {
	if len(sts) == 0 {
		_, err := fmt.Fprintln(w, "no replication is running")
		return err
	}
	var b strings.Builder
	for _, l := range tableLines(sts) {
		b.WriteString(l + "\n")
	}
	for _, s := range sts {
		if s.HeldBy != "" {
			b.WriteString(heldLine(s.Status) + "\n")
		}
		if line, ok := deletesLine(s.Status); ok {
			b.WriteString(line + "\n")
		}
	}
	first := true
	for _, s := range sts {
		if !inInitialSync(s.Status) {
			continue
		}
		if first {
			b.WriteString("\n")
			first = false
		}
		b.WriteString(progressLine(s) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// statusLine is one replication in one line, for `status --watch` when stdout is not a
// terminal: the time of the refresh, then the columns of the table as "name value" pairs.
func statusLine(now time.Time, s statusRow) string {
	c := statusCells(s)
	line := fmt.Sprintf("%s %s %s %s watermark %s lag %s rpo-now %s pending %s copied %s last-sync %s",
		formatTime(now), c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8])
	if inInitialSync(s.Status) {
		line += " initial-sync " + progressBar(s.InitialSync.Done, s.InitialSync.Total, progressWidth)
		if s.InitialSyncETASeconds != nil {
			line += " eta " + formatLag(*s.InitialSyncETASeconds)
		}
	}
	if s.HeldBy != "" {
		line += " held-by " + oneLine(s.HeldBy, 4*maxErrorWidth)
	}
	if s.LastError != "" {
		line += " error " + oneLine(s.LastError, maxErrorWidth)
	}
	return line
}

// heldLine says which upload holds a replication's watermark back, and what to do about it:
// an abandoned multipart upload holds it forever, and blocks a switchover.
func heldLine(s workflows.Status) string {
	return fmt.Sprintf("%s %s watermark held back by %s until it completes; if it was abandoned, abort it (an AbortIncompleteMultipartUpload lifecycle rule on the source bucket removes abandoned ones)",
		s.Database, route(s.From, s.To), s.HeldBy)
}

// deletesLine says what the last anti-entropy pass found of the source's deletes (DESIGN
// 5.6), when it found any: "bottomless_db primary→secondary source deletes: 12 (4.0 MiB)
// pending (next due in 23h), 3 held for milestones nightly, 40 deleted; 5 vanished before
// their copy".
func deletesLine(s workflows.Status) (string, bool) {
	var parts []string
	if v := s.LastVerify; v != nil && v.Deletes != nil {
		d := v.Deletes
		if d.Never {
			parts = append(parts, fmt.Sprintf("%d kept (delete_delay: never)", d.Kept))
		}
		if d.Pending > 0 {
			parts = append(parts, fmt.Sprintf("%s pending (next due in %s)", formatCount(int64(d.Pending), d.PendingBytes),
				formatAge(d.NextDueAt.Sub(v.At))))
		}
		if d.Held > 0 {
			parts = append(parts, fmt.Sprintf("%d held for milestones %s", d.Held, strings.Join(d.HeldBy, ", ")))
		}
		if d.DeletedTotal > 0 {
			parts = append(parts, fmt.Sprintf("%d deleted", d.DeletedTotal))
		}
	}
	if s.VanishedObjects > 0 {
		parts = append(parts, fmt.Sprintf("%d vanished before their copy", s.VanishedObjects))
	}
	if len(parts) == 0 {
		return "", false
	}
	return fmt.Sprintf("%s %s source deletes: %s", s.Database, route(s.From, s.To), strings.Join(parts, ", ")), true
}

// writeStatusLines writes statusLine for each of sts, or one line saying that nothing runs.
func writeStatusLines(w io.Writer, now time.Time, sts []statusRow) error {
	var b strings.Builder
	if len(sts) == 0 {
		b.WriteString(formatTime(now) + " no replication is running\n")
	}
	for _, s := range sts {
		b.WriteString(statusLine(now, s) + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeLastDrills writes the last drill of each of dbs, after a blank line:
// "last drill of bottomless_db: passed 2h ago, RPO 1.2s, attach 0.8s (in secondary)".
func writeLastDrills(w io.Writer, dbs []string, last map[string]*workflows.DrillResult, now time.Time) error {
	var b strings.Builder
	b.WriteString("\n")
	for _, db := range dbs {
		fmt.Fprintf(&b, "last drill of %s: %s", db, drillLine(last[db], now))
		if r := last[db]; r != nil {
			fmt.Fprintf(&b, " (in %s)", r.To)
		}
		b.WriteString("\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeFailbacks writes, after a blank line, one line per database of dbs whose failback runs
// (failbackLine); nothing when none does.
func writeFailbacks(w io.Writer, dbs []string, running map[string]*workflows.FailbackResult) error {
	var b strings.Builder
	for _, db := range dbs {
		if r := running[db]; r != nil {
			b.WriteString(failbackLine(*r) + "\n")
		}
	}
	if b.Len() == 0 {
		return nil
	}
	_, err := io.WriteString(w, "\n"+b.String())
	return err
}

// describeRoute names a replication in messages: "replication of db from primary to secondary".
func describeRoute(db, from, to string) string {
	return fmt.Sprintf("replication of %s from %s to %s", db, from, to)
}

// writeWatermark writes a watermark for humans: its time at full precision (the watermark is
// exact; seconds would hide MinIO's milliseconds) and, when known, the key it ends at.
func writeWatermark(w io.Writer, wm workflows.Watermark) error {
	t := formatTimeNano(wm.Time)
	if wm.Key != "" {
		t += " (key " + wm.Key + ")"
	}
	_, err := fmt.Fprintf(w, "watermark: %s\n", t)
	return err
}
