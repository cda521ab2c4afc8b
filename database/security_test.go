package database

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestReadAndApplySecurity: users, roles, groups and grants made by SQL on a primary are read
// into a snapshot, which survives JSON, and applied to a second cluster. There a migrated
// user logs in with the password the callback gave (one that would break naive quoting), is
// allowed what its grants and its group's role allow and refused elsewhere; a user without a
// password is created locked; the second cluster's snapshot then equals the first's; and a
// second apply changes nothing.
func TestReadAndApplySecurity(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	primarySrv, secondarySrv := startStandin(t), startStandin(t)
	primary, secondary := openClient(t, primarySrv.DSN("")), openClient(t, secondarySrv.DSN(""))

	for _, q := range []string{
		"CREATE USER 'app'@'%' IDENTIFIED BY 'old-app-pw'",
		"CREATE USER 'ghost'@'10.0.%' IDENTIFIED BY 'ghost-pw'",
		"CREATE USER 'auditor'@'%' IDENTIFIED BY 'auditor-pw'",
		"CREATE ROLE 'reader'",
		"CREATE ROLE 'admin.ops'",
		"CREATE GROUP 'readers'",
		"GRANT SELECT ON sales.* TO ROLE 'reader'",
		"GRANT SELECT, INSERT ON *.* TO ROLE 'admin.ops' WITH GRANT OPTION",
		"GRANT ROLE 'reader' TO 'readers'",
		"GRANT GROUP 'readers' TO 'app'@'%'",
		"GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'",
		"GRANT SELECT ON sales.t TO 'ghost'@'10.0.%' WITH GRANT OPTION",
	} {
		mustExec(t, primary, q)
	}

	snap, err := primary.ReadSecurity(ctx)
	require.NoError(t, err)
	require.Equal(t, []User{
		{Name: "app", Host: "%", Groups: []string{"readers"},
			Grants: []string{"GRANT USAGE ON *.* TO 'app'@'%'", "GRANT INSERT, UPDATE ON `sales`.* TO 'app'@'%'"}},
		{Name: "auditor", Host: "%", Groups: []string{}, Grants: []string{"GRANT USAGE ON *.* TO 'auditor'@'%'"}},
		{Name: "ghost", Host: "10.0.%", Groups: []string{},
			Grants: []string{"GRANT USAGE ON *.* TO 'ghost'@'10.0.%'", "GRANT SELECT ON `sales`.`t` TO 'ghost'@'10.0.%' WITH GRANT OPTION"}},
	}, snap.Users, "the login user (root) is left out")
	require.Equal(t, []Role{
		{Name: "admin.ops", Grants: []string{"GRANT INSERT, SELECT ON *.* TO ROLE 'admin.ops' WITH GRANT OPTION"}},
		{Name: "reader", Grants: []string{"GRANT SELECT ON `sales`.* TO ROLE 'reader'"}},
	}, snap.Roles)
	require.Equal(t, []Group{{Name: "readers", Roles: []string{"reader"}}}, snap.Groups)
	require.False(t, snap.TakenAt.IsZero())

	// It is stored as JSON in the bucket: it must come back equal and hold no password.
	blob, err := json.Marshal(snap)
	require.NoError(t, err)
	require.NotContains(t, string(blob), "pw")
	var back Security
	require.NoError(t, json.Unmarshal(blob, &back))
	require.Equal(t, snap, back)

	// The second cluster has the databases (its own, local here) but none of the principals.
	mustExec(t, secondary, "CREATE DATABASE sales")
	mustExec(t, secondary, "CREATE TABLE sales.t (id INT PRIMARY KEY)")
	mustExec(t, secondary, "INSERT INTO sales.t VALUES (1), (2)")
	mustExec(t, secondary, "CREATE DATABASE hr")
	mustExec(t, secondary, "CREATE TABLE hr.pay (id INT PRIMARY KEY)")

	const appPassword = `n3w-pass' "; DROP DATABASE hr; --\`
	asked := map[string]bool{}
	passwords := func(user, host string) (string, bool) {
		asked[user+"@"+host] = true
		switch user {
		case "app":
			return appPassword, true
		case "auditor":
			return "", true // an empty password is no password
		}
		return "", false
	}
	rep, err := secondary.ApplySecurity(ctx, back, passwords)
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"role admin.ops", "role reader", "group readers",
		"user 'app'@'%'", "user 'auditor'@'%'", "user 'ghost'@'10.0.%'"}, rep.Created)
	require.Empty(t, rep.Existing)
	require.ElementsMatch(t, []string{"'auditor'@'%'", "'ghost'@'10.0.%'"}, rep.Locked)
	// 2 role grants, 1 role to group, 1 app grant, 1 group to app, 1 ghost grant (USAGE is implicit).
	require.Equal(t, 6, rep.Granted)
	require.Equal(t, map[string]bool{"app@%": true, "auditor@%": true, "ghost@10.0.%": true}, asked)

	// The secondary now reads back exactly the primary's snapshot.
	mirrored, err := secondary.ReadSecurity(ctx)
	require.NoError(t, err)
	mirrored.TakenAt = snap.TakenAt
	require.Equal(t, snap, mirrored)

	// The migrated user logs in with the new password; the hostile quoting did nothing.
	cfg := mysql.NewConfig()
	cfg.User, cfg.Passwd, cfg.Net, cfg.Addr = "app", appPassword, "tcp", secondarySrv.Addr
	app := openClient(t, cfg.FormatDSN())
	require.Equal(t, "2", count(t, app, "SELECT COUNT(*) FROM sales.t")) // through group -> role
	_, err = app.Exec(ctx, "INSERT INTO sales.t VALUES (3)")             // its own grant
	require.NoError(t, err)
	_, err = app.Validate(ctx, []string{"SELECT COUNT(*) FROM hr.pay"})
	requireDenied(t, err)
	_, err = app.Exec(ctx, "CREATE USER 'x'@'%'")
	requireDenied(t, err)
	dbs, err := secondary.Databases(ctx)
	require.NoError(t, err)
	require.Contains(t, dbs, "hr")

	// A wrong password is refused, and neither password is in the error.
	cfg.Passwd = "wrong-" + appPassword
	_, err = Open(ctx, cfg.FormatDSN())
	require.Error(t, err)
	require.NotContains(t, err.Error(), appPassword)
	require.NotContains(t, err.Error(), "n3w-pass")

	// Idempotent: nothing is created or granted the second time.
	rep, err = secondary.ApplySecurity(ctx, back, passwords)
	require.NoError(t, err)
	require.Empty(t, rep.Created)
	require.Empty(t, rep.Locked)
	require.Zero(t, rep.Granted)
	require.Len(t, rep.Existing, 6)
}

// requireDenied wants a MySQL access-denied error.
func requireDenied(t *testing.T, err error) {
	t.Helper()
	var me *mysql.MySQLError
	require.True(t, errors.As(err, &me), "want an access error, got %v", err)
	require.Contains(t, strings.ToLower(me.Message), "denied")
}
