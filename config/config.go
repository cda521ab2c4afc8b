// Package config loads and validates bdr.yaml, the one configuration file of
// bottomless-dr, and resolves the secrets it references.
//
// The file is read by Load (viper: the YAML file, then BDR_… environment
// overrides, then strict decoding and Validate). Everything else in the
// project receives a *Config and never sees viper. Secrets are never part of
// a Config: the file names an environment variable or a file holding each
// secret, and ResolveCredentials/ResolveDSN read them at the moment a client
// is built, so a Config can be logged, written back (Write) or compared
// without leaking anything.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"
)

// Config is the whole of bdr.yaml. The zero value is not valid; start from
// Default() or Load.
type Config struct {
	Temporal    Temporal          `mapstructure:"temporal"`
	Regions     map[string]Region `mapstructure:"regions"` // region name -> region; names match ^[a-z][a-z0-9_-]{0,31}$
	Databases   []Database        `mapstructure:"databases"`
	Replication Replication       `mapstructure:"replication"`
	Telemetry   Telemetry         `mapstructure:"telemetry"`
	Security    Security          `mapstructure:"security"`
	Failover    Failover          `mapstructure:"failover"`
}

// Failover tunes failovers (DESIGN 4).
type Failover struct {
	// FenceTimeout bounds how long an unplanned failover tries to detach the database in the
	// failed region before it declares that region lost and attaches without it.
	FenceTimeout time.Duration `mapstructure:"fence_timeout"`
	// DrainTimeout bounds how long a planned switchover's drain (copying everything the
	// detached primary wrote to the target) may take; past it the switchover rolls back and
	// the database is attached again where it was. Between 0 (exclusive) and 6h.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`
	// MaxLag is the replication lag above which a planned switchover refuses to start: the
	// drain, during which the database is attached nowhere, would last about as long. > 0.
	MaxLag time.Duration `mapstructure:"max_lag"`
	// UnplannedDrainTimeout bounds how long an unplanned failover keeps copying from the
	// failed region while its bucket still answers, before it seals the target to the
	// watermark; 0 seals at once (no drain). >= 0.
	UnplannedDrainTimeout time.Duration `mapstructure:"unplanned_drain_timeout"`
	// Retention is how far back a point-in-time attach can go: set it to the clusters'
	// bottomless_gc_retention_period_minutes. An at.time older than now minus Retention is
	// refused before anything changes, instead of failing in the middle of a failover.
	Retention time.Duration `mapstructure:"retention"`
}

// Security says how users are carried over by a failover. Password hashes cannot be exported
// from SingleStore, so a migrated user's password comes from a secret reference here; a user
// without one is created with an unusable password and reported as locked.
type Security struct {
	Passwords []UserPassword `mapstructure:"passwords"`
}

// UserPassword references the password of one user ('user'@'host').
type UserPassword struct {
	User         string `mapstructure:"user"`
	Host         string `mapstructure:"host"` // default %
	PasswordEnv  string `mapstructure:"password_env"`
	PasswordFile string `mapstructure:"password_file"`
}

// Temporal says where the Temporal frontend is, which namespace and task
// queue the worker and the bdr CLI use, and how they authenticate (TLS, an API
// key: what Temporal Cloud asks for). Secrets are referenced, never inlined.
type Temporal struct {
	Address   string      `mapstructure:"address"`
	Namespace string      `mapstructure:"namespace"`
	TaskQueue string      `mapstructure:"task_queue"`
	TLS       TemporalTLS `mapstructure:"tls"`
	// APIKeyEnv names the environment variable holding an API key (Temporal
	// Cloud), sent as a bearer token. With a key, the connection uses TLS even
	// when the tls section is empty (the system's root certificates).
	APIKeyEnv string `mapstructure:"api_key_env"`
}

// TemporalTLS secures the connection to Temporal. It is in use (Active) when
// Enabled is set or any other key is: with only Enabled, the server is
// verified against the system's root certificates; CAFile replaces them;
// CertFile and KeyFile (both or neither) are the client's certificate for
// mutual TLS; ServerName overrides the name the server's certificate must
// hold; InsecureSkipVerify turns verification off (tests only). The files are
// PEM and are read when the client is built, not by Validate.
type TemporalTLS struct {
	Enabled            bool   `mapstructure:"enabled"`
	CAFile             string `mapstructure:"ca_file"`
	CertFile           string `mapstructure:"cert_file"`
	KeyFile            string `mapstructure:"key_file"`
	ServerName         string `mapstructure:"server_name"`
	InsecureSkipVerify bool   `mapstructure:"insecure_skip_verify"`
}

// Active reports whether the connection to Temporal uses TLS by t's keys (an
// API key turns TLS on too, in the Temporal SDK).
func (t TemporalTLS) Active() bool { return t != TemporalTLS{} }

// Region is one place a database can live: an object-store bucket and,
// optionally, the SingleStore cluster that attaches databases from it.
type Region struct {
	ObjectStore ObjectStore  `mapstructure:"object_store"`
	Database    DatabaseConn `mapstructure:"database"`
}

// ObjectStore is an S3-compatible bucket. Credentials are referenced by the
// name of an environment variable (…_env) or a file (…_file), exactly one of
// the two for each of the key ID and the secret.
type ObjectStore struct {
	Endpoint            string `mapstructure:"endpoint"`
	Region              string `mapstructure:"region"`
	Bucket              string `mapstructure:"bucket"`
	PathStyle           bool   `mapstructure:"path_style"`
	AccessKeyIDEnv      string `mapstructure:"access_key_id_env"`
	SecretAccessKeyEnv  string `mapstructure:"secret_access_key_env"`
	AccessKeyIDFile     string `mapstructure:"access_key_id_file"`
	SecretAccessKeyFile string `mapstructure:"secret_access_key_file"`
}

// DatabaseConn references the DSN (go-sql-driver/mysql form) of a region's
// SingleStore cluster: at most one of DSNEnv and DSNFile. It is optional in
// this release: a region without one can hold replicas but cannot attach.
//
// ValidateDSNEnv / ValidateDSNFile (at most one, optional, and only beside a
// DSN) reference a second DSN, of a user that may only read, on which a
// failover's or a drill's validation queries run; without one they run on the
// main DSN, whose user can attach, detach and grant. The query check
// (database.CheckReadOnly) is a guard; this user's privileges are the boundary.
type DatabaseConn struct {
	DSNEnv          string `mapstructure:"dsn_env"`
	DSNFile         string `mapstructure:"dsn_file"`
	ValidateDSNEnv  string `mapstructure:"validate_dsn_env"`
	ValidateDSNFile string `mapstructure:"validate_dsn_file"`
}

// HasDSN reports whether c references a DSN.
func (c DatabaseConn) HasDSN() bool { return c.DSNEnv != "" || c.DSNFile != "" }

// HasValidateDSN reports whether c references a read-only DSN for validation queries.
func (c DatabaseConn) HasValidateDSN() bool { return c.ValidateDSNEnv != "" || c.ValidateDSNFile != "" }

// Database is one bottomless database to protect. RootPath is the folder,
// inside every region's bucket, that holds the database's blobs.
type Database struct {
	Name     string `mapstructure:"name"`
	RootPath string `mapstructure:"root_path"`
}

// Replication tunes the copy loop; see DESIGN section 5 for the semantics.
type Replication struct {
	PollInterval       time.Duration `mapstructure:"poll_interval"`
	SettleWindow       time.Duration `mapstructure:"settle_window"`
	Concurrency        int           `mapstructure:"concurrency"`
	BatchMaxObjects    int           `mapstructure:"batch_max_objects"`
	BatchMaxBytes      ByteSize      `mapstructure:"batch_max_bytes"`
	Order              string        `mapstructure:"order"`
	Exclude            []string      `mapstructure:"exclude"`
	DeleteDelay        Delay         `mapstructure:"delete_delay"` // from a blob leaving the source to the target deleting its copy; >= failover.retention, or NeverDelete
	MultipartThreshold ByteSize      `mapstructure:"multipart_threshold"`
	PartSize           ByteSize      `mapstructure:"part_size"`
	// AntiEntropyInterval is how often a full comparison of source and target runs to find
	// and repair any blob the incremental path missed (DESIGN 5.1); 0 turns it off.
	AntiEntropyInterval time.Duration `mapstructure:"anti_entropy_interval"`
	// EarlyCopies copies a blob as soon as a listing shows it, before it is eligible (older
	// than the settle window): data reaches the target sooner, while the watermark still
	// moves only on a listing after the settle window (replication/early.go). false copies
	// only eligible blobs. Ignored with order: strict.
	EarlyCopies bool `mapstructure:"early_copies"`
	// NotificationsListen is the host:port on which the worker takes S3/MinIO bucket event
	// notifications (POST /notifications, a MinIO webhook target): each new blob it names is
	// a hint, copied at once like an early copy, so that data reaches the target about as
	// fast as the store's own replication. Empty: off. Hints change nothing but speed: the
	// watermark still moves only on listings (DESIGN 5a.6).
	NotificationsListen string `mapstructure:"notifications_listen"`
	// NotificationsTokenEnv names an environment variable holding a token that every POST to
	// /notifications must carry as "Authorization: Bearer <token>" (a MinIO webhook target's
	// auth_token). Empty: no token asked.
	NotificationsTokenEnv string `mapstructure:"notifications_token_env"`
	// NotificationsSQS reads S3 event notifications from an Amazon SQS queue, where AWS S3
	// sends them (it cannot post a webhook), directly or through an EventBridge rule: the same
	// hints as notifications_listen's. Off while its queue_url is empty.
	NotificationsSQS SQS `mapstructure:"notifications_sqs"`
}

// SQS is an Amazon SQS queue that the worker reads (worker/sqs.go), or one of an
// SQS-compatible server at Endpoint. Credentials are referenced as ObjectStore's are: the name
// of an environment variable (…_env) or a file (…_file), exactly one of the two for each of
// the key ID and the secret; ResolveCredentials reads them.
type SQS struct {
	// QueueURL is the queue's URL (https://sqs.<region>.amazonaws.com/<account>/<name>).
	// Empty: off.
	QueueURL string `mapstructure:"queue_url"`
	// Region is the queue's AWS region, which requests are signed for; required with QueueURL.
	Region string `mapstructure:"region"`
	// Endpoint overrides the SQS endpoint (an SQS-compatible server, a VPC endpoint); empty:
	// AWS's own for Region.
	Endpoint            string `mapstructure:"endpoint"`
	AccessKeyIDEnv      string `mapstructure:"access_key_id_env"`
	SecretAccessKeyEnv  string `mapstructure:"secret_access_key_env"`
	AccessKeyIDFile     string `mapstructure:"access_key_id_file"`
	SecretAccessKeyFile string `mapstructure:"secret_access_key_file"`
}

// Enabled reports whether the worker reads the queue.
func (q SQS) Enabled() bool { return q.QueueURL != "" }

// Telemetry configures traces (OTLP, disabled when OTLPEndpoint is empty) and
// the Prometheus /metrics listener (disabled when MetricsListen is empty).
type Telemetry struct {
	OTLPEndpoint  string `mapstructure:"otlp_endpoint"`
	MetricsListen string `mapstructure:"metrics_listen"`
	ServiceName   string `mapstructure:"service_name"`
}

// Replication orders accepted in replication.order.
const (
	OrderSealed = "sealed" // copy in parallel, seal the target to the watermark before attaching
	OrderStrict = "strict" // stage each batch, then move it into place in write order
)

// StorageLocksExclude matches every database's storage locks
// (<root>/<storage-id>/storage_locks/<n>_<n>). Load puts it into
// replication.exclude whatever the file and the environment say: a copied lock
// would make the target refuse ATTACH, and a lock is never a database's data
// (DESIGN 5.4).
const StorageLocksExclude = "*/storage_locks/*"

// DefaultObjectStoreRegion is the signing region used when a region's
// object_store.region is empty; S3-compatible stores such as MinIO accept it.
const DefaultObjectStoreRegion = "us-east-1"

// Default returns the configuration used for every key the file and the
// environment leave unset. It has no regions and no databases, so it does not
// pass Validate on its own.
func Default() Config {
	return Config{
		Temporal: Temporal{
			Address:   "127.0.0.1:7233",
			Namespace: "default",
			TaskQueue: "bottomless-dr",
		},
		Replication: Replication{
			PollInterval:    time.Second,
			SettleWindow:    2 * time.Second,
			Concurrency:     32,
			BatchMaxObjects: 1000,
			BatchMaxBytes:   GiB,
			Order:           OrderSealed,
			// Storage locks belong to the cluster that holds them; copying one
			// would make the target refuse ATTACH (DESIGN 5.4). Load keeps the
			// pattern whatever the file says (fillDefaults).
			Exclude:             []string{StorageLocksExclude},
			DeleteDelay:         Delay(7 * 24 * time.Hour), // the default failover.retention, SingleStore Helios' 7 days: a shorter delay would let the target lose blobs a point-in-time attach inside the window needs
			MultipartThreshold:  64 * MiB,
			PartSize:            16 * MiB,
			AntiEntropyInterval: time.Hour,
			EarlyCopies:         true,
		},
		Failover: Failover{
			FenceTimeout:          10 * time.Second,
			DrainTimeout:          5 * time.Minute,
			MaxLag:                30 * time.Second,
			UnplannedDrainTimeout: 30 * time.Second,
			Retention:             7 * 24 * time.Hour, // SingleStore Helios' default retention
		},
		Telemetry: Telemetry{
			MetricsListen: "127.0.0.1:9464",
			ServiceName:   "bottomless-dr",
		},
	}
}

// fillDefaults sets the per-region defaults that viper cannot express because
// region names are not known in advance, and the values no file may remove:
// StorageLocksExclude leads replication.exclude (added when a configured list
// lacks it, so "exclude: [\"*/tmp/*\"]" or "exclude: []" still excludes locks).
func (c *Config) fillDefaults() {
	if len(c.Security.Passwords) == 0 {
		c.Security.Passwords = nil // "passwords: []" and no key at all mean the same
	}
	if !slices.Contains(c.Replication.Exclude, StorageLocksExclude) {
		c.Replication.Exclude = append([]string{StorageLocksExclude}, c.Replication.Exclude...)
	}
	for name, r := range c.Regions {
		if r.ObjectStore.Region == "" {
			r.ObjectStore.Region = DefaultObjectStoreRegion
			c.Regions[name] = r
		}
	}
}

// Database returns the configured database called name.
func (c *Config) Database(name string) (Database, error) {
	names := make([]string, 0, len(c.Databases))
	for _, d := range c.Databases {
		if d.Name == name {
			return d, nil
		}
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return Database{}, notFoundError(fmt.Sprintf("database: unknown database %q (configured: %s)", name, strings.Join(names, ", ")))
}

// Region returns the configured region called name.
func (c *Config) Region(name string) (Region, error) {
	if r, ok := c.Regions[name]; ok {
		return r, nil
	}
	return Region{}, notFoundError(fmt.Sprintf("region: unknown region %q (configured: %s)", name, strings.Join(c.RegionNames(), ", ")))
}

// RegionNames returns the configured region names, sorted.
func (c *Config) RegionNames() []string {
	names := make([]string, 0, len(c.Regions))
	for name := range c.Regions {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// notFoundError keeps the exact message callers show to operators while still
// matching errors.Is(err, fs.ErrNotExist), the project's not-found convention.
type notFoundError string

func (e notFoundError) Error() string        { return string(e) }
func (e notFoundError) Is(target error) bool { return target == fs.ErrNotExist }

// FieldError is one validation or decoding problem, named by its full key
// path in bdr.yaml (for example regions.secondary.object_store.bucket).
// Validate and Load return these joined with errors.Join.
type FieldError struct {
	Key     string
	Problem string
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Problem }

// FieldErrors returns every *FieldError inside err (as joined by Validate or
// Load), in order, so that a caller such as `bdr config check` can list them.
func FieldErrors(err error) []*FieldError {
	var out []*FieldError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if fe, ok := err.(*FieldError); ok {
			out = append(out, fe)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// joinSorted joins field errors in key order so that output is stable across
// runs (map iteration order would otherwise shuffle it).
func joinSorted(errs []*FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}
