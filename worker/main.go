// Command bdr-worker is the bottomless-dr worker: it loads bdr.yaml, builds the region clients
// once, registers the workflows and activities on the task queue, and serves /metrics.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	"google.golang.org/grpc"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/database"
	"github.com/bottomless-dr/bottomless-dr/internal/clients"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bdr-worker:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	flags := flag.NewFlagSet("bdr-worker", flag.ContinueOnError)
	configPath := flags.String("config", "bdr.yaml", "path of bdr.yaml (every key can be overridden by BDR_… environment variables)")
	if err := flags.Parse(args); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	cfg, err := config.Load(*configPath)
	if err != nil {
		return err
	}
	stores, err := clients.Stores(cfg)
	if err != nil {
		return err
	}
	metrics, err := newMetrics(cfg.Telemetry.ServiceName, cfg)
	if err != nil {
		return err
	}
	if cfg.Telemetry.MetricsListen != "" {
		stopMetrics, err := serveMetrics(cfg.Telemetry.MetricsListen, metrics.handler, log)
		if err != nil {
			return err
		}
		defer stopMetrics()
	}
	// hints carries bucket notifications to the Syncs: keys that may be new, copied early.
	var hints *activities.Hints
	if cfg.Replication.NotificationsListen != "" || cfg.Replication.NotificationsSQS.Enabled() {
		hints = activities.NewHints()
	}
	if addr := cfg.Replication.NotificationsListen; addr != "" {
		token := ""
		if env := cfg.Replication.NotificationsTokenEnv; env != "" {
			if token = os.Getenv(env); token == "" {
				return fmt.Errorf("replication.notifications_token_env: environment variable %s is empty or unset", env)
			}
		}
		stopNotifications, err := serveNotifications(addr, &notificationsHandler{hints: hints, token: token, counter: metrics}, log)
		if err != nil {
			return err
		}
		defer stopNotifications()
	}
	if q := cfg.Replication.NotificationsSQS; q.Enabled() {
		reader, err := newSQSReader(q, hints, metrics, log)
		if err != nil {
			return err
		}
		// The reader stops with the worker: readCtx ends when run returns.
		readCtx, stopReading := context.WithCancel(ctx)
		readerDone := make(chan struct{})
		go func() { defer close(readerDone); reader.run(readCtx) }()
		defer func() { stopReading(); <-readerDone }()
	}
	tracer, shutdownTracing, err := newTracer(ctx, cfg.Telemetry.OTLPEndpoint, cfg.Telemetry.ServiceName)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = shutdownTracing(flushCtx)
	}()
	tracing, err := opentelemetry.NewTracingInterceptor(opentelemetry.TracerOptions{Tracer: tracer})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	// heartbeats learns when Temporal last took each Sync's heartbeat: a Sync cut off from
	// Temporal stops copying once that is older than its heartbeat timeout (DESIGN 5a.4).
	heartbeats := activities.NewHeartbeatWatch()
	tc, err := clients.Temporal(cfg, client.Options{
		Logger:       slogAdapter{log},
		Interceptors: []interceptor.ClientInterceptor{tracing},
		ConnectionOptions: client.ConnectionOptions{DialOptions: []grpc.DialOption{
			grpc.WithChainUnaryInterceptor(heartbeats.UnaryClientInterceptor())}},
	})
	if err != nil {
		return err
	}
	defer tc.Close()
	if err := clients.RegisterSearchAttributes(ctx, tc, cfg.Temporal.Namespace); err != nil {
		log.Warn("search attributes not registered; workflows run without them", "error", err)
	}
	w := worker.New(tc, cfg.Temporal.TaskQueue, worker.Options{MaxHeartbeatThrottleInterval: activities.HeartbeatThrottle,
		Interceptors: []interceptor.WorkerInterceptor{&operationInterceptor{}}})
	dsns, err := clients.DSNs(cfg)
	if err != nil {
		return err
	}
	validateDSNs, err := clients.ValidateDSNs(cfg)
	if err != nil {
		return err
	}
	storeCreds, err := clients.StoreCredentials(cfg)
	if err != nil {
		return err
	}
	attachCreds := map[string]database.Credentials{}
	for region, c := range storeCreds {
		attachCreds[region] = database.Credentials{AccessKeyID: c.AccessKeyID, SecretAccessKey: c.SecretAccessKey}
	}
	passwords, err := cfg.Security.ResolvePasswords(os.Getenv)
	if err != nil {
		return err
	}
	cluster := activities.NewCluster(cfg, dsns, validateDSNs, attachCreds, passwords)
	defer activities.CloseCluster(cluster)
	w.RegisterWorkflowWithOptions(workflows.Replicate, workflow.RegisterOptions{Name: workflows.ReplicateName})
	w.RegisterWorkflowWithOptions(workflows.CreateMilestone, workflow.RegisterOptions{Name: workflows.CreateMilestoneName})
	w.RegisterWorkflowWithOptions(workflows.Failover, workflow.RegisterOptions{Name: workflows.FailoverName})
	w.RegisterWorkflowWithOptions(workflows.TestFailover, workflow.RegisterOptions{Name: workflows.TestFailoverName})
	w.RegisterWorkflowWithOptions(workflows.Failback, workflow.RegisterOptions{Name: workflows.FailbackName})
	w.RegisterActivity(&activities.Control{Temporal: tc})
	w.RegisterActivity(&activities.Reporter{Failovers: metrics, Drills: metrics})
	replicatorOpts := []activities.ReplicatorOption{activities.WithHeartbeatWatch(heartbeats)}
	if hints != nil {
		replicatorOpts = append(replicatorOpts, activities.WithHints(hints))
	}
	w.RegisterActivity(activities.NewReplicator(cfg, stores, metrics, replicatorOpts...))
	w.RegisterActivity(cluster)
	log.Info("worker starting", "temporal", cfg.Temporal.Address, "namespace", cfg.Temporal.Namespace,
		"task_queue", cfg.Temporal.TaskQueue, "regions", cfg.RegionNames(), "metrics", cfg.Telemetry.MetricsListen,
		"notifications", cfg.Replication.NotificationsListen, "notifications_sqs", cfg.Replication.NotificationsSQS.QueueURL)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// serveMetrics serves /metrics on addr until the returned function is called.
func serveMetrics(addr string, h http.Handler, log *slog.Logger) (func(), error) {
	return serveHTTP("telemetry.metrics_listen", addr, "/metrics", h, log)
}

// serveHTTP serves h at path on addr, the value of the config key key, until the returned
// function is called.
func serveHTTP(key, addr, path string, h http.Handler, log *slog.Logger) (func(), error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", key, addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle(path, h)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ReadTimeout: 30 * time.Second}
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server", "key", key, "error", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
