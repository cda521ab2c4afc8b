package database

import (
	"context"
	"fmt"
	"strings"
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

// writeWord reports whether word makes a SELECT/WITH write or lock something (INSERT … in a
// CTE, SELECT … INTO OUTFILE, FOR UPDATE): its presence, outside literals and quoted
// identifiers, rejects the query.
func writeWord(word string) bool {
	switch word {
	case "INSERT", "UPDATE", "DELETE", "REPLACE", "INTO", "DROP", "CREATE", "ALTER", "TRUNCATE", "GRANT",
		"REVOKE", "LOCK", "CALL", "LOAD", "ATTACH", "DETACH", "SET", "KILL":
		return true
	}
	return false
}

// checkReadOnly accepts one SELECT, SHOW or WITH statement and nothing else.
func checkReadOnly(op, field, q string) error {
	words, semicolonInside, err := sqlWords(q)
	if err != nil {
		return invalidf(op, field, "%v", err)
	}
	if len(words) == 0 {
		return invalidf(op, field, "empty query")
	}
	if semicolonInside {
		return invalidf(op, field, "more than one statement")
	}
	if !readOnlyStart(words[0]) {
		return invalidf(op, field, "only read-only SELECT, SHOW or WITH queries are allowed, not %s", words[0])
	}
	for _, w := range words[1:] {
		if writeWord(w) {
			return invalidf(op, field, "only read-only queries are allowed: found %s", w)
		}
	}
	return nil
}

// sqlWords returns the upper-cased bare words of q, skipping string literals, quoted
// identifiers and comments, and reports whether anything but blanks and comments follows a
// semicolon (a second statement).
func sqlWords(q string) (words []string, second bool, err error) {
	semicolon := false
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#' || (c == '-' && strings.HasPrefix(q[i:], "--")):
			for i < len(q) && q[i] != '\n' {
				i++
			}
			continue
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := strings.Index(q[i+2:], "*/")
			if end < 0 {
				return nil, false, fmt.Errorf("unterminated comment at offset %d", i)
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
				if q[j] == '\\' && c != '`' {
					j++
					continue
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

func isWordByte(c byte) bool {
	return c == '_' || c == '$' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

// Validate runs read-only queries (a drill's checks) and returns, for each, its columns, its
// row count and its first row as text. Every query is checked before any runs: one that is
// not a single SELECT, SHOW or WITH statement, or that holds a writing keyword (INSERT,
// INTO, FOR UPDATE, …) outside literals, fails the whole call with an error naming it
// (queries[i]) and nothing runs. A query that fails on the server stops the call; the
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
		r, err := c.readOnly(ctx, q)
		if err != nil {
			return out, fmt.Errorf("%s: queries[%d]: %w", op, i, err)
		}
		out = append(out, r)
	}
	return out, nil
}

func (c *Client) readOnly(ctx context.Context, q string) (QueryResult, error) {
	r := QueryResult{Query: q}
	rows, err := c.db.QueryContext(ctx, q)
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
