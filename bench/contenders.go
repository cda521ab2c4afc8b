package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// syncBudget is the budget of one Sync call, as the Sync activity sets it.
const syncBudget = 20 * time.Second

// runRclone times `rclone copy` of d's folder from the source to the rclone target bucket.
// Remotes are connection strings and the config file is empty: nothing outside the command
// line shapes the run.
func (e *env) runRclone(ctx context.Context, bin string, d dataset) (time.Duration, error) {
	conf := filepath.Join(e.dir, "rclone.conf")
	if err := os.WriteFile(conf, nil, 0o600); err != nil {
		return 0, fmt.Errorf("rclone config: %w", err)
	}
	logPath := filepath.Join(e.dir, "logs", "rclone-"+d.name+".log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return 0, fmt.Errorf("rclone log: %w", err)
	}
	defer logFile.Close()
	n := strconv.Itoa(e.o.concurrency)
	cmd := exec.CommandContext(ctx, bin, "copy", "--transfers", n, "--checkers", n,
		rcloneRemote(e.src, e.bucket, d.root), rcloneRemote(e.dst, e.targetBucket(contenderRclone), d.root))
	cmd.Env = append(os.Environ(), "RCLONE_CONFIG="+conf)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if cmd.ProcessState != nil {
		e.rcloneCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		tail, _ := os.ReadFile(logPath)
		if len(tail) > 2000 {
			tail = tail[len(tail)-2000:]
		}
		return 0, fmt.Errorf("rclone copy: %w\n%s", err, tail)
	}
	return elapsed, nil
}

// rcloneRemote is an rclone connection string for a folder of a bucket in a MinIO server.
func rcloneRemote(m *stack.MinIO, bucket, path string) string {
	return fmt.Sprintf(":s3,provider=Minio,endpoint='%s',access_key_id=%s,secret_access_key=%s:%s/%s",
		m.Endpoint, m.AccessKey, m.SecretKey, bucket, path)
}

// runBdr starts the Replicate workflow for d's database and times it until the workflow
// folded the Sync that completed the initial sync with nothing pending, by the history's
// clock; the workflow is stopped afterwards. The status query that tells it is done is asked
// only once a second: each query is a workflow task through the server and the worker, and
// asked every 100 ms they cost several CPU seconds of a run that rclone does not pay.
func (e *env) runBdr(ctx context.Context, d dataset) (time.Duration, error) {
	id := workflows.ReplicateID(d.database, "primary", "secondary")
	start := time.Now()
	run, err := e.startReplicate(ctx, d.database)
	if err != nil {
		return 0, err
	}
	defer e.stopWorkflow(run)
	// Generous: a healthy run is far faster than 2 MiB/s.
	timeout := 3*time.Minute + time.Duration(d.bytes()/(2<<20))*time.Second
	st, err := e.waitStatus(ctx, id, timeout, time.Second, func(st workflows.Status) bool {
		return st.InitialSync.Complete && st.PendingObjects == 0
	})
	seen := time.Now()
	if err != nil {
		return 0, fmt.Errorf("replicate %s: %w (last status: state %q, done %d/%d, pending %d, error %q)\nworker log:\n%s",
			d.database, err, st.State, st.InitialSync.Done, st.InitialSync.Total, st.PendingObjects, st.LastError, e.workerLogTail())
	}
	tl, err := e.readTimeline(ctx, run, start, seen)
	if err != nil {
		return 0, err
	}
	if tl.foldedAt.IsZero() {
		return 0, fmt.Errorf("replicate %s: the history shows no Sync folded before the status showed the sync complete", d.database)
	}
	e.timelines[d.name] = tl
	return tl.foldedAt.Sub(start), nil
}

// startReplicate starts replication of database from primary to secondary, as `bdr` and the
// end-to-end tests do.
func (e *env) startReplicate(ctx context.Context, database string) (client.WorkflowRun, error) {
	run, err := e.tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.ReplicateID(database, "primary", "secondary"), TaskQueue: e.stack.Config.Temporal.TaskQueue,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.ReplicateName, workflows.ReplicateInput{Database: database, From: "primary", To: "secondary"})
	if err != nil {
		return nil, fmt.Errorf("start replicate %s: %w", database, err)
	}
	return run, nil
}

