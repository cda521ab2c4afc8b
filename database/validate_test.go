package database

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestInvalidInputExecutesNothing: every field of every operation is validated before any
// SQL is built. Each bad value (many of them injection attempts) returns an error that names
// its field and matches IsInvalid, from a client whose server is running and from one whose
// server does not exist (which proves no statement was even attempted); afterwards the
// stand-in's databases, users, roles and groups are as they were and its log shows no
// statement failing.
func TestInvalidInputExecutesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startStandin(t)
	live := openClient(t, srv.DSN(""))
	mustExec(t, live, "CREATE DATABASE keep")
	mustExec(t, live, "CREATE TABLE keep.t (id INT PRIMARY KEY)")
	mustExec(t, live, "CREATE USER 'u'@'%' IDENTIFIED BY 'pw'")
	dbsBefore, err := live.Databases(ctx)
	require.NoError(t, err)
	secBefore, err := live.ReadSecurity(ctx)
	require.NoError(t, err)

	nowhere, err := sql.Open("mysql", "root:pw@tcp(127.0.0.1:1)/?timeout=1s")
	require.NoError(t, err)
	t.Cleanup(func() { _ = nowhere.Close() })
	dead := &Client{db: nowhere, user: "root", password: "pw"}

	good := AttachSpec{Database: "sales", Bucket: "my-bucket", Path: "sales/folder",
		Store: StoreConfig{Region: "us-east-1", EndpointURL: "http://127.0.0.1:9000", ForcePathStyle: true},
		Creds: Credentials{AccessKeyID: "AKIA", SecretAccessKey: "s3cr3t-value"}}
	attach := func(mod func(*AttachSpec)) func(*Client) error {
		return func(c *Client) error {
			a := good
			mod(&a)
			return c.Attach(ctx, a)
		}
	}
	user := func(mod func(*User)) func(*Client) error {
		return func(c *Client) error {
			u := User{Name: "app", Host: "%", Grants: []string{"GRANT SELECT ON `keep`.* TO 'app'@'%'"}, Groups: []string{}}
			mod(&u)
			_, err := c.ApplySecurity(ctx, Security{Users: []User{u}}, nil)
			return err
		}
	}
	security := func(s Security) func(*Client) error {
		return func(c *Client) error { _, err := c.ApplySecurity(ctx, s, nil); return err }
	}
	validate := func(q string) func(*Client) error {
		return func(c *Client) error { _, err := c.Validate(ctx, []string{"SELECT 1", q}); return err }
	}
	tooLong := strings.Repeat("m", 65)

	cases := []struct {
		name string
		run  func(*Client) error
		want string // the error names the operation and the field
	}{
		{"attach database with a space", attach(func(a *AttachSpec) { a.Database = "x y" }), `attach: database: invalid database name "x y"`},
		{"attach database injection", attach(func(a *AttachSpec) { a.Database = "sales` ON S3 \"b/p\"; DROP DATABASE keep; --" }), "attach: database:"},
		{"attach as", attach(func(a *AttachSpec) { a.As = "x y" }), `attach: as: invalid database name "x y"`},
		{"attach as backtick", attach(func(a *AttachSpec) { a.As = "a`b" }), "attach: as:"},
		{"attach bucket upper case", attach(func(a *AttachSpec) { a.Bucket = "Bad_Bucket" }), "attach: bucket:"},
		{"attach bucket too short", attach(func(a *AttachSpec) { a.Bucket = "ab" }), "attach: bucket:"},
		{"attach bucket double dot", attach(func(a *AttachSpec) { a.Bucket = "a..b" }), "attach: bucket:"},
		{"attach bucket IP", attach(func(a *AttachSpec) { a.Bucket = "192.168.1.1" }), "attach: bucket:"},
		{"attach bucket quote", attach(func(a *AttachSpec) { a.Bucket = `bkt" CREDENTIALS '{}'` }), "attach: bucket:"},
		{"attach path dot dot", attach(func(a *AttachSpec) { a.Path = "a/../b" }), "attach: path:"},
		{"attach path leading dot dot", attach(func(a *AttachSpec) { a.Path = "../other" }), "attach: path:"},
		{"attach path absolute", attach(func(a *AttachSpec) { a.Path = "/abs" }), "attach: path:"},
		{"attach path empty segment", attach(func(a *AttachSpec) { a.Path = "a//b" }), "attach: path:"},
		{"attach path empty", attach(func(a *AttachSpec) { a.Path = "" }), "attach: path:"},
		{"attach path quote", attach(func(a *AttachSpec) { a.Path = `p" AT MILESTONE "x` }), "attach: path:"},
		{"attach region", attach(func(a *AttachSpec) { a.Store.Region = "us east'" }), "attach: store.region:"},
		{"attach endpoint scheme", attach(func(a *AttachSpec) { a.Store.EndpointURL = "ftp://host" }), "attach: store.endpoint_url:"},
		{"attach endpoint user info", attach(func(a *AttachSpec) { a.Store.EndpointURL = "http://u:p@host" }), "attach: store.endpoint_url:"},
		{"attach endpoint quote", attach(func(a *AttachSpec) { a.Store.EndpointURL = "http://host/'x" }), "attach: store.endpoint_url:"},
		{"attach key id missing", attach(func(a *AttachSpec) { a.Creds.AccessKeyID = "" }), "attach: creds.aws_access_key_id: required"},
		{"attach secret missing", attach(func(a *AttachSpec) { a.Creds.SecretAccessKey = "" }), "attach: creds.aws_secret_access_key: required"},
		{"attach secret control character", attach(func(a *AttachSpec) { a.Creds.SecretAccessKey = "s3cr3t\n-value" }), "attach: creds.aws_secret_access_key:"},
		{"attach session token control character", attach(func(a *AttachSpec) { a.Creds.SessionToken = "t\x00k" }), "attach: creds.aws_session_token:"},
		{"attach milestone quote", attach(func(a *AttachSpec) { a.AtMilestone = `m"; DROP DATABASE keep; --` }), "attach: at_milestone:"},
		{"attach milestone space", attach(func(a *AttachSpec) { a.AtMilestone = "a b" }), "attach: at_milestone:"},
		{"attach milestone and time", attach(func(a *AttachSpec) { a.AtMilestone, a.AtTime = "m", time.Now() }), "attach: at_time: AtMilestone and AtTime are exclusive"},
		{"attach time before 1970", attach(func(a *AttachSpec) { a.AtTime = time.Date(1969, 1, 1, 0, 0, 0, 0, time.UTC) }), "attach: at_time:"},
		{"detach", func(c *Client) error { return c.Detach(ctx, "keep; DROP DATABASE keep", true) }, "detach: database:"},
		{"drop", func(c *Client) error { return c.Drop(ctx, "ke`ep") }, "drop: database:"},
		{"milestone database", func(c *Client) error { return c.CreateMilestone(ctx, "keep x", "m") }, "create milestone: database:"},
		{"milestone name quote", func(c *Client) error { return c.CreateMilestone(ctx, "keep", `m" FOR keep; DROP DATABASE keep; --`) }, "create milestone: name:"},
		{"milestone name dot dot", func(c *Client) error { return c.CreateMilestone(ctx, "keep", "..") }, "create milestone: name:"},
		{"milestone name too long", func(c *Client) error { return c.CreateMilestone(ctx, "keep", tooLong) }, "create milestone: name:"},
		{"milestones database", func(c *Client) error { _, err := c.Milestones(ctx, "keep' OR '1'='1"); return err }, "milestones: database:"},
		{"validate delete", validate("DELETE FROM keep.t"), "validate: queries[1]: only read-only SELECT, SHOW or WITH"},
		{"validate second statement", validate("SELECT 1; DROP DATABASE keep"), "validate: queries[1]: more than one statement"},
		{"validate into outfile", validate("SELECT * FROM keep.t INTO OUTFILE '/tmp/x'"), "validate: queries[1]: only read-only queries are allowed: found INTO"},
		{"validate CTE delete", validate("WITH x AS (SELECT 1) DELETE FROM keep.t"), "validate: queries[1]: only read-only queries are allowed: found DELETE"},
		{"validate for update", validate("SELECT * FROM keep.t FOR UPDATE"), "validate: queries[1]: only read-only queries are allowed: found UPDATE"},
		{"validate unterminated", validate("SELECT 'x"), "validate: queries[1]: unterminated quote"},
		{"validate empty", validate(" -- nothing"), "validate: queries[1]: empty query"},
		{"validate executable comment", validate("SELECT 1 /*!50000 INTO OUTFILE '/tmp/x.txt' */"), "validate: queries[1]: executable comment"},
		{"validate optimizer hint", validate("SELECT /*+ SET_VAR(sql_mode='') */ 1"), "validate: queries[1]: optimizer hint"},
		{"validate nested comment", validate("SELECT 1 /* a /* b */ INTO OUTFILE '/tmp/x' */"), "validate: queries[1]: nested comment"},
		{"validate double dash", validate("SELECT 1 --x'\nINTO OUTFILE '/tmp/x' -- '"), `validate: queries[1]: "--"`},
		{"validate backslash quote", validate(`SELECT '\' INTO OUTFILE '/tmp/x' -- '`), "validate: queries[1]: backslash"},
		{"validate load_file", validate("SELECT LOAD_FILE('/etc/passwd')"), "validate: queries[1]: only read-only queries are allowed: found LOAD_FILE"},
		{"user name", user(func(u *User) { u.Name = "bad user" }), "apply security: users[0].name:"},
		{"user name quote", user(func(u *User) { u.Name = "x'@'%'; DROP DATABASE keep; --" }), "apply security: users[0].name:"},
		{"user host", user(func(u *User) { u.Host = "h'x" }), "apply security: users[0].host:"},
		{"user grant to another grantee", user(func(u *User) { u.Grants = []string{"GRANT ALL ON *.* TO 'root'@'%'"} }), "apply security: users[0].grants[0]: grants to another grantee"},
		{"user grant second statement", user(func(u *User) { u.Grants = []string{"GRANT SELECT ON keep.* TO 'app'@'%'; DROP DATABASE keep"} }), "apply security: users[0].grants[0]:"},
		{"user grant bad level", user(func(u *User) { u.Grants = []string{"GRANT SELECT ON `ke``ep`.* TO 'app'@'%'"} }), "apply security: users[0].grants[0]: invalid level"},
		{"user grant bare star", user(func(u *User) { u.Grants = []string{"GRANT SELECT ON * TO 'app'@'%'"} }), "apply security: users[0].grants[0]:"},
		{"user grant reserved word", user(func(u *User) { u.Grants = []string{"GRANT SELECT TO ON *.* TO 'app'@'%'"} }), "apply security: users[0].grants[0]:"},
		{"user grant unknown clause", user(func(u *User) { u.Grants = []string{"GRANT SELECT ON *.* TO 'app'@'%' REQUIRE SSL"} }), "apply security: users[0].grants[0]: unsupported clause"},
		{"user grant not a grant", user(func(u *User) { u.Grants = []string{"DROP DATABASE keep"} }), "apply security: users[0].grants[0]: does not start with GRANT"},
		{"user group", user(func(u *User) { u.Groups = []string{"g'x"} }), "apply security: users[0].groups[0]:"},
		{"role name", security(Security{Roles: []Role{{Name: "r'; DROP DATABASE keep; --"}}}), "apply security: roles[0].name:"},
		{"role grant to another grantee", security(Security{Roles: []Role{{Name: "r", Grants: []string{"GRANT SELECT ON *.* TO ROLE 'other'"}}}}), "apply security: roles[0].grants[0]:"},
		{"group name", security(Security{Groups: []Group{{Name: "g; x"}}}), "apply security: groups[0].name:"},
		{"group role", security(Security{Groups: []Group{{Name: "g", Roles: []string{"r x"}}}}), "apply security: groups[0].roles[0]:"},
	}
	for _, tc := range cases {
		for _, c := range []struct {
			name string
			c    *Client
		}{{"live", live}, {"no server", dead}} {
			err := tc.run(c.c)
			require.Error(t, err, "%s (%s)", tc.name, c.name)
			require.True(t, IsInvalid(err), "%s (%s): want a validation error, got %v", tc.name, c.name, err)
			require.ErrorIs(t, err, ErrInvalid)
			require.Contains(t, err.Error(), tc.want, "%s (%s)", tc.name, c.name)
			require.NotContains(t, err.Error(), "s3cr3t", "%s (%s): a secret in the error", tc.name, c.name)
		}
	}

	dbsAfter, err := live.Databases(ctx)
	require.NoError(t, err)
	require.Equal(t, dbsBefore, dbsAfter)
	secAfter, err := live.ReadSecurity(ctx)
	require.NoError(t, err)
	secAfter.TakenAt = secBefore.TakenAt
	require.Equal(t, secBefore, secAfter)
	require.NotContains(t, srv.log.String(), "statement failed")
}

