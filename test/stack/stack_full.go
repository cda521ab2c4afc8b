package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// Options shape a stack. The zero value is a stack with two regions (primary, secondary),
// one database (bottomless_db in bottomless_db_folder), no Web UI and no worker started.
type Options struct {
	Dir       string   // where data, logs and bdr.yaml go; required
	Regions   []string // default primary, secondary
	Databases []config.Database
	Bucket    string // in every region; default bottomless-db-bucket
	UI        bool   // serve the Temporal Web UI
	// Standins starts one stand-in bottomless database per region (test/standin); its DSN is
	// referenced from bdr.yaml as <REGION>_DB_DSN.
	Standins bool
	// Faults puts the fault layer (Stack.Faults) between the worker and each region's object
	// store and database and the Temporal frontend: bdr.yaml points at its proxies, and the
	// worker alone reaches Temporal through one. The tests' own endpoints stay direct.
	Faults bool
	// RecordStoreRequests puts a request recorder (recorder.go) in front of each region's
	// MinIO, behind the fault layer: Stack.StoreRequests tells which requests reached the
	// store and which bdr operation made each.
	RecordStoreRequests bool
	// Notifications makes the first region's MinIO post bucket event notifications of the
	// bucket's new blobs to the worker (replication.notifications_listen, on a free port),
	// which copies those blobs early. Stack.NotificationsAddr is where the worker listens.
	Notifications bool
	// SQS starts goaws (an SQS server, goaws.go) with a queue, SQSQueue, that the worker reads
	// S3 event notifications from (replication.notifications_sqs, its credentials in Env).
	// MinIO cannot send to SQS: a test sends what AWS S3 would (Stack.SQS.Client()).
	SQS bool
	// Configure may change the configuration before it is written (settle window, …).
	Configure func(*config.Config)
	// Logs receives every server's output; default: a file per server under Dir/logs.
	Logs func(name string) io.Writer
}

// SQSQueue is the name of Options.SQS's queue.
const SQSQueue = "bdr-notifications"

// Stack is a running set of real servers and the bdr.yaml that points at them.
type Stack struct {
	Dir        string
	ConfigPath string
	Config     *config.Config
	Temporal   *Temporal
	MinIO      map[string]*MinIO
	Standin    map[string]*Standin // with Options.Standins
	Faults     *Faults             // with Options.Faults
	// Env holds the variables bdr.yaml refers to (the stores' credentials): give them to the
	// worker and to bdr, never to a workflow.
	Env    []string
	BinDir string
	// NotificationsAddr is the worker's notifications listener (host:port), with
	// Options.Notifications.
	NotificationsAddr string
	// SQS is the queue of bucket notifications the worker reads, with Options.SQS.
	SQS *SQS

	opts      Options
	worker    *Process
	spare     *Process             // StartSpareWorker's
	workerEnv []string             // the worker's own variables, on top of Env
	recorders map[string]*recorder // by region, with Options.RecordStoreRequests
}

