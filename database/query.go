package database

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// QueryResult is what Validate reports for one query.
type QueryResult struct {
	Query    string   `json:"query"`
	Columns  []string `json:"columns"`
	Rows     int      `json:"rows"`
	FirstRow []string `json:"firstRow,omitempty"` // every cell as text, "" for NULL; nil when no rows
}

// readOnlyStart reports whether Validate accepts a query that starts with word.
func readOnlyStart(word string) bool { return word == "SELECT" || word == "SHOW" || word == "WITH" }

// writeWord reports whether word makes a SELECT/WITH write, lock or reach outside the
// database (INSERT … in a CTE, SELECT … INTO OUTFILE, FOR UPDATE, FOR SHARE, LOAD_FILE(…),
// GET_LOCK(…)): its presence, outside literals and quoted identifiers, rejects the query.
func writeWord(word string) bool {
	switch word {
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "INTO", "DROP", "CREATE", "ALTER", "TRUNCATE", "GRANT",
		"REVOKE", "LOCK", "CALL", "LOAD", "ATTACH", "DETACH", "SET", "KILL",
		"OUTFILE", "DUMPFILE", "SHARE", "PROCEDURE", "HANDLER", "PREPARE", "EXECUTE",
		"LOAD_FILE", "GET_LOCK", "RELEASE_LOCK", "RELEASE_ALL_LOCKS":
		return true
	}
	return false
}

// checkReadOnly accepts one SELECT, SHOW or WITH statement and nothing else. The error names
// op and field ("validate: queries[1]: …").
func checkReadOnly(op, field, q string) error {
	if err := readOnlyQuery(q); err != nil {
		return invalidf(op, field, "%v", err)
	}
	return nil
}

// CheckReadOnly reports whether every query is one read-only statement that Client.Validate
// would run: a single SELECT, SHOW or WITH statement with no writing keyword, no executable
// comment (/*! … */, /*M! … */), no optimizer hint (/*+ … */), no nested or unterminated
// comment, no backslash in a quoted string or identifier and no other construct whose extent
// servers read differently. It is pure (no I/O) and deterministic, so a workflow can call it
// on its input before anything changes. The error names every query that fails by its index
// in queries, as a failover's input names them ("validate[2]: executable comment …"), and
// matches IsInvalid.
func CheckReadOnly(queries []string) error {
	var errs []error
	for i, q := range queries {
		if err := readOnlyQuery(q); err != nil {
			errs = append(errs, &invalidError{msg: fmt.Sprintf("validate[%d]: %v", i, err)})
		}
	}
	return errors.Join(errs...)
}

// readOnlyQuery is the check behind checkReadOnly and CheckReadOnly; its error names neither
// operation nor field.
func readOnlyQuery(q string) error {
	words, semicolonInside, err := sqlWords(q)
	if err != nil {
		return err
	}
	if len(words) == 0 {
		return errors.New("empty query")
	}
	if semicolonInside {
		return errors.New("more than one statement")
	}
	if !readOnlyStart(words[0]) {
		return fmt.Errorf("only read-only SELECT, SHOW or WITH queries are allowed, not %s", words[0])
	}
	for _, w := range words[1:] {
		if writeWord(w) {
			return fmt.Errorf("only read-only queries are allowed: found %s", w)
		}
	}
	return nil
}

// sqlWords returns the upper-cased bare words of q, skipping string literals, quoted
// identifiers and comments, and reports whether anything but blanks and comments follows a
// semicolon (a second statement).
//
// The words it returns are only worth checking if the server splits q exactly as sqlWords
// does, so everything whose extent or meaning differs between servers, modes or versions is
// an error rather than a guess: MySQL and SingleStore run the text of /*! … */ (and MariaDB
// that of /*M! … */), read /*+ … */ as optimizer hints, nest comments in some places; "--"
// without a following blank is two minus signs to MySQL but a comment to vitess (the
// stand-in's parser), which also takes "//" as a comment; a backslash escapes the next quote
// unless sql_mode holds NO_BACKSLASH_ESCAPES (and never in ANSI_QUOTES identifiers); MySQL's
// lexer stops at a NUL byte; and a multi-byte character set can swallow a quote that follows
// an invalid UTF-8 byte. Any of these would let text that sqlWords takes for a literal or a
// comment execute.
func sqlWords(q string) (words []string, second bool, err error) {
	if !utf8.ValidString(q) {
		return nil, false, errors.New("not valid UTF-8")
	}
	if i := strings.IndexFunc(q, func(r rune) bool {
		return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
	}); i >= 0 {
		return nil, false, fmt.Errorf("control character %q at offset %d", q[i], i)
	}
	// A carriage return ends a line to some readers and not to others; only "\r\n" is
	// unambiguous.
	if strings.Contains(strings.ReplaceAll(q, "\r\n", ""), "\r") {
		return nil, false, errors.New(`control character '\r' not followed by a newline`)
	}
	semicolon := false
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			if i+2 < len(q) && !strings.ContainsRune(" \t\r\n", rune(q[i+2])) {
				return nil, false, fmt.Errorf(`"--" at offset %d is not followed by a blank: servers disagree on whether it starts a comment (write "- -" or "-- ")`, i)
			}
			i = lineEnd(q, i)
			continue
		case c == '#':
			i = lineEnd(q, i)
			continue
		case c == '/' && strings.HasPrefix(q[i:], "//"):
			return nil, false, fmt.Errorf(`"//" at offset %d: a comment to some servers, not to others`, i)
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			switch body := q[i+2:]; {
			case strings.HasPrefix(body, "!"), strings.HasPrefix(body, "M!"):
				return nil, false, fmt.Errorf("executable comment /*! … */ at offset %d: the server runs its text", i)
			case strings.HasPrefix(body, "+"):
				return nil, false, fmt.Errorf("optimizer hint /*+ … */ at offset %d", i)
			}
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, false, fmt.Errorf("unterminated comment at offset %d", i)
			}
			if nested := strings.Index(q[i+2:i+2+end], "/*"); nested >= 0 {
				return nil, false, fmt.Errorf("nested comment at offset %d", i+2+nested)
			}
			i += end + 4
			continue
		case c == ';':
			semicolon = true
			i++
			continue
		}
		if semicolon {
			second = true
		}
		switch {
		case c == '\'' || c == '"' || c == '`':
			j := i + 1
			for ; j < len(q); j++ {
				if q[j] == '\\' {
					return nil, false, fmt.Errorf("backslash in a quoted string or identifier at offset %d: whether it escapes the quote depends on the server's sql_mode (double a quote to escape it)", j)
				}
				if q[j] == c {
					if j+1 < len(q) && q[j+1] == c { // a doubled quote
						j++
						continue
					}
					break
				}
			}
			if j >= len(q) {
				return nil, false, fmt.Errorf("unterminated quote at offset %d", i)
			}
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(q) && isWordByte(q[j]) {
				j++
			}
			words = append(words, strings.ToUpper(q[i:j]))
			i = j
		default:
			i++
		}
	}
	return words, second, nil
}

