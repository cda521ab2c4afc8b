package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/stores"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

const (
	db       = "bottomless_db"
	rootPath = "bottomless_db_folder"
	bucket   = "bottomless-db-bucket"
)

// fastConfig makes replication react quickly in tests.
func fastConfig(c *config.Config) {
	c.Replication.PollInterval = 200 * time.Millisecond
	c.Replication.SettleWindow = time.Second
}

// newStack starts a stack with the worker running.
func newStack(t *testing.T, configure func(*config.Config)) *stack.Stack {
	t.Helper()
	return newStackWith(t, stack.Options{}, configure)
}

// newStackWith is newStack with more options.
func newStackWith(t *testing.T, opts stack.Options, configure func(*config.Config)) *stack.Stack {
	t.Helper()
	opts.Configure = func(c *config.Config) {
		fastConfig(c)
		if configure != nil {
			configure(c)
		}
	}
	s := stack.New(t, opts)
	if err := s.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

func temporalClient(t *testing.T, s *stack.Stack) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: s.Temporal.Address, Namespace: "default"})
	if err != nil {
		t.Fatalf("dial temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func startReplicate(t *testing.T, s *stack.Stack, tc client.Client, database string) client.WorkflowRun {
	t.Helper()
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.ReplicateID(database, "primary", "secondary"), TaskQueue: s.Config.Temporal.TaskQueue,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
	}, workflows.ReplicateName, workflows.ReplicateInput{Database: database, From: "primary", To: "secondary"})
	if err != nil {
		t.Fatalf("start replicate: %v", err)
	}
	t.Cleanup(func() { _ = tc.CancelWorkflow(context.Background(), run.GetID(), "") })
	return run
}

// startFailover starts a failover of db from the primary to the secondary in mode.
func startFailover(t *testing.T, s *stack.Stack, tc client.Client, mode string) client.WorkflowRun {
	t.Helper()
	run, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: workflows.FailoverID(db),
		TaskQueue: s.Config.Temporal.TaskQueue, WorkflowExecutionErrorWhenAlreadyStarted: true}, workflows.FailoverName,
		workflows.FailoverInput{Database: db, From: "primary", To: "secondary", Mode: mode})
	if err != nil {
		t.Fatalf("start failover: %v", err)
	}
	return run
}

func queryStatus(ctx context.Context, tc client.Client, id string) (workflows.Status, error) {
	v, err := tc.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return workflows.Status{}, err
	}
	var st workflows.Status
	return st, v.Get(&st)
}

// store returns an objectstore client over a region's bucket with the root credentials: the
// tests read buckets directly to check what the product claims.
func store(t *testing.T, m *stack.MinIO) *objectstore.Client {
	t.Helper()
	c, err := stores.Client(m, bucket)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitFor polls cond until it returns true or the timeout passes.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
}

// checkPrefix asserts the prefix invariant (DESIGN 5.2) at watermark w: every source blob
// with LastModified <= w is in the target with the same size and content (same ETag for a
// single-part copy; the recorded source ETag for a multipart one). It returns how many blobs
// it checked.
func checkPrefix(ctx context.Context, src, dst *objectstore.Client, w time.Time) (int, error) {
	return (&prefixChecker{}).check(ctx, src, dst, w)
}

// prefixChecker remembers blobs whose multipart copy it verified by HEAD, so that sampling
// many times stays fast. The writers never overwrite a key, so a verified blob stays so. It
// checks the folder root (default rootPath, the default database's).
type prefixChecker struct {
	root     string
	verified map[string]string
}

