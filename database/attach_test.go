package database

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// TestMilestonesDetachAndAttach walks a bottomless database through its DR life: rows are
// committed in three phases (before a milestone, before a recorded time, after it), the
// database is detached and then attached at latest, at the milestone, at the time and under
// another name, and each attachment holds exactly the rows committed up to its point.
func TestMilestonesDetachAndAttach(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	srv := startStandin(t)
	c := openClient(t, srv.DSN(""))

	mustExec(t, c, "CREATE DATABASE sales "+st.onS3("sales_folder"))
	mustExec(t, c, "CREATE TABLE sales.t (id INT PRIMARY KEY)")
	mustExec(t, c, "INSERT INTO sales.t VALUES (1), (2), (3)")

	require.NoError(t, c.CreateMilestone(ctx, "sales", "before-load.1"))
	ms, err := c.Milestones(ctx, "sales")
	require.NoError(t, err)
	require.Len(t, ms, 1)
	require.Equal(t, "before-load.1", ms[0].Name)
	require.Equal(t, "sales", ms[0].Database)
	require.Equal(t, st.bucket+"/sales_folder", ms[0].Location)
	require.WithinDuration(t, time.Now(), ms[0].Time, time.Minute)
	require.Equal(t, time.UTC, ms[0].Time.Location())
	// A repeated name moves the milestone instead of failing.
	require.NoError(t, c.CreateMilestone(ctx, "sales", "before-load.1"))

	mustExec(t, c, "INSERT INTO sales.t VALUES (4), (5)")
	// AT TIME includes every commit whose time, truncated to the second, is <= the time: take
	// the current second, then wait for the next one before the last phase.
	atTime := time.Now().UTC().Truncate(time.Second)
	time.Sleep(time.Until(atTime.Add(time.Second + 100*time.Millisecond)))
	mustExec(t, c, "INSERT INTO sales.t VALUES (6), (7)")

	require.NoError(t, c.Detach(ctx, "sales", false))
	dbs, err := c.Databases(ctx)
	require.NoError(t, err)
	require.NotContains(t, dbs, "sales")
	none, err := c.Milestones(ctx, "sales")
	require.NoError(t, err)
	require.Empty(t, none, "MV_MILESTONES lists attached databases only")

	// At latest, under its own name.
	require.NoError(t, c.Attach(ctx, st.spec("sales", "sales_folder")))
	require.Equal(t, "7", count(t, c, "SELECT COUNT(*) FROM sales.t"))
	ms, err = c.Milestones(ctx, "sales")
	require.NoError(t, err)
	names := make([]string, 0, len(ms))
	for _, m := range ms {
		names = append(names, m.Name)
	}
	require.Contains(t, names, "before-load.1")
	require.True(t, slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(n, "detach_") }),
		"DETACH records a milestone: %v", names)
	require.NoError(t, c.Detach(ctx, "sales", true))

	// Branches: at the milestone, at the time, and at latest under another name. They can be
	// attached side by side: each gets a storage id of its own.
	at := st.spec("sales", "sales_folder")
	at.As, at.AtMilestone = "sales_at_milestone", "before-load.1"
	require.NoError(t, c.Attach(ctx, at))
	require.Equal(t, "3", count(t, c, "SELECT COUNT(*) FROM sales_at_milestone.t"))

	at = st.spec("sales", "sales_folder")
	at.As, at.AtTime = "sales_at_time", atTime.In(time.FixedZone("elsewhere", 5*3600)) // sent in UTC whatever the zone
	require.NoError(t, c.Attach(ctx, at))
	require.Equal(t, "5", count(t, c, "SELECT COUNT(*) FROM sales_at_time.t"))

	at = st.spec("sales", "sales_folder")
	at.As = "sales_copy"
	require.NoError(t, c.Attach(ctx, at))
	require.Equal(t, "7", count(t, c, "SELECT MAX(id) FROM sales_copy.t"))

	dbs, err = c.Databases(ctx)
	require.NoError(t, err)
	for _, db := range []string{"sales_at_milestone", "sales_at_time", "sales_copy"} {
		require.Contains(t, dbs, db)
		require.NoError(t, c.Drop(ctx, db))
	}
	dbs, err = c.Databases(ctx)
	require.NoError(t, err)
	require.NotContains(t, dbs, "sales_copy")

	// A server error is wrapped with the operation and stays a *mysql.MySQLError.
	err = c.Detach(ctx, "sales_copy", false)
	require.ErrorContains(t, err, "detach sales_copy")
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me)
}

