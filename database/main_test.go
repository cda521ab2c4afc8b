package database

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// The tests run against real servers: stand-ins (test/standin) built once per test binary
// and a MinIO server per test that needs a bucket. Nothing is mocked.

var binDir string

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "database-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := stack.BuildBinaries(ctx, dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// syncBuffer is a server's log, written by the process's output copier and read by the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is one running stand-in and its log.
type server struct {
	*stack.Standin
	log *syncBuffer
}

func startStandin(t *testing.T) *server {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	log := &syncBuffer{}
	s, err := stack.StartStandin(ctx, binDir, t.TempDir(), log)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Stop()
		if t.Failed() {
			t.Logf("stand-in log:\n%s", log.String())
		}
	})
	return &server{Standin: s, log: log}
}

func openClient(t *testing.T, dsn string) *Client {
	t.Helper()
	c, err := Open(context.Background(), dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// store is one MinIO server with a bucket, and how to reach it from SQL.
type store struct {
	m      *stack.MinIO
	bucket string
}

func newStore(t *testing.T) store {
	t.Helper()
	m := stack.NewMinIO(t)
	name := "db-" + strings.ToLower(strings.ReplaceAll(t.Name(), "_", "-"))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.Trim(name, "-")
	require.NoError(t, m.MakeBucket(context.Background(), name))
	return store{m: m, bucket: name}
}

func (s store) config() StoreConfig {
	return StoreConfig{Region: "us-east-1", EndpointURL: s.m.Endpoint, ForcePathStyle: true}
}

func (s store) creds() Credentials {
	return Credentials{AccessKeyID: s.m.AccessKey, SecretAccessKey: s.m.SecretKey}
}

// onS3 is the location clause of CREATE DATABASE, as an operator would type it.
func (s store) onS3(path string) string {
	return fmt.Sprintf("ON S3 %s CONFIG %s CREDENTIALS %s", quoteDouble(s.bucket+"/"+path),
		quoteString(configJSON(s.config())), quoteString(credentialsJSON(s.creds())))
}

func (s store) spec(db, path string) AttachSpec {
	return AttachSpec{Database: db, Bucket: s.bucket, Path: path, Store: s.config(), Creds: s.creds()}
}

func mustExec(t *testing.T, c *Client, q string) {
	t.Helper()
	_, err := c.Exec(context.Background(), q)
	require.NoError(t, err, redactString(q)) // the statement may hold CREDENTIALS
}

// count runs a SELECT COUNT(*) and returns the number as text.
func count(t *testing.T, c *Client, q string) string {
	t.Helper()
	res, err := c.Validate(context.Background(), []string{q})
	require.NoError(t, err, q)
	require.Len(t, res, 1)
	require.Equal(t, 1, res[0].Rows, q)
	return res[0].FirstRow[0]
}
