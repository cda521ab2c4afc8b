package standin_test

import (
	"bufio"
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// One stand-in binary and one MinIO server serve every test of the package; each test has
// its own bucket and its own stand-in processes.
var (
	standinBin string
	minio      *stack.MinIO
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "standin-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	standinBin = filepath.Join(dir, "standin")
	build := exec.Command("go", "build", "-o", standinBin, "./cmd/standin")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build standin:", err)
		return 1
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	minio, err = stack.StartMinIO(ctx, filepath.Join(dir, "minio"), io.Discard)
	if err != nil {
		fmt.Fprintln(os.Stderr, "start minio:", err)
		return 1
	}
	defer minio.Stop()
	return m.Run()
}

const rootPassword = "root-secret"

// newBucket makes a bucket named after the test.
func newBucket(t *testing.T) string {
	t.Helper()
	name := strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-") + fmt.Sprintf("-%d", time.Now().UnixNano()%100000)
	require.NoError(t, minio.MakeBucket(context.Background(), name))
	return name
}

// onS3 is the ON S3 … CONFIG … CREDENTIALS … clause for a location in the test MinIO.
func onS3(bucketPath string) string {
	return fmt.Sprintf(`ON S3 "%s" CONFIG '{"region":"us-east-1","endpoint_url":"%s","s3_force_path_style":"true"}' CREDENTIALS '{"aws_access_key_id":"%s","aws_secret_access_key":"%s"}'`,
		bucketPath, minio.Endpoint, minio.AccessKey, minio.SecretKey)
}

// listKeys returns every key in the bucket under prefix.
func listKeys(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	pages := s3.NewListObjectsV2Paginator(minio.S3(), &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)})
	for pages.HasMorePages() {
		page, err := pages.NextPage(context.Background())
		require.NoError(t, err)
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	return keys
}

func keysWith(keys []string, part string) []string {
	var out []string
	for _, k := range keys {
		if strings.Contains(k, part) {
			out = append(out, k)
		}
	}
	return out
}

func deleteKey(t *testing.T, bucket, key string) {
	t.Helper()
	_, err := minio.S3().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	require.NoError(t, err)
}

func putKey(t *testing.T, bucket, key, body string) {
	t.Helper()
	_, err := minio.S3().PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	require.NoError(t, err)
}

// standinProc is one stand-in child process.
type standinProc struct {
	t        testing.TB
	cmd      *exec.Cmd
	Addr     string
	StateDir string
	done     chan struct{}
}

type standinOpts struct {
	listen        string    // default 127.0.0.1:0
	stateDir      string    // default a new temporary directory
	snapshotEvery int       // default 1000
	debug         bool      // --debug: go-mysql-server logs every statement
	log           io.Writer // also receives the process's stderr (its log) when set
}

func startStandin(t testing.TB, o standinOpts) *standinProc {
	t.Helper()
	if o.listen == "" {
		o.listen = "127.0.0.1:0"
	}
	if o.stateDir == "" {
		o.stateDir = t.TempDir()
	}
	if o.snapshotEvery == 0 {
		o.snapshotEvery = 1000
	}
	args := []string{"--listen", o.listen, "--state-dir", o.stateDir,
		"--root-user", "root", "--root-password", rootPassword, "--snapshot-every", fmt.Sprint(o.snapshotEvery)}
	if o.debug {
		args = append(args, "--debug")
	}
	cmd := exec.Command(standinBin, args...)
	// The child dies with the test binary, even when a timeout panic skips the cleanups.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	cmd.Stderr = &testLog{t: t}
	if o.log != nil {
		cmd.Stderr = io.MultiWriter(cmd.Stderr, o.log)
	}
	require.NoError(t, cmd.Start())
	p := &standinProc{t: t, cmd: cmd, StateDir: o.stateDir, done: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if addr, ok := strings.CutPrefix(sc.Text(), "standin listening on "); ok {
				ready <- addr
			}
		}
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	select {
	case p.Addr = <-ready:
	case <-p.done:
		t.Fatalf("standin exited before it was ready")
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("standin not ready after 60s")
	}
	t.Cleanup(func() { p.Kill9() })
	return p
}

// Kill9 ends the process with SIGKILL, as a crash would.
func (p *standinProc) Kill9() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Stop sends SIGTERM and waits for a clean exit.
func (p *standinProc) Stop() error {
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("standin exited with %d", code)
		}
		return nil
	case <-time.After(20 * time.Second):
		return fmt.Errorf("standin did not exit after SIGTERM")
	}
}

// db opens a connection pool as user (root when empty).
func (p *standinProc) db(t testing.TB, user, password, dbname string) *sql.DB {
	t.Helper()
	if user == "" {
		user, password = "root", rootPassword
	}
	db, err := sql.Open("mysql", fmt.Sprintf("%s:%s@tcp(%s)/%s?parseTime=true", user, password, p.Addr, dbname))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func (p *standinProc) root(t testing.TB) *sql.DB { return p.db(t, "", "", "") }

// testLog forwards a child's stderr to the test log.
type testLog struct {
	mu sync.Mutex
	t  testing.TB
}

func (w *testLog) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	defer func() { _ = recover() }() // the test may be over
	w.t.Logf("standin: %s", strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func mustExec(t testing.TB, db *sql.DB, q string, args ...any) {
	t.Helper()
	_, err := db.Exec(q, args...)
	require.NoError(t, err, q)
}

func count(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(q, args...).Scan(&n), q)
	return n
}

func column(t testing.TB, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.Query(q)
	require.NoError(t, err, q)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		out = append(out, vals[0].String)
	}
	require.NoError(t, rows.Err())
	return out
}
