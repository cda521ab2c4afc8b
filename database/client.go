package database

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
)

// HealthTimeout bounds Health: a cluster that does not answer SELECT 1 in this time is down
// for the purpose of a failover decision.
const HealthTimeout = 3 * time.Second

// dialTimeout is used when the DSN sets none: the driver's default is the OS's (minutes).
const dialTimeout = 5 * time.Second

// Client is one region's database cluster. It is safe for concurrent use: it holds a
// database/sql pool, and each method uses one connection at a time.
type Client struct {
	db       *sql.DB
	user     string // the user the DSN logs in with; ApplySecurity leaves it alone
	password string // the DSN's password, redacted from every error
}

// Open connects to the cluster at dsn (go-sql-driver/mysql form) and pings it. Errors never
// contain the DSN's password.
func Open(ctx context.Context, dsn string) (*Client, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("database: open: invalid DSN: %w", redactError(err, dsnPassword(dsn), dsn))
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = dialTimeout
	}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("database: open: %w", redactError(err, cfg.Passwd, dsn))
	}
	db := sql.OpenDB(conn)
	// After a failover the old connections point at a region that may never answer again;
	// short idle times keep the pool from holding on to them.
	db.SetMaxIdleConns(4)
	db.SetConnMaxIdleTime(time.Minute)
	c := &Client{db: db, user: cfg.User, password: cfg.Passwd}
	pctx, cancel := context.WithTimeout(ctx, dialTimeout+HealthTimeout)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		// The whole message is redacted: the address could contain the password too.
		return nil, redactError(fmt.Errorf("database: open %s@%s: %w", cfg.User, cfg.Addr, err), cfg.Passwd)
	}
	return c, nil
}

// dsnPassword guesses the password of a DSN the driver could not parse (user:password@...),
// only to redact it from the driver's message.
func dsnPassword(dsn string) string {
	at := strings.LastIndex(dsn, "@")
	colon := strings.Index(dsn, ":")
	if colon < 0 || at < colon {
		return ""
	}
	return dsn[colon+1 : at]
}

// Close closes the pool. The Client must not be used afterwards.
func (c *Client) Close() error { return c.db.Close() }

// Health runs SELECT 1 and fails within HealthTimeout (or ctx's deadline, if sooner) when the
// cluster does not answer.
func (c *Client) Health(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, HealthTimeout)
	defer cancel()
	var one int
	if err := c.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("database: health: %w", c.redact(err))
	}
	return nil
}

// redact removes the DSN's password and any extra secrets from err.
func (c *Client) redact(err error, secrets ...string) error {
	return redactError(err, append(secrets, c.password)...)
}

// exec runs one statement that this package built. op prefixes the error; secrets are
// redacted from it (the statement itself is never put into an error).
func (c *Client) exec(ctx context.Context, op, stmt string, secrets ...string) error {
	if _, err := c.db.ExecContext(ctx, stmt); err != nil {
		return fmt.Errorf("%s: %w", op, c.redact(err, secrets...))
	}
	return nil
}

// Exec runs query as given and returns the number of rows it affected. Unlike every other
// method it does not validate anything: it is for tests and for statements an operator
// wrote, never for names that came from input.
func (c *Client) Exec(ctx context.Context, query string) (int64, error) {
	res, err := c.db.ExecContext(ctx, query)
	if err != nil {
		return 0, fmt.Errorf("database: exec: %w", c.redact(err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, nil // the statement ran; some statements report no count
	}
	return n, nil
}

// rowsAsStrings runs a query this package built and returns its column names and its rows,
// every cell as text ("" for NULL).
func (c *Client) rowsAsStrings(ctx context.Context, op, query string) ([]string, [][]string, error) {
	rows, err := c.db.QueryContext(ctx, query)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, c.redact(err))
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, c.redact(err))
	}
	var out [][]string
	for rows.Next() {
		row, err := scanStrings(rows, len(cols))
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", op, c.redact(err))
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", op, c.redact(err))
	}
	return cols, out, nil
}

func scanStrings(rows *sql.Rows, n int) ([]string, error) {
	cells := make([]sql.NullString, n)
	ptrs := make([]any, n)
	for i := range cells {
		ptrs[i] = &cells[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		return nil, err
	}
	out := make([]string, n)
	for i, c := range cells {
		out[i] = c.String
	}
	return out, nil
}

// column returns the index of the first column called one of names (case-insensitive), or
// of the only column when the result has one: servers word column titles differently
// ("Grants for u@h").
func column(cols []string, names ...string) (int, error) {
	for _, name := range names {
		for i, c := range cols {
			if strings.EqualFold(c, name) {
				return i, nil
			}
		}
	}
	if len(cols) == 1 {
		return 0, nil
	}
	return 0, fmt.Errorf("no column %s among %s", strings.Join(names, " or "), strings.Join(cols, ", "))
}

// Answered reports whether err is an answer from the database server (a SQL error such as a
// missing privilege), as opposed to no connection or no answer in time. A failover tells the
// two apart: a server that answers is alive, and may still be serving.
func Answered(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me)
}
