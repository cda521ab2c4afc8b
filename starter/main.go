// Command bdr is the operator CLI of bottomless-dr: it starts, pauses, resumes, drains and
// stops Replicate workflows, shows their status (with progress bars during initial sync),
// checks a configuration against its endpoints and registers the search attributes. Every
// command has --json. README.md documents each command and its output.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bdr:", err)
		os.Exit(exitCode(err))
	}
}
