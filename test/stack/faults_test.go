package stack

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// echoServer answers every line with the same line, until the test ends.
func echoServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return l.Addr().String()
}

// roundTrip sends a line on c and reads it back within the deadline.
func roundTrip(c net.Conn, deadline time.Duration) error {
	if err := c.SetDeadline(time.Now().Add(deadline)); err != nil {
		return err
	}
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if line != "ping\n" {
		return errors.New("echo: got " + line)
	}
	return nil
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFaultsCutBlackholeResetDelayHeal(t *testing.T) {
	f := NewFaults()
	t.Cleanup(f.Close)
	target := StoreOf("primary")
	addr, err := f.Add(target, echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	if f.Addr(target) != addr {
		t.Fatalf("Addr = %q, Add returned %q", f.Addr(target), addr)
	}
	if err := f.Cut("nowhere"); err == nil {
		t.Error("Cut of an unknown target succeeded")
	}

	// Healthy: traffic flows and is counted once it has crossed.
	open := dial(t, addr)
	if err := roundTrip(open, 5*time.Second); err != nil {
		t.Fatalf("healthy round trip: %v", err)
	}
	tr := f.Traffic(target)
	if tr.Conns != 1 || tr.Sent != 5 || tr.Received != 5 || f.Bytes(target) != 10 {
		t.Fatalf("traffic after one round trip: %+v", tr)
	}

	// Cut: the open connection is closed, a new one is refused.
	if err := f.Cut(target); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(open, 5*time.Second); err == nil || os.IsTimeout(err) {
		t.Errorf("open connection across a cut: %v, want closed", err)
	}
	if _, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial across a cut: %v, want connection refused", err)
	}
	if got := f.Traffic(target); got.Sent != 5 || got.Conns != 1 {
		t.Errorf("traffic moved across a cut: %+v", got)
	}

	// Heal: the same address answers again.
	if err := f.Heal(target); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(dial(t, addr), 5*time.Second); err != nil {
		t.Fatalf("round trip after heal: %v", err)
	}

	// Blackhole: connections are accepted, nothing comes back, nothing is delivered.
	open = dial(t, addr)
	if err := roundTrip(open, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := f.Blackhole(target); err != nil {
		t.Fatal(err)
	}
	before := f.Traffic(target)
	if err := roundTrip(open, 300*time.Millisecond); !os.IsTimeout(err) {
		t.Errorf("open connection in a blackhole: %v, want a timeout", err)
	}
	if err := roundTrip(dial(t, addr), 300*time.Millisecond); !os.IsTimeout(err) {
		t.Errorf("new connection in a blackhole: %v, want a timeout", err)
	}
	if after := f.Traffic(target); after.Sent != before.Sent || after.Received != before.Received || after.Conns != before.Conns+1 {
		t.Errorf("traffic in a blackhole: before %+v, after %+v (want one more connection, no bytes)", before, after)
	}

	// Reset: a connection dies as soon as data crosses it.
	if err := f.Reset(target); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(dial(t, addr), 5*time.Second); err == nil || os.IsTimeout(err) {
		t.Errorf("round trip through reset_peer: %v, want the connection reset", err)
	}

	// Delay: every answer is late by at least d.
	const d = 200 * time.Millisecond
	if err := f.Delay(target, d); err != nil {
		t.Fatal(err)
	}
	c := dial(t, addr)
	start := time.Now()
	if err := roundTrip(c, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < d {
		t.Errorf("round trip with a %s delay took %s", d, took)
	}
	if err := f.HealAll(); err != nil {
		t.Fatal(err)
	}
	if err := roundTrip(c, 5*time.Second); err != nil {
		t.Errorf("round trip after HealAll: %v", err)
	}
}
