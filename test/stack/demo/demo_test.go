package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestDemo runs the demo's setup for a few seconds against the real servers: rows are
// committed on the primary, replication's watermark moves, the printed commands hold the drill
// and failover commands and the real addresses of the Web UI and both stand-ins, and after
// the failover the writers go on in the secondary.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	d, err := start(ctx, options{dir: t.TempDir(), writers: 2, rate: 20, log: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			_ = d.close()
		}
	}()

	first := waitWatermark(t, d, time.Time{})
	rowsBefore := countRows(t, d)
	second := waitWatermark(t, d, first)
	rowsAfter := countRows(t, d)
	t.Logf("watermark moved from %s to %s; rows in the primary from %d to %d",
		first.Format(time.RFC3339Nano), second.Format(time.RFC3339Nano), rowsBefore, rowsAfter)
	if rowsAfter <= rowsBefore || d.written.Load() == 0 {
		t.Errorf("rows in the primary: %d then %d; acknowledged: %d", rowsBefore, rowsAfter, d.written.Load())
	}

	text, err := d.commands()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"bdr drill run " + dbName + " --to secondary --validate 'SELECT COUNT(*) FROM " + table + "'",
		"bdr failover " + dbName + " --from primary --to secondary --mode planned",
		"bdr milestone create " + dbName,
		"bdr status",
		"source " + d.envPath,
		d.stack.Temporal.UIAddress,
		"-P " + port(d.stack.Standin[primary].Addr),
		"-P " + port(d.stack.Standin[secondary].Addr),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the printed commands lack %q:\n%s", want, text)
		}
	}
	// The env file gives bdr its configuration and every variable bdr.yaml names.
	env, err := os.ReadFile(d.envPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"BDR_CONFIG=", "PRIMARY_DB_DSN=", "SECONDARY_DB_DSN=", "PRIMARY_AWS_SECRET_ACCESS_KEY=", d.stack.Standin[primary].Addr} {
		if !strings.Contains(string(env), want) {
			t.Errorf("env file lacks %q", want)
		}
	}

	// The printed switchover works, and the writers follow the database to the secondary.
	if out, err := d.stack.Bdr(ctx, "failover", dbName, "--from", primary, "--to", secondary, "--mode", "planned"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	deadline := time.Now().Add(30 * time.Second)
	for d.writing() != secondary && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := d.writing(); got != secondary {
		t.Fatalf("the writers are on %s 30 s after the failover, want %s", got, secondary)
	}
	written := d.written.Load()
	for d.written.Load() == written && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if d.written.Load() == written {
		t.Errorf("no row written into the secondary after the failover")
	}
	if line := d.progress(); !strings.Contains(line, "bdr replicate start "+dbName+" --from secondary --to primary") {
		t.Errorf("after the failover the progress line does not say how to protect the new primary: %s", line)
	}

	closed = true
	if err := d.close(); err != nil {
		t.Errorf("the writers did not stop cleanly: %v", err)
	}
}

// waitWatermark waits until replication's watermark is past after and returns it.
func waitWatermark(t *testing.T, d *demo, after time.Time) time.Time {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st workflows.Status
	var err error
	for time.Now().Before(deadline) {
		st, err = d.status(context.Background(), primary, secondary)
		if err == nil && st.Watermark.Time.After(after) {
			return st.Watermark.Time
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("the watermark did not pass %s in 30 s (last status %+v, %v)", after.Format(time.RFC3339Nano), st, err)
	return time.Time{}
}

// countRows counts the rows in the primary's table.
func countRows(t *testing.T, d *demo) int {
	t.Helper()
	var n int
	if err := d.dbs[primary].QueryRow("SELECT COUNT(*) FROM " + dbName + "." + table).Scan(&n); err != nil {
		t.Fatalf("count rows in the primary: %v", err)
	}
	return n
}

func port(addr string) string { return addr[strings.LastIndex(addr, ":")+1:] }
