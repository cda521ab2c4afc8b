// Package stack starts the real servers that the end-to-end tests and the demo run against
// (the Temporal dev server, one MinIO per region, one stand-in database per region, the
// worker) as child processes on free loopback ports, and stops them all on exit. With
// Options.Faults it also puts a fault layer (faults.go) between the worker and those servers,
// and with Options.RecordStoreRequests a recorder of the requests each object store receives
// (recorder.go). With Options.SQS it starts goaws, an SQS server, whose queue the worker
// reads bucket notifications from (goaws.go).
//
// Binaries that take minutes to build (temporal, minio; goaws takes seconds) are built once with `go install` into
// a cache outside the clone (DESIGN 10), so fresh clones in CI reuse them.
package stack

import (
	"context"
	"fmt"
	"net"
	"os"
	pathpkg "path"
	"path/filepath"
	"strings"
)

// Pinned versions of the servers the stack runs (DESIGN 10). goaws's command is in a folder
// called cmd, which go install names the binary after: EnsureBinary renames it.
const (
	TemporalModule = "github.com/temporalio/cli/cmd/temporal@v1.5.1"
	MinIOModule    = "github.com/minio/minio@v0.0.0-20260212201848-7aac2a2c5b7c"
	GoAWSModule    = "github.com/Admiral-Piett/goaws/app/cmd@v0.4.5"
)

// BinDir returns the cache holding the built servers: $BDR_BIN_DIR, or
// $HOME/.cache/bottomless-dr/bin.
func BinDir() string {
	if dir := os.Getenv("BDR_BIN_DIR"); dir != "" {
		return dir
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = os.TempDir()
	}
	return filepath.Join(home, ".cache", "bottomless-dr", "bin")
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, and that the kernel will
// not hand out to anyone asking for any free port (bind to :0) for about a minute.
//
// Why: Linux picks such ports at random, so a port returned and closed here could be the one
// the next process asking for any port gets, before the server it was meant for binds it.
// That happened: the Temporal dev server picks its internal services' ports itself, took one
// of the stack's, and exited. As the Temporal CLI does (devserver.GetFreePort), a connection to
// the port closed from the listening side leaves it in TIME_WAIT, which keeps it out of the
// kernel's picks; the server it is for still binds it (SO_REUSEADDR, which Go servers set).
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	client, err := net.DialTCP("tcp", nil, l.Addr().(*net.TCPAddr))
	if err != nil {
		return 0, fmt.Errorf("free port %d: %w", port, err)
	}
	defer client.Close()
	server, err := l.Accept()
	if err != nil {
		return 0, fmt.Errorf("free port %d: %w", port, err)
	}
	// Closed from the listening side first: the TIME_WAIT is on the port's side.
	if err := server.Close(); err != nil {
		return 0, fmt.Errorf("free port %d: %w", port, err)
	}
	return port, nil
}

// EnsureBinary returns the path of name in BinDir, building module with `go install` first
// when it is missing. Building takes minutes; it happens once per machine. go install names
// the binary after the module's last path element; it is renamed name when they differ
// (goaws's app/cmd).
func EnsureBinary(ctx context.Context, name, module string) (string, error) {
	path := filepath.Join(BinDir(), name)
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if err := os.MkdirAll(BinDir(), 0o755); err != nil {
		return "", fmt.Errorf("ensure %s: %w", name, err)
	}
	// Built into a folder of its own, then moved into place: no other binary of BinDir is
	// overwritten, and a build cut short leaves no binary behind.
	tmp, err := os.MkdirTemp(BinDir(), ".install-"+name+"-")
	if err != nil {
		return "", fmt.Errorf("ensure %s: %w", name, err)
	}
	defer os.RemoveAll(tmp)
	cmd := commandContext(ctx, "go", "install", module)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	cmd.Dir = os.TempDir() // outside any module, so the pinned version is what builds
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s: %w\n%s", module, err, out)
	}
	modPath, _, _ := strings.Cut(module, "@")
	if err := os.Rename(filepath.Join(tmp, pathpkg.Base(modPath)), path); err != nil {
		return "", fmt.Errorf("ensure %s: %w", name, err)
	}
	return path, nil
}
