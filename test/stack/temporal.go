package stack

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// Temporal is a running Temporal dev server (in memory, with the Web UI when asked).
type Temporal struct {
	Address   string // host:port of the frontend
	UIAddress string // http://host:port, "" when headless
	bin       string
	proc      *Process
}

// StartTemporal starts `temporal server start-dev` on free ports with our search attributes.
func StartTemporal(ctx context.Context, ui bool, logw io.Writer) (*Temporal, error) {
	bin, err := EnsureBinary(ctx, "temporal", TemporalModule)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	t := &Temporal{Address: fmt.Sprintf("127.0.0.1:%d", port), bin: bin}
	args := []string{"server", "start-dev", "--ip", "127.0.0.1", "--port", fmt.Sprint(port),
		"--log-level", "error", "--namespace", "default",
		"--search-attribute", "BdrDatabase=Keyword", "--search-attribute", "BdrState=Keyword",
		// Let the workflow see continue-as-new suggestions early in long tests.
		"--dynamic-config-value", "limit.historyCount.suggestContinueAsNew=2000"}
	if ui {
		uiPort, err := FreePort()
		if err != nil {
			return nil, err
		}
		t.UIAddress = fmt.Sprintf("http://127.0.0.1:%d", uiPort)
		args = append(args, "--ui-ip", "127.0.0.1", "--ui-port", fmt.Sprint(uiPort))
	} else {
		args = append(args, "--headless")
	}
	metricsPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	httpPort, err := FreePort()
	if err != nil {
		return nil, err
	}
	args = append(args, "--metrics-port", fmt.Sprint(metricsPort), "--http-port", fmt.Sprint(httpPort))
	p, err := startProcess("temporal", bin, args, nil, logw)
	if err != nil {
		return nil, err
	}
	t.proc = p
	if err := waitTCP(ctx, p, t.Address, 90*time.Second); err != nil {
		_ = p.Kill()
		return nil, err
	}
	// The frontend accepts connections before the namespace is ready; wait for it to answer.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := t.CLI(ctx, "operator", "namespace", "describe", "--namespace", "default")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, fmt.Errorf("temporal: namespace default not ready: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return t, nil
}

// CLI runs the real temporal CLI against this server and returns its combined output.
func (t *Temporal) CLI(ctx context.Context, args ...string) ([]byte, error) {
	args = append(args, "--address", t.Address)
	cmd := exec.CommandContext(ctx, t.bin, args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("temporal %s: %w", strings.Join(args, " "), err)
	}
	return out, nil
}

// Stop ends the server.
func (t *Temporal) Stop() error { return t.proc.Stop() }
