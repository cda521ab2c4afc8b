package standin_test

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestRoundTripTypesAndSchemaChanges: rows of many column types, updates, deletes and schema
// changes come back identical after DETACH and ATTACH in another process.
func TestRoundTripTypesAndSchemaChanges(t *testing.T) {
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{snapshotEvery: 5})
	db := p.root(t)
	mustExec(t, db, "CREATE DATABASE rt "+onS3(bucket+"/rt"))
	mustExec(t, db, "USE rt")
	for _, q := range []string{
		`CREATE TABLE kinds (id INT AUTO_INCREMENT PRIMARY KEY, s VARCHAR(50), txt TEXT, d DECIMAL(12,3), f DOUBLE,
			dt DATETIME(6), dd DATE, j JSON, bl BLOB, e ENUM('a','b'), u BIGINT UNSIGNED, b TINYINT)`,
		`INSERT INTO kinds (s, txt, d, f, dt, dd, j, bl, e, u, b) VALUES
			('x', 'long text', 12.345, 0.1, '2024-01-02 03:04:05.678901', '2024-01-02', '{"k": [1, 2]}', X'00FF10', 'b', 18446744073709551615, -5),
			('it''s "quoted"', NULL, -1.000, 1e300, NULL, NULL, NULL, NULL, 'a', 0, NULL),
			('ünïcødé ☃', '', 0, -0.5, '1999-12-31 23:59:59', '1999-12-31', 'null', X'', NULL, 42, 127)`,
		`UPDATE kinds SET txt = 'updated' WHERE s = 'x'`,
		`DELETE FROM kinds WHERE u = 42`,
		`INSERT INTO kinds (s) VALUES ('later')`,
		`CREATE TABLE keyless (a INT, b VARCHAR(10))`,
		`INSERT INTO keyless VALUES (1, 'dup'), (1, 'dup'), (2, 'two')`,
		`DELETE FROM keyless WHERE a = 2`,
		`ALTER TABLE keyless ADD COLUMN c INT DEFAULT 7`,
		`CREATE TABLE gone (a INT PRIMARY KEY)`,
		`INSERT INTO gone VALUES (1)`,
		`DROP TABLE gone`,
		`CREATE TABLE old_name (a INT PRIMARY KEY)`,
		`INSERT INTO old_name VALUES (5)`,
		`RENAME TABLE old_name TO new_name`,
		`CREATE TABLE emptied (a INT PRIMARY KEY)`,
		`INSERT INTO emptied VALUES (1), (2)`,
		`TRUNCATE TABLE emptied`,
		`CREATE INDEX kinds_s ON kinds (s)`,
	} {
		mustExec(t, db, q)
	}
	queries := []string{
		"SELECT CONCAT_WS('|', id, s, IFNULL(txt,'~'), d, f, IFNULL(dt,'~'), IFNULL(dd,'~'), IFNULL(j,'~'), IFNULL(HEX(bl),'~'), IFNULL(e,'~'), u, IFNULL(b,'~')) FROM rt.kinds ORDER BY id",
		"SELECT CONCAT_WS('|', a, b, c) FROM rt.keyless ORDER BY a, b",
		"SELECT a FROM rt.new_name",
		"SELECT COUNT(*) FROM rt.emptied",
		"SHOW TABLES FROM rt",
		"SHOW CREATE TABLE rt.kinds",
	}
	before := map[string][]string{}
	for _, q := range queries {
		before[q] = column(t, db, q)
	}
	require.Len(t, before[queries[0]], 3)
	require.Len(t, before[queries[1]], 2)
	mustExec(t, db, "DETACH DATABASE rt")

	q := startStandin(t, standinOpts{})
	db2 := q.root(t)
	mustExec(t, db2, "ATTACH DATABASE rt "+onS3(bucket+"/rt"))
	for _, query := range queries {
		require.Equal(t, before[query], column(t, db2, query), query)
	}
	// The AUTO_INCREMENT counter carries on where it was.
	mustExec(t, db2, "INSERT INTO rt.kinds (s) VALUES ('next')")
	require.Equal(t, 5, count(t, db2, "SELECT id FROM rt.kinds WHERE s = 'next'"))
}