func (pc *prefixChecker) check(ctx context.Context, src, dst *objectstore.Client, w time.Time) (int, error) {
	if pc.verified == nil {
		pc.verified = map[string]string{}
	}
	root := pc.root
	if root == "" {
		root = rootPath
	}
	// Both listings start after w was read, which is all the invariant needs: the source
	// blobs at or before w existed then, and the target only grows while replication runs.
	var sl, dl objectstore.Listing
	var srcErr, dstErr error
	listed := make(chan struct{})
	go func() { sl, srcErr = src.List(ctx, root+"/"); close(listed) }()
	dl, dstErr = dst.List(ctx, root+"/")
	<-listed
	if err := errors.Join(srcErr, dstErr); err != nil {
		return 0, err
	}
	target := map[string]objectstore.Object{}
	for _, o := range dl.Objects {
		target[o.Key] = o
	}
	checked := 0
	for _, o := range sl.Objects {
		if o.LastModified.After(w) || replication.Excluded([]string{"*/storage_locks/*"}, o.Key) {
			continue
		}
		got, ok := target[o.Key]
		if !ok {
			return checked, fmt.Errorf("watermark %s: source blob %s (LastModified %s) is missing in the target",
				w.Format(time.RFC3339Nano), o.Key, o.LastModified.Format(time.RFC3339Nano))
		}
		if got.Size != o.Size {
			return checked, fmt.Errorf("%s: target size %d, source %d", o.Key, got.Size, o.Size)
		}
		if got.ETag != o.ETag && pc.verified[o.Key+" "+got.ETag] != o.ETag {
			info, err := dst.Head(ctx, o.Key)
			if err != nil {
				return checked, err
			}
			if info.Metadata[replication.MetaSourceETag] != o.ETag {
				return checked, fmt.Errorf("%s: target holds source ETag %q, source has %q", o.Key, info.Metadata[replication.MetaSourceETag], o.ETag)
			}
			pc.verified[o.Key+" "+got.ETag] = o.ETag
		}
		checked++
	}
	return checked, nil
}

// readWatermark reads the default database's watermark record in the target.
func readWatermark(ctx context.Context, dst *objectstore.Client) (replication.Watermark, error) {
	return readWatermarkOf(ctx, dst, db)
}

// readWatermarkOf reads database's watermark record in the target.
func readWatermarkOf(ctx context.Context, dst *objectstore.Client, database string) (replication.Watermark, error) {
	w, found, err := replication.ReadWatermark(ctx, dst, database)
	if err == nil && !found {
		err = errors.New("no watermark yet")
	}
	return w, err
}

// listKeys returns the keys under prefix in a bucket.
func listKeys(ctx context.Context, c *objectstore.Client, prefix string) ([]string, error) {
	l, err := c.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(l.Objects))
	for i, o := range l.Objects {
		keys[i] = o.Key
	}
	return keys, nil
}

// historyJSON returns every event of every run of a workflow as the temporal CLI prints it.
func historyJSON(t *testing.T, s *stack.Stack, id string) string {
	t.Helper()
	out, err := s.Temporal.CLI(context.Background(), "workflow", "show", "--workflow-id", id, "--output", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return string(out)
}

// assertNoSecrets fails if any store credential of the stack appears in text.
func assertNoSecrets(t *testing.T, s *stack.Stack, text, where string) {
	t.Helper()
	for region, m := range s.MinIO {
		for _, secret := range []string{m.AccessKey, m.SecretKey} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contains a credential of region %s", where, region)
			}
		}
	}
}

func enableVersioning(ctx context.Context, m *stack.MinIO) error {
	_, err := m.S3().PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{Bucket: aws.String(bucket),
		VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatusEnabled}})
	return err
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func putInput(key string, data []byte) *s3.PutObjectInput {
	return &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}
}

// waitCaughtUp waits until the replication's initial sync is complete and nothing is pending,
// and returns its status.
func waitCaughtUp(t *testing.T, tc client.Client, id string, timeout time.Duration) workflows.Status {
	t.Helper()
	return waitCaughtUpAfter(t, tc, id, time.Time{}, timeout)
}

// waitCaughtUpAfter is waitCaughtUp for a Sync that listed the source after after: the
// status holds the result of the last Sync that returned, and one Sync may run through a
// whole write load (with notifications, up to 5 s), so a status caught up before the load
// began says nothing of it.
func waitCaughtUpAfter(t *testing.T, tc client.Client, id string, after time.Time, timeout time.Duration) workflows.Status {
	t.Helper()
	var st workflows.Status
	waitFor(t, timeout, "replication to catch up", func() (bool, error) {
		var err error
		st, err = queryStatus(context.Background(), tc, id)
		return err == nil && st.InitialSync.Complete && st.PendingObjects == 0 && st.LastSyncAt.After(after), err
	})
	return st
}

// checkAllAtWatermark reads the target's watermark and checks the prefix invariant at it,
// returning how many blobs it covers.
func checkAllAtWatermark(t *testing.T, src, dst *objectstore.Client) int {
	t.Helper()
	return checkAllAtWatermarkOf(t, src, dst, db, rootPath)
}

