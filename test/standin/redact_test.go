package standin_test

import (
	"bytes"
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/standin"
)

// TestRedactSecrets: the literal after CREDENTIALS, the password after IDENTIFIED BY (in its
// variants) and every aws_secret_access_key value are replaced, however quoted, escaped or
// cut short; text without secrets is left alone.
func TestRedactSecrets(t *testing.T) {
	t.Parallel()
	cases := []struct{ in, want string }{
		{`ATTACH DATABASE d ON S3 "b/p" CONFIG '{"region":"r"}' CREDENTIALS '{"aws_access_key_id":"AKIA","aws_secret_access_key":"S3CR3T"}'`,
			`ATTACH DATABASE d ON S3 "b/p" CONFIG '{"region":"r"}' CREDENTIALS '[REDACTED]'`},
		{`attach database d on s3 "b/p" credentials "{\"aws_secret_access_key\":\"S3CR3T\"}" at milestone "m"`,
			`attach database d on s3 "b/p" credentials '[REDACTED]' at milestone "m"`},
		{`CREDENTIALS 'it''s S3CR3T' AT TIME '2026-01-01'`, `CREDENTIALS '[REDACTED]' AT TIME '2026-01-01'`},
		{`CREDENTIALS 'back\'slash S3CR3T' x`, `CREDENTIALS '[REDACTED]' x`},
		{`CREATE DATABASE d ON S3 "x/y" CREDENTIALS '{"aws_secret_access_key":"S3CR3T`, `CREATE DATABASE d ON S3 "x/y" CREDENTIALS '[REDACTED]'`},
		{"CREDENTIALS\n\t'S3CR3T'", "CREDENTIALS\n\t'[REDACTED]'"},
		{`CREATE USER 'app'@'%' IDENTIFIED BY 'S3CR3T'`, `CREATE USER 'app'@'%' IDENTIFIED BY '[REDACTED]'`},
		{`create user app identified by "S3CR3T" require none`, `create user app identified by '[REDACTED]' require none`},
		{`CREATE USER app IDENTIFIED WITH mysql_native_password BY 'S3CR3T'`, `CREATE USER app IDENTIFIED WITH mysql_native_password BY '[REDACTED]'`},
		{`GRANT USAGE ON *.* TO 'app'@'%' IDENTIFIED BY PASSWORD '*S3CR3T'`, `GRANT USAGE ON *.* TO 'app'@'%' IDENTIFIED BY PASSWORD '[REDACTED]'`},
		{`SET PASSWORD FOR 'app'@'%' = 'S3CR3T'`, `SET PASSWORD FOR 'app'@'%' = '[REDACTED]'`},
		{`SELECT '{"aws_secret_access_key":"S3CR3T","x":1}'`, `SELECT '{"aws_secret_access_key":"[REDACTED]","x":1}'`},
		{`error: {\"aws_secret_access_key\": \"S3CR3T\"}`, `error: {\"aws_secret_access_key\": \"[REDACTED]\"}`},
		{`aws_secret_access_key=S3CR3T other=1`, `aws_secret_access_key=[REDACTED] other=1`},
		{`{"AWS_SESSION_TOKEN":"S3CR3T"}`, `{"AWS_SESSION_TOKEN":"[REDACTED]"}`},
		{`SELECT credentials, identified FROM t WHERE note = 'by'`, `SELECT credentials, identified FROM t WHERE note = 'by'`},
		{`user 'app'@'%' already exists`, `user 'app'@'%' already exists`},
	}
	for _, c := range cases {
		got := standin.RedactSecrets(c.in)
		require.Equal(t, c.want, got, c.in)
		require.NotContains(t, got, "S3CR3T", c.in)
	}
}

// lockedBuffer is a log written by a process's output copier and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestLogsNeverEchoSecrets: a stand-in run with --debug logs every statement go-mysql-server
// runs and every statement that fails; statements carrying CREDENTIALS, IDENTIFIED BY
// passwords and aws_secret_access_key values, that succeed, fail in the stand-in or fail in
// go-mysql-server, leave none of those values in its log, which still shows the statements.
func TestLogsNeverEchoSecrets(t *testing.T) {
	t.Parallel()
	var log lockedBuffer
	p := startStandin(t, standinOpts{debug: true, log: &log})
	db := p.root(t)
	bucket := newBucket(t)
	stmts := []string{
		"CREATE USER 'app'@'%' IDENTIFIED BY 'pw-SECRET-1'",
		"CREATE USER 'app'@'%' IDENTIFIED BY 'pw-SECRET-2'", // fails: exists
		"CREATE USER 'app2'@'%' IDENTIFIED BY 'pw-SECRET-3' garbage",
		"CREATE DATABASE d1 " + onS3(bucket+"/d1"),
		fmt.Sprintf(`ATTACH DATABASE d2 ON S3 "%s/none" CONFIG '{"region":"us-east-1","endpoint_url":"%s","s3_force_path_style":"true"}' CREDENTIALS '{"aws_access_key_id":"AKIA","aws_secret_access_key":"SECRET-4"}'`, bucket, minio.Endpoint),
		`CREATE DATABASE d3 ON S3 "x/y" CREDENTIALS '{"aws_secret_access_key":"SECRET-5"`, // go-mysql-server's parser refuses it
		`SELECT '{"aws_secret_access_key":"SECRET-6"}' FROM nowhere`,
		"SET PASSWORD FOR 'app'@'%' = 'pw-SECRET-7'",
	}
	for _, q := range stmts {
		_, _ = db.Exec(q) // some fail on purpose; only the log matters here
	}
	// Once the process has exited, its whole stderr has been copied into log (exec.Cmd.Wait).
	require.NoError(t, p.Stop())

	out := log.String()
	for _, secret := range []string{"pw-SECRET-1", "pw-SECRET-2", "pw-SECRET-3", "SECRET-4", "SECRET-5", "SECRET-6", "pw-SECRET-7", minio.SecretKey} {
		require.NotContains(t, out, secret, "the stand-in's log echoes a secret")
	}
	require.Contains(t, out, `CREATE DATABASE d3 ON S3 \"x/y\" CREDENTIALS '[REDACTED]'`, "the failed statement is logged, redacted")
	require.Contains(t, out, `aws_secret_access_key\":\"[REDACTED]`)
}
