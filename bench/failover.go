package main

import (
	"context"
	"database/sql"
	"encoding/json"
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
	dir, err := os.MkdirTemp("", "bdr-bench-failover-")
	if err != nil {
		return nil, fmt.Errorf("failover bench: %w", err)
	}
	defer os.RemoveAll(dir)
	s, err := stack.Start(ctx, stack.Options{Dir: dir, Standins: true, Databases: rtoDatabases,
		Configure: func(c *config.Config) { c.Replication.AntiEntropyInterval = 0 }})
	if err != nil {
		return nil, fmt.Errorf("failover bench: start stack: %w", err)
	}
	defer s.Stop()
	if err := s.StartWorker(ctx); err != nil {
		return nil, fmt.Errorf("failover bench: %w", err)
	}
	tc, err := dialTemporal(s)
	if err != nil {
		return nil, fmt.Errorf("failover bench: %w", err)
	}
	defer tc.Close()
	primary, err := sql.Open("mysql", s.Standin["primary"].DSN(""))
	if err != nil {
		return nil, err
	}
	defer primary.Close()
	logf("failover: committing %d rows into each of %d databases (one log blob per commit; not timed)", commits, len(rtoDatabases))
	if err := fillDatabases(ctx, primary, s, commits); err != nil {
		return nil, err
	}
	for _, d := range rtoDatabases {
		if _, err := s.Bdr(ctx, "replicate", "start", d.Name); err != nil {
			return nil, fmt.Errorf("failover bench: replicate %s: %w", d.Name, err)
		}
	}
	for _, d := range rtoDatabases {
		if err := waitReplicated(ctx, tc, d.Name, commits); err != nil {
			return nil, err
		}
	}
	var results []failoverResult
	planned := failover(ctx, s, rtoDatabases[0].Name, workflows.ModePlanned, commits)
	results = append(results, planned)
	for _, kill := range []func() error{s.MinIO["primary"].Kill, s.Standin["primary"].Kill} {
		if err := kill(); err != nil {
			return results, fmt.Errorf("failover bench: kill the primary region: %w", err)
		}
	}
	results = append(results, failover(ctx, s, rtoDatabases[1].Name, workflows.ModeUnplanned, commits))
	return results, nil
}

// fillDatabases creates every RTO database in the primary and commits rows into them, one
// connection per database (each database uploads its logs in sequence).
func fillDatabases(ctx context.Context, primary *sql.DB, s *stack.Stack, commits int) error {
	var wg sync.WaitGroup
	errs := make([]error, len(rtoDatabases))
	for i, d := range rtoDatabases {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fillDatabase(ctx, primary, s, d, commits)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
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
			return fmt.Errorf("failover bench: %s: %w", d.Name, err)
		}
	}
	for i := range commits {
		if _, err := primary.ExecContext(ctx, fmt.Sprintf("INSERT INTO %s.t VALUES (%d, 'row %d')", d.Name, i, i)); err != nil {
			return fmt.Errorf("failover bench: insert into %s: %w", d.Name, err)
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
	return fmt.Errorf("failover bench: %w: %s did not catch up within 5 minutes", errTimeout, database)
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
		verdict := "met"
		if r.RTOSeconds >= r.Target {
			verdict = "MISSED"
		}
		b = fmt.Appendf(b, "  %-10s RTO %6.2fs (target < %.0fs: %s), RPO %.2fs\n", r.Mode, r.RTOSeconds, r.Target, verdict, r.RPOSeconds)
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
