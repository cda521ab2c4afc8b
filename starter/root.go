package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
)

// defaultConfigPath is where bdr looks for its configuration when neither --config nor
// BDR_CONFIG says otherwise.
const defaultConfigPath = "bdr.yaml"

// app is what every command shares: the output streams, the global flags and the way to reach
// Temporal. It is built per run, so nothing is global.
type app struct {
	stdout, stderr io.Writer
	getenv         func(string) string
	// dial connects to Temporal. It is a field so that tests can prove a command fails its
	// local validation without ever dialing.
	dial func(ctx context.Context, cfg *config.Config) (client.Client, error)

	configPath string // --config
	json       bool   // --json
}

// run executes the bdr command line args (without the program name), writing results to
// stdout and progress to stderr. A returned error is for main to print; exitCode says which
// exit status it deserves.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	a := &app{stdout: stdout, stderr: stderr, getenv: os.Getenv, dial: dialTemporal}
	return a.execute(ctx, args)
}

// execute runs args against a fresh command tree.
func (a *app) execute(ctx context.Context, args []string) error {
	root := a.rootCmd()
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// usageError is a command line that bdr cannot act on: unknown command or flag, wrong
// arguments, or a flag value that names no configured database or region. It exits with 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCode is the exit status for an error returned by run: 2 for usage errors, 1 otherwise.
func exitCode(err error) int {
	if errors.As(err, new(usageError)) {
		return 2
	}
	return 1
}

func (a *app) rootCmd() *cobra.Command {
	configDefault := defaultConfigPath
	if p := a.getenv("BDR_CONFIG"); p != "" {
		configDefault = p
	}
	root := &cobra.Command{
		Use:   "bdr",
		Short: "bdr operates bottomless-dr: replication of bottomless databases between regions",
		Long: "bdr operates bottomless-dr: it starts and controls Replicate workflows on Temporal,\n" +
			"shows their status and checks the configuration (bdr.yaml).",
		// Errors are printed once, by main, as "bdr: <message>"; usage only on request.
		SilenceErrors: true,
		SilenceUsage:  true,
		// A group command run alone or with an unknown subcommand is a usage error; cobra's
		// default would print help and exit 0, which hides typos in scripts.
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
		// No shell-completion command: it would be API surface nobody asked for.
		CompletionOptions: cobra.CompletionOptions{DisableDefaultCmd: true},
	}
	root.SetOut(a.stdout)
	root.SetErr(a.stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentFlags().StringVar(&a.configPath, "config", configDefault, "path of bdr.yaml (env BDR_CONFIG); every key can be overridden by BDR_… environment variables")
	root.PersistentFlags().BoolVar(&a.json, "json", false, "print machine-readable JSON instead of text")
	root.AddCommand(a.replicateCmd(), a.milestoneCmd(), a.failoverCmd(), a.failbackCmd(), a.drillCmd(), a.statusCmd(), a.configCmd(), a.setupCmd())
	return root
}

// groupRunE is the RunE of commands that only group subcommands.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageErrorf("missing command (see %s --help)", cmd.CommandPath())
	}
	return usageErrorf("unknown command %q for %q (see %s --help)", args[0], cmd.CommandPath(), cmd.CommandPath())
}

// exactArgs requires one positional argument per name, naming them in the error.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		switch {
		case len(args) == len(names):
			return nil
		case len(names) == 0:
			return usageErrorf("%s takes no arguments, got %q", cmd.CommandPath(), args)
		}
		return usageErrorf("%s: want argument %s, got %d arguments", cmd.CommandPath(), strings.Join(names, " "), len(args))
	}
}

// loadConfig loads and validates the configuration named by --config.
func (a *app) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(a.configPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w (set --config or BDR_CONFIG)", err)
	}
	return cfg, err
}

// dialTemporal connects to the Temporal frontend of cfg. The SDK's logger is silenced: bdr
// reports the errors it gets back, and SDK info lines would garble text and JSON output.
func dialTemporal(_ context.Context, cfg *config.Config) (client.Client, error) {
	return clients.Temporal(cfg, client.Options{Logger: quietLogger()})
}

func quietLogger() sdklog.Logger { return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)) }

// isTerminal reports whether w is a character device, which is how bdr decides to draw live
// progress bars and spinners. (A Stat check instead of golang.org/x/term keeps go.mod as is;
// it also counts /dev/null as a terminal, where drawing is harmless.)
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
