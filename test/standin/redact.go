package standin

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"sync"

	"github.com/sirupsen/logrus"
)

// redacted replaces a secret in the stand-in's logs.
const redacted = "[REDACTED]"

// sqlLiteral is a quoted SQL string ('…' or "…", doubled quotes and backslash escapes inside),
// or an unterminated one up to the end of the text (a statement a log cut short).
const sqlLiteral = `(?:'(?:[^'\\]|\\.|'')*(?:'|$)|"(?:[^"\\]|\\.|"")*(?:"|$))`

// secretPatterns find the secrets a statement or an error can carry; each keeps its first
// group and replaces the rest.
var secretPatterns = []*regexp.Regexp{
	// ATTACH / CREATE DATABASE … CREDENTIALS '{"aws_access_key_id": …}'
	regexp.MustCompile(`(?is)(\bCREDENTIALS\s+)` + sqlLiteral),
	// CREATE USER … IDENTIFIED [WITH plugin] BY|AS [PASSWORD] '…'
	regexp.MustCompile(`(?is)(\bIDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?)` + sqlLiteral),
	// SET PASSWORD [FOR …] = [PASSWORD(]'…'
	regexp.MustCompile(`(?is)(\bSET\s+PASSWORD\b[^=]*=\s*(?:PASSWORD\s*\(\s*)?)` + sqlLiteral),
	// "aws_secret_access_key": "…" anywhere else (JSON in a literal, an error, a log field),
	// also with escaped quotes (\"…\"); the value runs to the next quote, comma, brace or blank.
	regexp.MustCompile(`(?i)(\b(?:aws_secret_access_key|aws_session_token)\\?["']?\s*[:=]\s*\\?["']?)[^"'\\,}\s]*`),
}

// RedactSecrets returns s with the literal after CREDENTIALS, the password after IDENTIFIED
// BY (and SET PASSWORD … =), and every aws_secret_access_key or aws_session_token value
// replaced by [REDACTED]. The stand-in passes everything it logs through it.
func RedactSecrets(s string) string {
	for i, re := range secretPatterns {
		if i < 3 {
			s = re.ReplaceAllString(s, "${1}'"+redacted+"'")
		} else {
			s = re.ReplaceAllString(s, "${1}"+redacted)
		}
	}
	return s
}

// redactingHandler is a slog.Handler that redacts (RedactSecrets) the message and every
// string, error or other value before its inner handler sees them.
type redactingHandler struct{ inner slog.Handler }

func (h redactingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h redactingHandler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, RedactSecrets(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return h.inner.Handle(ctx, out)
}

func (h redactingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = redactAttr(a)
	}
	return redactingHandler{h.inner.WithAttrs(red)}
}

func (h redactingHandler) WithGroup(name string) slog.Handler {
	return redactingHandler{h.inner.WithGroup(name)}
}

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, RedactSecrets(v.String()))
	case slog.KindGroup:
		group := v.Group()
		red := make([]any, len(group))
		for i, g := range group {
			red[i] = redactAttr(g)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		if err, ok := v.Any().(error); ok {
			return slog.String(a.Key, RedactSecrets(err.Error()))
		}
		return slog.String(a.Key, RedactSecrets(fmt.Sprintf("%+v", v.Any())))
	}
	return a // numbers, booleans, times and durations hold no secret
}

// redactHook redacts (RedactSecrets) go-mysql-server's logrus entries, which carry whole
// statements (the "query" field, every statement at debug level, failed ones at warning).
type redactHook struct{}

func (redactHook) Levels() []logrus.Level { return logrus.AllLevels }

// Fire edits the entry in place: logrus hands hooks a copy of the entry being logged.
func (redactHook) Fire(e *logrus.Entry) error {
	e.Message = RedactSecrets(e.Message)
	for k, v := range e.Data {
		switch v := v.(type) {
		case string:
			e.Data[k] = RedactSecrets(v)
		case error:
			e.Data[k] = RedactSecrets(v.Error())
		case fmt.Stringer:
			e.Data[k] = RedactSecrets(v.String())
		}
	}
	return nil
}

var redactLogrusOnce sync.Once

// redactLogrus makes go-mysql-server's logger (logrus' standard logger, which every server
// in the process shares) redact its entries; it is idempotent.
func redactLogrus() {
	redactLogrusOnce.Do(func() { logrus.StandardLogger().AddHook(redactHook{}) })
}
