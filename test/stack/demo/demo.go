package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"text/template"
	"time"

	_ "github.com/go-sql-driver/mysql" // the stand-ins speak the MySQL protocol
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/internal/units"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/stores"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// The database the demo replicates, its folder in each region's bucket, and the table the
// writers fill.
const (
	dbName = "bottomless_db"
	root   = "bottomless_db_folder"
	table  = "events"
	// The two regions; replication runs from primary to secondary.
	primary   = "primary"
	secondary = "secondary"
)

// options shape a demo.
type options struct {
	dir     string  // data, logs, bdr.yaml and env; wiped at start
	writers int     // SQL writers on the primary
	rate    float64 // rows per second per writer
	// log tells the user what happens while the demo runs (the writers following a failover).
	log func(format string, args ...any)
}

// demo is a running demo: the stack with a stand-in database per region, SQL writers on the
// recorded primary and replication primary→secondary.
type demo struct {
	stack   *stack.Stack
	dbs     map[string]*sql.DB             // region -> its stand-in
	stores  map[string]*objectstore.Client // region -> its bucket, to read the recorded primary
	tc      client.Client
	envPath string
	written atomic.Int64
	// replicating is what `bdr replicate start` said.
	replicating string

	mu        sync.Mutex
	writingTo string // the region the writers insert into

	stopWriters context.CancelFunc
	writersDone chan struct{} // closed when the writers stopped; writersErr is then set
	writersErr  error
}

// start brings the demo up; close takes it down, also after an error part way.
func start(ctx context.Context, opts options) (d *demo, err error) {
	if opts.writers < 1 {
		return nil, fmt.Errorf("writers: %d, want at least 1", opts.writers)
	}
	d = &demo{dbs: map[string]*sql.DB{}, stores: map[string]*objectstore.Client{}}
	defer func() {
		if err != nil {
			_ = d.close()
		}
	}()
	if err := os.RemoveAll(opts.dir); err != nil {
		return nil, fmt.Errorf("wipe %s: %w", opts.dir, err)
	}
	d.stack, err = stack.Start(ctx, stack.Options{Dir: opts.dir, UI: true, Standins: true, Configure: func(c *config.Config) {
		c.Replication.PollInterval = 500 * time.Millisecond
		c.Telemetry.MetricsListen = "127.0.0.1:0" // any free port: several demos may run
	}})
	if err != nil {
		return nil, fmt.Errorf("start stack: %w", err)
	}
	if err := d.stack.StartWorker(ctx); err != nil {
		return nil, fmt.Errorf("start worker: %w", err)
	}
	if d.tc, err = client.Dial(client.Options{HostPort: d.stack.Temporal.Address, Namespace: d.stack.Config.Temporal.Namespace}); err != nil {
		return nil, fmt.Errorf("dial temporal at %s: %w", d.stack.Temporal.Address, err)
	}
	for _, region := range []string{primary, secondary} {
		if d.dbs[region], err = sql.Open("mysql", d.stack.Standin[region].DSN("")); err != nil {
			return nil, fmt.Errorf("open the database of region %s: %w", region, err)
		}
		if d.stores[region], err = stores.Client(d.stack.MinIO[region], d.stack.Config.Regions[region].ObjectStore.Bucket); err != nil {
			return nil, err
		}
	}
	onS3, err := d.stack.OnS3(primary, root)
	if err != nil {
		return nil, err
	}
	for _, stmt := range []struct{ what, sql string }{
		{"create database " + dbName + " in the primary's bucket", "CREATE DATABASE " + dbName + " " + onS3},
		{"create table " + table, workload.RowsTable(dbName + "." + table)},
	} {
		if _, err := d.dbs[primary].ExecContext(ctx, stmt.sql); err != nil {
			return nil, fmt.Errorf("primary: %s: %w", stmt.what, err)
		}
	}
	d.startWriters(opts)
	out, err := d.stack.Bdr(ctx, "replicate", "start", dbName, "--from", primary, "--to", secondary)
	if err != nil {
		return nil, err
	}
	d.replicating = strings.TrimSpace(string(out))
	d.envPath = filepath.Join(opts.dir, "env")
	if err := d.writeEnv(); err != nil {
		return nil, err
	}
	return d, nil
}

