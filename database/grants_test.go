package database

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// These tests need no server: they pin the parsing, quoting and redaction rules the
// statements are built from.

func TestParseGrantRebuildsFromParts(t *testing.T) {
	for _, tc := range []struct {
		line, want string
	}{
		{"GRANT USAGE ON *.* TO 'app'@'%'", "GRANT USAGE ON *.* TO 'app'@'%'"},
		{"GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'", "GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'"},
		{"grant select on sales.t to app@localhost with grant option;", "GRANT SELECT ON `sales`.`t` TO 'app'@'localhost' WITH GRANT OPTION"},
		{"GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION", "GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION"},
		{"GRANT SHOW METADATA, CREATE DATABASE ON *.* TO ROLE 'ops'", "GRANT SHOW METADATA, CREATE DATABASE ON *.* TO ROLE 'ops'"},
		{"GRANT TRANSFERABLE SELECT ON `db`.* TO 'u'@'10.0.%'", "GRANT TRANSFERABLE SELECT ON `db`.* TO 'u'@'10.0.%'"},
		{"GRANT USAGE ON *.* TO 'u'@'%' IDENTIFIED BY PASSWORD '*6BB4837EB74329105EE4568DDA7DC67ED2CA2AD9'", "GRANT USAGE ON *.* TO 'u'@'%'"},
		{"GRANT SELECT ON db.* TO \"u\"@\"%\"", "GRANT SELECT ON `db`.* TO 'u'@'%'"},
	} {
		g, err := parseGrant(tc.line)
		require.NoError(t, err, tc.line)
		require.NoError(t, g.validate("test", "line"), tc.line)
		require.Equal(t, tc.want, g.statement(nil), tc.line)
	}
	for _, bad := range []string{
		"REVOKE SELECT ON *.* FROM 'u'@'%'",
		"GRANT SELECT ON *.* TO 'u'@'%'; DROP DATABASE x",
		"GRANT SELECT ON *.* TO 'u'@'%' REQUIRE SSL",
		"GRANT SELECT (col) ON db.t TO 'u'@'%'",
		"GRANT SELECT ON db TO 'u'@'%'",
		"GRANT SELECT ON *.* TO 'u",
		"GRANT ON *.* TO 'u'@'%'",
	} {
		_, err := parseGrant(bad)
		require.Error(t, err, bad)
	}
}

func TestStripPasswordFromGrantLines(t *testing.T) {
	require.Equal(t, "GRANT USAGE ON *.* TO 'u'@'%' WITH GRANT OPTION",
		stripPassword("GRANT USAGE ON *.* TO 'u'@'%' IDENTIFIED BY PASSWORD '*6BB4837EB7' WITH GRANT OPTION"))
	require.Equal(t, "GRANT USAGE ON *.* TO 'u'@'%'", stripPassword("GRANT USAGE ON *.* TO 'u'@'%' identified by 'it''s'"))
}

func TestMissingPrivileges(t *testing.T) {
	want, err := parseGrant("GRANT SELECT, INSERT ON `db`.* TO 'u'@'%' WITH GRANT OPTION")
	require.NoError(t, err)
	have := parseGrantsLenient([]string{"GRANT USAGE ON *.* TO 'u'@'%'", "GRANT SELECT ON `db`.* TO 'u'@'%'", "not a grant"})
	privs, option := missing(want, have)
	require.Equal(t, []string{"INSERT"}, privs)
	require.True(t, option)
	have = parseGrantsLenient([]string{"GRANT ALL PRIVILEGES ON `db`.* TO 'u'@'%' WITH GRANT OPTION"})
	privs, option = missing(want, have)
	require.Empty(t, privs)
	require.False(t, option)
}

func TestParseAccount(t *testing.T) {
	for in, want := range map[string][2]string{
		"'root'@'%'":         {"root", "%"},
		"'app'@'10.0.%'":     {"app", "10.0.%"},
		"app@localhost":      {"app", "localhost"},
		"'o''brien'@'h'":     {"o'brien", "h"},
		"`svc`@`%`":          {"svc", "%"},
		"'only-user'":        {"only-user", "%"},
		"'a'@'b'@'c'":        {"", ""},
		"'unterminated@'%'x": {"", ""},
	} {
		u, h, err := parseAccount(in)
		if want[0] == "" {
			require.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		require.Equal(t, want, [2]string{u, h}, in)
	}
}

// TestQuotingCannotBeEscaped: whatever a literal holds, the lexer the stand-in and MySQL use
// reads it back as one literal with the same text.
func TestQuotingCannotBeEscaped(t *testing.T) {
	for _, s := range []string{`'`, `\'`, `\`, `''; DROP DATABASE x; --`, `"`, `\"`, "a\x00b\nc\r\x1a", `'\''`} {
		for _, q := range []func(string) string{quoteString, quoteDouble} {
			lit := q(s)
			toks, err := lexGrant(lit)
			require.NoError(t, err, lit)
			require.Len(t, toks, 1, lit)
			require.Equal(t, 's', rune(toks[0].kind), lit)
			if !strings.ContainsAny(s, "\x00\n\r\x1a") { // those come back as \0, \n… escapes read literally here
				require.Equal(t, s, toks[0].text, lit)
			}
		}
	}
	require.Equal(t, "`a``b`", quoteIdent("a`b"))
}

func TestAttachStatement(t *testing.T) {
	a := AttachSpec{Database: "sales", As: "sales_branch", Bucket: "my-bucket", Path: "sales/folder",
		Store:  StoreConfig{Region: "us-east-1", EndpointURL: "http://127.0.0.1:9000", ForcePathStyle: true},
		Creds:  Credentials{AccessKeyID: "AKIA", SecretAccessKey: `se'cr"et\`},
		AtTime: time.Date(2026, 1, 2, 3, 4, 5, 999, time.FixedZone("x", -3600))}
	stmt, err := attachStatement(a)
	require.NoError(t, err)
	require.Equal(t, "ATTACH DATABASE `sales` AS `sales_branch` ON S3 \"my-bucket/sales/folder\""+
		` CONFIG '{"endpoint_url":"http://127.0.0.1:9000","region":"us-east-1","s3_force_path_style":"true"}'`+
		` CREDENTIALS '{"aws_access_key_id":"AKIA","aws_secret_access_key":"se''cr\\"et\\\\"}'`+
		` AT TIME '2026-01-02 04:04:05'`, stmt)

	a.As, a.AtTime, a.AtMilestone, a.Store = "", time.Time{}, "m1", StoreConfig{}
	stmt, err = attachStatement(a)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(stmt, ` AT MILESTONE "m1"`), stmt)
	require.NotContains(t, stmt, "CONFIG")
}

func TestRedact(t *testing.T) {
	secret := `ab'c"d\e`
	stmt := `ATTACH DATABASE x ON S3 "b/p" CREDENTIALS '{"aws_secret_access_key":"ab''c\\"d\\\\e"}' AT TIME 'x'`
	got := redactString("near "+stmt, secret)
	require.Equal(t, `near ATTACH DATABASE x ON S3 "b/p" CREDENTIALS '<redacted>' AT TIME 'x'`, got)
	// Cut short after the literal started: everything after CREDENTIALS goes.
	require.Equal(t, "at CREDENTIALS '<redacted>'", redactString(`at CREDENTIALS '{"aws_secret`))
	// The secret in any of the escaped forms a server might echo.
	// As is; in JSON; in a SQL literal; JSON in a SQL literal; JSON quoted again by Go's %q.
	for _, echo := range []string{secret, `ab'c\"d\\e`, `ab''c"d\\e`, `ab''c\\"d\\\\e`, `ab'c\\\"d\\\\e`} {
		require.NotContains(t, redactString("x "+echo+" y", secret), "d\\", echo)
	}
	me := &mysql.MySQLError{Number: 1105, SQLState: [5]byte{'H', 'Y', '0', '0', '0'}, Message: "bad " + secret}
	err := redactError(me, secret)
	var out *mysql.MySQLError
	require.True(t, errors.As(err, &out))
	require.Equal(t, uint16(1105), out.Number)
	require.Equal(t, "bad <redacted>", out.Message)
	require.Same(t, error(me), redactError(me, "absent"))
}
