package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// MinIO is one running MinIO server: one region's object store.
type MinIO struct {
	Endpoint  string // http://127.0.0.1:PORT, path-style, region us-east-1
	AccessKey string
	SecretKey string
	DataDir   string
	proc      *Process
	logw      io.Writer
	addr      string
	env       []string // more of the server's environment (StartMinIOWith)
}

// StartMinIO starts a MinIO server storing its data in dataDir, with fresh root credentials.
func StartMinIO(ctx context.Context, dataDir string, logw io.Writer) (*MinIO, error) {
	return StartMinIOWith(ctx, dataDir, logw, nil)
}

// StartMinIOWith is StartMinIO with more variables in the server's environment (a
// notification target, …); Restart keeps them.
func StartMinIOWith(ctx context.Context, dataDir string, logw io.Writer, env []string) (*MinIO, error) {
	bin, err := EnsureBinary(ctx, "minio", MinIOModule)
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	m := &MinIO{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "bdr" + randomHex(6),
		SecretKey: randomHex(20),
		DataDir:   dataDir,
		logw:      logw,
		addr:      fmt.Sprintf("127.0.0.1:%d", port),
		env:       env,
	}
	return m, m.start(ctx, bin)
}

func (m *MinIO) start(ctx context.Context, bin string) error {
	consolePort, err := FreePort()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(m.DataDir, 0o755); err != nil {
		return fmt.Errorf("minio data dir: %w", err)
	}
	args := []string{"server", m.DataDir, "--quiet", "--address", m.addr,
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort)}
	env := []string{
		"MINIO_ROOT_USER=" + m.AccessKey, "MINIO_ROOT_PASSWORD=" + m.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_PROMETHEUS_AUTH_TYPE=public",
	}
	env = append(env, m.env...)
	p, err := startProcess("minio "+m.addr, bin, args, env, m.logw)
	if err != nil {
		return err
	}
	m.proc = p
	if err := waitHTTP(ctx, p, m.Endpoint+"/minio/health/ready", 60*time.Second); err != nil {
		_ = p.Kill()
		return err
	}
	return nil
}

// Restart starts the server again on the same address and data, after Stop or Kill.
func (m *MinIO) Restart(ctx context.Context) error {
	bin, err := EnsureBinary(ctx, "minio", MinIOModule)
	if err != nil {
		return err
	}
	return m.start(ctx, bin)
}

// NewMinIO starts a MinIO server for a test in a temporary directory and stops it at cleanup.
func NewMinIO(t testing.TB) *MinIO {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	m, err := StartMinIO(ctx, t.TempDir(), testLogWriter(t, "minio"))
	if err != nil {
		t.Fatalf("start minio: %v", err)
	}
	t.Cleanup(func() { _ = m.Stop() })
	return m
}

// MakeBucket creates a bucket; an existing bucket owned by us is fine.
func (m *MinIO) MakeBucket(ctx context.Context, name string) error {
	_, err := m.S3().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	var owned *types.BucketAlreadyOwnedByYou
	if err != nil && !errors.As(err, &owned) {
		return fmt.Errorf("make bucket %s: %w", name, err)
	}
	return nil
}

// NotifyTarget is the ARN of the webhook target NotifyEnv configures (MinIO's region unset).
const NotifyTarget = "arn:minio:sqs::BDR:webhook"

// NotifyEnv returns the environment of a MinIO server that posts bucket event notifications
// to endpoint (http://host:port/notifications) as webhook target BDR (NotifyTarget). Without
// a queue directory: an event the endpoint does not take (not listening yet) is dropped, and
// one it takes is sent at once. With MINIO_NOTIFY_WEBHOOK_QUEUE_DIR_BDR set, MinIO would keep
// every event on disk and a loop would send what is queued every 3 s (internal/store's
// retryInterval), even with the endpoint up: longer than a settle window, so later than the
// listing that finds the blob. A notification is a hint: lost, it costs only speed.
func NotifyEnv(endpoint string) []string {
	return []string{"MINIO_NOTIFY_WEBHOOK_ENABLE_BDR=on", "MINIO_NOTIFY_WEBHOOK_ENDPOINT_BDR=" + endpoint}
}

// NotifyOnCreate makes bucket post an event for every blob created in it to NotifyTarget
// (PutBucketNotificationConfiguration). MinIO registers its notification targets after it
// reports ready (server-main.go's initBucketTargets, in the background): until then it
// answers InvalidArgument ("destination ARN does not exist"), and NotifyOnCreate tries again.
func (m *MinIO) NotifyOnCreate(ctx context.Context, bucket string) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := m.S3().PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
			Bucket: aws.String(bucket),
			NotificationConfiguration: &types.NotificationConfiguration{QueueConfigurations: []types.QueueConfiguration{{
				Id: aws.String("bdr"), QueueArn: aws.String(NotifyTarget), Events: []types.Event{types.EventS3ObjectCreated},
			}}},
		})
		if err == nil {
			return nil
		}
		if !strings.Contains(err.Error(), "ARN does not exist") || time.Now().After(deadline) {
			return fmt.Errorf("bucket notification of %s: %w", bucket, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// NotifyOff removes bucket's event notifications (an empty PutBucketNotificationConfiguration):
// from then on the server posts no event of it, as if they were lost.
func (m *MinIO) NotifyOff(ctx context.Context, bucket string) error {
	if _, err := m.S3().PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket), NotificationConfiguration: &types.NotificationConfiguration{}}); err != nil {
		return fmt.Errorf("bucket notification of %s off: %w", bucket, err)
	}
	return nil
}

// Stop ends the server gracefully.
func (m *MinIO) Stop() error { return m.proc.Stop() }

// Kill ends the server with SIGKILL, as a region failure would.
func (m *MinIO) Kill() error { return m.proc.Kill() }

// PutRequests returns how many PutObject and multipart part uploads the server has answered
// since it started, read from its own Prometheus metrics: the tests' independent count of
// what the replicator wrote.
func (m *MinIO) PutRequests(ctx context.Context) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.Endpoint+"/minio/v2/metrics/node", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("minio metrics: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("minio metrics: %w", err)
	}
	return sumMetric(string(body), "minio_s3_requests_total", []string{`api="putobject"`, `api="copyobject"`, `api="putobjectpart"`, `api="copyobjectpart"`}), nil
}
