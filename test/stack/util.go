package stack

import (
	"crypto/rand"
	"encoding/hex"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on Linux
	}
	return hex.EncodeToString(b)
}

// S3 returns a plain S3 client with the server's root credentials, for tests that need to
// look at a bucket independently of the code under test.
func (m *MinIO) S3() *s3.Client {
	return s3.New(s3.Options{
		BaseEndpoint: aws.String(m.Endpoint),
		Region:       "us-east-1",
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(m.AccessKey, m.SecretKey, ""),
	})
}

// sumMetric adds the values of a Prometheus text-format metric over the lines that carry any
// of the given label matchers.
func sumMetric(text, name string, anyLabel []string) float64 {
	var total float64
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") {
			continue
		}
		match := false
		for _, l := range anyLabel {
			if strings.Contains(line, l) {
				match = true
			}
		}
		if !match {
			continue
		}
		fields := strings.Fields(line)
		if v, err := strconv.ParseFloat(fields[len(fields)-1], 64); err == nil {
			total += v
		}
	}
	return total
}

// testLogWriter sends a server's output to the test log, prefixed, so a failing test shows it.
func testLogWriter(t testing.TB, prefix string) io.Writer {
	return &tlogWriter{t: t, prefix: prefix}
}

type tlogWriter struct {
	t      testing.TB
	prefix string
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	defer func() { _ = recover() }() // the test may have ended; its log is closed then
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.t.Logf("%s: %s", w.prefix, line)
	}
	return len(p), nil
}
