package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"
)

// runResult is one contender's initial sync of one dataset.
type runResult struct {
	Name          string             `json:"name"`
	Contender     string             `json:"contender"`
	Objects       int                `json:"objects"`
	Bytes         int64              `json:"bytes"`
	Seconds       float64            `json:"seconds"`
	ObjectsPerSec float64            `json:"objectsPerSec"`
	MiBPerSec     float64            `json:"mibPerSec"`
	CPUSeconds    map[string]float64 `json:"cpuSeconds,omitempty"`
	Temporal      *timeline          `json:"temporal,omitempty"` // bottomless-dr only
	Error         string             `json:"error,omitempty"`
}

func (r *runResult) setRate(elapsed time.Duration) {
	r.Seconds = elapsed.Seconds()
	r.ObjectsPerSec = float64(r.Objects) / r.Seconds
	r.MiBPerSec = float64(r.Bytes) / (1 << 20) / r.Seconds
}

// target is one of DESIGN's goals next to what was measured.
type target struct {
	Name     string  `json:"name"`
	Want     string  `json:"want"`
	Measured float64 `json:"measured"`
	Pass     bool    `json:"pass"`
	Missing  bool    `json:"missing,omitempty"` // a run it needs failed
}

// report is results.json.
type report struct {
	Date    string `json:"date"`
	Machine struct {
		Cores int    `json:"cores"`
		Go    string `json:"go"`
		CPU   string `json:"cpu,omitempty"`
		OS    string `json:"os"`
	} `json:"machine"`
	Params struct {
		Quick       bool   `json:"quick"`
		Concurrency int    `json:"concurrency"`
		Rclone      string `json:"rclone"`
	} `json:"params"`
	Runs []runResult `json:"runs"`
	// Ratios are, per initial-sync set, bottomless-dr's rate over a peer's (higher is
	// better), and under "lag" the data-in-the-target lag of each steady-lag run of
	// bottomless-dr over MinIO replication's and over the run before it, which lacks the one
	// thing it adds ("arrived-p99 bdr-notifications/bdr": with notifications over early copies
	// alone; lower is better).
	Ratios map[string]map[string]float64 `json:"ratios"`
	Lag    *lagResult                    `json:"lag,omitempty"`
	// LagWithoutEarly is the same load with replication.early_copies off, run just before.
	LagWithoutEarly *lagResult `json:"lagWithoutEarly,omitempty"`
	LagError        string     `json:"lagError,omitempty"`
	// LagNotifications is the same load with bucket notifications too (early copies on), run
	// just after Lag; LagNotificationsError says why it failed (none taken included).
	LagNotifications      *lagResult `json:"lagNotifications,omitempty"`
	LagNotificationsError string     `json:"lagNotificationsError,omitempty"`
	// LagMinIO is the same load through MinIO's own bucket replication, run just after.
	LagMinIO      *minioLagResult `json:"lagMinioReplication,omitempty"`
	LagMinIOError string          `json:"lagMinioReplicationError,omitempty"`
	// Failovers are the RTO runs: a planned switchover and an unplanned failover.
	Failovers     []failoverResult `json:"failovers,omitempty"`
	FailoverError string           `json:"failoverError,omitempty"`
	// Drill is the DR drill run (TestFailover) with its attach and whole-drill targets.
	Drill      *drillResult `json:"drill,omitempty"`
	DrillError string       `json:"drillError,omitempty"`
	// Failback is the failback run (bdr failback --switchback after an unplanned failover)
	// with its copied-back and switchback targets.
	Failback      *failbackResult `json:"failback,omitempty"`
	FailbackError string          `json:"failbackError,omitempty"`
	Targets       []target        `json:"targets"`
	PprofTop      string          `json:"pprofTop,omitempty"`
}

func newReport(o options) *report {
	r := &report{Date: time.Now().UTC().Format(time.RFC3339), Ratios: map[string]map[string]float64{}}
	r.Machine.Cores, r.Machine.Go, r.Machine.CPU = runtime.NumCPU(), runtime.Version(), cpuModel()
	r.Machine.OS = runtime.GOOS + "/" + runtime.GOARCH
	r.Params.Quick, r.Params.Concurrency, r.Params.Rclone = o.quick, o.concurrency, rcloneModule
	return r
}

