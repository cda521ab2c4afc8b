// Command standin runs the stand-in bottomless database (package standin) for the e2e tests
// and the demo. It prints "standin listening on ADDR" when it accepts connections.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"

	"github.com/bottomless-dr/bottomless-dr/test/standin"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "standin:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("standin", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg standin.Config
	fs.StringVar(&cfg.Listen, "listen", "127.0.0.1:3306", "address to accept MySQL connections on (port 0: any free port)")
	fs.StringVar(&cfg.StateDir, "state-dir", "", "directory for the server's own state: users, roles, groups, grants, attached databases (required)")
	fs.StringVar(&cfg.RootUser, "root-user", "root", "name of the administrator that always exists")
	fs.StringVar(&cfg.RootPassword, "root-password", "", "password of the administrator")
	fs.Uint64Var(&cfg.SnapshotEvery, "snapshot-every", 1000, "write a snapshot after every N logs (0: only at milestones and detach)")
	debug := fs.Bool("debug", false, "log every statement go-mysql-server runs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.Log = slog.New(slog.NewTextHandler(stderr, nil))
	// go-mysql-server logs through logrus; only its errors are worth seeing here (its warnings
	// are about file privileges the stand-in does not use).
	logrus.SetOutput(stderr)
	logrus.SetLevel(logrus.ErrorLevel)
	if *debug {
		logrus.SetLevel(logrus.DebugLevel)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	s, err := standin.New(ctx, cfg)
	if err != nil {
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	fmt.Fprintf(stdout, "standin listening on %s\n", s.Addr())
	cfg.Log.Info("standin listening", "addr", s.Addr(), "state_dir", cfg.StateDir)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		cfg.Log.Info("shutting down")
		return s.Close()
	}
}
