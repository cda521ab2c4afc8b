package standin

import (
	"bytes"
	"errors"
	"log/slog"
	"testing"

	"github.com/sirupsen/logrus"
	"github.com/stretchr/testify/require"
)

// TestRedactingLoggers: the stand-in's own logger and go-mysql-server's logrus entries pass
// messages, string fields, errors and groups through RedactSecrets.
func TestRedactingLoggers(t *testing.T) {
	var out bytes.Buffer
	log := slog.New(redactingHandler{slog.NewTextHandler(&out, nil)}).
		With("stmt", "CREATE USER u IDENTIFIED BY 'S3CR3T-1'")
	log.Info("statement failed: ATTACH … CREDENTIALS 'S3CR3T-2'",
		"err", errors.New(`bad credentials {"aws_secret_access_key":"S3CR3T-3"}`),
		slog.Group("g", "q", "CREDENTIALS 'S3CR3T-4'"), "n", 7)
	require.NotContains(t, out.String(), "S3CR3T")
	require.Contains(t, out.String(), "n=7")
	require.Contains(t, out.String(), "IDENTIFIED BY '[REDACTED]'")

	out.Reset()
	l := logrus.New()
	l.SetOutput(&out)
	l.AddHook(redactHook{})
	l.WithField("query", "CREATE DATABASE d ON S3 \"b/p\" CREDENTIALS '{\"aws_secret_access_key\":\"S3CR3T-5\"}'").
		WithError(errors.New("IDENTIFIED BY 'S3CR3T-6'")).Error("error running query")
	require.NotContains(t, out.String(), "S3CR3T")
	require.Contains(t, out.String(), "[REDACTED]")
}