func (r *report) add(run runResult) { r.Runs = append(r.Runs, run) }

func (r *report) run(set, contender string) *runResult {
	for i := range r.Runs {
		if r.Runs[i].Name == "initial-sync-"+set && r.Runs[i].Contender == contender && r.Runs[i].Error == "" {
			return &r.Runs[i]
		}
	}
	return nil
}

func (r *report) failed() int {
	n := 0
	for _, run := range r.Runs {
		if run.Error != "" {
			n++
		}
	}
	for _, e := range []string{r.LagError, r.LagNotificationsError, r.LagMinIOError} {
		if e != "" {
			n++
		}
	}
	return n
}

// finish computes the ratios (one contender's rate over another's) and judges the targets.
// plain-copy/raw is what any copy reaches of the ceiling here: it tells how much of a bdr/raw
// miss is the copying itself (each byte read from one store and written to the other).
func (r *report) finish() {
	goals := map[string]map[string]float64{
		"small": {"bdr/rclone": 1.2, "bdr/raw": 0.8},
		"large": {"bdr/rclone": 1.0, "bdr/raw": 0.8},
	}
	for _, set := range []string{"small", "large"} {
		ratios := map[string]float64{}
		for _, pair := range []struct{ key, of, over string }{
			{"bdr/rclone", contenderBdr, contenderRclone}, {"bdr/raw", contenderBdr, contenderRaw},
			{"bdr/plain-copy", contenderBdr, contenderPlainCopy}, {"plain-copy/raw", contenderPlainCopy, contenderRaw},
			{"bdr/inprocess", contenderBdr, contenderInproc},
		} {
			of, over := r.run(set, pair.of), r.run(set, pair.over)
			if of != nil && over != nil {
				ratios[pair.key] = over.Seconds / of.Seconds
			}
		}
		if len(ratios) > 0 {
			r.Ratios[set] = ratios
		}
		if r.run(set, contenderBdr) == nil && r.run(set, contenderRaw) == nil {
			continue // the set did not run
		}
		for _, key := range []string{"bdr/rclone", "bdr/raw"} {
			want := goals[set][key]
			got, ok := ratios[key]
			r.Targets = append(r.Targets, target{Name: set + " " + key, Want: fmt.Sprintf(">= %.1fx", want),
				Measured: got, Pass: ok && got >= want, Missing: !ok})
		}
	}
	for _, f := range r.Failovers {
		r.Targets = append(r.Targets, target{Name: f.Mode + " failover RTO (s)", Want: fmt.Sprintf("< %.0fs", f.Target),
			Measured: f.RTOSeconds, Pass: f.Error == "" && f.RTOSeconds < f.Target, Missing: f.Error != ""})
	}
	if d := r.Drill; d != nil {
		if raw := r.run("small", contenderRaw); raw != nil {
			d.RawBlobsPerSec, d.RawBlobs, d.RawBlobSize = raw.ObjectsPerSec, raw.Objects, raw.Bytes/int64(raw.Objects)
		}
		// A drill that failed before its ATTACH, or before its report, did not measure that time.
		attached, reported := d.AttachSeconds > 0, d.DrillSeconds > 0
		r.Targets = append(r.Targets,
			target{Name: "drill attach (s)", Want: fmt.Sprintf("< %.0fs", d.AttachTarget),
				Measured: d.AttachSeconds, Pass: attached && d.AttachSeconds < d.AttachTarget, Missing: !attached},
			target{Name: "drill whole (s)", Want: fmt.Sprintf("< %.0fs", d.DrillTarget),
				Measured: d.DrillSeconds, Pass: d.Error == "" && reported && d.DrillSeconds < d.DrillTarget, Missing: !reported})
	}
	if f := r.Failback; f != nil {
		r.Targets = append(r.Targets, failbackTargets(f)...)
	}
	r.lagAgainstMinIO()
	if r.Lag != nil {
		limit := r.Lag.SettleWindow + 1
		r.Targets = append(r.Targets, target{Name: "lag p99 (s)", Want: fmt.Sprintf("<= %.0fs (settle window + 1s)", limit),
			Measured: r.Lag.P99, Pass: r.Lag.P99 <= limit})
		if r.Lag.FolderBlobs >= 100000 {
			peak := 0.0
			for _, b := range r.bdrLags() {
				peak = max(peak, b.l.WorkerPeakMiB)
			}
			r.Targets = append(r.Targets, target{Name: fmt.Sprintf("worker memory at %dk blobs (MiB)", r.Lag.FolderBlobs/1000),
				Want: "< 256 MiB", Measured: peak, Pass: peak > 0 && peak < 256, Missing: peak == 0})
		}
	}
}

