package standin_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestBadStatementsWriteNothing: malformed SQL and bad CONFIG/CREDENTIALS JSON are MySQL
// errors that say what is wrong, and the bucket stays empty.
func TestBadStatementsWriteNothing(t *testing.T) {
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{})
	db := p.root(t)
	cfg := fmt.Sprintf(`{"region":"us-east-1","endpoint_url":"%s","s3_force_path_style":"true"}`, minio.Endpoint)
	creds := fmt.Sprintf(`{"aws_access_key_id":"%s","aws_secret_access_key":"%s"}`, minio.AccessKey, minio.SecretKey)
	loc := bucket + "/bad"
	for _, c := range []struct{ stmt, want string }{
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '{"region": ' CREDENTIALS '%s'`, loc, creds), "CONFIG is not valid"},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '{"regoin":"us-east-1"}' CREDENTIALS '%s'`, loc, creds), `unknown field "regoin"`},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '{"s3_force_path_style":"maybe"}' CREDENTIALS '%s'`, loc, creds), `want "true" or "false"`},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '{"aws_access_key_id":"x"}'`, loc, cfg), "needs aws_access_key_id and aws_secret_access_key"},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS 'not json'`, loc, cfg), "CREDENTIALS is not valid"},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '%s'`, loc, cfg), "CREDENTIALS"},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '{"aws_access_key_id":"%s","aws_secret_access_key":"wrong"}'`, loc, cfg, minio.AccessKey), "bucket " + bucket},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s/../x" CONFIG '%s' CREDENTIALS '%s'`, loc, cfg, creds), `invalid path segment ".."`},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "Bad_Bucket/x" CONFIG '%s' CREDENTIALS '%s'`, cfg, creds), `invalid bucket name "Bad_Bucket"`},
		{fmt.Sprintf(`CREATE DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '%s' PARTITIONS`, loc, cfg, creds), "syntax error"},
		{fmt.Sprintf(`CREATE DATABASE ﬁ ON S3 "%s" CONFIG '%s' CREDENTIALS '%s'`, loc, cfg, creds), "invalid database name"},
		{fmt.Sprintf(`ATTACH DATABASE d ON S3 "%s" CONFIG '%s'`, loc, cfg), "CREDENTIALS '{...}' is required"},
		{fmt.Sprintf(`ATTACH DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '%s' AT TIME 'yesterday'`, loc, cfg, creds), "want 'YYYY-MM-DD HH:MM:SS'"},
		{fmt.Sprintf(`ATTACH DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '%s' AT MILESTONE "a" AT TIME '2024-01-01 00:00:00'`, loc, cfg, creds), "exclusive"},
		{fmt.Sprintf(`ATTACH DATABASE d ON S3 "%s" CONFIG '%s' CREDENTIALS '%s'`, loc, cfg, creds), "no database under " + loc},
		{`ATTACH DATABASE d`, "ON S3"},
		{`DETACH DATABASE nosuch`, "Unknown database 'nosuch'"},
		{`CREATE MILESTONE "bad name" FOR d`, "invalid milestone name"},
		{`CREATE MILESTONE "ok" FOR nosuch`, "not an attached bottomless database"},
		{`GRANT FLY ON *.* TO 'u'@'%'`, `unknown privilege "FLY"`},
		{`GRANT SELECT ON *.* TO 'nosuch'@'%'`, "does not exist"},
		{`CREATE USER 'bad user'@'%'`, "invalid user name"},
		{`SET PASSWORD = 'x'`, "not supported by the stand-in"},
	} {
		_, err := db.Exec(c.stmt)
		var me *mysql.MySQLError
		require.True(t, errors.As(err, &me), "%s: want a MySQL error, got %v", c.stmt, err)
		require.Contains(t, me.Message, c.want, c.stmt)
		require.False(t, strings.Contains(me.Message, minio.SecretKey), "the secret must not be echoed")
	}
	require.Empty(t, listKeys(t, bucket, ""), "nothing may be written for a failed statement")
}
