package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// rcloneModule is the pinned rclone the benchmark compares against (DESIGN 10).
const rcloneModule = "github.com/rclone/rclone@v1.76.0"

// Contender names, as they appear in the table and in results.json.
const (
	contenderRaw    = "raw-put-ceiling"
	contenderRclone = "rclone"
	// contenderPlainCopy is the least a copy between the two stores can do (runPlainCopy).
	contenderPlainCopy = "plain-copy"
	contenderBdr       = "bottomless-dr"
	contenderInproc    = "bdr-inprocess"
	// contenderInprocNoCheck is bdr-inprocess without the first sync's check of the target.
	contenderInprocNoCheck = "bdr-inprocess-nocheck"
)

// contender is one way of copying a dataset; run returns the time it took.
type contender struct {
	name string
	run  func(context.Context, dataset) (time.Duration, error)
}

// dataset is one initial-sync workload: count blobs of size bytes under root/ in the source,
// replicated by bottomless-dr as database.
type dataset struct {
	name     string // small, large
	database string
	root     string
	count    int
	size     int64
}

func (d dataset) bytes() int64 { return int64(d.count) * d.size }

// key returns the source key of blob i.
func (d dataset) key(i int) string { return fmt.Sprintf("%s/0001/%08d", d.root, i) }

// run measures everything the options ask for and writes the report. It returns an error
// when the environment could not start or a run could not be measured; a missed target is
// not an error.
func run(ctx context.Context, o options) error {
	outDir := o.out
	if outDir == "" {
		root, err := stack.ModuleRoot()
		if err != nil {
			return err
		}
		outDir = filepath.Join(root, "bench")
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	dir, err := os.MkdirTemp("", "bdr-bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer os.RemoveAll(dir)

	// rclone takes minutes to build the first time: build it while the servers start.
	type built struct {
		path string
		err  error
	}
	rclone := make(chan built, 1)
	go func() {
		path, err := stack.EnsureBinary(ctx, "rclone", rcloneModule)
		rclone <- built{path, err}
	}()

	logf("starting Temporal, two MinIO servers and the worker in %s", dir)
	e, err := startEnv(ctx, dir, o)
	if err != nil {
		return err
	}
	defer e.stop()
	rb := <-rclone
	if rb.err != nil {
		logf("rclone unavailable, its runs are skipped: %v", rb.err)
	}

	// The first PUTs into a fresh MinIO are slower than the rest (its first writes create its
	// folders and caches): a warm-up keeps that off whichever contender runs first.
	if err := e.warmUp(ctx); err != nil {
		return err
	}
	rep := newReport(o)
	sets := []dataset{{name: "small", database: "small_db", root: "small", count: o.small, size: int64(o.smallSize)}}
	if o.large > 0 {
		sets = append(sets, dataset{name: "large", database: "large_db", root: "large", count: o.large, size: int64(o.largeSize)})
	}
	for _, d := range sets {
		logf("seeding %d x %s into the source (not timed)", d.count, sizeString(d.size))
		if err := e.seed(ctx, d); err != nil {
			return err
		}
		contenders := []contender{
			{contenderRaw, e.runRaw},
			{contenderPlainCopy, e.runPlainCopy},
			{contenderRclone, func(ctx context.Context, d dataset) (time.Duration, error) {
				if rb.err != nil {
					return 0, fmt.Errorf("rclone not built: %w", rb.err)
				}
				return e.runRclone(ctx, rb.path, d)
			}},
			{contenderBdr, e.runBdr},
		}
		if o.inproc {
			profile := ""
			if d.name == "small" {
				profile = filepath.Join(outDir, "cpu.pprof")
			}
			contenders = append(contenders,
				contender{contenderInproc, func(ctx context.Context, d dataset) (time.Duration, error) {
					return e.runInproc(ctx, d, true, profile)
				}},
				contender{contenderInprocNoCheck, func(ctx context.Context, d dataset) (time.Duration, error) {
					return e.runInproc(ctx, d, false, "")
				}})
		}
		for _, c := range contenders {
			r := e.measure(ctx, d, c.name, c.run)
			rep.add(r)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	if o.lagDuration > 0 {
		if o.lagFolder > 0 {
			base := dataset{name: "lag-folder", database: lagDatabase, root: lagRoot + "/base", count: o.lagFolder, size: 1 << 10}
			if err := e.seed(ctx, base); err != nil {
				return err
			}
		}
		// Side by side: without early copies, with them (the default), then with bucket
		// notifications too.
		setups := []lagSetup{lagWithoutEarly, lagEarly}
		if o.notifications {
			setups = append(setups, lagNotifications)
		}
		for _, s := range setups {
			logf("steady lag: %s of 200 blobs/s x 16 KiB with the default settle window and poll interval, early_copies %v, notifications %v",
				o.lagDuration, s.earlyCopies, s.notifications)
			lag, err := e.runLag(ctx, o.lagDuration, s)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				if s.notifications {
					rep.LagNotificationsError = err.Error()
				} else {
					rep.LagError = err.Error()
				}
				logf("steady lag: %v", err)
				break
			}
			switch s {
			case lagWithoutEarly:
				rep.LagWithoutEarly = &lag
			case lagEarly:
				rep.Lag = &lag
			case lagNotifications:
				rep.LagNotifications = &lag
			}
			// The next run lists the same folder as this one did, not this run's blobs too:
			// every round lists the whole folder, so they would slow it down.
			if err := e.clearLagPart(ctx, s.part); err != nil {
				return err
			}
		}
		if o.minioReplication {
			logf("steady lag: %s of the same load through MinIO's own bucket replication (%s -> %s)", o.lagDuration, minioReplSource, minioReplTarget)
			lag, err := e.runMinIOReplicationLag(ctx, o.lagDuration)
			if err != nil {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				rep.LagMinIOError = err.Error()
				logf("steady lag: %v", err)
			} else {
				rep.LagMinIO = &lag
			}
		}
	}
	if o.failoverCommits > 0 {
		logf("failover RTO: a planned switchover and an unplanned failover of %d-commit databases (a stack of their own)", o.failoverCommits)
		failovers, err := runFailovers(ctx, o.failoverCommits)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.FailoverError = err.Error()
			logf("failover RTO: %v", err)
		}
		rep.Failovers = failovers
	}
	if o.drillCommits > 0 {
		logf("drill: a DR drill (TestFailover) of a %d-commit database (a stack of its own)", o.drillCommits)
		drill, err := runDrill(ctx, o.drillCommits)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.DrillError = err.Error()
			logf("drill: %v", err)
		}
		rep.Drill = drill
	}
	if o.failbackCommits > 0 {
		logf("failback: a failback of a %d-commit database after %d new in the secondary (a stack of its own)", o.failbackCommits, o.failbackNew)
		failback, err := runFailback(ctx, o.failbackCommits, o.failbackNew)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.FailbackError = err.Error()
			logf("failback: %v", err)
		}
		rep.Failback = failback
	}
	if o.inproc {
		rep.PprofTop = pprofTop(ctx, filepath.Join(outDir, "cpu.pprof"))
	}
	rep.finish()
	rep.print(os.Stdout)
	path := filepath.Join(outDir, "results.json")
	if err := rep.write(path); err != nil {
		return err
	}
	logf("wrote %s", path)
	if n := rep.failed(); n > 0 {
		return fmt.Errorf("%d run(s) could not be measured (see the table)", n)
	}
	return nil
}

// measure runs one contender on one dataset, with the process CPU counted around it, and
// checks that the target holds every blob afterwards.
func (e *env) measure(ctx context.Context, d dataset, contender string, fn func(context.Context, dataset) (time.Duration, error)) runResult {
	r := runResult{Name: "initial-sync-" + d.name, Contender: contender, Objects: d.count, Bytes: d.bytes()}
	// Dirty pages of the previous run (or the seeding) are flushed first, so that no run pays
	// for another's writes.
	syscall.Sync()
	logf("%s: %s ...", r.Name, contender)
	before := e.cpu()
	elapsed, err := fn(ctx, d)
	after := e.cpu()
	r.CPUSeconds = after.minus(before)
	if contender == contenderBdr {
		r.Temporal = e.timelines[d.name]
	}
	if err == nil {
		err = e.checkTarget(ctx, d, contender)
	}
	if err != nil {
		r.Error = err.Error()
		logf("%s: %s: %v", r.Name, contender, err)
		return r
	}
	r.setRate(elapsed)
	logf("%s: %s: %.1fs, %.0f obj/s, %.1f MiB/s", r.Name, contender, r.Seconds, r.ObjectsPerSec, r.MiBPerSec)
	return r
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func sizeString(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