// Start starts Temporal and one MinIO per region, creates the buckets, builds the worker and
// bdr, and writes bdr.yaml. Stop ends everything.
func Start(ctx context.Context, opts Options) (_ *Stack, err error) {
	if opts.Dir == "" {
		return nil, errors.New("stack: Dir is required")
	}
	if len(opts.Regions) == 0 {
		opts.Regions = []string{"primary", "secondary"}
	}
	if len(opts.Databases) == 0 {
		opts.Databases = []config.Database{{Name: "bottomless_db", RootPath: "bottomless_db_folder"}}
	}
	if opts.Bucket == "" {
		opts.Bucket = "bottomless-db-bucket"
	}
	if opts.Logs == nil {
		logDir := filepath.Join(opts.Dir, "logs")
		if err := os.MkdirAll(logDir, 0o755); err != nil {
			return nil, err
		}
		opts.Logs = func(name string) io.Writer {
			f, err := os.OpenFile(filepath.Join(logDir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
			if err != nil {
				return io.Discard
			}
			return f
		}
	}
	s := &Stack{Dir: opts.Dir, MinIO: map[string]*MinIO{}, Standin: map[string]*Standin{}, BinDir: filepath.Join(opts.Dir, "bin"), opts: opts}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	// Build our binaries while the servers start: both take a while on two cores.
	built := make(chan error, 1)
	go func() { built <- BuildBinaries(ctx, s.BinDir) }()
	if s.Temporal, err = StartTemporal(ctx, opts.UI, opts.Logs("temporal")); err != nil {
		return nil, err
	}
	if opts.Faults {
		s.Faults = NewFaults()
	}
	// via returns the address clients of target use: its proxy with Options.Faults.
	via := func(target Target, addr string) (string, error) {
		if s.Faults == nil {
			return addr, nil
		}
		return s.Faults.Add(target, addr)
	}
	cfg := config.Default()
	cfg.Temporal.Address = s.Temporal.Address
	if s.Faults != nil {
		addr, err := via(TemporalFrontend, s.Temporal.Address)
		if err != nil {
			return nil, err
		}
		// The environment overrides bdr.yaml for the worker only: bdr keeps a direct line.
		s.workerEnv = append(s.workerEnv, config.EnvPrefix+"_TEMPORAL_ADDRESS="+addr)
	}
	cfg.Regions = map[string]config.Region{}
	cfg.Databases = opts.Databases
	cfg.Telemetry.MetricsListen = ""
	if opts.Notifications {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.NotificationsAddr = fmt.Sprintf("127.0.0.1:%d", port)
		cfg.Replication.NotificationsListen = s.NotificationsAddr
	}
	if opts.SQS {
		if s.SQS, err = StartGoAWS(ctx, filepath.Join(opts.Dir, "goaws"), SQSQueue, opts.Logs("goaws")); err != nil {
			return nil, err
		}
		cfg.Replication.NotificationsSQS = config.SQS{QueueURL: s.SQS.QueueURL, Region: s.SQS.Region, Endpoint: s.SQS.Endpoint,
			AccessKeyIDEnv: "SQS_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: "SQS_AWS_SECRET_ACCESS_KEY"}
		s.Env = append(s.Env, "SQS_AWS_ACCESS_KEY_ID="+s.SQS.AccessKey, "SQS_AWS_SECRET_ACCESS_KEY="+s.SQS.SecretKey)
	}
	for i, region := range opts.Regions {
		var env []string
		notify := opts.Notifications && i == 0
		if notify {
			env = NotifyEnv("http://" + s.NotificationsAddr + "/notifications")
		}
		m, err := StartMinIOWith(ctx, filepath.Join(opts.Dir, "minio-"+region), opts.Logs("minio-"+region), env)
		if err != nil {
			return nil, err
		}
		s.MinIO[region] = m
		if err := m.MakeBucket(ctx, opts.Bucket); err != nil {
			return nil, err
		}
		if notify {
			if err := m.NotifyOnCreate(ctx, opts.Bucket); err != nil {
				return nil, err
			}
		}
		storeAddr, err := s.recordStore(region, m)
		if err != nil {
			return nil, err
		}
		if storeAddr, err = via(StoreOf(region), storeAddr); err != nil {
			return nil, err
		}
		prefix := strings.ToUpper(region)
		cfg.Regions[region] = config.Region{ObjectStore: config.ObjectStore{
			Endpoint: "http://" + storeAddr, Region: "us-east-1", Bucket: opts.Bucket, PathStyle: true,
			AccessKeyIDEnv: prefix + "_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: prefix + "_AWS_SECRET_ACCESS_KEY",
		}}
		s.Env = append(s.Env, prefix+"_AWS_ACCESS_KEY_ID="+m.AccessKey, prefix+"_AWS_SECRET_ACCESS_KEY="+m.SecretKey)
	}
	if err := <-built; err != nil {
		return nil, err
	}
	if opts.Standins {
		for _, region := range opts.Regions {
			db, err := StartStandin(ctx, s.BinDir, filepath.Join(opts.Dir, "standin-"+region), opts.Logs("standin-"+region))
			if err != nil {
				return nil, err
			}
			s.Standin[region] = db
			dbAddr, err := via(DatabaseOf(region), db.Addr)
			if err != nil {
				return nil, err
			}
			prefix := strings.ToUpper(region)
			r := cfg.Regions[region]
			r.Database = config.DatabaseConn{DSNEnv: prefix + "_DB_DSN"}
			cfg.Regions[region] = r
			s.Env = append(s.Env, prefix+"_DB_DSN="+db.DSNAt(dbAddr, ""))
		}
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	s.Config = &cfg
	s.ConfigPath = filepath.Join(opts.Dir, "bdr.yaml")
	if err := config.Write(s.ConfigPath, &cfg); err != nil {
		return nil, err
	}
	return s, nil
}

// New starts a stack for a test in a temporary directory and stops it at cleanup. Server logs
// go to files; on failure their tails are printed.
func New(t testing.TB, opts Options) *Stack {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	s, err := Start(ctx, opts)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s.dumpLogs(t)
		}
		s.Stop()
	})
	return s
}

func (s *Stack) dumpLogs(t testing.TB) {
	logs, _ := filepath.Glob(filepath.Join(s.Dir, "logs", "*.log"))
	for _, path := range logs {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		if len(data) > 8000 {
			data = data[len(data)-8000:]
		}
		t.Logf("=== %s (tail) ===\n%s", filepath.Base(path), data)
	}
}

// StartWorker starts the worker with bdr.yaml and the stores' credentials in its environment.
func (s *Stack) StartWorker(ctx context.Context) error {
	if s.worker != nil && !s.worker.Exited() {
		return errors.New("stack: worker already running")
	}
	p, err := startProcess("bdr-worker", filepath.Join(s.BinDir, "bdr-worker"),
		[]string{"--config", s.ConfigPath}, append(append([]string{}, s.Env...), s.workerEnv...), s.opts.Logs("worker"))
	if err != nil {
		return err
	}
	s.worker = p
	return nil
}

// StartSpareWorker starts a second worker that reaches Temporal, the stores and the databases
// directly, past the fault layer (its own copy of bdr.yaml, bdr-spare.yaml): with the first
// one cut off from Temporal (a zombie), it is the worker that carries on. With
// Options.RecordStoreRequests its store requests are recorded too.
func (s *Stack) StartSpareWorker(ctx context.Context) error {
	if s.spare != nil && !s.spare.Exited() {
		return errors.New("stack: spare worker already running")
	}
	cfg := *s.Config
	cfg.Regions = map[string]config.Region{}
	env := append([]string{}, s.Env...)
	for name, r := range s.Config.Regions {
		r.ObjectStore.Endpoint = s.MinIO[name].Endpoint
		if rec, ok := s.recorders[name]; ok {
			r.ObjectStore.Endpoint = "http://" + rec.addr // past the faults, not past the record
		}
		cfg.Regions[name] = r
		if db, ok := s.Standin[name]; ok {
			env = append(env, strings.ToUpper(name)+"_DB_DSN="+db.DSN(""))
		}
	}
	path := filepath.Join(s.Dir, "bdr-spare.yaml")
	if err := config.Write(path, &cfg); err != nil {
		return err
	}
	p, err := startProcess("bdr-worker-spare", filepath.Join(s.BinDir, "bdr-worker"), []string{"--config", path}, env, s.opts.Logs("worker-spare"))
	if err != nil {
		return err
	}
	s.spare = p
	return nil
}

// KillWorker ends the worker with SIGKILL, as a crash would.
func (s *Stack) KillWorker() error { return s.worker.Kill() }

// KillSpareWorker ends StartSpareWorker's worker with SIGKILL, as a crash would.
func (s *Stack) KillSpareWorker() error { return s.spare.Kill() }

// FreezeSpareWorker stops StartSpareWorker's worker (SIGSTOP) where it is; ThawSpareWorker
// lets it go on.
func (s *Stack) FreezeSpareWorker() error { return s.spare.Signal(syscall.SIGSTOP) }

// ThawSpareWorker resumes a frozen spare worker.
func (s *Stack) ThawSpareWorker() error { return s.spare.Signal(syscall.SIGCONT) }

// WorkerPID returns the process id of the worker StartWorker started last (0 if none): the
// SDK's default worker identity, which bdr-worker keeps, is "<pid>@<host>@…".
func (s *Stack) WorkerPID() int {
	if s.worker == nil {
		return 0
	}
	return s.worker.Pid()
}

// SparePID is WorkerPID for StartSpareWorker's worker.
func (s *Stack) SparePID() int {
	if s.spare == nil {
		return 0
	}
	return s.spare.Pid()
}

// FreezeWorker stops the worker (SIGSTOP) where it is, so that a test can see what it was
// doing and kill it there; ThawWorker lets it go on (SIGCONT).
func (s *Stack) FreezeWorker() error { return s.worker.Signal(syscall.SIGSTOP) }

// ThawWorker resumes a frozen worker.
func (s *Stack) ThawWorker() error { return s.worker.Signal(syscall.SIGCONT) }

// StopWorker ends the worker gracefully.
func (s *Stack) StopWorker() error { return s.worker.Stop() }

// Bdr runs the bdr CLI with this stack's config and credentials; it returns stdout and, on
// failure, an error carrying stderr.
func (s *Stack) Bdr(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(s.BinDir, "bdr"), append([]string{"--config", s.ConfigPath}, args...)...)
	cmd.Env = append(os.Environ(), s.Env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("bdr %s: %w: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// Stop ends every server of the stack; it is safe to call more than once.
func (s *Stack) Stop() {
	_ = s.worker.Stop()
	_ = s.spare.Stop()
	for _, db := range s.Standin {
		_ = db.Stop()
	}
	for _, m := range s.MinIO {
		if m.proc != nil {
			_ = m.Stop()
		}
	}
	if s.Temporal != nil {
		_ = s.Temporal.Stop()
	}
	_ = s.SQS.Stop()
	if s.Faults != nil {
		s.Faults.Close()
	}
	for _, rec := range s.recorders {
		rec.close()
	}
}

// recordStore returns the address (host:port) at which the worker and bdr reach region's
// MinIO m: its recorder's, started here, with Options.RecordStoreRequests, else m's own.
func (s *Stack) recordStore(region string, m *MinIO) (string, error) {
	addr := strings.TrimPrefix(m.Endpoint, "http://")
	if !s.opts.RecordStoreRequests {
		return addr, nil
	}
	rec, err := startRecorder(addr, s.opts.Logs("recorder-"+region))
	if err != nil {
		return "", err
	}
	if s.recorders == nil {
		s.recorders = map[string]*recorder{}
	}
	s.recorders[region] = rec
	return rec.addr, nil
}