// lineEnd returns the offset just past the line comment that starts at i: every server ends
// one at a newline (and only there).
func lineEnd(q string, i int) int {
	if n := strings.IndexByte(q[i:], '\n'); n >= 0 {
		return i + n + 1
	}
	return len(q)
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

// Validate runs read-only queries (a drill's checks) and returns, for each, its columns, its
// row count and its first row as text. Every query is checked before any runs, as
// CheckReadOnly checks it: one that is not a single SELECT, SHOW or WITH statement, that
// holds a writing keyword (INSERT, INTO, FOR UPDATE, …) outside literals, or that hides text
// in an executable comment, a hint or another construct servers read differently, fails the
// whole call with an error naming it (queries[i]) and nothing runs. The check is a guard, not
// the privilege boundary: run Validate on a connection whose user may only read. A query that fails on the server stops the call; the
// results of the queries before it are returned with the error.
func (c *Client) Validate(ctx context.Context, queries []string) ([]QueryResult, error) {
	const op = "validate"
	for i, q := range queries {
		if err := checkReadOnly(op, fmt.Sprintf("queries[%d]", i), q); err != nil {
			return nil, err
		}
	}
	out := make([]QueryResult, 0, len(queries))
	for i, q := range queries {
		r, err := c.readOnly(ctx, c.db, q)
		if err != nil {
			return out, fmt.Errorf("%s: queries[%d]: %w", op, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

// querier is a pool or one of its connections.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// readOnly runs one checked query on q and keeps its columns, row count and first row.
func (c *Client) readOnly(ctx context.Context, on querier, q string) (QueryResult, error) {
	r := QueryResult{Query: q}
	rows, err := on.QueryContext(ctx, q)
	if err != nil {
		return r, c.redact(err)
	}
	defer rows.Close()
	if r.Columns, err = rows.Columns(); err != nil {
		return r, c.redact(err)
	}
	for rows.Next() {
		if r.Rows == 0 {
			if r.FirstRow, err = scanStrings(rows, len(r.Columns)); err != nil {
				return r, c.redact(err)
			}
		}
		r.Rows++
	}
	return r, c.redact(rows.Err())
}

// ValidateIn is Validate with db as the default database, as a client that connects to db
// sees it: a drill's queries name tables as the application does, unqualified, and must
// read the branch. The connection it used is discarded afterwards, so that no other caller
// inherits db as its default.
func (c *Client) ValidateIn(ctx context.Context, db string, queries []string) ([]QueryResult, error) {
	const op = "validate"
	if err := checkDatabase(op, "database", db); err != nil {
		return nil, err
	}
	for i, q := range queries {
		if err := checkReadOnly(op, fmt.Sprintf("queries[%d]", i), q); err != nil {
			return nil, err
		}
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, c.redact(err))
	}
	defer conn.Close()
	// A bad connection is closed, not returned to the pool.
	defer func() { _ = conn.Raw(func(any) error { return driver.ErrBadConn }) }()
	if _, err := conn.ExecContext(ctx, "USE "+quoteIdent(db)); err != nil {
		return nil, fmt.Errorf("%s: use %s: %w", op, db, c.redact(err))
	}
	out := make([]QueryResult, 0, len(queries))
	for i, q := range queries {
		r, err := c.readOnly(ctx, conn, q)
		if err != nil {
			return out, fmt.Errorf("%s: queries[%d]: %w", op, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}