// checkAllAtWatermarkOf is checkAllAtWatermark for the database called database, in the folder
// root.
func checkAllAtWatermarkOf(t *testing.T, src, dst *objectstore.Client, database, root string) int {
	t.Helper()
	ctx := context.Background()
	w, err := readWatermarkOf(ctx, dst, database)
	if err != nil {
		t.Fatalf("%s: %v", database, err)
	}
	n, err := (&prefixChecker{root: root}).check(ctx, src, dst, w.Time)
	if err != nil {
		t.Fatalf("%s: %v", database, err)
	}
	return n
}

// waitInitialSyncUnderway waits until bdr status shows the only replication's initial sync of
// total blobs under way: some copied, not all. It shows the first Sync's progress while it
// runs, from its heartbeat: the workflow folds a result only when the Sync returns (its 20 s
// budget or the sync's end).
func waitInitialSyncUnderway(t *testing.T, s *stack.Stack, total int64) {
	t.Helper()
	waitFor(t, 15*time.Second, "bdr status to show the initial sync under way", func() (bool, error) {
		out, err := s.Bdr(context.Background(), "status", "--json")
		if err != nil {
			return false, err
		}
		var all []workflows.Status
		if err := json.Unmarshal(out, &all); err != nil || len(all) != 1 {
			return false, fmt.Errorf("bdr status --json: %v: %s", err, out)
		}
		is := all[0].InitialSync
		return is.Total == total && is.Done > 0 && is.Done < is.Total, nil
	})
}

// failoverStack starts a stack with a stand-in per region and the worker (fastConfig, a 3 s
// fence timeout, then configure; env is added to the worker's environment) and returns it
// with a connection to each region's stand-in.
func failoverStack(t *testing.T, configure func(*config.Config), env ...string) (s *stack.Stack, primary, secondary *sql.DB) {
	t.Helper()
	return standinStack(t, stack.Options{}, configure, env...)
}

// faultStack is failoverStack with the fault layer (stack.Options.Faults) between the worker
// and everything it talks to; primary and secondary are direct connections.
func faultStack(t *testing.T, configure func(*config.Config), env ...string) (s *stack.Stack, primary, secondary *sql.DB) {
	t.Helper()
	return standinStack(t, stack.Options{Faults: true}, configure, env...)
}

// standinStack is failoverStack with more options.
func standinStack(t *testing.T, opts stack.Options, configure func(*config.Config), env ...string) (s *stack.Stack, primary, secondary *sql.DB) {
	t.Helper()
	opts.Standins = true
	opts.Configure = func(c *config.Config) {
		fastConfig(c)
		c.Failover.FenceTimeout = 3 * time.Second
		if configure != nil {
			configure(c)
		}
	}
	s = stack.New(t, opts)
	s.Env = append(s.Env, env...)
	if err := s.StartWorker(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, openDB(t, s.Standin["primary"].DSN("")), openDB(t, s.Standin["secondary"].DSN(""))
}

// createWriterTable creates db in the primary region's bucket with the table t (writer, seq
// and the extra columns given), then runs the other statements.
func createWriterTable(t *testing.T, s *stack.Stack, primary *sql.DB, extraColumns string, stmts ...string) {
	t.Helper()
	execAll(t, primary, append([]string{
		"CREATE DATABASE " + db + " " + onS3(s.MinIO["primary"]),
		"CREATE TABLE " + db + ".t (writer INT NOT NULL, seq INT NOT NULL, " + extraColumns + "PRIMARY KEY (writer, seq))",
	}, stmts...)...)
}

// execAll runs each statement on conn, failing the test at the first error.
func execAll(t *testing.T, conn *sql.DB, stmts ...string) {
	t.Helper()
	for _, stmt := range stmts {
		if _, err := conn.Exec(stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
}

// waitWatermarkPastNewest waits until the replication's watermark passes the newest blob in the
// source folder now (a status read earlier may predate the last writes).
func waitWatermarkPastNewest(t *testing.T, s *stack.Stack, tc client.Client, runID, folder string) {
	t.Helper()
	l, err := store(t, s.MinIO["primary"]).List(context.Background(), folder+"/")
	if err != nil {
		t.Fatal(err)
	}
	var newest time.Time
	for _, o := range l.Objects {
		if o.LastModified.After(newest) {
			newest = o.LastModified
		}
	}
	waitFor(t, 2*time.Minute, "the watermark to pass "+folder+"'s newest blob", func() (bool, error) {
		st, err := queryStatus(context.Background(), tc, runID)
		return err == nil && !st.Watermark.Time.Before(newest), err
	})
}