// TestValidateRunsReadOnlyQueries: row counts and first rows, for SELECT, SHOW and WITH;
// semicolons and keywords inside literals and comments do not count.
func TestValidateRunsReadOnlyQueries(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := startStandin(t)
	c := openClient(t, srv.DSN(""))
	mustExec(t, c, "CREATE DATABASE shop")
	mustExec(t, c, "CREATE TABLE shop.items (id INT PRIMARY KEY, name VARCHAR(20), note VARCHAR(20))")
	mustExec(t, c, "INSERT INTO shop.items VALUES (1, 'apple', NULL), (2, 'pear', 'ripe'), (3, 'plum', NULL)")

	res, err := c.Validate(ctx, []string{
		"SELECT id, name, note FROM shop.items ORDER BY id",
		"SHOW DATABASES",
		"WITH x AS (SELECT COUNT(*) AS n FROM shop.items) SELECT n FROM x",
		"SELECT id FROM shop.items WHERE id > 100",
		"select name from shop.items where name = 'a;b -- delete' /* ; insert */ ; ",
	})
	require.NoError(t, err)
	require.Len(t, res, 5)
	require.Equal(t, []string{"id", "name", "note"}, res[0].Columns)
	require.Equal(t, 3, res[0].Rows)
	require.Equal(t, []string{"1", "apple", ""}, res[0].FirstRow)
	require.GreaterOrEqual(t, res[1].Rows, 2)
	require.Equal(t, []string{"3"}, res[2].FirstRow)
	require.Equal(t, 0, res[3].Rows)
	require.Nil(t, res[3].FirstRow)
	require.Equal(t, 0, res[4].Rows)

	// A query the server refuses stops the call; earlier results come back with the error.
	res, err = c.Validate(ctx, []string{"SELECT 1", "SELECT * FROM shop.missing"})
	require.ErrorContains(t, err, "validate: queries[1]:")
	require.False(t, IsInvalid(err))
	require.Len(t, res, 1)
}
