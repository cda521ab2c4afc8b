package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// Process is one child server. Stop ends it gracefully, Kill with SIGKILL.
type Process struct {
	Name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
	tail *tailWriter // the end of its output, for an error when it exits at start
}

// tailWriter keeps the last tailBytes written to it.
type tailWriter struct {
	mu  sync.Mutex
	buf []byte
}

const tailBytes = 2048

func (t *tailWriter) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > tailBytes {
		t.buf = t.buf[len(t.buf)-tailBytes:]
	}
	return len(p), nil
}

func (t *tailWriter) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

func commandContext(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	// A process group of its own, so that Stop reaches the children of the child too and a
	// Ctrl-C in the terminal is handled by us, not delivered to every server at once.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// startProcess starts bin with args and env, its output to logw.
func startProcess(name, bin string, args, env []string, logw io.Writer) (*Process, error) {
	cmd := commandContext(context.Background(), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	if logw == nil {
		logw = io.Discard
	}
	tail := &tailWriter{}
	out := io.MultiWriter(logw, tail)
	cmd.Stdout, cmd.Stderr = out, out
	// The output goes through a pipe now: Wait returns once the process has exited even if a
	// child of it still holds the pipe.
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &Process{Name: name, cmd: cmd, done: make(chan struct{}), tail: tail}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Pid returns the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Stop sends SIGTERM to the process group and waits up to 10 s, then kills it.
func (p *Process) Stop() error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
		return nil
	case <-time.After(10 * time.Second):
		return p.Kill()
	}
}

// Signal sends sig to the process group.
func (p *Process) Signal(sig syscall.Signal) error {
	if p == nil || p.Exited() {
		return errors.New("stack: " + p.Name + " is not running")
	}
	return syscall.Kill(-p.cmd.Process.Pid, sig)
}

// Kill sends SIGKILL to the process group and waits for it to end.
func (p *Process) Kill() error {
	if p == nil || p.Exited() {
		return nil
	}
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
	return nil
}

// waitTCP waits until addr accepts connections or the process exits.
func waitTCP(ctx context.Context, p *Process, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited before listening on %s: %v; its last output:\n%s", p.Name, addr, p.err, p.tail)
		}
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s: not listening on %s after %s", p.Name, addr, timeout)
}

// waitHTTP waits until url answers 200 or the process exits.
func waitHTTP(ctx context.Context, p *Process, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if p.Exited() {
			return fmt.Errorf("%s exited before %s answered: %v", p.Name, url, p.err)
		}
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New(p.Name + ": " + url + " did not answer 200 in time")
}