// bdrLag is one steady-lag run of bottomless-dr as the report names it.
type bdrLag struct {
	name string // its row in the lag table, after "bottomless-dr, "
	key  string // its name in Ratios["lag"]
	l    *lagResult
	// prev is the run before it, which lacks the one thing it adds; nil when that run was
	// not measured.
	prev *bdrLag
}

// bdrLags returns bottomless-dr's steady-lag runs that were measured, in the order they ran.
func (r *report) bdrLags() []bdrLag {
	all := []bdrLag{
		{name: "no early copies", key: "bdr-without-early", l: r.LagWithoutEarly},
		{name: "early copies", key: "bdr", l: r.Lag},
		{name: "notifications", key: "bdr-notifications", l: r.LagNotifications},
	}
	var runs []bdrLag
	for i, b := range all {
		if b.l == nil {
			continue
		}
		if i > 0 && all[i-1].l != nil {
			b.prev = &all[i-1]
		}
		runs = append(runs, b)
	}
	return runs
}

// bestLag is bottomless-dr's best configuration that was run: with notifications when that
// run was measured, else with early copies (the default; l is nil if that was not measured
// either).
func (r *report) bestLag() bdrLag {
	runs := r.bdrLags()
	if n := len(runs); n > 0 && runs[n-1].l.Notifications {
		return runs[n-1]
	}
	return bdrLag{name: "early copies", key: "bdr", l: r.Lag}
}

// lagAgainstMinIO sets the ratios of each bottomless-dr run's data-in-the-target lag over
// MinIO replication's and over the run before it, and judges the target: the p99 of
// bottomless-dr's best configuration that was run (bestLag) at most MinIO's in the same run.
// All were measured alike, by listing the target. Without a MinIO run asked for, there is no
// target.
func (r *report) lagAgainstMinIO() {
	ratios := map[string]float64{}
	set := func(pair string, of, over lagQuantiles) {
		if over.P50 > 0 {
			ratios["arrived-p50 "+pair] = of.P50 / over.P50
		}
		if over.P99 > 0 {
			ratios["arrived-p99 "+pair] = of.P99 / over.P99
		}
	}
	m := r.LagMinIO
	for _, b := range r.bdrLags() {
		if b.prev != nil {
			set(b.key+"/"+b.prev.key, b.l.Arrived, b.prev.l.Arrived)
		}
		if m != nil {
			set(b.key+"/minio", b.l.Arrived, m.Arrived)
		}
	}
	if len(ratios) > 0 {
		r.Ratios["lag"] = ratios
	}
	if m == nil && r.LagMinIOError == "" {
		return
	}
	best := r.bestLag()
	got, ok := ratios["arrived-p99 "+best.key+"/minio"]
	r.Targets = append(r.Targets, target{Name: "lag data in target p99 (" + best.name + ") / MinIO replication's", Want: "<= 1.0x",
		Measured: got, Pass: ok && best.l.Arrived.P99 <= m.Arrived.P99, Missing: !ok})
}