// startWriters starts the SQL writers; close stops them before the servers go, so that they
// end on a clean stop rather than a lost connection.
func (d *demo) startWriters(opts options) {
	ctx, cancel := context.WithCancel(context.Background())
	d.stopWriters, d.writersDone = cancel, make(chan struct{})
	go func() {
		defer close(d.writersDone)
		d.writersErr = d.write(ctx, opts)
	}()
}

// write runs the SQL writers on the primary until ctx ends. When the primary refuses them (a
// failover detached the database there), they wait for the new primary to be recorded in the
// buckets and go on there under new writer numbers, as an application that follows its
// database would. It returns the writers' error at the end, if any.
func (d *demo) write(ctx context.Context, opts options) error {
	region := primary
	for firstWriter := 0; ; firstWriter += opts.writers {
		d.mu.Lock()
		d.writingTo = region
		d.mu.Unlock()
		_, err := workload.InsertRows(ctx, d.dbs[region], workload.RowOptions{Table: dbName + "." + table,
			Writers: opts.writers, FirstWriter: firstWriter, Rate: opts.rate, Written: &d.written})
		if ctx.Err() != nil {
			return err
		}
		first, _, _ := strings.Cut(fmt.Sprint(err), "\n") // one writer's error tells the story
		opts.log("the writers on %s stopped (%s): waiting for a failover to record the new primary", region, first)
		if region, err = d.waitNewPrimary(ctx, region); err != nil {
			return nil // ctx ended while waiting: a clean stop
		}
		opts.log("%s is the recorded primary now: the writers insert there", region)
	}
}

// writing returns the region the writers insert into.
func (d *demo) writing() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.writingTo
}

