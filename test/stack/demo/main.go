// Command demo is `make demo`: it starts the whole stack on this machine (Temporal with its Web
// UI, one MinIO and one stand-in bottomless database per region, the worker), creates a
// database in the primary region whose SQL writers insert rows through the MySQL protocol,
// starts replicating it to the secondary, prints the commands to try next (a DR drill, a
// milestone, a failover, SQL clients) and reports progress until Ctrl-C or -for.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	opts := options{log: say}
	flag.StringVar(&opts.dir, "dir", ".demo", "where the demo keeps its data, logs, bdr.yaml and env (wiped at start)")
	flag.IntVar(&opts.writers, "writers", 4, "SQL writers inserting rows into the primary")
	flag.Float64Var(&opts.rate, "rate", 10, "rows per second per writer (each row is one commit: one log blob)")
	every := flag.Duration("every", 5*time.Second, "time between progress lines")
	runFor := flag.Duration("for", 0, "stop this long after the demo is up (0: run until Ctrl-C); for smoke tests")
	flag.Parse()
	dir, err := filepath.Abs(opts.dir)
	if err != nil {
		return fmt.Errorf("-dir: %w", err)
	}
	opts.dir = dir
	say("starting Temporal (with Web UI), MinIO and a stand-in database for regions primary and secondary, and the worker")
	if _, err := os.Stat(filepath.Join(stack.BinDir(), "minio")); err != nil {
		say("(the first run builds temporal and minio into %s: several minutes)", stack.BinDir())
	}
	d, err := start(ctx, opts)
	if err != nil {
		return err
	}
	fmt.Println(d.replicating)
	say("%d SQL writers insert %.0f rows/s each into %s.%s on the primary", opts.writers, opts.rate, dbName, table)
	text, err := d.commands()
	if err != nil {
		_ = d.close()
		return err
	}
	fmt.Println(text)
	say("logs in %s/logs. Ctrl-C stops everything.", opts.dir)

	if *runFor > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *runFor)
		defer cancel()
	}
	tick := time.NewTicker(*every)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			say("%s", d.progress())
		}
	}
	say("stopping: writers, worker, stand-ins, MinIO, Temporal")
	say("%s", d.progress())
	if err := d.close(); err != nil {
		return fmt.Errorf("stopping: %w", err)
	}
	say("stopped; data and logs stay in %s until the next run", opts.dir)
	return nil
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }
