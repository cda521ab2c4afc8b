package config_test

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// clearBDREnv blanks every BDR_ variable of the test process so that the
// developer's shell cannot change what Load returns. Load ignores empty
// variables, and t.Setenv restores the old values afterwards.
func clearBDREnv(t *testing.T) {
	t.Helper()
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, config.EnvPrefix+"_") {
			t.Setenv(k, "")
		}
	}
}

// valid returns a configuration that passes Validate, built in code.
func valid() *config.Config {
	c := config.Default()
	store := func(port int, prefix string) config.ObjectStore {
		return config.ObjectStore{
			Endpoint:           fmt.Sprintf("http://127.0.0.1:%d", port),
			Region:             "us-east-1",
			Bucket:             "bottomless-db-bucket",
			PathStyle:          true,
			AccessKeyIDEnv:     prefix + "_AWS_ACCESS_KEY_ID",
			SecretAccessKeyEnv: prefix + "_AWS_SECRET_ACCESS_KEY",
		}
	}
	c.Regions = map[string]config.Region{
		"primary":   {ObjectStore: store(9101, "PRIMARY"), Database: config.DatabaseConn{DSNEnv: "PRIMARY_DB_DSN"}},
		"secondary": {ObjectStore: store(9102, "SECONDARY"), Database: config.DatabaseConn{DSNEnv: "SECONDARY_DB_DSN"}},
	}
	c.Databases = []config.Database{{Name: "bottomless_db", RootPath: "bottomless_db_folder"}}
	return &c
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestDefault(t *testing.T) {
	c := config.Default()
	assert.Equal(t, config.Temporal{Address: "127.0.0.1:7233", Namespace: "default", TaskQueue: "bottomless-dr"}, c.Temporal)
	assert.False(t, c.Temporal.TLS.Active(), "no TLS unless configured")
	assert.Equal(t, config.Replication{
		PollInterval:        time.Second,
		SettleWindow:        2 * time.Second,
		Concurrency:         32,
		BatchMaxObjects:     1000,
		BatchMaxBytes:       config.GiB,
		Order:               "sealed",
		Exclude:             []string{"*/storage_locks/*"},
		DeleteDelay:         config.Delay(168 * time.Hour),
		MultipartThreshold:  64 * config.MiB,
		PartSize:            16 * config.MiB,
		AntiEntropyInterval: time.Hour,
		EarlyCopies:         true,
	}, c.Replication)
	assert.Equal(t, config.Telemetry{MetricsListen: "127.0.0.1:9464", ServiceName: "bottomless-dr"}, c.Telemetry)
	assert.Equal(t, config.Failover{FenceTimeout: 10 * time.Second, DrainTimeout: 5 * time.Minute, MaxLag: 30 * time.Second,
		UnplannedDrainTimeout: 30 * time.Second, Retention: 168 * time.Hour}, c.Failover)
	assert.Empty(t, c.Regions)
	assert.Empty(t, c.Databases)

	// Default has no regions or databases, so it is not valid by itself, and
	// says exactly why.
	err := c.Validate()
	require.Error(t, err)
	assert.Equal(t, "databases: at least one database required\nregions: at least two regions required, have 0", err.Error())

	// Each call returns a fresh value: callers may modify it.
	c.Replication.Exclude[0] = "changed"
	assert.Equal(t, "*/storage_locks/*", config.Default().Replication.Exclude[0])
}

func TestLoadDesignExample(t *testing.T) {
	clearBDREnv(t)
	c, err := config.Load("testdata/design.yaml")
	require.NoError(t, err)
	assert.Equal(t, valid(), c)
	assert.Equal(t, []string{"primary", "secondary"}, c.RegionNames())
}

func TestLoadFillsDefaults(t *testing.T) {
	clearBDREnv(t)
	// Only what has no default: the rest, including each region's signing
	// region, comes from Default.
	p := writeFile(t, "bdr.yaml", `
regions:
  primary:
    object_store: {endpoint: http://127.0.0.1:9101, bucket: bottomless-db-bucket, path_style: true,
                   access_key_id_env: PRIMARY_AWS_ACCESS_KEY_ID, secret_access_key_env: PRIMARY_AWS_SECRET_ACCESS_KEY}
    database: {dsn_env: PRIMARY_DB_DSN}
  secondary:
    object_store: {endpoint: http://127.0.0.1:9102, bucket: bottomless-db-bucket, path_style: true,
                   access_key_id_env: SECONDARY_AWS_ACCESS_KEY_ID, secret_access_key_env: SECONDARY_AWS_SECRET_ACCESS_KEY}
    database: {dsn_env: SECONDARY_DB_DSN}
databases: [{name: bottomless_db, root_path: bottomless_db_folder}]
`)
	c, err := config.Load(p)
	require.NoError(t, err)
	assert.Equal(t, valid(), c)
}

func TestLoadEnvOverrides(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		check func(t *testing.T, c *config.Config)
	}{
		{
			name: "nested region key",
			env:  map[string]string{"BDR_REGIONS_PRIMARY_OBJECT_STORE_BUCKET": "other-bucket"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "other-bucket", c.Regions["primary"].ObjectStore.Bucket)
				assert.Equal(t, "bottomless-db-bucket", c.Regions["secondary"].ObjectStore.Bucket)
			},
		},
		{
			name: "region key absent from the file",
			env: map[string]string{"BDR_REGIONS_SECONDARY_OBJECT_STORE_REGION": "eu-west-1", "BDR_REGIONS_SECONDARY_DATABASE_DSN_ENV": "OTHER_DSN",
				"BDR_REGIONS_SECONDARY_DATABASE_VALIDATE_DSN_ENV": "OTHER_RO_DSN"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "eu-west-1", c.Regions["secondary"].ObjectStore.Region)
				assert.Equal(t, "OTHER_DSN", c.Regions["secondary"].Database.DSNEnv)
				assert.Equal(t, "OTHER_RO_DSN", c.Regions["secondary"].Database.ValidateDSNEnv)
			},
		},
		{
			name: "scalars of every type",
			env: map[string]string{
				"BDR_TEMPORAL_ADDRESS":                        "temporal.example:7233",
				"BDR_REPLICATION_CONCURRENCY":                 "64",
				"BDR_REPLICATION_POLL_INTERVAL":               "250ms",
				"BDR_REPLICATION_BATCH_MAX_BYTES":             "2GiB",
				"BDR_REPLICATION_ORDER":                       "strict",
				"BDR_REGIONS_PRIMARY_OBJECT_STORE_PATH_STYLE": "false",
				"BDR_TELEMETRY_OTLP_ENDPOINT":                 "otel:4317",
			},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, "temporal.example:7233", c.Temporal.Address)
				assert.Equal(t, 64, c.Replication.Concurrency)
				assert.Equal(t, 250*time.Millisecond, c.Replication.PollInterval)
				assert.Equal(t, 2*config.GiB, c.Replication.BatchMaxBytes)
				assert.Equal(t, "strict", c.Replication.Order)
				assert.False(t, c.Regions["primary"].ObjectStore.PathStyle)
				assert.Equal(t, "otel:4317", c.Telemetry.OTLPEndpoint)
			},
		},
		{
			name: "notifications_sqs, nested",
			env: map[string]string{"BDR_REPLICATION_NOTIFICATIONS_SQS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/111122223333/bdr-hints",
				"BDR_REPLICATION_NOTIFICATIONS_SQS_REGION": "eu-west-1", "BDR_REPLICATION_NOTIFICATIONS_SQS_ACCESS_KEY_ID_ENV": "SQS_ID",
				"BDR_REPLICATION_NOTIFICATIONS_SQS_SECRET_ACCESS_KEY_FILE": "/run/secrets/sqs"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, config.SQS{QueueURL: "https://sqs.eu-west-1.amazonaws.com/111122223333/bdr-hints", Region: "eu-west-1",
					AccessKeyIDEnv: "SQS_ID", SecretAccessKeyFile: "/run/secrets/sqs"}, c.Replication.NotificationsSQS)
			},
		},
		{
			name: "temporal tls and api key",
			env: map[string]string{"BDR_TEMPORAL_TLS_CERT_FILE": "/etc/bdr/client.pem", "BDR_TEMPORAL_TLS_KEY_FILE": "/etc/bdr/client.key",
				"BDR_TEMPORAL_TLS_INSECURE_SKIP_VERIFY": "true", "BDR_TEMPORAL_API_KEY_ENV": "TEMPORAL_API_KEY"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, config.TemporalTLS{CertFile: "/etc/bdr/client.pem", KeyFile: "/etc/bdr/client.key", InsecureSkipVerify: true}, c.Temporal.TLS)
				assert.True(t, c.Temporal.TLS.Active())
				assert.Equal(t, "TEMPORAL_API_KEY", c.Temporal.APIKeyEnv)
			},
		},
		{
			name: "list of strings, comma separated",
			env:  map[string]string{"BDR_REPLICATION_EXCLUDE": "*/storage_locks/*, */tmp/*"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, []string{"*/storage_locks/*", "*/tmp/*"}, c.Replication.Exclude)
			},
		},
		{
			name: "list of strings, YAML flow",
			env:  map[string]string{"BDR_REPLICATION_EXCLUDE": `["*/storage_locks/*", "*/a,b/*"]`},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, []string{"*/storage_locks/*", "*/a,b/*"}, c.Replication.Exclude)
			},
		},
		{
			name: "list of databases, YAML flow",
			env:  map[string]string{"BDR_DATABASES": "[{name: sales, root_path: sales_folder}, {name: ops, root_path: dbs/ops}]"},
			check: func(t *testing.T, c *config.Config) {
				assert.Equal(t, []config.Database{{Name: "sales", RootPath: "sales_folder"}, {Name: "ops", RootPath: "dbs/ops"}}, c.Databases)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBDREnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			c, err := config.Load("testdata/design.yaml")
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

func TestLoadEnvOnly(t *testing.T) {
	clearBDREnv(t)
	for _, r := range []string{"PRIMARY", "SECONDARY", "DR_WEST"} {
		t.Setenv("BDR_REGIONS_"+r+"_OBJECT_STORE_ENDPOINT", "https://s3.example.com")
		t.Setenv("BDR_REGIONS_"+r+"_OBJECT_STORE_BUCKET", "bucket-"+strings.ToLower(strings.ReplaceAll(r, "_", "-")))
		t.Setenv("BDR_REGIONS_"+r+"_OBJECT_STORE_ACCESS_KEY_ID_ENV", r+"_KEY")
		t.Setenv("BDR_REGIONS_"+r+"_OBJECT_STORE_SECRET_ACCESS_KEY_FILE", "/run/secrets/"+r)
	}
	t.Setenv("BDR_DATABASES", "[{name: db, root_path: db}]")
	c, err := config.Load("")
	require.NoError(t, err)
	assert.Equal(t, []string{"dr_west", "primary", "secondary"}, c.RegionNames())
	west, err := c.Region("dr_west")
	require.NoError(t, err)
	assert.Equal(t, config.ObjectStore{
		Endpoint: "https://s3.example.com", Region: "us-east-1", Bucket: "bucket-dr-west",
		AccessKeyIDEnv: "DR_WEST_KEY", SecretAccessKeyFile: "/run/secrets/DR_WEST",
	}, west.ObjectStore)
	assert.Equal(t, config.Default().Replication, c.Replication)
}

func TestLoadNoFileIsInvalidWithoutRegions(t *testing.T) {
	clearBDREnv(t)
	_, err := config.Load("")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "regions: at least two regions required")
	assert.Contains(t, err.Error(), "databases: at least one database required")
}

// edit returns a function that makes one textual change to the DESIGN
// example, failing the test if the text to change is not there.
func edit(old, new string) func(t *testing.T, design string) string {
	return func(t *testing.T, design string) string {
		t.Helper()
		require.Contains(t, design, old)
		return strings.Replace(design, old, new, 1)
	}
}

func TestLoadErrors(t *testing.T) {
	design, err := os.ReadFile("testdata/design.yaml")
	require.NoError(t, err)
	tests := []struct {
		name string
		edit func(t *testing.T, design string) string // nil: the example unchanged
		env  map[string]string
		want []string
	}{
		{name: "unknown top-level key", edit: edit("temporal: {", "extra: 1\ntemporal: {"), want: []string{"extra: unknown key"}},
		{name: "unknown nested key", edit: edit("concurrency: 32", "concurency: 32"), want: []string{"replication.concurency: unknown key"}},
		{
			name: "unknown key in a region",
			edit: edit("path_style: true, access_key_id_env: PRIMARY", "pathstyle: true, access_key_id_env: PRIMARY"),
			want: []string{"regions.primary.object_store.pathstyle: unknown key"},
		},
		{
			name: "unknown key in a list item",
			edit: edit("root_path: bottomless_db_folder", "root_path: bottomless_db_folder\n    rootpath: x"),
			want: []string{"databases[0].rootpath: unknown key"},
		},
		{
			name: "unknown key in a list from the environment",
			env:  map[string]string{"BDR_DATABASES": "[{name: a, root_path: a, nme: b}]"},
			want: []string{"databases[0].nme: unknown key"},
		},
		{
			name: "several unknown keys at once",
			edit: edit("temporal: {", "extra: 1\ntemporal: {adress: x, "),
			want: []string{"extra: unknown key", "temporal.adress: unknown key"},
		},
		{
			name: "bad duration",
			edit: edit("poll_interval: 1s", "poll_interval: soon"),
			want: []string{`replication.poll_interval: invalid duration "soon"`},
		},
		{
			name: "duration without unit",
			edit: edit("poll_interval: 1s", "poll_interval: 5"),
			want: []string{"replication.poll_interval: duration 5 has no unit"},
		},
		{
			name: "bad size",
			edit: edit("batch_max_bytes: 1GiB", "batch_max_bytes: 1GB2"),
			want: []string{`replication.batch_max_bytes: invalid size "1GB2"`},
		},
		{
			name: "bad int from env",
			env:  map[string]string{"BDR_REPLICATION_CONCURRENCY": "many"},
			want: []string{"replication.concurrency:"},
		},
		{
			name: "wrong type in a region",
			edit: edit("path_style: true, access_key_id_env: PRIMARY", "path_style: [1], access_key_id_env: PRIMARY"),
			want: []string{"regions.primary.object_store.path_style:"},
		},
		{
			name: "settle window below one second",
			edit: edit("settle_window: 2s", "settle_window: 500ms"),
			want: []string{"replication.settle_window: must be >= 1s (S3's LastModified and Date header have one-second resolution), got 500ms"},
		},
		{
			name: "settle window below one second from the environment",
			env:  map[string]string{"BDR_REPLICATION_SETTLE_WINDOW": "0s"},
			want: []string{"replication.settle_window: must be >= 1s", "got 0s"},
		},
		{
			name: "delete_delay negative",
			edit: edit("delete_delay: 168h", "delete_delay: -1ns"),
			want: []string{"replication.delete_delay: must be >= 0 or never, got -1ns"},
		},
		{
			name: "delete_delay negative from the environment",
			env:  map[string]string{"BDR_REPLICATION_DELETE_DELAY": "-1h"},
			want: []string{"replication.delete_delay: must be >= 0 or never, got -1h"},
		},
		{
			name: "delete_delay not a duration",
			edit: edit("delete_delay: 168h", "delete_delay: forever"),
			want: []string{`replication.delete_delay: invalid duration "forever": want e.g. 500ms, 1s, 24h, or never`},
		},
		{
			name: "delete_delay without unit",
			env:  map[string]string{"BDR_REPLICATION_DELETE_DELAY": "5"},
			want: []string{`replication.delete_delay: invalid duration "5"`},
		},
		{
			name: "delete_delay below retention",
			edit: edit("delete_delay: 168h", "delete_delay: 24h"),
			want: []string{`replication.delete_delay: must be >= failover.retention (168h), so that the target keeps every blob a point-in-time attach inside the retention window needs, or "never"; got 24h`},
		},
		{
			name: "delete_delay below retention from the environment",
			env:  map[string]string{"BDR_FAILOVER_RETENTION": "720h"},
			want: []string{"replication.delete_delay: must be >= failover.retention (720h)", "got 168h"},
		},
		{
			name: "validation after decoding",
			env:  map[string]string{"BDR_REGIONS_SECONDARY_OBJECT_STORE_BUCKET": "Bad_Bucket"},
			want: []string{`regions.secondary.object_store.bucket: invalid S3 bucket name "Bad_Bucket"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBDREnv(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			content := string(design)
			if tt.edit != nil {
				content = tt.edit(t, content)
			}
			p := writeFile(t, "bdr.yaml", content)
			_, err := config.Load(p)
			require.Error(t, err)
			assert.Contains(t, err.Error(), p, "the error names the file")
			for _, w := range tt.want {
				assert.Contains(t, err.Error(), w)
			}
		})
	}
}

// TestLoadAlwaysExcludesStorageLocks: whatever replication.exclude says, in the file or the
// environment, the loaded list holds */storage_locks/* (DESIGN 5.4), once, and keeps the
// user's own patterns.
func TestLoadAlwaysExcludesStorageLocks(t *testing.T) {
	design, err := os.ReadFile("testdata/design.yaml")
	require.NoError(t, err)
	const configured = `, exclude: ["*/storage_locks/*"]`
	require.Contains(t, string(design), configured)
	tests := []struct {
		name    string
		exclude string // replaces configured in the file
		env     string // BDR_REPLICATION_EXCLUDE, when not empty
		want    []string
	}{
		{name: "as in the example", exclude: configured, want: []string{"*/storage_locks/*"}},
		{name: "other patterns only", exclude: `, exclude: ["*/tmp/*", "*.bak"]`, want: []string{"*/storage_locks/*", "*/tmp/*", "*.bak"}},
		{name: "empty list", exclude: `, exclude: []`, want: []string{"*/storage_locks/*"}},
		{name: "key absent", exclude: "", want: []string{"*/storage_locks/*"}},
		{name: "already there among others", exclude: `, exclude: ["*/tmp/*", "*/storage_locks/*"]`, want: []string{"*/tmp/*", "*/storage_locks/*"}},
		{name: "environment without it", exclude: configured, env: "*/tmp/*", want: []string{"*/storage_locks/*", "*/tmp/*"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBDREnv(t)
			if tt.env != "" {
				t.Setenv("BDR_REPLICATION_EXCLUDE", tt.env)
			}
			content := strings.Replace(string(design), configured, tt.exclude, 1)
			c, err := config.Load(writeFile(t, "bdr.yaml", content))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Replication.Exclude)
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := config.Load(filepath.Join(t.TempDir(), "nope.yaml"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "nope.yaml")
}

// TestLoadDeleteDelay: replication.delete_delay is a duration or "never" (any case, spaces
// ignored), from the file and from BDR_REPLICATION_DELETE_DELAY.
func TestLoadDeleteDelay(t *testing.T) {
	design, err := os.ReadFile("testdata/design.yaml")
	require.NoError(t, err)
	const configured = "delete_delay: 168h"
	require.Contains(t, string(design), configured)
	tests := []struct {
		name  string
		file  string // replaces configured in the file; "": the key is left out
		env   string // BDR_REPLICATION_DELETE_DELAY, when not empty
		want  config.Delay
		never bool
	}{
		{name: "as in the example", file: configured, want: config.Delay(168 * time.Hour)},
		{name: "key absent: the default", file: "", want: config.Default().Replication.DeleteDelay},
		{name: "longer than retention", file: "delete_delay: 720h", want: config.Delay(720 * time.Hour)},
		{name: "never from the file", file: "delete_delay: never", want: config.NeverDelete, never: true},
		{name: "never quoted, mixed case", file: `delete_delay: " Never "`, want: config.NeverDelete, never: true},
		{name: "never from the environment", file: configured, env: "never", want: config.NeverDelete, never: true},
		{name: "NEVER with spaces from the environment", file: configured, env: "NEVER ", want: config.NeverDelete, never: true},
		{name: "duration from the environment", file: "delete_delay: never", env: "200h", want: config.Delay(200 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBDREnv(t)
			if tt.env != "" {
				t.Setenv("BDR_REPLICATION_DELETE_DELAY", tt.env)
			}
			replacement := ""
			if tt.file != "" {
				replacement = ", " + tt.file
			}
			content := strings.Replace(string(design), ", "+configured, replacement, 1)
			c, err := config.Load(writeFile(t, "bdr.yaml", content))
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.Replication.DeleteDelay)
			assert.Equal(t, tt.never, c.Replication.DeleteDelay.Never())
		})
	}
}

func TestDelay(t *testing.T) {
	tests := []struct {
		d        config.Delay
		never    bool
		duration time.Duration
		str      string
	}{
		{config.NeverDelete, true, math.MaxInt64, "never"},
		{config.Delay(168 * time.Hour), false, 168 * time.Hour, "168h"},
		{config.Delay(90 * time.Minute), false, 90 * time.Minute, "1h30m"},
		{config.Delay(1500 * time.Millisecond), false, 1500 * time.Millisecond, "1.5s"},
		{0, false, 0, "0s"},
	}
	for _, tt := range tests {
		t.Run(tt.str, func(t *testing.T) {
			assert.Equal(t, tt.never, tt.d.Never())
			assert.Equal(t, tt.duration, tt.d.Duration())
			assert.Equal(t, tt.str, tt.d.String())
			assert.Equal(t, tt.str, fmt.Sprint(tt.d))
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
		want   string // substring of the error; "" means valid
	}{
		{"valid", func(c *config.Config) {}, ""},
		{"temporal.address", func(c *config.Config) { c.Temporal.Address = "" }, "temporal.address: required"},
		{"temporal.namespace", func(c *config.Config) { c.Temporal.Namespace = " " }, "temporal.namespace: required"},
		{"temporal.task_queue", func(c *config.Config) { c.Temporal.TaskQueue = "" }, "temporal.task_queue: required"},
		{"temporal tls files ok", func(c *config.Config) {
			c.Temporal.TLS = config.TemporalTLS{CAFile: "/etc/bdr/ca.pem", CertFile: "/etc/bdr/client.pem", KeyFile: "/etc/bdr/client.key", ServerName: "ns.tmprl.cloud"}
		}, ""},
		{"temporal tls enabled only ok", func(c *config.Config) { c.Temporal.TLS.Enabled = true }, ""},
		{"temporal tls cert without key", func(c *config.Config) { c.Temporal.TLS.CertFile = "/etc/bdr/client.pem" }, "temporal.tls.key_file: required with cert_file"},
		{"temporal tls key without cert", func(c *config.Config) { c.Temporal.TLS.KeyFile = "/etc/bdr/client.key" }, "temporal.tls.cert_file: required with key_file"},
		{"temporal tls file spaces", func(c *config.Config) { c.Temporal.TLS.CAFile = " /etc/bdr/ca.pem" }, `temporal.tls.ca_file: file name " /etc/bdr/ca.pem" has leading or trailing spaces`},
		{"temporal api key env ok", func(c *config.Config) { c.Temporal.APIKeyEnv = "TEMPORAL_API_KEY" }, ""},
		{"temporal api key env name", func(c *config.Config) { c.Temporal.APIKeyEnv = "temporal-api-key" }, `temporal.api_key_env: "temporal-api-key" is not an environment variable name`},

		{"one region", func(c *config.Config) { delete(c.Regions, "secondary") }, "regions: at least two regions required, have 1"},
		{"region name", func(c *config.Config) { c.Regions["Bad.Name"] = c.Regions["primary"] }, "regions.Bad.Name: region name must match ^[a-z][a-z0-9_-]{0,31}$"},
		{"region name too long", func(c *config.Config) { c.Regions[strings.Repeat("a", 33)] = c.Regions["primary"] }, "region name must match"},
		{"region name ok", func(c *config.Config) { c.Regions["us-west_2"] = c.Regions["primary"] }, ""},
		{"endpoint required", setStore(func(o *config.ObjectStore) { o.Endpoint = "" }), "regions.primary.object_store.endpoint: required"},
		{"endpoint scheme", setStore(func(o *config.ObjectStore) { o.Endpoint = "ftp://x" }), `regions.primary.object_store.endpoint: must be an http:// or https:// URL, got "ftp://x"`},
		{"endpoint host", setStore(func(o *config.ObjectStore) { o.Endpoint = "127.0.0.1:9000" }), "regions.primary.object_store.endpoint: must be an http"},
		{"endpoint https", setStore(func(o *config.ObjectStore) { o.Endpoint = "https://s3.us-east-1.amazonaws.com" }), ""},
		{"bucket required", setStore(func(o *config.ObjectStore) { o.Bucket = "" }), "regions.primary.object_store.bucket: required"},
		{"bucket too short", setStore(func(o *config.ObjectStore) { o.Bucket = "ab" }), "regions.primary.object_store.bucket: invalid S3 bucket name"},
		{"bucket too long", setStore(func(o *config.ObjectStore) { o.Bucket = strings.Repeat("a", 64) }), "regions.primary.object_store.bucket: invalid"},
		{"bucket upper", setStore(func(o *config.ObjectStore) { o.Bucket = "Bucket" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket underscore", setStore(func(o *config.ObjectStore) { o.Bucket = "my_bucket" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket ends with hyphen", setStore(func(o *config.ObjectStore) { o.Bucket = "bucket-" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket starts with dot", setStore(func(o *config.ObjectStore) { o.Bucket = ".bucket" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket double dot", setStore(func(o *config.ObjectStore) { o.Bucket = "a..b" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket ip", setStore(func(o *config.ObjectStore) { o.Bucket = "192.168.1.1" }), "regions.primary.object_store.bucket: invalid"},
		{"bucket dots ok", setStore(func(o *config.ObjectStore) { o.Bucket = "a.b-c.123" }), ""},
		{"region empty is fine", setStore(func(o *config.ObjectStore) { o.Region = "" }), ""},
		{"access key neither", setStore(func(o *config.ObjectStore) { o.AccessKeyIDEnv = "" }), "regions.primary.object_store.access_key_id_env: set exactly one of access_key_id_env and access_key_id_file, neither is set"},
		{"access key both", setStore(func(o *config.ObjectStore) { o.AccessKeyIDFile = "/run/secrets/id" }), "regions.primary.object_store.access_key_id_env: set exactly one of access_key_id_env and access_key_id_file, both are set"},
		{"access key file", setStore(func(o *config.ObjectStore) { o.AccessKeyIDEnv, o.AccessKeyIDFile = "", "/run/secrets/id" }), ""},
		{"secret neither", setStore(func(o *config.ObjectStore) { o.SecretAccessKeyEnv = "" }), "regions.primary.object_store.secret_access_key_env: set exactly one of secret_access_key_env and secret_access_key_file, neither is set"},
		{"secret both", setStore(func(o *config.ObjectStore) { o.SecretAccessKeyFile = "/x" }), "regions.primary.object_store.secret_access_key_env: set exactly one"},
		{"env name", setStore(func(o *config.ObjectStore) { o.SecretAccessKeyEnv = "NOT-A-NAME" }), `regions.primary.object_store.secret_access_key_env: "NOT-A-NAME" is not an environment variable name`},
		{"dsn optional", setConn(config.DatabaseConn{}), ""},
		{"dsn file", setConn(config.DatabaseConn{DSNFile: "/run/secrets/dsn"}), ""},
		{"dsn both", setConn(config.DatabaseConn{DSNEnv: "DSN", DSNFile: "/x"}), "regions.primary.database.dsn_env: set exactly one of dsn_env and dsn_file, both are set"},
		{"validate dsn env", setConn(config.DatabaseConn{DSNEnv: "DSN", ValidateDSNEnv: "RO_DSN"}), ""},
		{"validate dsn file", setConn(config.DatabaseConn{DSNFile: "/run/secrets/dsn", ValidateDSNFile: "/run/secrets/ro_dsn"}), ""},
		{"validate dsn both", setConn(config.DatabaseConn{DSNEnv: "DSN", ValidateDSNEnv: "RO_DSN", ValidateDSNFile: "/x"}), "regions.primary.database.validate_dsn_env: set exactly one of validate_dsn_env and validate_dsn_file, both are set"},
		{"validate dsn env name", setConn(config.DatabaseConn{DSNEnv: "DSN", ValidateDSNEnv: "RO-DSN"}), `regions.primary.database.validate_dsn_env: "RO-DSN" is not an environment variable name`},
		{"validate dsn without dsn", setConn(config.DatabaseConn{ValidateDSNEnv: "RO_DSN"}), "regions.primary.database.validate_dsn_env: set only beside dsn_env or dsn_file"},
		{"validate dsn file without dsn", setConn(config.DatabaseConn{ValidateDSNFile: "/x"}), "regions.primary.database.validate_dsn_file: set only beside dsn_env or dsn_file"},

		{"no databases", func(c *config.Config) { c.Databases = nil }, "databases: at least one database required"},
		{"db name required", func(c *config.Config) { c.Databases[0].Name = "" }, "databases[0].name: required"},
		{"db name pattern", func(c *config.Config) { c.Databases[0].Name = "drop table" }, `databases[0].name: "drop table" must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$`},
		{"db name digit first", func(c *config.Config) { c.Databases[0].Name = "1db" }, "databases[0].name: \"1db\" must match"},
		{"db name too long", func(c *config.Config) { c.Databases[0].Name = strings.Repeat("a", 65) }, "databases[0].name:"},
		{"db name 64 ok", func(c *config.Config) { c.Databases[0].Name = strings.Repeat("a", 64) }, ""},
		{"db name duplicate", addDB("bottomless_db", "other"), `databases[1].name: duplicate database name "bottomless_db" (also databases[0])`},
		{"db name duplicate case", addDB("Bottomless_DB", "other"), `databases[1].name: duplicate database name "Bottomless_DB"`},
		{"root_path required", func(c *config.Config) { c.Databases[0].RootPath = "" }, "databases[0].root_path: required"},
		{"root_path leading slash", func(c *config.Config) { c.Databases[0].RootPath = "/a" }, `databases[0].root_path: "/a" must not start or end with /`},
		{"root_path trailing slash", func(c *config.Config) { c.Databases[0].RootPath = "a/" }, `databases[0].root_path: "a/" must not start or end with /`},
		{"root_path dotdot", func(c *config.Config) { c.Databases[0].RootPath = "a/../b" }, `databases[0].root_path: "a/../b" must not contain . or .. segments`},
		{"root_path empty segment", func(c *config.Config) { c.Databases[0].RootPath = "a//b" }, "databases[0].root_path: \"a//b\" must not contain an empty segment"},
		{"root_path reserved", func(c *config.Config) { c.Databases[0].RootPath = ".bdr/x" }, `databases[0].root_path: ".bdr/x" must not start with .bdr/`},
		{"root_path reserved alone", func(c *config.Config) { c.Databases[0].RootPath = ".bdr" }, "must not start with .bdr/"},
		{"root_path .bdr deeper ok", func(c *config.Config) { c.Databases[0].RootPath = "x/.bdr" }, ""},
		{"root_path charset", func(c *config.Config) { c.Databases[0].RootPath = "a b" }, `databases[0].root_path: "a b" must match ^[A-Za-z0-9._/-]+$`},
		{"root_path equal", addDB("other", "bottomless_db_folder"), `databases[1].root_path: "bottomless_db_folder" overlaps databases[0].root_path "bottomless_db_folder"`},
		{"root_path nested", addDB("other", "bottomless_db_folder/sub"), `databases[1].root_path: "bottomless_db_folder/sub" overlaps databases[0].root_path`},
		{"root_path parent", func(c *config.Config) {
			c.Databases = []config.Database{{Name: "a", RootPath: "dbs/a"}, {Name: "b", RootPath: "dbs"}}
		}, `databases[1].root_path: "dbs" overlaps databases[0].root_path "dbs/a"`},
		{"root_path siblings ok", func(c *config.Config) {
			c.Databases = []config.Database{{Name: "a", RootPath: "dbs/a"}, {Name: "b", RootPath: "dbs/b"}}
		}, ""},
		{"root_path shared prefix ok", addDB("other", "bottomless_db_folder2"), ""},

		{"poll_interval", func(c *config.Config) { c.Replication.PollInterval = 0 }, "replication.poll_interval: must be > 0"},
		{"settle_window negative", func(c *config.Config) { c.Replication.SettleWindow = -time.Second }, "replication.settle_window: must be >= 1s (S3's LastModified and Date header have one-second resolution), got -1s"},
		{"settle_window zero", func(c *config.Config) { c.Replication.SettleWindow = 0 }, "replication.settle_window: must be >= 1s (S3's LastModified and Date header have one-second resolution), got 0s"},
		{"settle_window below a second", func(c *config.Config) { c.Replication.SettleWindow = 999 * time.Millisecond }, "replication.settle_window: must be >= 1s (S3's LastModified and Date header have one-second resolution), got 999ms"},
		{"settle_window one second ok", func(c *config.Config) { c.Replication.SettleWindow = time.Second }, ""},
		{"fence_timeout", func(c *config.Config) { c.Failover.FenceTimeout = 0 }, "failover.fence_timeout: must be > 0 and <= 10m, got 0s"},
		{"retention", func(c *config.Config) { c.Failover.Retention = -time.Hour }, "failover.retention: must be > 0, got -1h0m0s"},
		{"drain_timeout zero", func(c *config.Config) { c.Failover.DrainTimeout = 0 }, "failover.drain_timeout: must be > 0 and <= 6h, got 0s"},
		{"drain_timeout too long", func(c *config.Config) { c.Failover.DrainTimeout = 6*time.Hour + time.Second }, "failover.drain_timeout: must be > 0 and <= 6h, got 6h0m1s"},
		{"drain_timeout 6h ok", func(c *config.Config) { c.Failover.DrainTimeout = 6 * time.Hour }, ""},
		{"max_lag zero", func(c *config.Config) { c.Failover.MaxLag = 0 }, "failover.max_lag: must be > 0, got 0s"},
		{"max_lag negative", func(c *config.Config) { c.Failover.MaxLag = -time.Second }, "failover.max_lag: must be > 0, got -1s"},
		{"unplanned_drain_timeout negative", func(c *config.Config) { c.Failover.UnplannedDrainTimeout = -time.Second }, "failover.unplanned_drain_timeout: must be >= 0 (0: seal without draining), got -1s"},
		{"unplanned_drain_timeout zero ok", func(c *config.Config) { c.Failover.UnplannedDrainTimeout = 0 }, ""},
		{"concurrency low", func(c *config.Config) { c.Replication.Concurrency = 0 }, "replication.concurrency: must be between 1 and 1024, got 0"},
		{"concurrency high", func(c *config.Config) { c.Replication.Concurrency = 1025 }, "replication.concurrency: must be between 1 and 1024, got 1025"},
		{"batch_max_objects", func(c *config.Config) { c.Replication.BatchMaxObjects = 0 }, "replication.batch_max_objects: must be >= 1"},
		{"batch_max_bytes", func(c *config.Config) { c.Replication.BatchMaxBytes = 0 }, "replication.batch_max_bytes: must be >= 1"},
		{"order", func(c *config.Config) { c.Replication.Order = "random" }, `replication.order: must be "sealed" or "strict", got "random"`},
		{"order strict ok", func(c *config.Config) { c.Replication.Order = "strict" }, ""},
		{"exclude empty pattern", func(c *config.Config) { c.Replication.Exclude = append(c.Replication.Exclude, "") }, "replication.exclude[1]: pattern must not be empty"},
		{"exclude bad pattern", func(c *config.Config) { c.Replication.Exclude = []string{"[a"} }, `replication.exclude[0]: invalid pattern "[a"`},
		{"delete_delay below retention", func(c *config.Config) { c.Replication.DeleteDelay = config.Delay(24 * time.Hour) },
			`replication.delete_delay: must be >= failover.retention (168h), so that the target keeps every blob a point-in-time attach inside the retention window needs, or "never"; got 24h`},
		{"delete_delay zero", func(c *config.Config) { c.Replication.DeleteDelay = 0 }, "replication.delete_delay: must be >= failover.retention (168h)"},
		{"delete_delay negative, not never", func(c *config.Config) { c.Replication.DeleteDelay = -2 }, "replication.delete_delay: must be >= failover.retention"},
		{"delete_delay negative with a negative retention", func(c *config.Config) {
			c.Failover.Retention = -time.Hour
			c.Replication.DeleteDelay = -2
		}, "replication.delete_delay: must be >= failover.retention"},
		{"delete_delay equal to retention ok", func(c *config.Config) { c.Replication.DeleteDelay = config.Delay(c.Failover.Retention) }, ""},
		{"delete_delay above retention ok", func(c *config.Config) { c.Replication.DeleteDelay = config.Delay(30 * 24 * time.Hour) }, ""},
		{"delete_delay follows retention", func(c *config.Config) { c.Failover.Retention = 30 * 24 * time.Hour },
			"replication.delete_delay: must be >= failover.retention (720h), so that the target keeps every blob a point-in-time attach inside the retention window needs, or \"never\"; got 168h"},
		{"delete_delay shorter retention ok", func(c *config.Config) {
			c.Failover.Retention = time.Hour
			c.Replication.DeleteDelay = config.Delay(time.Hour)
		}, ""},
		{"delete_delay never ok", func(c *config.Config) { c.Replication.DeleteDelay = config.NeverDelete }, ""},
		{"delete_delay never with a long retention ok", func(c *config.Config) {
			c.Failover.Retention = 365 * 24 * time.Hour
			c.Replication.DeleteDelay = config.NeverDelete
		}, ""},
		{"multipart_threshold", func(c *config.Config) { c.Replication.MultipartThreshold = 5*config.MiB - 1 }, "replication.multipart_threshold: must be >= 5MiB"},
		{"part_size low", func(c *config.Config) { c.Replication.PartSize = 4 * config.MiB }, "replication.part_size: must be between 5MiB and 5GiB (S3 part size limits), got 4MiB"},
		{"part_size high", func(c *config.Config) { c.Replication.PartSize = 5*config.GiB + 1 }, "replication.part_size: must be between 5MiB and 5GiB"},
		{"part_size bounds ok", func(c *config.Config) {
			c.Replication.PartSize = 5 * config.GiB
			c.Replication.MultipartThreshold = 5 * config.MiB
		}, ""},

		{"metrics_listen empty disables", func(c *config.Config) { c.Telemetry.MetricsListen = "" }, ""},
		{"metrics_listen any host", func(c *config.Config) { c.Telemetry.MetricsListen = ":9464" }, ""},
		{"metrics_listen no port", func(c *config.Config) { c.Telemetry.MetricsListen = "localhost" }, `telemetry.metrics_listen: must be host:port or empty, got "localhost"`},
		{"metrics_listen bad port", func(c *config.Config) { c.Telemetry.MetricsListen = "localhost:http" }, `telemetry.metrics_listen: port must be a number 0-65535, got "http"`},
		{"notifications_listen set", func(c *config.Config) { c.Replication.NotificationsListen = "0.0.0.0:9465" }, ""},
		{"notifications_listen no port", func(c *config.Config) { c.Replication.NotificationsListen = "worker" }, `replication.notifications_listen: must be host:port or empty, got "worker"`},
		{"notifications_listen bad port", func(c *config.Config) { c.Replication.NotificationsListen = ":99999" }, `replication.notifications_listen: port must be a number 0-65535, got "99999"`},
		{"notifications_token_env set", func(c *config.Config) {
			c.Replication.NotificationsListen = ":9465"
			c.Replication.NotificationsTokenEnv = "BDR_NOTIFY_TOKEN"
		}, ""},
		{"notifications_token_env bad name", func(c *config.Config) {
			c.Replication.NotificationsListen = ":9465"
			c.Replication.NotificationsTokenEnv = "1-TOKEN"
		}, `replication.notifications_token_env: "1-TOKEN" is not an environment variable name`},
		{"notifications_token_env without a listener", func(c *config.Config) { c.Replication.NotificationsTokenEnv = "TOKEN" },
			`replication.notifications_token_env: set only beside notifications_listen`},
		{"notifications_sqs off by default", func(c *config.Config) {}, ""},
		{"notifications_sqs set", setSQS(func(q *config.SQS) {}), ""},
		{"notifications_sqs from files, with an endpoint", setSQS(func(q *config.SQS) {
			q.AccessKeyIDEnv, q.SecretAccessKeyEnv = "", ""
			q.AccessKeyIDFile, q.SecretAccessKeyFile = "/run/secrets/sqs-id", "/run/secrets/sqs-secret"
			q.Endpoint = "http://127.0.0.1:4100"
		}), ""},
		{"notifications_sqs without queue_url", func(c *config.Config) { c.Replication.NotificationsSQS.Region = "us-east-1" },
			"replication.notifications_sqs.queue_url: required when any other notifications_sqs key is set"},
		{"notifications_sqs queue_url not a URL", setSQS(func(q *config.SQS) { q.QueueURL = "bdr-hints" }),
			`replication.notifications_sqs.queue_url: must be the queue's http:// or https:// URL`},
		{"notifications_sqs queue_url without the queue", setSQS(func(q *config.SQS) { q.QueueURL = "https://sqs.us-east-1.amazonaws.com/" }),
			`replication.notifications_sqs.queue_url: must be the queue's`},
		{"notifications_sqs region", setSQS(func(q *config.SQS) { q.Region = "" }), "replication.notifications_sqs.region: required"},
		{"notifications_sqs endpoint", setSQS(func(q *config.SQS) { q.Endpoint = "127.0.0.1:4100" }),
			`replication.notifications_sqs.endpoint: must be an http:// or https:// URL or empty, got "127.0.0.1:4100"`},
		{"notifications_sqs no credentials", setSQS(func(q *config.SQS) { q.AccessKeyIDEnv = "" }),
			"replication.notifications_sqs.access_key_id_env: set exactly one of access_key_id_env and access_key_id_file, neither is set"},
		{"notifications_sqs both credentials", setSQS(func(q *config.SQS) { q.SecretAccessKeyFile = "/s" }),
			"replication.notifications_sqs.secret_access_key_env: set exactly one of secret_access_key_env and secret_access_key_file, both are set"},
		{"notifications_sqs bad env name", setSQS(func(q *config.SQS) { q.SecretAccessKeyEnv = "SQS-SECRET" }),
			`replication.notifications_sqs.secret_access_key_env: "SQS-SECRET" is not an environment variable name`},
		{"service_name", func(c *config.Config) { c.Telemetry.ServiceName = "" }, "telemetry.service_name: required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.mutate(c)
			err := c.Validate()
			if tt.want == "" {
				assert.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			// Every problem is a FieldError naming a key.
			for _, fe := range config.FieldErrors(err) {
				assert.NotEmpty(t, fe.Key)
			}
			assert.NotEmpty(t, config.FieldErrors(err))
		})
	}
}

// setSQS sets a valid replication.notifications_sqs, then applies f to it.
func setSQS(f func(q *config.SQS)) func(c *config.Config) {
	return func(c *config.Config) {
		q := config.SQS{QueueURL: "https://sqs.us-east-1.amazonaws.com/111122223333/bdr-hints", Region: "us-east-1",
			AccessKeyIDEnv: "SQS_AWS_ACCESS_KEY_ID", SecretAccessKeyEnv: "SQS_AWS_SECRET_ACCESS_KEY"}
		f(&q)
		c.Replication.NotificationsSQS = q
	}
}

func setStore(f func(o *config.ObjectStore)) func(c *config.Config) {
	return func(c *config.Config) {
		r := c.Regions["primary"]
		f(&r.ObjectStore)
		c.Regions["primary"] = r
	}
}

func setConn(d config.DatabaseConn) func(c *config.Config) {
	return func(c *config.Config) {
		r := c.Regions["primary"]
		r.Database = d
		c.Regions["primary"] = r
	}
}

func addDB(name, root string) func(c *config.Config) {
	return func(c *config.Config) {
		c.Databases = append(c.Databases, config.Database{Name: name, RootPath: root})
	}
}

func TestValidateReportsEverythingSorted(t *testing.T) {
	c := valid()
	c.Temporal.Address = ""
	c.Replication.Concurrency = 0
	c.Databases[0].Name = "bad name"
	setStore(func(o *config.ObjectStore) { o.Bucket = "" })(c)
	c.Regions["third"] = config.Region{}

	err := c.Validate()
	require.Error(t, err)
	want := []string{
		`databases[0].name: "bad name" must match ^[A-Za-z_][A-Za-z0-9_]{0,63}$ (it becomes an SQL identifier)`,
		"regions.primary.object_store.bucket: required",
		"regions.third.object_store.access_key_id_env: set exactly one of access_key_id_env and access_key_id_file, neither is set",
		"regions.third.object_store.bucket: required",
		"regions.third.object_store.endpoint: required",
		"regions.third.object_store.secret_access_key_env: set exactly one of secret_access_key_env and secret_access_key_file, neither is set",
		"replication.concurrency: must be between 1 and 1024, got 0",
		"temporal.address: required",
	}
	assert.Equal(t, strings.Join(want, "\n"), err.Error())
	// Stable across calls despite map iteration order.
	for range 10 {
		assert.Equal(t, err.Error(), c.Validate().Error())
	}
}

func TestResolveCredentials(t *testing.T) {
	const id, secret = "AKIAEXAMPLE", "s3cr3t-value-that-must-not-leak"
	dir := t.TempDir()
	idFile := filepath.Join(dir, "id")
	secretFile := filepath.Join(dir, "secret")
	emptyFile := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(idFile, []byte(id+"\n"), 0o600))
	require.NoError(t, os.WriteFile(secretFile, []byte("  "+secret+"\n\n"), 0o600))
	require.NoError(t, os.WriteFile(emptyFile, []byte(" \n"), 0o600))
	env := map[string]string{"ID": id, "SECRET": secret, "BLANK": "  "}
	getenv := func(k string) string { return env[k] }

	tests := []struct {
		name    string
		store   config.ObjectStore
		want    config.Credentials
		wantErr []string // substrings; the secret value must never appear
	}{
		{name: "env", store: config.ObjectStore{AccessKeyIDEnv: "ID", SecretAccessKeyEnv: "SECRET"}, want: config.Credentials{AccessKeyID: id, SecretAccessKey: secret}},
		{name: "file, trimmed", store: config.ObjectStore{AccessKeyIDFile: idFile, SecretAccessKeyFile: secretFile}, want: config.Credentials{AccessKeyID: id, SecretAccessKey: secret}},
		{name: "mixed", store: config.ObjectStore{AccessKeyIDEnv: "ID", SecretAccessKeyFile: secretFile}, want: config.Credentials{AccessKeyID: id, SecretAccessKey: secret}},
		{
			name:    "missing env var",
			store:   config.ObjectStore{AccessKeyIDEnv: "ID", SecretAccessKeyEnv: "MISSING_SECRET"},
			wantErr: []string{"object_store.secret_access_key_env", "MISSING_SECRET", "empty or not set"},
		},
		{
			name:    "blank env var",
			store:   config.ObjectStore{AccessKeyIDEnv: "BLANK", SecretAccessKeyEnv: "SECRET"},
			wantErr: []string{"object_store.access_key_id_env", "BLANK"},
		},
		{
			name:    "missing file",
			store:   config.ObjectStore{AccessKeyIDEnv: "ID", SecretAccessKeyFile: filepath.Join(dir, "nope")},
			wantErr: []string{"object_store.secret_access_key_file", filepath.Join(dir, "nope"), "no such file"},
		},
		{
			name:    "empty file",
			store:   config.ObjectStore{AccessKeyIDFile: emptyFile, SecretAccessKeyEnv: "SECRET"},
			wantErr: []string{"object_store.access_key_id_file", emptyFile, "is empty"},
		},
		{
			name:    "nothing set, both reported",
			store:   config.ObjectStore{},
			wantErr: []string{"object_store.access_key_id: neither", "object_store.secret_access_key: neither"},
		},
		{
			name:    "both set",
			store:   config.ObjectStore{AccessKeyIDEnv: "ID", AccessKeyIDFile: idFile, SecretAccessKeyEnv: "SECRET"},
			wantErr: []string{"object_store.access_key_id: both"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.store.ResolveCredentials(getenv)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
				return
			}
			require.Error(t, err)
			assert.Equal(t, config.Credentials{}, got)
			for _, w := range tt.wantErr {
				assert.Contains(t, err.Error(), w)
			}
			assert.NotContains(t, err.Error(), secret)
			assert.NotContains(t, err.Error(), id)
		})
	}
}

// TestResolveSQSCredentials: the queue's credentials are resolved as an object store's, and
// errors name notifications_sqs's keys, never a value.
func TestResolveSQSCredentials(t *testing.T) {
	const id, secret = "AKIASQS", "sqs-secret-that-must-not-leak"
	env := map[string]string{"ID": id, "SECRET": secret}
	getenv := func(k string) string { return env[k] }
	got, err := config.SQS{AccessKeyIDEnv: "ID", SecretAccessKeyEnv: "SECRET"}.ResolveCredentials(getenv)
	require.NoError(t, err)
	assert.Equal(t, config.Credentials{AccessKeyID: id, SecretAccessKey: secret}, got)

	_, err = config.SQS{AccessKeyIDEnv: "ID", SecretAccessKeyEnv: "MISSING"}.ResolveCredentials(getenv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "replication.notifications_sqs.secret_access_key_env: environment variable MISSING is empty or not set")
	assert.NotContains(t, err.Error(), id)
	_, err = config.SQS{}.ResolveCredentials(getenv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "replication.notifications_sqs.access_key_id: neither")
}

func TestResolveCredentialsDefaultsToOSEnv(t *testing.T) {
	t.Setenv("BDR_TEST_ID", "id")
	t.Setenv("BDR_TEST_SECRET", "secret")
	got, err := config.ObjectStore{AccessKeyIDEnv: "BDR_TEST_ID", SecretAccessKeyEnv: "BDR_TEST_SECRET"}.ResolveCredentials(nil)
	require.NoError(t, err)
	assert.Equal(t, config.Credentials{AccessKeyID: "id", SecretAccessKey: "secret"}, got)
}

func TestCredentialsNeverPrintTheSecret(t *testing.T) {
	c := config.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "hunter2"}
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("creds", "c", c)
	for _, s := range []string{fmt.Sprint(c), fmt.Sprintf("%v %+v %s %#v", c, c, c, c), logged.String()} {
		assert.NotContains(t, s, "hunter2")
		assert.Contains(t, s, "AKIA")
	}
}

func TestResolveDSN(t *testing.T) {
	const dsn = "root:pw@tcp(db:3306)/"
	f := filepath.Join(t.TempDir(), "dsn")
	require.NoError(t, os.WriteFile(f, []byte(dsn+"\n"), 0o600))
	getenv := func(k string) string { return map[string]string{"DSN": dsn}[k] }

	got, err := config.DatabaseConn{DSNEnv: "DSN"}.ResolveDSN(getenv)
	require.NoError(t, err)
	assert.Equal(t, dsn, got)

	got, err = config.DatabaseConn{DSNFile: f}.ResolveDSN(getenv)
	require.NoError(t, err)
	assert.Equal(t, dsn, got)

	_, err = config.DatabaseConn{DSNEnv: "NO_DSN"}.ResolveDSN(getenv)
	require.Error(t, err)
	assert.Equal(t, "config: database.dsn_env: environment variable NO_DSN is empty or not set", err.Error())

	_, err = config.DatabaseConn{}.ResolveDSN(getenv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database.dsn: neither dsn_env nor dsn_file is set")
}

// TestResolveValidateDSN: the read-only DSN for validation queries resolves like the main one
// and never from it: a connection with only a main DSN has none.
func TestResolveValidateDSN(t *testing.T) {
	const dsn, ro = "root:pw@tcp(db:3306)/", "reader:ro-pw@tcp(db:3306)/"
	f := filepath.Join(t.TempDir(), "validate_dsn")
	require.NoError(t, os.WriteFile(f, []byte(ro+"\n"), 0o600))
	getenv := func(k string) string { return map[string]string{"DSN": dsn, "RO_DSN": ro}[k] }

	conn := config.DatabaseConn{DSNEnv: "DSN", ValidateDSNEnv: "RO_DSN"}
	assert.True(t, conn.HasDSN())
	assert.True(t, conn.HasValidateDSN())
	got, err := conn.ResolveValidateDSN(getenv)
	require.NoError(t, err)
	assert.Equal(t, ro, got)
	got, err = conn.ResolveDSN(getenv)
	require.NoError(t, err)
	assert.Equal(t, dsn, got)

	got, err = config.DatabaseConn{DSNEnv: "DSN", ValidateDSNFile: f}.ResolveValidateDSN(getenv)
	require.NoError(t, err)
	assert.Equal(t, ro, got)

	_, err = config.DatabaseConn{DSNEnv: "DSN", ValidateDSNEnv: "NO_DSN"}.ResolveValidateDSN(getenv)
	require.Error(t, err)
	assert.Equal(t, "config: database.validate_dsn_env: environment variable NO_DSN is empty or not set", err.Error())

	only := config.DatabaseConn{DSNEnv: "DSN"}
	assert.False(t, only.HasValidateDSN())
	_, err = only.ResolveValidateDSN(getenv)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "database.validate_dsn: neither validate_dsn_env nor validate_dsn_file is set")
	assert.NotContains(t, err.Error(), "pw")
}

func TestLookups(t *testing.T) {
	c := valid()
	c.Databases = append(c.Databases, config.Database{Name: "another", RootPath: "another"})

	d, err := c.Database("bottomless_db")
	require.NoError(t, err)
	assert.Equal(t, "bottomless_db_folder", d.RootPath)
	_, err = c.Database("x")
	require.Error(t, err)
	assert.Equal(t, `database: unknown database "x" (configured: another, bottomless_db)`, err.Error())
	assert.True(t, errors.Is(err, fs.ErrNotExist))

	r, err := c.Region("secondary")
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:9102", r.ObjectStore.Endpoint)
	_, err = c.Region("x")
	require.Error(t, err)
	assert.Equal(t, `region: unknown region "x" (configured: primary, secondary)`, err.Error())
	assert.True(t, errors.Is(err, fs.ErrNotExist))

	assert.Equal(t, []string{"primary", "secondary"}, c.RegionNames())
}

func TestWriteLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *config.Config)
	}{
		{"design example", func(c *config.Config) {}},
		{"every field non-default", func(c *config.Config) {
			c.Temporal = config.Temporal{Address: "temporal.example:7233", Namespace: "dr", TaskQueue: "q", APIKeyEnv: "TEMPORAL_API_KEY",
				TLS: config.TemporalTLS{Enabled: true, CAFile: "/etc/bdr/ca.pem", CertFile: "/etc/bdr/client.pem", KeyFile: "/etc/bdr/client.key",
					ServerName: "dr.a1b2c.tmprl.cloud", InsecureSkipVerify: true}}
			c.Regions["third_region"] = config.Region{ObjectStore: config.ObjectStore{
				Endpoint: "https://s3.eu-west-1.amazonaws.com", Region: "eu-west-1", Bucket: "b.c-d",
				AccessKeyIDFile: "/run/secrets/id", SecretAccessKeyFile: "/run/secrets/secret",
			}, Database: config.DatabaseConn{DSNFile: "/run/secrets/dsn", ValidateDSNFile: "/run/secrets/ro_dsn"}}
			r := c.Regions["primary"]
			r.Database.ValidateDSNEnv = "PRIMARY_RO_DSN"
			c.Regions["primary"] = r
			c.Databases = append(c.Databases, config.Database{Name: "Other_1", RootPath: "dbs/other.1"})
			c.Replication = config.Replication{
				PollInterval: 1500 * time.Millisecond, SettleWindow: 1500 * time.Millisecond, Concurrency: 7, BatchMaxObjects: 3,
				BatchMaxBytes: 1000, Order: "strict", Exclude: []string{"*/storage_locks/*", "*/tmp/*"},
				DeleteDelay: config.Delay(200 * time.Hour), MultipartThreshold: 10 * config.MiB, PartSize: 5 * config.GiB,
			}
			c.Telemetry = config.Telemetry{OTLPEndpoint: "http://otel:4318", MetricsListen: "", ServiceName: "true"}
		}},
		{"delete_delay never", func(c *config.Config) { c.Replication.DeleteDelay = config.NeverDelete }},
		{"delete_delay a duration", func(c *config.Config) {
			c.Failover.Retention = 90 * time.Minute
			c.Replication.DeleteDelay = config.Delay(90 * time.Minute)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clearBDREnv(t)
			c := valid()
			tt.mutate(c)
			require.NoError(t, c.Validate())
			p := filepath.Join(t.TempDir(), "bdr.yaml")
			require.NoError(t, config.Write(p, c))
			got, err := config.Load(p)
			require.NoError(t, err)
			assert.Equal(t, c, got)

			// Writing what was loaded gives the same file.
			first, err := os.ReadFile(p)
			require.NoError(t, err)
			require.NoError(t, config.Write(p, got))
			second, err := os.ReadFile(p)
			require.NoError(t, err)
			assert.Equal(t, string(first), string(second))
		})
	}
}

func TestWriteFormat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bdr.yaml")
	require.NoError(t, config.Write(p, valid()))
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	s := string(b)
	for _, want := range []string{"delete_delay: 168h\n", "batch_max_bytes: 1GiB\n", "poll_interval: 1s\n", "task_queue: bottomless-dr\n", `otlp_endpoint: ""`} {
		assert.Contains(t, s, want)
	}
	assert.Less(t, strings.Index(s, "temporal:"), strings.Index(s, "regions:"), "keys in declaration order")
	info, err := os.Stat(p)
	require.NoError(t, err)
	assert.Equal(t, fs.FileMode(0o644), info.Mode().Perm())

	never := valid()
	never.Replication.DeleteDelay = config.NeverDelete
	require.NoError(t, config.Write(p, never))
	b, err = os.ReadFile(p)
	require.NoError(t, err)
	assert.Contains(t, string(b), "delete_delay: never\n")
}

func TestSecurityPasswords(t *testing.T) {
	clearBDREnv(t)
	c := valid()
	c.Security.Passwords = []config.UserPassword{{User: "app", PasswordEnv: "APP_PASSWORD"}, {User: "ops", Host: "10.%", PasswordEnv: "OPS_PASSWORD"}}
	require.NoError(t, c.Validate())
	p := filepath.Join(t.TempDir(), "bdr.yaml")
	require.NoError(t, config.Write(p, c))
	loaded, err := config.Load(p)
	require.NoError(t, err)
	assert.Equal(t, c.Security, loaded.Security)

	lookup, err := c.Security.ResolvePasswords(func(name string) string {
		return map[string]string{"APP_PASSWORD": "s3cret-app", "OPS_PASSWORD": "s3cret-ops"}[name]
	})
	require.NoError(t, err)
	pw, ok := lookup("app", "%")
	assert.True(t, ok)
	assert.Equal(t, "s3cret-app", pw)
	_, ok = lookup("ops", "%")
	assert.False(t, ok, "ops is configured for host 10.% only")
	_, err = c.Security.ResolvePasswords(func(string) string { return "" })
	require.ErrorContains(t, err, "security.passwords[0].password_env")

	bad := valid()
	bad.Security.Passwords = []config.UserPassword{{User: "a b", PasswordEnv: "X"}, {User: "c"}, {User: "d", PasswordEnv: "X"}, {User: "d", PasswordEnv: "Y"}}
	err = bad.Validate()
	require.Error(t, err)
	for _, want := range []string{"security.passwords[0].user", "security.passwords[1].password_env", "security.passwords[3].user: 'd'@'%' is listed twice"} {
		assert.ErrorContains(t, err, want)
	}
}
