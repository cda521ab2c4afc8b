package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// Each contender writes into a bucket of its own in the secondary store, so that nothing is
// skipped as already there. bottomless-dr's worker writes into the stack's bucket (bdr.yaml).
var targetBuckets = map[string]string{
	"warmup":               "bench-warmup",
	contenderRaw:           "bench-raw",
	contenderRclone:        "bench-rclone",
	contenderPlainCopy:     "bench-plain-copy",
	contenderInproc:        "bench-inproc",
	contenderInprocNoCheck: "bench-inproc-nocheck",
}

// env is the running stack and the clients the benchmark uses on it.
type env struct {
	o      options
	dir    string
	stack  *stack.Stack
	src    *stack.MinIO // primary
	dst    *stack.MinIO // secondary
	bucket string       // the stack's bucket, in both regions
	tc     client.Client
	srcS3  *s3.Client // a lean client with a large pool, for seeding and the raw ceiling
	dstS3  *s3.Client

	noiseMu  sync.Mutex
	noiseBuf []byte
	// rcloneCPU is the CPU time of every rclone run so far (they are our children).
	rcloneCPU time.Duration
	// timelines holds the Temporal breakdown of each bottomless-dr run, by dataset.
	timelines map[string]*timeline
}

// startEnv starts Temporal, two MinIO servers and the worker (configured for the initial-sync
// runs: settle_window 1s, the least allowed, poll_interval 100ms) and creates the contenders' buckets.
//
// For the steady-lag run with notifications (-notifications), the primary MinIO gets a webhook
// target at the worker (stack.Options.Notifications), but the bucket's notifications are
// turned off at once and the worker is given no listener: only that run turns both on, so that
// every other run replicates as a worker without notifications does (a worker that reads them
// also waits for its next poll inside a Sync: workflows.Settings.WaitInSync).
func startEnv(ctx context.Context, dir string, o options) (_ *env, err error) {
	notifications := o.notifications && o.lagDuration > 0
	s, err := stack.Start(ctx, stack.Options{
		Dir: dir,
		Databases: []config.Database{
			{Name: "small_db", RootPath: "small"},
			{Name: "large_db", RootPath: "large"},
			{Name: "lag_db", RootPath: "lag"},
		},
		Notifications: notifications,
		Configure: func(c *config.Config) {
			c.Replication.SettleWindow = config.MinSettleWindow // the shortest Validate accepts
			c.Replication.PollInterval = 100 * time.Millisecond
			c.Replication.Concurrency = o.concurrency
			// The periodic full comparison would compete with the measured copy.
			c.Replication.AntiEntropyInterval = 0
			// Stack.NotificationsAddr keeps the address for the notifications run (runLag).
			c.Replication.NotificationsListen = ""
		},
	})
	if err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	e := &env{o: o, dir: dir, stack: s, src: s.MinIO["primary"], dst: s.MinIO["secondary"],
		bucket: s.Config.Regions["primary"].ObjectStore.Bucket, timelines: map[string]*timeline{}}
	defer func() {
		if err != nil {
			e.stop()
		}
	}()
	if notifications {
		if err := e.src.NotifyOff(ctx, e.bucket); err != nil {
			return nil, err
		}
	}
	for _, b := range targetBuckets {
		if err := e.dst.MakeBucket(ctx, b); err != nil {
			return nil, fmt.Errorf("target bucket: %w", err)
		}
	}
	e.srcS3, e.dstS3 = leanS3(e.src, o.concurrency), leanS3(e.dst, o.concurrency)
	if e.tc, err = dialTemporal(s); err != nil {
		return nil, fmt.Errorf("dial temporal: %w", err)
	}
	// Started now so that it is polling by the time a timed run starts a workflow.
	if err := s.StartWorker(ctx); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	return e, nil
}

// stop ends the worker and every server; it is safe to call more than once.
func (e *env) stop() {
	if e.tc != nil {
		e.tc.Close()
		e.tc = nil
	}
	e.stack.Stop()
}

// leanS3 returns an S3 client that does the least work per request: a connection pool as large
// as the concurrency, no payload hashing and no checksums. It is the client of the raw ceiling
// and of the seeding.
func leanS3(m *stack.MinIO, conns int) *s3.Client {
	transport := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		WriteBufferSize:     256 << 10,
		ReadBufferSize:      256 << 10,
	}
	return s3.New(s3.Options{
		BaseEndpoint:               aws.String(m.Endpoint),
		Region:                     "us-east-1",
		UsePathStyle:               true,
		Credentials:                credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
		HTTPClient:                 &http.Client{Transport: transport},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		APIOptions:                 []func(*middleware.Stack) error{v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware},
	})
}

// store returns the project's client for a bucket of a MinIO server, pooled as the worker's.
func (e *env) store(m *stack.MinIO, bucket string) (*objectstore.Client, error) {
	c, err := objectstore.New(objectstore.Options{Endpoint: m.Endpoint, Bucket: bucket, PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey, MaxConns: e.o.concurrency})
	if err != nil {
		return nil, fmt.Errorf("client for %s: %w", bucket, err)
	}
	return c, nil
}

// targetBucket is where a contender writes in the secondary store.
func (e *env) targetBucket(contender string) string {
	if b, ok := targetBuckets[contender]; ok {
		return b
	}
	return e.bucket
}

// checkTarget verifies that a contender's target holds every blob of d with its size, so that
// a fast run that copied too little cannot pass for a fast copy.
func (e *env) checkTarget(ctx context.Context, d dataset, contender string) error {
	c, err := e.store(e.dst, e.targetBucket(contender))
	if err != nil {
		return err
	}
	l, err := c.List(ctx, d.root+"/")
	if err != nil {
		return fmt.Errorf("check target: %w", err)
	}
	var n int
	for _, o := range l.Objects {
		if o.Size == d.size {
			n++
		}
	}
	if n != d.count {
		return fmt.Errorf("check target: %d of %d blobs of %d bytes under %s/%s", n, d.count, d.size, c.Bucket(), d.root)
	}
	return nil
}

// workerLogTail returns the end of the worker's log, to explain a run that never finished.
func (e *env) workerLogTail() string {
	data, err := os.ReadFile(filepath.Join(e.dir, "logs", "worker.log"))
	if err != nil {
		return ""
	}
	if len(data) > 3000 {
		data = data[len(data)-3000:]
	}
	return string(data)
}

var errTimeout = errors.New("timed out")

// dialTemporal connects to the stack's Temporal, logging warnings and errors only.
func dialTemporal(s *stack.Stack) (client.Client, error) {
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	return client.Dial(client.Options{HostPort: s.Temporal.Address, Namespace: s.Config.Temporal.Namespace, Logger: logger})
}