// print writes the human-readable report.
func (r *report) print(out io.Writer) {
	fmt.Fprintf(out, "\nbottomless-dr bench  %s  %d cores (%s)  %s  concurrency %d\n\n",
		r.Date, r.Machine.Cores, r.Machine.CPU, r.Machine.Go, r.Params.Concurrency)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "run\tcontender\tobjects\tMiB\tseconds\tobj/s\tMiB/s\t")
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\tFAILED\t-\t-\t\n", run.Name, run.Contender, run.Objects, mib(run.Bytes))
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.0f\t%.2f\t%.1f\t%.1f\t\n", run.Name, run.Contender, run.Objects,
			mib(run.Bytes), run.Seconds, run.ObjectsPerSec, run.MiBPerSec)
	}
	_ = tw.Flush()

	fmt.Fprintf(out, "\nratios (bottomless-dr's rate / the other's) and DESIGN 9's targets\n")
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		verdict, measured := "MISS", fmt.Sprintf("%.2fx", t.Measured)
		if t.Pass {
			verdict = "PASS"
		}
		if t.Missing {
			verdict, measured = "n/a", "-"
		}
		if strings.HasSuffix(t.Name, "(s)") && !t.Missing {
			measured = fmt.Sprintf("%.2fs", t.Measured) // seconds, not a ratio
		}
		if strings.HasSuffix(t.Name, "(MiB)") && !t.Missing {
			measured = fmt.Sprintf("%.0f MiB", t.Measured)
		}
		fmt.Fprintf(tw, "  %s\t%s\ttarget %s\t%s\n", t.Name, measured, t.Want, verdict)
	}
	_ = tw.Flush()
	for _, set := range []string{"small", "large"} {
		if v, ok := r.Ratios[set]["plain-copy/raw"]; ok {
			fmt.Fprintf(out, "  %s plain-copy/raw %.2fx: what a bare GET->PUT copy reaches of the ceiling here; bdr/plain-copy %.2fx\n",
				set, v, r.Ratios[set]["bdr/plain-copy"])
		}
		if v, ok := r.Ratios[set]["bdr/inprocess"]; ok {
			fmt.Fprintf(out, "  %s bdr/inprocess %.2fx: the Temporal path's rate over the same Sync run in this process\n", set, v)
		}
	}
	for _, run := range r.Runs {
		if t := run.Temporal; t != nil {
			fmt.Fprintf(out, "  %s bottomless-dr in Temporal: %.2fs until the first Sync was scheduled, %d Sync call(s) %.2fs"+
				" (the first, which checks the target before each copy, %.2fs), %.2fs from the last Sync until the workflow folded it\n",
				strings.TrimPrefix(run.Name, "initial-sync-"), t.UntilFirstSync, t.Syncs, t.InSyncs, t.FirstSync, t.AfterLastSync)
			for _, f := range t.FailedSyncs {
				fmt.Fprintf(out, "    a Sync failed before that: %s\n", f)
			}
		}
	}

	if r.Lag != nil {
		l := r.Lag
		fmt.Fprintf(out, "\nsteady lag: %d blobs at %.0f blobs/s x %d KiB, settle_window %.0fs, poll_interval %.0fs (watermark read every %s)\n",
			l.Blobs, l.BlobsPerSec, lagSize>>10, l.SettleWindow, l.PollInterval, l.Resolution)
		fmt.Fprint(out, lagTable(r.bdrLags(), r.LagMinIO))
		fmt.Fprintf(out, "  folder %d blobs at the end; worker peak memory %.0f MiB\n", l.FolderBlobs, l.WorkerPeakMiB)
		if b := r.LagWithoutEarly; b != nil {
			fmt.Fprintf(out, "  without early copies (run just before, %d blobs): worker peak memory %.0f MiB (its initial sync of the folder included)\n",
				b.Blobs, b.WorkerPeakMiB)
		}
		for _, q := range l.ByQuarter {
			fmt.Fprintf(out, "  written %4.0fs-%4.0fs (folder then %5d blobs): watermark p50 %.2fs  p99 %.2fs\n",
				q.FromSecond, q.ToSecond, q.FolderBlobs, q.P50, q.P99)
		}
		fmt.Fprintf(out, "  %d Sync calls, %.2fs each on average, %.3fs from one's end to the next one's start (poll_interval %.0fs at most);"+
			" %d listings of the source, %.1f LIST requests each\n", l.Syncs, l.MeanSync, l.MeanBetween, l.PollInterval, l.Listings, l.RequestsPerRound)
		fmt.Fprintf(out, "  CPU seconds while the load ran:%s\n", cpuList(l.CPU))
		if n := r.LagNotifications; n != nil {
			fmt.Fprintf(out, "  with notifications (run just after, %d blobs): the worker took %d notifications (bdr_notifications_received_total);"+
				" %d Sync calls, %.2fs each on average; %d listings of the source; worker peak memory %.0f MiB; CPU seconds while the load ran:%s\n",
				n.Blobs, n.NotificationsReceived, n.Syncs, n.MeanSync, n.Listings, n.WorkerPeakMiB, cpuList(n.CPU))
			fmt.Fprintf(out, "  with notifications, the slowest 1%% of blobs: %.0f%% written within %s of one Sync's end and the next one's start (all blobs: %.0f%%)\n",
				100*n.SlowAtTurnover, turnoverMargin, 100*n.AllAtTurnover)
		}
	} else if r.LagError != "" {
		fmt.Fprintf(out, "\nsteady lag: FAILED: %s\n", r.LagError)
	}
	if r.Lag == nil && r.LagMinIO != nil {
		fmt.Fprintf(out, "\nsteady lag:\n%s", lagTable(r.bdrLags(), r.LagMinIO))
	}
	if r.LagNotificationsError != "" {
		fmt.Fprintf(out, "\nsteady lag, bottomless-dr with notifications: FAILED: %s\n", r.LagNotificationsError)
	}
	if r.LagMinIOError != "" {
		fmt.Fprintf(out, "\nsteady lag, MinIO bucket replication: FAILED: %s\n", r.LagMinIOError)
	}

	fmt.Fprintf(out, "\nwhere the time goes: CPU seconds per process during each run (%d cores = %d CPU-s per wall second)\n",
		r.Machine.Cores, r.Machine.Cores)
	tw = tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "run\tcontender\twall s\t%s\t\n", strings.Join(cpuProcesses, "\t"))
	for _, run := range r.Runs {
		fmt.Fprintf(tw, "%s\t%s\t%.1f\t", run.Name, run.Contender, run.Seconds)
		for _, p := range cpuProcesses {
			if v, ok := run.CPUSeconds[p]; ok {
				fmt.Fprintf(tw, "%.1f\t", v)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintln(tw)
	}
	_ = tw.Flush()

	if len(r.Failovers) > 0 {
		fmt.Fprint(out, failoverTable(r.Failovers))
	}
	if r.FailoverError != "" {
		fmt.Fprintf(out, "\nfailover RTO: FAILED: %s\n", r.FailoverError)
	}
	if r.Drill != nil {
		fmt.Fprint(out, drillTable(r.Drill))
	}
	if r.DrillError != "" {
		fmt.Fprintf(out, "\ndrill: FAILED: %s\n", r.DrillError)
	}
	if r.Failback != nil {
		fmt.Fprint(out, failbackTable(r.Failback))
	}
	if r.FailbackError != "" {
		fmt.Fprintf(out, "\nfailback: FAILED: %s\n", r.FailbackError)
	}
	if r.PprofTop != "" {
		fmt.Fprintf(out, "\nbdr in-process small sync, CPU profile of this process (bench/cpu.pprof), top 15:\n%s\n", r.PprofTop)
	}
	for _, run := range r.Runs {
		if run.Error != "" {
			fmt.Fprintf(out, "\n%s / %s failed: %s\n", run.Name, run.Contender, run.Error)
		}
	}
}

// lagTable sets the steady-lag contenders side by side, bottomless-dr's runs in the order they
// ran and then MinIO's (nil if it did not run): per blob, from its source LastModified until
// its copy was in the target and until the target's watermark passed it. MinIO's row has no
// watermark: MinIO replicates without order and proves no prefix complete. Below it,
// bottomless-dr's copies timed by their LastModified in the target (what the listing's
// polling adds), and the ratios: each run over the one before it, and over MinIO.
func lagTable(runs []bdrLag, m *minioLagResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  data in the target: until a listing of the target (every %s, the same for all) first showed the copy\n", arrivalPoll)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	// The names are padded here so that they stay left-aligned in a right-aligned table.
	fmt.Fprintf(tw, "  %-30s\tdata in target p50\tp99\tmax\twatermark p50\tp99\tmax\t\n", "")
	for _, r := range runs {
		l := r.l
		fmt.Fprintf(tw, "  %-30s\t%.2fs\t%.2fs\t%.2fs\t%.2fs\t%.2fs\t%.2fs\t\n", "bottomless-dr, "+r.name,
			l.Arrived.P50, l.Arrived.P99, l.Arrived.Max, l.P50, l.P99, l.Max)
	}
	if m != nil {
		fmt.Fprintf(tw, "  %-30s\t%.2fs\t%.2fs\t%.2fs\t-\t-\t-\t\n", "MinIO bucket replication", m.Arrived.P50, m.Arrived.P99, m.Arrived.Max)
	}
	_ = tw.Flush()
	if m != nil {
		fmt.Fprintf(&b, "  MinIO bucket replication has no watermark (it copies without order and proves no prefix complete): data in the target only; %d blobs at %.0f blobs/s\n",
			m.Blobs, m.BlobsPerSec)
		fmt.Fprintf(&b, "  MinIO bucket replication, CPU seconds while its load ran:%s\n", cpuList(m.CPU))
		if m.NotArrived > 0 {
			fmt.Fprintf(&b, "  MinIO bucket replication: %d blobs not in the target a minute after the load (counted as arriving then)\n", m.NotArrived)
		}
	}
	for _, r := range runs {
		if r.l.NotArrived > 0 {
			fmt.Fprintf(&b, "  bottomless-dr, %s: %d blobs not seen in a listing of the target 10 s after the watermark passed them\n",
				r.name, r.l.NotArrived)
		}
	}
	for _, r := range runs {
		fmt.Fprintf(&b, "  bottomless-dr, %s, by its copies' LastModified in the target instead: p50 %.2fs  p99 %.2fs  max %.2fs\n",
			r.name, r.l.Visible.P50, r.l.Visible.P99, r.l.Visible.Max)
	}
	for _, r := range runs {
		if p := r.prev; p != nil {
			fmt.Fprintf(&b, "  data in the target, bottomless-dr (%s) / (%s): p50 %s  p99 %s\n", r.name, p.name,
				ratio(r.l.Arrived.P50, p.l.Arrived.P50), ratio(r.l.Arrived.P99, p.l.Arrived.P99))
		}
	}
	if m != nil {
		for _, r := range runs {
			fmt.Fprintf(&b, "  data in the target, bottomless-dr (%s) / MinIO replication: p50 %s  p99 %s\n",
				r.name, ratio(r.l.Arrived.P50, m.Arrived.P50), ratio(r.l.Arrived.P99, m.Arrived.P99))
		}
	}
	return b.String()
}

// cpuList is " name seconds" for each process in cpu, in cpuProcesses' order.
func cpuList(cpu map[string]float64) string {
	var b strings.Builder
	for _, name := range cpuProcesses {
		if v, ok := cpu[name]; ok {
			fmt.Fprintf(&b, " %s %.1f", name, v)
		}
	}
	return b.String()
}

// ratio is a/b as "0.50x", "-" when b is not positive.
func ratio(a, b float64) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a/b)
}

// write writes results.json.
func (r *report) write(path string) error {
	data, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// pprofTop returns `go tool pprof -top -nodecount=15` of a CPU profile, or why it could not.
func pprofTop(ctx context.Context, profile string) string {
	if _, err := os.Stat(profile); err != nil {
		return ""
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-nodecount=15", profile).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

func cpuModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(data), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimLeft(name, " \t:"))
		}
	}
	return ""
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }
