package standin

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func ptr(s string) *string { return &s }

func TestParseStatement(t *testing.T) {
	for _, c := range []struct {
		sql  string
		want any    // nil: not intercepted
		err  string // non-empty: a parse error containing this
	}{
		{`SELECT 1`, nil, ""},
		{`CREATE DATABASE local_only`, nil, ""},
		{`CREATE TABLE t (id INT)`, nil, ""},
		{`SHOW DATABASES`, nil, ""},
		{`CREATE DATABASE db ON S3 "b-1/p/q" CONFIG '{"region":"us-east-1"}' CREDENTIALS '{"k":"v"}';`,
			&createDatabaseStmt{Name: "db", Location: "b-1/p/q", Config: ptr(`{"region":"us-east-1"}`), Credentials: ptr(`{"k":"v"}`)}, ""},
		{"create database if not exists `Db_2` on s3 'b/p' credentials '{}' config '{}'",
			&createDatabaseStmt{Name: "Db_2", IfNotExists: true, Location: "b/p", Config: ptr("{}"), Credentials: ptr("{}")}, ""},
		{`CREATE DATABASE db ON S3 "b/p" CONFIG '{}' CONFIG '{}'`, nil, "CONFIG given twice"},
		{`CREATE DATABASE db ON S3 b CREDENTIALS '{}'`, nil, "quoted string"},
		{`CREATE DATABASE 9db ON S3 "b/p" CREDENTIALS '{}'`, nil, "invalid database name"},
		{`ATTACH DATABASE db ON S3 "b/p" CONFIG '{}' CREDENTIALS '{"a":"it''s"}'`,
			&attachStmt{Name: "db", As: "db", Location: "b/p", Config: ptr("{}"), Credentials: ptr(`{"a":"it's"}`)}, ""},
		{`ATTACH DATABASE db AS br ON S3 "b/p" CREDENTIALS '{}' AT MILESTONE "m-1"`,
			&attachStmt{Name: "db", As: "br", Location: "b/p", Credentials: ptr("{}"), AtMilestone: "m-1"}, ""},
		{`ATTACH DATABASE db ON S3 "b/p" CREDENTIALS '{}' AT TIME '2024-05-06 07:08:09'`,
			&attachStmt{Name: "db", As: "db", Location: "b/p", Credentials: ptr("{}"), AtTime: time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)}, ""},
		{`ATTACH DATABASE db ON S3 "b/p" CREDENTIALS '{}' AT TIME '2024-05-06T07:08:09Z'`, nil, "YYYY-MM-DD HH:MM:SS"},
		{`ATTACH DATABASE db ON S3 "b/p" CONFIG '{}'`, nil, "CREDENTIALS '{...}' is required"},
		{`ATTACH DATABASE db`, nil, "only ON S3"},
		{`DETACH DATABASE db`, &detachStmt{Name: "db"}, ""},
		{`detach database db force;`, &detachStmt{Name: "db", Force: true}, ""},
		{`DETACH DATABASE db NOW`, nil, "unexpected text"},
		{`DROP DATABASE IF EXISTS db`, &dropDatabaseStmt{Name: "db", IfExists: true}, ""},
		{`CREATE MILESTONE "m1" FOR db`, &createMilestoneStmt{Name: "m1", For: "db"}, ""},
		{`CREATE MILESTONE 'm1'`, &createMilestoneStmt{Name: "m1"}, ""},
		{`CREATE MILESTONE`, &createMilestoneStmt{}, ""},
		{`CREATE MILESTONE "a/b" FOR db`, nil, "invalid milestone name"},
		{`CREATE USER 'u'@'h' IDENTIFIED BY 'p w'`, &createUserStmt{Account: account{"u", "h"}, Password: ptr("p w")}, ""},
		{`CREATE USER IF NOT EXISTS u@'%'`, &createUserStmt{Account: account{"u", "%"}, IfNotExists: true}, ""},
		{`CREATE USER u`, &createUserStmt{Account: account{"u", "%"}}, ""},
		{`CREATE USER 'u'@'h'; DROP TABLE x`, nil, "unexpected text"},
		{`DROP USER 'u'@'localhost'`, &dropUserStmt{Account: account{"u", "localhost"}}, ""},
		{`CREATE ROLE 'r'`, &principalStmt{Kind: "ROLE", Name: "r"}, ""},
		{`CREATE GROUP IF NOT EXISTS g`, &principalStmt{Kind: "GROUP", Name: "g", Guard: true}, ""},
		{`DROP GROUP 'g'`, &principalStmt{Drop: true, Kind: "GROUP", Name: "g"}, ""},
		{`GRANT ROLE 'r' TO 'g'`, &grantRoleStmt{Role: "r", Group: "g"}, ""},
		{`REVOKE ROLE 'r' FROM GROUP 'g'`, &grantRoleStmt{Revoke: true, Role: "r", Group: "g"}, ""},
		{`GRANT GROUP 'g' TO 'u'@'h'`, &grantGroupStmt{Group: "g", User: account{"u", "h"}}, ""},
		{`GRANT select, Insert ON db.* TO 'u'@'%' WITH GRANT OPTION`,
			&grantPrivStmt{Privs: []string{"INSERT", "SELECT"}, Level: privLevel{"db", "*"}, User: &account{"u", "%"}, GrantOption: true}, ""},
		{"GRANT ALL PRIVILEGES ON *.* TO ROLE 'admin'",
			&grantPrivStmt{Privs: []string{"ALL"}, Level: privLevel{"*", "*"}, Role: "admin"}, ""},
		{"GRANT SHOW DATABASES, CREATE TEMPORARY TABLES ON `db`.`t1` TO 'u'",
			&grantPrivStmt{Privs: []string{"CREATE TEMPORARY TABLES", "SHOW DATABASES"}, Level: privLevel{"db", "t1"}, User: &account{"u", "%"}}, ""},
		{`REVOKE SELECT ON db.* FROM ROLE 'r'`,
			&grantPrivStmt{Revoke: true, Privs: []string{"SELECT"}, Level: privLevel{"db", "*"}, Role: "r"}, ""},
		{`GRANT SELECT ON t TO u`, nil, "qualified level"},
		{`GRANT SELECT ON *.t TO u`, nil, "not a level"},
		{`GRANT SELECT ON db.* TO a, b`, nil, "one user or role"},
		{`GRANT TELEPORT ON db.* TO u`, nil, `unknown privilege "TELEPORT"`},
		{`SHOW USERS`, &showStmt{What: "USERS"}, ""},
		{`SHOW ROLES`, &showStmt{What: "ROLES"}, ""},
		{`SHOW GROUPS`, &showStmt{What: "GROUPS"}, ""},
		{`SHOW GRANTS`, &showStmt{What: "GRANTS"}, ""},
		{`SHOW GRANTS FOR CURRENT_USER()`, &showStmt{What: "GRANTS"}, ""},
		{`SHOW GRANTS FOR 'u'@'h'`, &showStmt{What: "GRANTS", ForUser: &account{"u", "h"}}, ""},
		{`SHOW GRANTS FOR ROLE 'r'`, &showStmt{What: "GRANTS", ForRole: "r"}, ""},
		{`SHOW ROLES FOR GROUP 'g'`, &showStmt{What: "ROLES", ForGroup: "g"}, ""},
		{`SHOW GROUPS FOR USER 'u'@'h'`, &showStmt{What: "GROUPS", ForUser: &account{"u", "h"}}, ""},
		{`SHOW USERS FOR GROUP 'g'`, &showStmt{What: "USERS", ForGroup: "g"}, ""},
		{`SET PASSWORD FOR u = 'x'`, nil, "not supported"},
		{`/* comment */ DETACH -- trailing
		   DATABASE db`, &detachStmt{Name: "db"}, ""},
	} {
		t.Run(c.sql, func(t *testing.T) {
			got, err := parseStatement(c.sql)
			if c.err != "" {
				require.ErrorContains(t, err, c.err)
				return
			}
			require.NoError(t, err)
			if c.want == nil {
				require.Nil(t, got)
				return
			}
			require.Equal(t, c.want, got)
		})
	}
}

func TestClassify(t *testing.T) {
	for q, want := range map[string]stmtKind{
		"SELECT * FROM t":                    kindRead,
		"(SELECT 1) UNION (SELECT 2)":        kindRead,
		"show tables":                        kindRead,
		"SET autocommit = 1":                 kindRead,
		"/* x */ INSERT INTO t VALUES 1":     kindData,
		"update t set a = 1":                 kindData,
		"DELETE FROM t":                      kindData,
		"REPLACE INTO t VALUES (1)":          kindData,
		"CREATE TABLE t (a INT)":             kindSchema,
		"ALTER TABLE t ADD b INT":            kindSchema,
		"TRUNCATE t":                         kindSchema,
		"CALL p()":                           kindSchema,
		"WITH x AS (SELECT 1) DELETE FROM t": kindSchema,
		"":                                   kindRead,
	} {
		require.Equal(t, want, classify(q), q)
	}
}

func TestParseLocation(t *testing.T) {
	l, err := parseLocation("bucket-1/a/b_c/d.e")
	require.NoError(t, err)
	require.Equal(t, location{"bucket-1", "a/b_c/d.e"}, l)
	l, err = parseLocation("bucket-1")
	require.NoError(t, err)
	require.Equal(t, location{"bucket-1", ""}, l)
	for _, bad := range []string{"ab", "UPPER/x", "b/../x", "bkt/a//b", "bkt/a b", "bkt/.hidden"} {
		_, err := parseLocation(bad)
		require.Error(t, err, bad)
	}
}

func TestPickStorage(t *testing.T) {
	metas := []metaFile{
		{StorageID: "1", Generation: 1, Database: "db"},
		{StorageID: "2", Generation: 2, Database: "db"},
		{StorageID: "3", Generation: 3, Database: "branch"},
	}
	m, maxGen, ok := pickStorage(metas, "db")
	require.True(t, ok)
	require.Equal(t, "2", m.StorageID)
	require.Equal(t, 3, maxGen)
	m, _, _ = pickStorage(metas, "BRANCH")
	require.Equal(t, "3", m.StorageID)
	m, _, _ = pickStorage(metas, "other") // no name matches: the newest of all
	require.Equal(t, "3", m.StorageID)
	_, _, ok = pickStorage(nil, "db")
	require.False(t, ok)
}

func TestModelReplayRejectsDivergence(t *testing.T) {
	m := modelFromSnapshot(nil)
	require.NoError(t, m.apply(&logFile{Seq: 1, Changes: []tableChange{{Table: "t", Op: "create", DDL: "CREATE TABLE t (a INT)"}}}))
	require.NoError(t, m.apply(&logFile{Seq: 2, Changes: []tableChange{{Table: "t", Op: "rows", Inserted: raw(`["1"]`, `["1"]`, `["2"]`)}}}))
	require.NoError(t, m.apply(&logFile{Seq: 3, Changes: []tableChange{{Table: "T", Op: "rows", Deleted: raw(`["1"]`)}}}))
	require.Equal(t, []string{`["1"]`, `["2"]`}, m.tables["t"].liveRows())
	require.ErrorContains(t, m.apply(&logFile{Seq: 4, Changes: []tableChange{{Table: "t", Op: "rows", Deleted: raw(`["3"]`)}}}), "not there")
	require.ErrorContains(t, m.apply(&logFile{Seq: 5, Changes: []tableChange{{Table: "u", Op: "rows"}}}), "does not exist")
}

func raw(rows ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(rows))
	for i, r := range rows {
		out[i] = json.RawMessage(r)
	}
	return out
}
