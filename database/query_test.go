package database

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestCheckReadOnly: the pure check that a workflow runs on its input before anything changes.
// Every query that could run something other than one read-only statement on some server, in
// some sql_mode, is refused with an error naming it validate[i]; the honest ones pass.
func TestCheckReadOnly(t *testing.T) {
	t.Parallel()
	refused := []struct {
		name, query, want string
	}{
		{"executable comment hides INTO OUTFILE", "SELECT 1 /*!50000 INTO OUTFILE 'x.txt' */", "executable comment /*! … */"},
		{"executable comment without version", "SELECT 1 /*! INTO OUTFILE 'x.txt' */", "executable comment"},
		{"executable comment hides a second statement", "SELECT 1 /*!; DROP DATABASE keep */", "executable comment"},
		{"MariaDB executable comment", "SELECT 1 /*M!100000 INTO OUTFILE 'x.txt' */", "executable comment"},
		{"optimizer hint", "SELECT /*+ SET_VAR(sql_mode='') */ 1", "optimizer hint /*+ … */"},
		{"nested comment", "SELECT 1 /* outer /* inner */ INTO OUTFILE 'x' */", "nested comment"},
		{"nested executable comment", "SELECT 1 /* /*! INTO OUTFILE 'x' */", "nested comment"},
		{"unterminated comment", "SELECT 1 /* INTO OUTFILE 'x'", "unterminated comment"},
		{"unterminated executable comment", "SELECT 1 /*! INTO OUTFILE 'x'", "executable comment"},
		{"double dash without blank hides a quote", "SELECT 1 --x'\nINTO OUTFILE '/tmp/a' -- '", `"--" at offset 9 is not followed by a blank`},
		{"double dash minus minus", "SELECT 1--1", `"--" at offset 8`},
		{"slash slash comment", "SELECT 1 //'\nINTO OUTFILE '/tmp/a' -- '", `"//" at offset 9`},
		{"hash comment then second statement", "SELECT 1 # note\n; DROP DATABASE keep", "more than one statement"},
		{"dash comment then second statement", "SELECT 1 -- note\n; DROP DATABASE keep", "more than one statement"},
		{"dash comment then INTO", "SELECT 1 -- note\nINTO OUTFILE '/tmp/x'", "found INTO"},
		{"hash comment ends at newline, not carriage return", "SELECT 1 # note\r\nINTO OUTFILE '/tmp/x'", "found INTO"},
		{"backslash-escaped quote (NO_BACKSLASH_ESCAPES reads it differently)", `SELECT '\' INTO OUTFILE '/x' -- '`, "backslash in a quoted string"},
		{"backslash in double quotes (ANSI_QUOTES identifier)", `SELECT "\" INTO OUTFILE '/x' -- "`, "backslash in a quoted string"},
		{"backslash in backticks", "SELECT `a\\` FROM t", "backslash in a quoted string"},
		{"NUL byte", "SELECT 1 # x\x00\nINTO OUTFILE '/x'", `control character '\x00'`},
		{"vertical tab", "SELECT 1 --\vINTO OUTFILE '/x'", "control character"},
		{"lone carriage return in a comment", "SELECT 1 # x\rINTO OUTFILE '/x'", "control character"},
		{"invalid UTF-8 before a quote", "SELECT '\xbf' INTO OUTFILE '/x' -- '", "not valid UTF-8"},
		{"INTO OUTFILE", "SELECT * FROM t INTO OUTFILE '/tmp/x'", "found INTO"},
		{"INTO DUMPFILE", "SELECT * FROM t INTO DUMPFILE '/tmp/x'", "found INTO"},
		{"INTO a variable", "SELECT 1 INTO @x", "found INTO"},
		{"LOAD_FILE", "SELECT LOAD_FILE('/etc/passwd')", "found LOAD_FILE"},
		{"GET_LOCK", "SELECT GET_LOCK('x', 10)", "found GET_LOCK"},
		{"FOR SHARE", "SELECT * FROM t FOR SHARE", "found SHARE"},
		{"LOCK IN SHARE MODE", "SELECT * FROM t LOCK IN SHARE MODE", "found LOCK"},
		{"CTE insert", "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x", "found INSERT"},
		{"second statement", "SELECT 1; SELECT 2", "more than one statement"},
		{"second statement after a comment", "SELECT 1; /* c */ DROP DATABASE keep", "more than one statement"},
		{"not read-only", "DELETE FROM t", "not DELETE"},
		{"empty", "", "empty query"},
		{"only a comment", "-- nothing", "empty query"},
		{"unterminated quote", "SELECT 'x", "unterminated quote"},
	}
	for _, tc := range refused {
		err := CheckReadOnly([]string{"SELECT 1", tc.query})
		require.Error(t, err, tc.name)
		require.True(t, IsInvalid(err), "%s: %v", tc.name, err)
		require.True(t, strings.HasPrefix(err.Error(), "validate[1]: "), "%s: the error names the query: %v", tc.name, err)
		require.Contains(t, err.Error(), tc.want, tc.name)
		require.NotContains(t, err.Error(), "validate[0]", tc.name)
	}

	passed := []string{
		"SELECT 1",
		"select name from shop.items where name = 'a;b -- delete' /* ; insert */ ; ",
		"SELECT 'it''s', \"say \"\"hi\"\"\", `we``ird` FROM t",
		"SELECT 1 -- a comment\n",
		"SELECT 1 --\tthe tab counts as a blank",
		"SELECT 1 --",
		"SELECT 1 # comment\r\n, 2",
		"SELECT 1 - -1 /* two minus signs, spelled apart */",
		"SELECT '/*! not a comment */', '--x', '#', '//' FROM t",
		"SHOW TABLES FROM `shop`",
		"WITH x AS (SELECT COUNT(*) AS n FROM t) SELECT n FROM x",
		"SELECT 'ünïcode' AS `naïve`",
		"SELECT 2*3/1",
	}
	require.NoError(t, CheckReadOnly(passed))
	require.NoError(t, CheckReadOnly(nil))

	// Every bad query is named, not only the first.
	err := CheckReadOnly([]string{"SELECT /*+ x */ 1", "SELECT 1", "DROP TABLE t"})
	require.ErrorContains(t, err, "validate[0]: optimizer hint")
	require.ErrorContains(t, err, "validate[2]: only read-only")
	require.NotContains(t, err.Error(), "validate[1]")
}