// waitNewPrimary polls the buckets' primary.json until one names a region other than old, and
// returns it; the error is ctx's.
func (d *demo) waitNewPrimary(ctx context.Context, old string) (string, error) {
	for {
		for _, region := range []string{primary, secondary} {
			p, found, err := replication.ReadPrimary(ctx, d.stores[region], dbName)
			if err == nil && found && p.Region != old {
				return p.Region, nil
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// writeEnv writes the file a user sources to run bdr and the mariadb client by hand: bdr on
// the PATH, BDR_CONFIG, and the stores' and databases' throwaway credentials. It is private to
// the user and removed with the demo's folder.
func (d *demo) writeEnv() error {
	lines := []string{
		"export PATH=" + shellQuote(d.stack.BinDir) + ":\"$PATH\"",
		"export BDR_CONFIG=" + shellQuote(d.stack.ConfigPath),
	}
	env := append([]string{}, d.stack.Env...)
	for _, region := range []string{primary, secondary} {
		env = append(env, strings.ToUpper(region)+"_DB_PASSWORD="+d.stack.Standin[region].RootPassword)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		lines = append(lines, "export "+k+"="+shellQuote(v))
	}
	if err := os.WriteFile(d.envPath, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return fmt.Errorf("write env file: %w", err)
	}
	return nil
}

// shellQuote quotes s for a POSIX shell: a DSN holds parentheses.
func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// commandsText is what commands prints, ready to paste.
const commandsText = `
Temporal Web UI:  {{.UI}}/namespaces/default/workflows

In another terminal, first:
  source {{.Env}}    # bdr on PATH, BDR_CONFIG={{.Config}}, keys and DSNs

Replication status (live):
  bdr status --watch

A DR drill: branch the secondary's copy, attach it, count the rows (the primary is not touched):
  bdr drill run {{.DB}} --to secondary --validate 'SELECT COUNT(*) FROM {{.Table}}'
  bdr drill list {{.DB}}
  bdr drill schedule {{.DB}} --to secondary --every 24h

A restore point, then a switchover with zero loss:
  bdr milestone create {{.DB}} before_switchover
  bdr failover {{.DB}} --from primary --to secondary --mode planned --validate 'SELECT COUNT(*) FROM {{.DB}}.{{.Table}}'
  (the writers follow the database to the secondary); then protect the new primary:
  bdr replicate start {{.DB}} --from secondary --to primary

SQL in each region (the secondary serves {{.DB}} after the failover):
{{- range .SQL}}
  mariadb -h {{.Host}} -P {{.Port}} -u {{.User}} -p"${{.PasswordVar}}"{{with .Database}} {{.}}{{end}}   # {{.Region}}
{{- end}}
`

// sqlClient is how to reach one region's stand-in with the mariadb client.
type sqlClient struct{ Region, Host, Port, User, PasswordVar, Database string }

// commands returns the text to paste: the Web UI, bdr and mariadb commands with this demo's
// real addresses.
func (d *demo) commands() (string, error) {
	data := struct {
		UI, Env, Config, DB, Table string
		SQL                        []sqlClient
	}{UI: d.stack.Temporal.UIAddress, Env: d.envPath, Config: d.stack.ConfigPath, DB: dbName, Table: table}
	// The secondary's client names no database: bottomless_db exists there only once a
	// failover (or a drill's branch) attaches it.
	for region, database := range map[string]string{primary: dbName, secondary: ""} {
		db := d.stack.Standin[region]
		host, port, ok := strings.Cut(db.Addr, ":")
		if !ok {
			return "", fmt.Errorf("stand-in address %q: no port", db.Addr)
		}
		data.SQL = append(data.SQL, sqlClient{Region: region, Host: host, Port: port, User: db.RootUser,
			PasswordVar: strings.ToUpper(region) + "_DB_PASSWORD", Database: database})
	}
	sort.Slice(data.SQL, func(i, j int) bool { return data.SQL[i].Region < data.SQL[j].Region })
	tmpl, err := template.New("commands").Parse(commandsText)
	if err != nil {
		return "", fmt.Errorf("commands: %w", err)
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("commands: %w", err)
	}
	return b.String(), nil
}

// status returns the status of the replication from one region to the other.
func (d *demo) status(ctx context.Context, from, to string) (workflows.Status, error) {
	var st workflows.Status
	v, err := d.tc.QueryWorkflow(ctx, workflows.ReplicateID(dbName, from, to), "", workflows.QueryStatus)
	if err != nil {
		return st, fmt.Errorf("query status of replication %s→%s: %w", from, to, err)
	}
	if err := v.Get(&st); err != nil {
		return st, fmt.Errorf("decode status of replication %s→%s: %w", from, to, err)
	}
	return st, nil
}

// progress returns one line: the rows written and where the replication out of the region
// the writers are on is. After a failover that is the reverse replication, which nothing
// starts by itself: the line says how. The line has its own deadline, so that a Ctrl-C
// during the query does not spoil it.
func (d *demo) progress() string {
	from := d.writing()
	to := secondary
	if from == secondary {
		to = primary
	}
	line := fmt.Sprintf("%d rows written (writers on %s)", d.written.Load(), from)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	st, err := d.status(ctx, from, to)
	var notFound *serviceerror.NotFound
	switch {
	case errors.As(err, &notFound):
		return line + fmt.Sprintf(" | nothing replicates %s→%s: bdr replicate start %s --from %s --to %s", from, to, dbName, from, to)
	case err != nil:
		return line + " | " + err.Error()
	}
	line += fmt.Sprintf(" | replication %s→%s %s: watermark %s, lag %.1fs, copied %d blobs (%s), pending %d", from, to,
		st.State, st.Watermark.Time.UTC().Format(time.TimeOnly), st.LagSeconds, st.CopiedObjects, units.Bytes(st.CopiedBytes), st.PendingObjects)
	if st.LastError != "" {
		line += " | last error: " + st.LastError
	}
	return line
}

// close stops the writers, then every server; it returns the writers' error, if any. The
// replication workflow dies with the in-memory Temporal server.
func (d *demo) close() error {
	var err error
	if d.stopWriters != nil {
		d.stopWriters()
		<-d.writersDone
		err = d.writersErr
	}
	if d.tc != nil {
		d.tc.Close()
	}
	for _, db := range d.dbs {
		err = errors.Join(err, db.Close())
	}
	if d.stack != nil {
		d.stack.Stop()
	}
	return err
}