// TestAttachRefusals: a location whose storage lock is held (here by the database attached
// from it) refuses another attach, and the error, which surfaces the server's reason, holds
// no credentials. Credentials crafted to break out of their literal reach the server intact
// (it is refused by the store, not by a syntax error) and change nothing else.
func TestAttachRefusals(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := newStore(t)
	srv := startStandin(t)
	c := openClient(t, srv.DSN(""))
	mustExec(t, c, "CREATE DATABASE held "+st.onS3("held_folder"))

	spec := st.spec("held", "held_folder")
	spec.As = "held_again"
	err := c.Attach(ctx, spec)
	require.Error(t, err)
	require.False(t, IsInvalid(err))
	require.Contains(t, err.Error(), "attach held as held_again")
	require.Contains(t, err.Error(), "storage_locks/", "the server's reason surfaces")
	require.NotContains(t, err.Error(), st.m.SecretKey)
	require.NotContains(t, fmt.Sprintf("%v %+v %#v", spec, spec, spec), st.m.SecretKey, "Credentials print redacted")

	mustExec(t, c, "DETACH DATABASE held")
	hostile := st.spec("held", "held_folder")
	hostile.Creds.SecretAccessKey = `x"}' AT MILESTONE "m"; DROP DATABASE keep; -- \'`
	hostile.Creds.AccessKeyID = `id'); DROP DATABASE keep; --`
	mustExec(t, c, "CREATE DATABASE keep")
	err = c.Attach(ctx, hostile)
	require.Error(t, err)
	require.False(t, IsInvalid(err), "any secret is acceptable; it is quoted, not validated")
	require.Contains(t, err.Error(), "403", "the store refused the credentials it was given: the statement parsed")
	require.NotContains(t, err.Error(), "DROP DATABASE keep")
	dbs, err := c.Databases(ctx)
	require.NoError(t, err)
	require.Contains(t, dbs, "keep")
	require.NotContains(t, dbs, "held")
	require.NoError(t, c.Attach(ctx, st.spec("held", "held_folder")), "the failed attempts left the location usable")
}

// TestServerEchoOfCredentialsIsRedacted sends, through the same path Attach uses, a statement
// the stand-in rejects with a message that quotes the CREDENTIALS text: the error that comes
// back names neither the secret nor the session token.
func TestServerEchoOfCredentialsIsRedacted(t *testing.T) {
	t.Parallel()
	srv := startStandin(t)
	c := openClient(t, srv.DSN(""))
	creds := Credentials{AccessKeyID: "AKIAEXAMPLE", SecretAccessKey: "s3cr3t/with+chars'\"\\x", SessionToken: "tok3n-value"}
	lit := quoteString(credentialsJSON(creds))
	// CREDENTIALS twice: the stand-in's parser reports the second literal verbatim.
	stmt := `ATTACH DATABASE x ON S3 "bucket-name/p" CREDENTIALS ` + lit + ` CREDENTIALS ` + lit
	err := c.exec(context.Background(), "attach x", stmt, creds.secrets()...)
	require.Error(t, err)
	t.Logf("redacted: %v", err)
	require.Contains(t, err.Error(), redacted)
	for _, secret := range []string{"s3cr3t", "tok3n-value"} {
		require.NotContains(t, err.Error(), secret)
	}
	var me *mysql.MySQLError
	require.ErrorAs(t, err, &me, "still a server error after redaction")
	require.NotContains(t, me.Message, "s3cr3t")
	// Without redaction the server's message does hold the secret: the test tests something.
	_, raw := c.db.ExecContext(context.Background(), stmt)
	require.ErrorContains(t, raw, "s3cr3t")
}
