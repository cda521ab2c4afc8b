// Command bench is `make bench`: it measures bottomless-dr against its peers side by side, in
// one run on this machine (DESIGN 9), prints a table and writes bench/results.json.
//
// Everything runs on loopback between two MinIO servers started by test/stack, with the
// Temporal dev server and the real worker:
//
//   - Initial sync of N small blobs (default 10,000 x 64 KiB) and of a few large ones (8 x 256
//     MiB), seeded into the source first (not timed). Five contenders copy the same blobs, each
//     into a target bucket of its own:
//     "raw PUT ceiling": 32 goroutines PUT the same count and sizes from memory straight into
//     the target (no reads, no checks): nothing that copies can beat it here.
//     "plain copy": 32 goroutines stream each blob from a GET in the source into a PUT in the
//     target with the ceiling's clients (no order, no checks, one PUT per blob): the floor of
//     what copying costs, since each byte crosses loopback twice where the ceiling's crosses
//     once. plain-copy/raw tells how much of the ceiling any copy reaches on this machine.
//     "rclone copy": rclone copy --transfers 32 --checkers 32, pinned and built from the
//     module proxy.
//     "bottomless-dr": the Replicate workflow run by the worker through Temporal, timed from
//     ExecuteWorkflow until the status query shows the initial sync complete and nothing
//     pending (settle_window 1s, the least allowed, poll_interval 100ms).
//     "bdr in-process": replication.Sync called in this process with the Transfer the activity
//     uses, the small run under the CPU profiler (bench/cpu.pprof): the copy engine without
//     Temporal, so the row above minus this one is the cost of orchestration.
//   - Steady lag: replication with the default settle window and poll interval while 8 writers
//     add 200 blobs/s of 16 KiB, once without early copies, once with them (the default) and
//     (-notifications, on by default) once with bucket notifications too: the primary MinIO
//     posts an event for each new blob to the worker (a webhook target), which copies the
//     blob at once. The bucket's notifications are on during that load only, the worker
//     listens for them in that run only, and the run counts as failed if the worker's
//     /metrics shows none taken (bdr_notifications_received_total). Each run writes into a
//     sub-folder of its own, deleted afterwards, so that every run lists the same folder.
//     Per blob, the time from its source LastModified until the target's watermark passed it
//     (what a failover at that instant would have kept), and until its copy was in the
//     target. Then (-minio-replication, on by default) the same load into a bucket of its own
//     that MinIO's own bucket replication copies between the same two servers (versioning on,
//     the target set through its admin API): data in the target only, since MinIO keeps no
//     watermark (no order, no proof that a prefix is complete). Target: the data in the
//     target p99 of bottomless-dr's best configuration that ran (with notifications, else
//     early copies) <= MinIO's. A copy's arrival is when a listing of the target, every 50
//     ms, first showed it, for every contender alike: MinIO's replicas keep the source's
//     LastModified, so the target's LastModified cannot tell (bottomless-dr's by LastModified
//     are printed too, the polling's cost beside them).
//   - Failover RTO (-failover N): a planned switchover and an unplanned failover of stand-in
//     databases of N commits (one log blob each), on a stack of their own.
//   - DR drill (-drill N): TestFailover (bdr drill run --to secondary) of a stand-in database of
//     N commits on a stack of its own, cleaned up at once: its ATTACH and whole-drill times
//     against the targets, and its branch copy's rate beside the raw-PUT ceiling's.
//   - Failback (-failback N, -failback-new M): a stand-in database of N commits, replicated,
//     whose primary region is cut off from the worker (the fault layer) while it commits a
//     tail of 100 more; an unplanned failover; M commits into the secondary as the primary;
//     the region heals and bdr failback --switchback runs, on a stack of its own. Its bytes
//     copied back over the bytes the secondary wrote since the failover (target <= 1.05: the
//     larger of the failback's own figures and the same counted at the stores, by the stack's
//     request recorder and a listing), the time to build the recovered branch, the
//     switchback's RTO (target: the planned one's) and the whole failback.
//
// How to read the output: obj/s and MiB/s are higher-is-better. The ratios divide
// bottomless-dr's rate by a peer's and stand next to DESIGN's targets with PASS or MISS. The
// CPU table shows the CPU seconds each process used during each run (a 2-core machine has 2
// CPU-seconds per wall second): whoever uses most is where the time goes. The program
// reports; a MISS never changes its exit status (it exits non-zero only when a run could not
// be measured at all).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// options are the command-line flags.
type options struct {
	small       int
	smallSize   sizeFlag
	large       int
	largeSize   sizeFlag
	concurrency int
	lagDuration time.Duration
	lagFolder   int // blobs seeded into the lag database's folder before the load
	// notifications also runs the steady load through bottomless-dr with bucket notifications.
	notifications bool
	// minioReplication also runs the steady load through MinIO's own bucket replication.
	minioReplication bool
	// failoverCommits is the size of each database failed over, in commits (one blob each).
	failoverCommits int
	// drillCommits is the size of the database of the drill run, in commits (one blob each).
	drillCommits int
	// failbackCommits is the size of the database failed back, in commits (one blob each), and
	// failbackNew how many the secondary commits while it is the primary.
	failbackCommits int
	failbackNew     int
	inproc          bool
	quick           bool
	out             string
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// A second Ctrl-C ends the program at once; the first one cleans up.
	go func() { <-ctx.Done(); stop() }()
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	o := options{smallSize: 64 << 10, largeSize: 256 << 20}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.IntVar(&o.small, "small", 10000, "number of small blobs for the initial-sync run")
	fs.Var(&o.smallSize, "small-size", "size of a small blob (64KiB)")
	fs.IntVar(&o.large, "large", 8, "number of large blobs for the initial-sync run (0 skips it)")
	fs.Var(&o.largeSize, "large-size", "size of a large blob (256MiB)")
	fs.IntVar(&o.concurrency, "concurrency", 32, "parallel copies for every contender (bdr's replication.concurrency)")
	fs.DurationVar(&o.lagDuration, "lag-duration", 60*time.Second, "how long the steady-lag write load runs (0 skips it)")
	fs.IntVar(&o.lagFolder, "lag-folder", 0, "blobs already in the lag database's folder when the load starts (seeded, not timed): the lag and worker memory at 10k or 100k blobs")
	fs.BoolVar(&o.notifications, "notifications", true, "also run the steady-lag load through bottomless-dr with bucket notifications (the primary MinIO posting each new blob to the worker), after early copies")
	fs.BoolVar(&o.minioReplication, "minio-replication", true, "also run the steady-lag load through MinIO's own bucket replication between the same two servers, beside bottomless-dr")
	fs.IntVar(&o.failoverCommits, "failover", 10000, "commits (log blobs) in each database failed over for the RTO runs (0 skips them)")
	fs.IntVar(&o.drillCommits, "drill", 10000, "commits (log blobs) in the database of the DR drill run (0 skips it)")
	fs.IntVar(&o.failbackCommits, "failback", 10000, "commits (log blobs) in the database of the failback run (0 skips it)")
	fs.IntVar(&o.failbackNew, "failback-new", 1000, "commits into the secondary while it is the primary, before the failback")
	fs.BoolVar(&o.inproc, "inproc", true, "also run replication.Sync in this process under the CPU profiler")
	fs.BoolVar(&o.quick, "quick", false, "a short run: 1,000 small, 2 x 64 MiB large, 15 s lag, 1,000-commit failover, drill and failback (100 new) (explicit flags still win)")
	fs.StringVar(&o.out, "out", "", "where results.json and cpu.pprof go (default: the bench folder of this module)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["small"] {
			o.small = 1000
		}
		if !set["large"] {
			o.large = 2
		}
		if !set["large-size"] {
			o.largeSize = 64 << 20
		}
		if !set["lag-duration"] {
			o.lagDuration = 15 * time.Second
		}
		if !set["failover"] {
			o.failoverCommits = 1000
		}
		if !set["drill"] {
			o.drillCommits = 1000
		}
		if !set["failback"] {
			o.failbackCommits = 1000
		}
		if !set["failback-new"] {
			o.failbackNew = 100
		}
	}
	if o.small < 1 || o.large < 0 || o.failoverCommits < 0 || o.drillCommits < 0 || o.failbackCommits < 0 || o.failbackNew < 1 ||
		o.smallSize < 16 || o.largeSize < 16 || o.concurrency < 1 {
		return o, errors.New("-small, -failback-new and -concurrency must be >= 1, -large, -failover, -drill and -failback >= 0, sizes >= 16 bytes")
	}
	return o, nil
}

// sizeFlag is a byte size flag written as bdr.yaml writes sizes ("64KiB", "256MiB").
type sizeFlag int64

func (s *sizeFlag) String() string { return config.ByteSize(*s).String() }

func (s *sizeFlag) Set(v string) error {
	b, err := config.ParseByteSize(v)
	if err != nil {
		return err
	}
	*s = sizeFlag(b)
	return nil
}
