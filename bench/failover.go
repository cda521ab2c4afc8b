package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	_ "github.com/go-sql-driver/mysql" // the stand-in speaks the MySQL protocol
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// RTO targets on this machine (issue 5): a switchover and a failover of a 10,000-blob database.
const (
	plannedRTOTarget   = 5 * time.Second
	unplannedRTOTarget = 15 * time.Second
)

// failoverResult is one failover's measured RTO and RPO and the RTO's split by step.
type failoverResult struct {
	Mode       string           `json:"mode"`
	Blobs      int              `json:"blobs"` // in the database's folder
	RTOSeconds float64          `json:"rtoSeconds"`
	RPOSeconds float64          `json:"rpoSeconds"`
	Target     float64          `json:"targetSeconds"`
	Steps      []workflows.Step `json:"steps"`
	Error      string           `json:"error,omitempty"`
}

// rtoDatabases are the two databases failed over: one planned, one unplanned.
var rtoDatabases = []config.Database{{Name: "rto_planned", RootPath: "rto_planned"}, {Name: "rto_unplanned", RootPath: "rto_unplanned"}}

// runFailovers measures a planned switchover and an unplanned failover, each of a stand-in
// database of `commits` single-row commits (one log blob each), on a stack of its own with the
// default replication settings. The unplanned one loses the whole primary region: its MinIO
// and its database server are killed (kill -9) first.
func runFailovers(ctx context.Context, commits int) ([]failoverResult, error) {
	s, err := startReplicated(ctx, "failover", rtoDatabases, commits)
	if err != nil {
		return nil, err
	}
	defer s.stop()
	var results []failoverResult
	planned := failover(ctx, s.Stack, rtoDatabases[0].Name, workflows.ModePlanned, commits)
	results = append(results, planned)
	for _, kill := range []func() error{s.MinIO["primary"].Kill, s.Standin["primary"].Kill} {
		if err := kill(); err != nil {
			return results, fmt.Errorf("failover bench: kill the primary region: %w", err)
		}
	}
	results = append(results, failover(ctx, s.Stack, rtoDatabases[1].Name, workflows.ModeUnplanned, commits))
	return results, nil
}

// replicated is a stack of its own (default replication settings, no anti-entropy) with a
// stand-in database server per region, whose databases were filled on the primary and
// replicated to the secondary: what the failover and drill runs start from.
type replicated struct {
	*stack.Stack
	tc  client.Client
	dir string
}

// startReplicated starts a stack for the run `what` (failover, drill), creates dbs on the
// primary's stand-in with `commits` single-row commits each (one log blob per commit; not
// timed), starts their replication to the secondary and waits until it caught up.
func startReplicated(ctx context.Context, what string, dbs []config.Database, commits int) (*replicated, error) {
	return startReplicatedWith(ctx, what, stack.Options{}, dbs, commits)
}

// startReplicatedWith is startReplicated on a stack shaped by opts (e.g. Faults: the failback
// run cuts the primary off from the worker); the folder, the stand-ins, the databases and the
// replication settings are startReplicated's whatever opts says.
func startReplicatedWith(ctx context.Context, what string, opts stack.Options, dbs []config.Database, commits int) (_ *replicated, err error) {
	dir, err := os.MkdirTemp("", "bdr-bench-"+what+"-")
	if err != nil {
		return nil, fmt.Errorf("%s bench: %w", what, err)
	}
	r := &replicated{dir: dir}
	defer func() {
		if err != nil {
			r.stop()
		}
	}()
	opts.Dir, opts.Standins, opts.Databases = dir, true, dbs
	opts.Configure = func(c *config.Config) { c.Replication.AntiEntropyInterval = 0 }
	r.Stack, err = stack.Start(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("%s bench: start stack: %w", what, err)
	}
	if err := r.StartWorker(ctx); err != nil {
		return nil, fmt.Errorf("%s bench: %w", what, err)
	}
	if r.tc, err = dialTemporal(r.Stack); err != nil {
		return nil, fmt.Errorf("%s bench: %w", what, err)
	}
	primary, err := sql.Open("mysql", r.Standin["primary"].DSN(""))
	if err != nil {
		return nil, err
	}
	defer primary.Close()
	logf("%s: committing %d rows into each of %d database(s) (one log blob per commit; not timed)", what, commits, len(dbs))
	if err := fillDatabases(ctx, primary, r.Stack, dbs, commits); err != nil {
		return nil, fmt.Errorf("%s bench: %w", what, err)
	}
	for _, d := range dbs {
		if _, err := r.Bdr(ctx, "replicate", "start", d.Name); err != nil {
			return nil, fmt.Errorf("%s bench: replicate %s: %w", what, d.Name, err)
		}
	}
	for _, d := range dbs {
		if err := waitReplicated(ctx, r.tc, d.Name, commits); err != nil {
			return nil, fmt.Errorf("%s bench: %w", what, err)
		}
	}
	return r, nil
}

