package database

import (
	"encoding/json"
	"errors"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
)

// redacted replaces a secret in an error message.
const redacted = "<redacted>"

// credentialsLiteral matches CREDENTIALS '…' (or "…") in a statement a server echoes back,
// up to the end of the message when the echo is cut short.
var credentialsLiteral = regexp.MustCompile(`(?is)(CREDENTIALS\s*)('(?:[^'\\]|\\.|'')*'?|"(?:[^"\\]|\\.|"")*"?)`)

// redactString removes every CREDENTIALS literal and every secret from msg. A server may
// echo a secret after escaping it once or twice (JSON inside a SQL literal, quoted again in
// a syntax error), so each secret is also looked for in every such form.
func redactString(msg string, secrets ...string) string {
	msg = credentialsLiteral.ReplaceAllString(msg, "${1}'"+redacted+"'")
	var forms []string
	for _, s := range secrets {
		if s != "" {
			forms = append(forms, escapedForms(s)...)
		}
	}
	// Longest first, so that a form is not cut in half by a shorter one's replacement.
	sort.Slice(forms, func(i, j int) bool { return len(forms[i]) > len(forms[j]) })
	for _, f := range forms {
		msg = strings.ReplaceAll(msg, f, redacted)
	}
	return msg
}

// escapedForms returns s and s escaped by up to two of JSON, Go quoting and SQL literal
// escaping, without the surrounding quotes.
func escapedForms(s string) []string {
	encoders := []func(string) string{
		func(s string) string { j, _ := json.Marshal(s); return string(j[1 : len(j)-1]) },
		func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] },
		singleEscaper.Replace,
		doubleEscaper.Replace,
	}
	seen := map[string]bool{s: true}
	level := []string{s}
	for range 2 {
		var next []string
		for _, f := range level {
			for _, enc := range encoders {
				if e := enc(f); !seen[e] {
					seen[e] = true
					next = append(next, e)
				}
			}
		}
		level = next
	}
	out := make([]string, 0, len(seen))
	for f := range seen {
		out = append(out, f)
	}
	return out
}

// redactError returns err with every secret removed from its message. A server error stays a
// *mysql.MySQLError (same number and state, redacted message) so that callers can still tell
// errors apart; the original, which holds the secret, is not reachable from the result.
func redactError(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := redactString(msg, secrets...)
	if clean == msg {
		return err
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Error() == msg {
		return &mysql.MySQLError{Number: me.Number, SQLState: me.SQLState, Message: redactString(me.Message, secrets...)}
	}
	return errors.New(clean)
}
