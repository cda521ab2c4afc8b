package standin_test

import (
	"database/sql"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestUsersRolesGroupsGrants: security statements round-trip through SHOW, logins and
// privileges are enforced, and all of it survives a restart (it is in the state dir).
func TestUsersRolesGroupsGrants(t *testing.T) {
	bucket := newBucket(t)
	stateDir := t.TempDir()
	p := startStandin(t, standinOpts{stateDir: stateDir})
	db := p.root(t)
	mustExec(t, db, "CREATE DATABASE sales "+onS3(bucket+"/sales"))
	mustExec(t, db, "CREATE DATABASE hr "+onS3(bucket+"/hr"))
	mustExec(t, db, "CREATE TABLE sales.t (id INT PRIMARY KEY)")
	mustExec(t, db, "CREATE TABLE hr.pay (id INT PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO sales.t VALUES (1), (2)")

	for _, q := range []string{
		"CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw'",
		"CREATE USER 'nobody'@'%' IDENTIFIED BY 'nobody-pw'",
		"CREATE ROLE 'reader'",
		"CREATE GROUP 'readers'",
		"GRANT SELECT ON sales.* TO ROLE 'reader'",
		"GRANT ROLE 'reader' TO 'readers'",
		"GRANT GROUP 'readers' TO 'app'@'%'",
		"GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'",
	} {
		mustExec(t, db, q)
	}
	showAll := func() {
		d := p.root(t)
		require.Equal(t, []string{"'root'@'%'", "'app'@'%'", "'nobody'@'%'"}, column(t, d, "SHOW USERS"))
		require.Equal(t, []string{"reader"}, column(t, d, "SHOW ROLES"))
		require.Equal(t, []string{"readers"}, column(t, d, "SHOW GROUPS"))
		require.Equal(t, []string{"reader"}, column(t, d, "SHOW ROLES FOR GROUP 'readers'"))
		require.Equal(t, []string{"readers"}, column(t, d, "SHOW GROUPS FOR USER 'app'@'%'"))
		require.Equal(t, []string{"GRANT USAGE ON *.* TO 'app'@'%'", "GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'"},
			column(t, d, "SHOW GRANTS FOR 'app'@'%'"))
		require.Equal(t, []string{"GRANT SELECT ON `sales`.* TO ROLE 'reader'"}, column(t, d, "SHOW GRANTS FOR ROLE 'reader'"))
	}
	showAll()

	app := p.db(t, "app", "app-pw", "")
	require.Equal(t, 2, count(t, app, "SELECT COUNT(*) FROM sales.t"))            // through role via group
	mustExec(t, app, "INSERT INTO sales.t VALUES (3)")                            // direct grant
	requireDenied(t, app, "SELECT COUNT(*) FROM hr.pay")                          // no grant on hr
	requireDenied(t, p.db(t, "nobody", "nobody-pw", ""), "SELECT * FROM sales.t") // no grant at all
	requireDenied(t, app, "CREATE USER 'x'@'%'")                                  // not an administrator
	_, err := p.db(t, "app", "wrong", "").Exec("SELECT 1")
	requireMySQLError(t, err, 1045)
	// go-mysql-server refuses an unknown user during the handshake (CR_SERVER_HANDSHAKE_ERR).
	_, err = p.db(t, "ghost", "pw", "").Exec("SELECT 1")
	requireMySQLError(t, err, 2012)

	// Revoking the group takes the role's SELECT away.
	mustExec(t, db, "REVOKE GROUP 'readers' FROM 'app'@'%'")
	requireDenied(t, p.db(t, "app", "app-pw", ""), "SELECT COUNT(*) FROM sales.t")
	mustExec(t, db, "GRANT GROUP 'readers' TO 'app'@'%'")

	// A clean restart with the same state dir: users and databases come back.
	require.NoError(t, p.Stop())
	p = startStandin(t, standinOpts{stateDir: stateDir})
	showAll()
	app = p.db(t, "app", "app-pw", "")
	require.Equal(t, 3, count(t, app, "SELECT COUNT(*) FROM sales.t"))
	requireDenied(t, app, "SELECT COUNT(*) FROM hr.pay")
}

func requireMySQLError(t *testing.T, err error, number uint16) {
	t.Helper()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want MySQL error %d, got %v", number, err)
	require.Equal(t, number, me.Number, me.Message)
}

// requireDenied runs q and wants a MySQL access-denied error.
func requireDenied(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	_, err := db.Exec(q)
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "%s: want an access error, got %v", q, err)
	require.Contains(t, strings.ToLower(me.Message), "denied", q)
}
