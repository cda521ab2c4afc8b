package database

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestHealthFailsFastWhenStopped: Health answers while the stand-in runs and fails within
// HealthTimeout once it is stopped; opening it then fails too, and no error names the DSN's
// password.
func TestHealthFailsFastWhenStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startStandin(t)
	c := openClient(t, srv.DSN(""))
	require.NoError(t, c.Health(ctx))

	require.NoError(t, srv.Stop())
	start := time.Now()
	err := c.Health(ctx)
	took := time.Since(start)
	require.Error(t, err)
	require.Less(t, took, HealthTimeout+time.Second, "health took %s", took)
	require.Contains(t, err.Error(), "database: health")
	require.NotContains(t, err.Error(), srv.RootPassword)

	start = time.Now()
	_, err = Open(ctx, srv.DSN(""))
	require.Error(t, err)
	require.Less(t, time.Since(start), dialTimeout+HealthTimeout)
	require.Contains(t, err.Error(), "database: open root@"+srv.Addr)
	require.NotContains(t, err.Error(), srv.RootPassword)
}

// TestOpenErrorsHidePassword: a wrong password and a malformed DSN fail without echoing the
// password.
func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startStandin(t)
	_, err := Open(ctx, "root:not-"+srv.RootPassword+"@tcp("+srv.Addr+")/")
	require.Error(t, err)
	require.NotContains(t, err.Error(), srv.RootPassword)

	for _, dsn := range []string{
		"root:hunter2@tcp(127.0.0.1:3306",                      // unterminated address
		"root:hunter2@tcp(127.0.0.1:3306)/?timeout=hunter2",    // a bad parameter value
		"root:hunter2@tcp(127.0.0.1:3306)/db?hunter2",          // a parameter without a value
		"root:hunter2@unix(/nonexistent/hunter2.sock)/?x=y&z=", // a socket that is not there
	} {
		_, err := Open(ctx, dsn)
		require.Error(t, err, dsn)
		require.False(t, strings.Contains(err.Error(), "hunter2"), "%s: %v", dsn, err)
	}
}
