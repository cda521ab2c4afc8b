package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
)

// deadAddress returns a loopback address where nothing listens: a port that was free a moment
// ago. Temporal at this address would refuse (or, if a dial were attempted, time out).
func deadAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

// writeConfig writes a valid bdr.yaml with regions primary and secondary and database
// bottomless_db, Temporal at temporalAddr, and returns its path.
func writeConfig(t *testing.T, temporalAddr string) string {
	t.Helper()
	yaml := fmt.Sprintf(`temporal: {address: %q, namespace: default, task_queue: bottomless-dr}
regions:
  primary:
    object_store: {endpoint: "http://127.0.0.1:1", bucket: bkt, path_style: true,
                   access_key_id_env: P_KEY, secret_access_key_env: P_SECRET}
  secondary:
    object_store: {endpoint: "http://127.0.0.1:1", bucket: bkt, path_style: true,
                   access_key_id_env: S_KEY, secret_access_key_env: S_SECRET}
databases:
  - {name: bottomless_db, root_path: bottomless_db_folder}
`, temporalAddr)
	path := filepath.Join(t.TempDir(), "bdr.yaml")
	require.NoError(t, os.WriteFile(path, []byte(yaml), 0o600))
	return path
}

// newTestApp returns an app whose dial fails the test: commands under test must fail their
// local validation before reaching Temporal.
func newTestApp(t *testing.T) (*app, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	return &app{
		stdout: &out, stderr: &out, getenv: func(string) string { return "" },
		dial: func(context.Context, *config.Config) (client.Client, error) {
			t.Error("dialed Temporal although the command line is invalid")
			return nil, errors.New("test: no dial")
		},
	}, &out
}

func TestReplicateValidatesBeforeDialing(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	for _, tc := range []struct {
		name string
		args []string
		want string // the whole error message: it names the argument or flag at fault
	}{
		{"unknown database", []string{"replicate", "start", "nope"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
		{"unknown --from", []string{"replicate", "start", "bottomless_db", "--from", "tertiary"},
			`--from: unknown region "tertiary" (configured: primary, secondary)`},
		{"unknown --to", []string{"replicate", "start", "bottomless_db", "--to", "mars"},
			`--to: unknown region "mars" (configured: primary, secondary)`},
		{"from equals to", []string{"replicate", "start", "bottomless_db", "--from", "secondary"},
			`--from and --to are both "secondary": replication needs two different regions`},
		{"pause checks too", []string{"replicate", "pause", "nope"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
		{"drain checks too", []string{"replicate", "drain", "bottomless_db", "--to", "primary"},
			`--from and --to are both "primary": replication needs two different regions`},
		{"stop checks too", []string{"replicate", "stop", "bottomless_db", "--from", "x"},
			`--from: unknown region "x" (configured: primary, secondary)`},
		{"status checks its arguments", []string{"status", "nope"},
			`argument DB: unknown database "nope" (configured: bottomless_db)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, out := newTestApp(t)
			err := a.execute(context.Background(), append([]string{"--config", cfgPath}, tc.args...))
			require.Error(t, err)
			assert.Equal(t, tc.want, err.Error())
			assert.Equal(t, 2, exitCode(err), "a bad flag value is a usage error")
			assert.Empty(t, out.String(), "nothing is printed before the error")
		})
	}
}

// TestRunValidationWithDeadTemporal goes through run, with the real dial, and Temporal at an
// address where nothing listens: the error must be the validation one, at once.
func TestRunValidationWithDeadTemporal(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	var stdout, stderr bytes.Buffer
	start := time.Now()
	err := run(context.Background(), []string{"--config", cfgPath, "replicate", "start", "bottomless_db", "--from", "primary", "--to", "primary"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "--from and --to are both")
	assert.NotContains(t, err.Error(), "temporal")
	assert.Less(t, time.Since(start), 2*time.Second, "no connection attempt")
	assert.Empty(t, stdout.String())
}

func TestUsageErrors(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "missing command (see bdr --help)"},
		{[]string{"replicate"}, "missing command (see bdr replicate --help)"},
		{[]string{"replicat"}, `unknown command "replicat" for "bdr" (see bdr --help)`},
		{[]string{"replicate", "begin"}, `unknown command "begin" for "bdr replicate" (see bdr replicate --help)`},
		{[]string{"replicate", "start"}, "bdr replicate start: want argument DB, got 0 arguments"},
		{[]string{"replicate", "start", "a", "b"}, "bdr replicate start: want argument DB, got 2 arguments"},
		{[]string{"setup", "x"}, `bdr setup takes no arguments, got ["x"]`},
		{[]string{"--bogus"}, "unknown flag: --bogus"},
		{[]string{"status", "--interval", "0s"}, "--interval: must be positive, got 0s"},
	} {
		a, _ := newTestApp(t)
		err := a.execute(context.Background(), append([]string{"--config", cfgPath}, tc.args...))
		require.Error(t, err, "%q", tc.args)
		assert.Equal(t, tc.want, err.Error(), "%q", tc.args)
		assert.Equal(t, 2, exitCode(err), "%q", tc.args)
	}
}

func TestConfigErrorsAreNotUsageErrors(t *testing.T) {
	a, _ := newTestApp(t)
	err := a.execute(context.Background(), []string{"--config", filepath.Join(t.TempDir(), "missing.yaml"), "status"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "(set --config or BDR_CONFIG)")
	assert.Equal(t, 1, exitCode(err))
}

func TestConfigPathFromEnvironment(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	a, _ := newTestApp(t)
	a.getenv = func(k string) string {
		if k == "BDR_CONFIG" {
			return cfgPath
		}
		return ""
	}
	err := a.execute(context.Background(), []string{"replicate", "start", "nope"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "unknown database", "BDR_CONFIG was read (else: bdr.yaml not found)")
}

// TestConfigCheckReportsEveryEndpoint runs config check with nothing listening anywhere and
// no credentials in the environment: every check fails, each naming its key, and no secret
// reference is resolved into output.
func TestConfigCheckReportsEveryEndpoint(t *testing.T) {
	t.Setenv("P_KEY", "AKIAEXAMPLEKEY")
	t.Setenv("P_SECRET", "very-secret-value")
	cfgPath := writeConfig(t, deadAddress(t))
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"--config", cfgPath, "config", "check", "--timeout", "3s"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Equal(t, "config check: 3 of 4 checks failed", err.Error())
	assert.Equal(t, 1, exitCode(err))
	out := stdout.String()
	assert.Regexp(t, `(?m)^OK +config `, out)
	assert.Regexp(t, `(?m)^FAIL +regions\.primary\.object_store .*regions\.primary\.object_store\.endpoint: dial tcp 127\.0\.0\.1:1: connect: connection refused$`, out)
	assert.Regexp(t, `(?m)^FAIL +regions\.secondary\.object_store .*S_KEY is empty or not set`, out)
	assert.Regexp(t, `(?m)^FAIL +temporal\.address .*temporal\.address: dial`, out)
	assert.NotContains(t, out, "very-secret-value")
	assert.NotContains(t, out, "AKIAEXAMPLEKEY")
}

// TestConfigCheckSQS: with replication.notifications_sqs, config check tries the queue too:
// its credentials first (a missing variable is named, no value shown), then its endpoint.
func TestConfigCheckSQS(t *testing.T) {
	cfgPath := writeConfig(t, deadAddress(t))
	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	sqsConf := fmt.Sprintf(`replication:
  notifications_sqs: {queue_url: "http://%s/100010001000/bdr", region: us-east-1, endpoint: "http://%s",
                      access_key_id_env: Q_KEY, secret_access_key_env: Q_SECRET}
`, deadAddress(t), deadAddress(t))
	require.NoError(t, os.WriteFile(cfgPath, append(b, sqsConf...), 0o600))

	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"--config", cfgPath, "config", "check", "--timeout", "3s"}, &stdout, &stderr)
	require.Error(t, err)
	assert.Regexp(t, `(?m)^FAIL +replication\.notifications_sqs +queue http://.* at http://.*replication\.notifications_sqs\.access_key_id_env: environment variable Q_KEY is empty or not set`, stdout.String())

	t.Setenv("Q_KEY", "AKIAQUEUEKEY")
	t.Setenv("Q_SECRET", "queue-secret-value")
	stdout.Reset()
	err = run(context.Background(), []string{"--config", cfgPath, "config", "check", "--timeout", "3s"}, &stdout, &stderr)
	require.Error(t, err)
	out := stdout.String()
	assert.Regexp(t, `(?m)^FAIL +replication\.notifications_sqs .*replication\.notifications_sqs\.endpoint: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$`, out)
	assert.NotContains(t, out, "queue-secret-value")
	assert.NotContains(t, out, "AKIAQUEUEKEY")
}

// TestConfigCheckReportsTLSMisconfiguration: a TLS file that cannot be used is reported
// under its own key, with the file and the cause, before Temporal is dialed.
func TestConfigCheckReportsTLSMisconfiguration(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "client.pem")
	cfgPath := writeConfig(t, deadAddress(t))
	b, err := os.ReadFile(cfgPath)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(cfgPath, []byte(strings.Replace(string(b), "task_queue: bottomless-dr}",
		fmt.Sprintf("task_queue: bottomless-dr, tls: {cert_file: %q, key_file: %q}}", missing, filepath.Join(dir, "client.key")), 1)), 0o600))
	var stdout, stderr bytes.Buffer
	err = run(context.Background(), []string{"--config", cfgPath, "config", "check", "--timeout", "3s"}, &stdout, &stderr)
	require.Error(t, err)
	out := stdout.String()
	assert.Regexp(t, `(?m)^FAIL +temporal\.tls\.cert_file .*temporal\.tls\.cert_file: open `+regexp.QuoteMeta(missing)+`: no such file or directory$`, out)
	assert.NotContains(t, out, "temporal.address: dial", "no dial with an unusable TLS configuration")
}

func TestConfigCheckInvalidConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bdr.yaml")
	require.NoError(t, os.WriteFile(path, []byte("temporal: {address: x:1, namespace: default, task_queue: q, colour: red}\n"), 0o600))
	a, out := newTestApp(t)
	a.json = true
	err := a.execute(context.Background(), []string{"--config", path, "--json", "config", "check"})
	require.Error(t, err)
	assert.Contains(t, out.String(), `"check": "temporal.colour"`)
	assert.Contains(t, out.String(), `"error": "unknown key"`)
}
