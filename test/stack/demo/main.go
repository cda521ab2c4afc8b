// Command demo is `make demo`: it starts the whole stack on this machine (Temporal with its Web
// UI, one MinIO per region, the worker), writes into the primary region's bucket the way a
// bottomless database does, starts replication to the secondary, and shows `bdr status
// --watch`. Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
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
	dir := flag.String("dir", ".demo", "where the demo keeps its data, logs and bdr.yaml (wiped at start)")
	rate := flag.Float64("rate", 20, "blobs per second per writer")
	writers := flag.Int("writers", 4, "concurrent writers into the primary bucket")
	flag.Parse()
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(abs); err != nil {
		return err
	}
	say("starting Temporal (with Web UI), MinIO for regions primary and secondary, and the worker")
	say("(the first run builds temporal and minio into %s: several minutes)", stack.BinDir())
	s, err := stack.Start(ctx, stack.Options{Dir: abs, UI: true, Configure: func(c *config.Config) {
		c.Replication.PollInterval = 500 * time.Millisecond
		c.Telemetry.MetricsListen = "127.0.0.1:0"
	}})
	if err != nil {
		return err
	}
	defer s.Stop()
	if err := s.StartWorker(ctx); err != nil {
		return err
	}
	say("Temporal Web UI:  %s/namespaces/default/workflows", s.Temporal.UIAddress)
	say("Temporal address: %s   config: %s   logs: %s/logs", s.Temporal.Address, s.ConfigPath, abs)
	for region, m := range s.MinIO {
		say("MinIO %-9s  %s  bucket bottomless-db-bucket", region, m.Endpoint)
	}
	say("writing blobs into primary: %d writers x %.0f blobs/s under bottomless_db_folder/", *writers, *rate)
	go func() {
		_, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: "bottomless-db-bucket",
			Prefix: "bottomless_db_folder/0001", Writers: *writers, Rate: *rate, LockEvery: 100})
		if err != nil && ctx.Err() == nil {
			say("workload stopped: %v", err)
		}
	}()
	time.Sleep(3 * time.Second) // a backlog, so the initial sync shows progress
	if out, err := s.Bdr(ctx, "replicate", "start", "bottomless_db", "--from", "primary", "--to", "secondary"); err != nil {
		return err
	} else {
		fmt.Print(string(out))
	}
	say("try in another terminal:  %s/bdr --config %s replicate pause bottomless_db", s.BinDir, s.ConfigPath)
	say("(export the credentials first: %s)", "see "+s.ConfigPath+" for the variable names; values in "+filepath.Join(abs, "env"))
	if err := writeEnvFile(filepath.Join(abs, "env"), s.Env); err != nil {
		return err
	}
	say("Ctrl-C stops everything.\n")
	watch := exec.CommandContext(ctx, filepath.Join(s.BinDir, "bdr"), "--config", s.ConfigPath, "status", "--watch")
	watch.Env = append(os.Environ(), s.Env...)
	watch.Stdout, watch.Stderr = os.Stdout, os.Stderr
	_ = watch.Run()
	say("\nstopping the stack")
	return nil
}

// writeEnvFile writes the demo's throwaway credentials for a user who wants to run bdr by
// hand; the file is private to the user and removed with the demo folder.
func writeEnvFile(path string, env []string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	for _, kv := range env {
		if _, err := fmt.Fprintf(f, "export %s\n", kv); err != nil {
			return err
		}
	}
	return nil
}

func say(format string, args ...any) { fmt.Printf("demo: "+format+"\n", args...) }
