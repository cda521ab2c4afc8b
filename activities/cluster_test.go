package activities

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/testsuite"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/test/standin"
)

// startStandin runs a stand-in database server in this process and returns its address.
func startStandin(t *testing.T, rootPassword string) string {
	t.Helper()
	srv, err := standin.New(context.Background(), standin.Config{Listen: "127.0.0.1:0", StateDir: t.TempDir(),
		RootUser: "root", RootPassword: rootPassword, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	go func() { _ = srv.Serve() }()
	t.Cleanup(func() { _ = srv.Close() })
	return srv.Addr()
}

// TestValidateRunsOnTheReadOnlyDSN: a region with regions.<r>.database.validate_dsn_env runs
// Validate's queries as that DSN's user, a region without one as its main DSN's user; neither
// DSN appears in the activity's input or result, and a read-only DSN that does not log in
// fails with an error naming its key, not its password.
func TestValidateRunsOnTheReadOnlyDSN(t *testing.T) {
	addr := startStandin(t, "root-pw")
	mainDSN := fmt.Sprintf("root:root-pw@tcp(%s)/", addr)
	readDSN := fmt.Sprintf("reader:reader-pw@tcp(%s)/", addr)
	admin, err := sql.Open("mysql", mainDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.Exec("CREATE USER 'reader'@'%' IDENTIFIED BY 'reader-pw'")
	require.NoError(t, err)

	cfg := config.Default()
	cfg.Regions = map[string]config.Region{"primary": {}, "secondary": {}, "third": {}}
	cluster := NewCluster(&cfg,
		map[string]string{"primary": mainDSN, "secondary": mainDSN, "third": mainDSN},
		map[string]string{"primary": readDSN, "third": fmt.Sprintf("reader:wrong-pw@tcp(%s)/", addr)},
		nil, nil)
	t.Cleanup(func() { CloseCluster(cluster) })

	var suite testsuite.WorkflowTestSuite
	validate := func(region string, queries ...string) ([]QueryResult, error) {
		env := suite.NewTestActivityEnvironment()
		env.RegisterActivity(cluster)
		in := ValidateInput{RegionDatabase: RegionDatabase{Region: region}, Queries: queries, KeepRows: true}
		b, err := json.Marshal(in)
		require.NoError(t, err)
		require.NotContains(t, string(b), "-pw")
		val, err := env.ExecuteActivity(cluster.Validate, in)
		if err != nil {
			return nil, err
		}
		var res []QueryResult
		require.NoError(t, val.Get(&res))
		b, err = json.Marshal(res)
		require.NoError(t, err)
		require.NotContains(t, string(b), "-pw", "a DSN's password in the result")
		return res, nil
	}

	res, err := validate("primary", "SELECT CURRENT_USER()")
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.Equal(t, []string{"reader@%"}, res[0].FirstRow, "the read-only DSN's user runs the queries")

	res, err = validate("secondary", "SELECT CURRENT_USER()")
	require.NoError(t, err)
	require.Equal(t, []string{"root@%"}, res[0].FirstRow, "without a read-only DSN, the main DSN's user")

	_, err = validate("third", "SELECT 1")
	require.ErrorContains(t, err, "regions.third.database.validate_dsn_env")
	require.NotContains(t, err.Error(), "wrong-pw")

	// The queries are still checked on the read-only connection.
	_, err = validate("primary", "SELECT 1 /*!50000 INTO OUTFILE '/tmp/x' */")
	require.ErrorContains(t, err, "executable comment")

	// Unless asked, no row leaves the database: the result enters the workflow's history.
	env := suite.NewTestActivityEnvironment()
	env.RegisterActivity(cluster)
	val, err := env.ExecuteActivity(cluster.Validate, ValidateInput{RegionDatabase: RegionDatabase{Region: "secondary"}, Queries: []string{"SELECT CURRENT_USER()"}})
	require.NoError(t, err)
	var counted []QueryResult
	require.NoError(t, val.Get(&counted))
	require.Equal(t, 1, counted[0].Rows)
	require.Equal(t, []string{"CURRENT_USER()"}, counted[0].Columns)
	require.Nil(t, counted[0].FirstRow, "rows kept without KeepRows")
}