// stop ends the stack and removes its folder; it is safe on a partly started one.
func (r *replicated) stop() {
	if r.tc != nil {
		r.tc.Close()
	}
	if r.Stack != nil {
		r.Stack.Stop()
	}
	_ = os.RemoveAll(r.dir)
}

// fillDatabases creates every database in the primary and commits rows into them, one
// connection per database (each database uploads its logs in sequence).
func fillDatabases(ctx context.Context, primary *sql.DB, s *stack.Stack, dbs []config.Database, commits int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(dbs))
	for i, d := range dbs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fillDatabase(ctx, primary, s, d, commits)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func fillDatabase(ctx context.Context, primary *sql.DB, s *stack.Stack, d config.Database, commits int) error {
	m := s.MinIO["primary"]
	cfg, _ := json.Marshal(map[string]string{"region": "us-east-1", "endpoint_url": m.Endpoint, "s3_force_path_style": "true"})
	creds, _ := json.Marshal(map[string]string{"aws_access_key_id": m.AccessKey, "aws_secret_access_key": m.SecretKey})
	bucket := s.Config.Regions["primary"].ObjectStore.Bucket
	stmts := []string{
		fmt.Sprintf(`CREATE DATABASE %s ON S3 "%s/%s" CONFIG '%s' CREDENTIALS '%s'`, d.Name, bucket, d.RootPath, cfg, creds),
		fmt.Sprintf("CREATE TABLE %s.t (id INT PRIMARY KEY, v VARCHAR(64))", d.Name),
	}
	for _, stmt := range stmts {
		if _, err := primary.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", d.Name, err)
		}
	}
	return commitRows(ctx, primary, d.Name, 0, commits)
}

// commitRows commits n single-row inserts into database's table t, ids from first on: one
// log blob each.
func commitRows(ctx context.Context, conn *sql.DB, database string, first, n int) error {
	for i := first; i < first+n; i++ {
		if _, err := conn.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'row %d')", database, i, i)); err != nil {
			return fmt.Errorf("insert into %s: %w", database, err)
		}
	}
	return nil
}

// waitReplicated waits until the database's replication has caught up with its source.
func waitReplicated(ctx context.Context, tc client.Client, database string, commits int) error {
	id := workflows.ReplicateID(database, "primary", "secondary")
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		resp, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
		if err == nil {
			var st workflows.Status
			if err := resp.Get(&st); err == nil && st.InitialSync.Complete && st.PendingObjects == 0 && st.InitialSync.Total >= int64(commits) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
	return fmt.Errorf("%w: %s did not catch up within 5 minutes", errTimeout, database)
}

// failover runs one failover with bdr and returns what it measured; a failed failover is a
// result with its error, so that the other one is still reported.
func failover(ctx context.Context, s *stack.Stack, database, mode string, commits int) failoverResult {
	res := failoverResult{Mode: mode, Blobs: commits, Target: plannedRTOTarget.Seconds()}
	if mode == workflows.ModeUnplanned {
		res.Target = unplannedRTOTarget.Seconds()
	}
	logf("failover: %s failover of %s", mode, database)
	out, err := s.Bdr(ctx, "--json", "failover", database, "--from", "primary", "--to", "secondary", "--mode", mode)
	if err != nil {
		res.Error = err.Error()
		return res
	}
	var fr workflows.FailoverResult
	if err := json.Unmarshal(out, &fr); err != nil {
		res.Error = fmt.Sprintf("%v: %s", err, out)
		return res
	}
	res.RTOSeconds, res.RPOSeconds, res.Steps = fr.RTOSeconds, fr.RPOSeconds, fr.Steps
	return res
}

// failoverTable is the failovers' part of the table on stdout.
func failoverTable(results []failoverResult) string {
	var b []byte
	b = fmt.Appendf(b, "\nfailover of a database of %d blobs (stand-in, default settings)\n", blobsOf(results))
	for _, r := range results {
		if r.Error != "" {
			b = fmt.Appendf(b, "  %-10s failed: %s\n", r.Mode, r.Error)
			continue
		}
		b = fmt.Appendf(b, "  %-10s RTO %6.2fs (target < %.0fs: %s), RPO %.2fs\n", r.Mode, r.RTOSeconds, r.Target, verdict(r.RTOSeconds, r.Target), r.RPOSeconds)
		for _, st := range r.Steps {
			b = fmt.Appendf(b, "      %-44s %6.2fs\n", st.Name, st.Seconds)
		}
	}
	return string(b)
}

func blobsOf(results []failoverResult) int {
	if len(results) == 0 {
		return 0
	}
	return results[0].Blobs
}