// waitStatus polls the status query every poll until done holds or the timeout passes. It
// returns the last status seen.
func (e *env) waitStatus(ctx context.Context, id string, timeout, poll time.Duration, done func(workflows.Status) bool) (workflows.Status, error) {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(poll)
	defer tick.Stop()
	var st workflows.Status
	var lastErr error
	for polls := 0; time.Now().Before(deadline); polls++ {
		if polls%20 == 19 && !e.workerRunning() {
			return st, errors.New("the worker is not running")
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		v, err := e.tc.QueryWorkflow(qctx, id, "", workflows.QueryStatus)
		if err == nil {
			var got workflows.Status
			if err = v.Get(&got); err == nil {
				st = got
			}
		}
		cancel()
		if err == nil && done(st) {
			return st, nil
		}
		lastErr = err
		select {
		case <-ctx.Done():
			return st, ctx.Err()
		case <-tick.C:
		}
	}
	return st, fmt.Errorf("%w after %s (last query error: %v)", errTimeout, timeout, lastErr)
}

// stopWorkflow cancels a replication and waits for it to end, terminating it if it does not
// within 30 s. It runs on the way out too, so it ignores the caller's cancellation.
func (e *env) stopWorkflow(run client.WorkflowRun) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := e.tc.CancelWorkflow(ctx, run.GetID(), run.GetRunID()); err != nil {
		logf("cancel %s: %v", run.GetID(), err)
	}
	if err := run.Get(ctx, nil); err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		_ = e.tc.TerminateWorkflow(context.Background(), run.GetID(), "", "bench: did not stop after cancel")
	}
}

// runInproc runs replication.Sync in this process the way the Sync activity does (same
// Transfer, policy, budget and checkpoints), calling it again until caught up. With check set
// the first call checks the target before each copy (a HEAD per blob), as a run's first sync
// does; without, that cost is left out. With profile set it records a CPU profile of the whole
// run there.
func (e *env) runInproc(ctx context.Context, d dataset, check bool, profile string) (time.Duration, error) {
	rc := e.stack.Config.Replication
	src, err := e.store(e.src, e.bucket)
	if err != nil {
		return 0, err
	}
	bucket := e.targetBucket(contenderInproc)
	if !check {
		bucket = e.targetBucket(contenderInprocNoCheck)
	}
	dst, err := e.store(e.dst, bucket)
	if err != nil {
		return 0, err
	}
	copier := objectstore.NewTransfer(src, dst, int64(rc.MultipartThreshold), int64(rc.PartSize))
	if profile != "" {
		f, err := os.Create(profile)
		if err != nil {
			return 0, fmt.Errorf("cpu profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, fmt.Errorf("cpu profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	in := replication.SyncInput{
		Database: d.database, From: "primary", To: "secondary", RootPath: d.root,
		Policy: replication.Policy{SettleWindow: rc.SettleWindow, BatchMaxObjects: rc.BatchMaxObjects,
			BatchMaxBytes: int64(rc.BatchMaxBytes), Exclude: rc.Exclude, Strict: rc.Order == config.OrderStrict},
		Concurrency: rc.Concurrency, VerifyExisting: check, Budget: syncBudget, CheckpointEvery: time.Second,
	}
	start := time.Now()
	for {
		res, err := replication.Sync(ctx, src, dst, copier, in, nil)
		if err != nil {
			return 0, fmt.Errorf("in-process sync %s: %w", d.database, err)
		}
		if res.CaughtUp && res.PendingObjects == 0 {
			return time.Since(start), nil
		}
		in.Watermark, in.VerifyExisting = res.Watermark.Time, false
		if res.CaughtUp {
			// What is left is not settled yet: wait a poll, as the workflow does.
			select {
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-time.After(rc.PollInterval):
			}
		}
	}
}
