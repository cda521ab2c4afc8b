package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/activities"
	"github.com/bottomless-dr/bottomless-dr/config"
)

// published records what the handler published.
type published struct {
	mu    sync.Mutex
	hints []string // bucket/key
	count int      // NotificationsReceived's total
}

func (p *published) Publish(bucket, key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hints = append(p.hints, bucket+"/"+key)
}

func (p *published) NotificationsReceived(_ context.Context, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.count += n
}

// minioEvent is a MinIO webhook POST body (event.Log) with one record per created key.
func minioEvent(eventName, bucket string, keys ...string) string {
	var recs []string
	for _, k := range keys {
		recs = append(recs, fmt.Sprintf(`{"eventVersion":"2.0","eventSource":"minio:s3","awsRegion":"","eventTime":"2026-01-01T00:00:00.000Z","eventName":%q,
"userIdentity":{"principalId":"bdr"},"s3":{"s3SchemaVersion":"1.0","configurationId":"Config","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},
"object":{"key":%q,"size":6,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"1"}}}`, eventName, bucket, bucket, k))
	}
	return fmt.Sprintf(`{"EventName":%q,"Key":"%s/x","Records":[%s]}`, eventName, bucket, strings.Join(recs, ","))
}

func TestNotificationsHandler(t *testing.T) {
	for _, tc := range []struct {
		name   string
		method string
		token  string // the handler's
		auth   string // the request's Authorization header
		body   string
		status int
		hints  []string
	}{
		{name: "put", method: "POST", body: minioEvent("s3:ObjectCreated:Put", "b", "db%2F0001%2Fblob+1"), status: 200, hints: []string{"b/db/0001/blob 1"}},
		{name: "several records", method: "POST", body: minioEvent("s3:ObjectCreated:CompleteMultipartUpload", "b", "db/a", "db/b"), status: 200, hints: []string{"b/db/a", "b/db/b"}},
		{name: "S3 event name", method: "POST", body: minioEvent("ObjectCreated:Copy", "b", "db/a"), status: 200, hints: []string{"b/db/a"}},
		{name: "deletes ignored", method: "POST", body: minioEvent("s3:ObjectRemoved:Delete", "b", "db/a"), status: 200},
		{name: "test event, no records", method: "POST", body: `{"Service":"Amazon S3","Event":"s3:TestEvent"}`, status: 200},
		{name: "bad key encoding skipped", method: "POST", body: minioEvent("s3:ObjectCreated:Put", "b", "db%zz", "db/ok"), status: 200, hints: []string{"b/db/ok"}},
		{name: "no bucket skipped", method: "POST", body: minioEvent("s3:ObjectCreated:Put", "", "db/a"), status: 200},
		{name: "GET", method: "GET", status: 405},
		{name: "PUT", method: "PUT", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 405},
		{name: "bad JSON", method: "POST", body: `{"Records":[`, status: 400},
		{name: "not an object", method: "POST", body: `[1,2]`, status: 400},
		{name: "body over 1 MiB", method: "POST", body: `{"Records":[],"pad":"` + strings.Repeat("x", 1<<20) + `"}`, status: 413},
		{name: "token", method: "POST", token: "s3cret", auth: "Bearer s3cret", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 200, hints: []string{"b/db/a"}},
		{name: "token missing", method: "POST", token: "s3cret", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 401},
		{name: "token wrong", method: "POST", token: "s3cret", auth: "Bearer s3cre", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 401},
		{name: "token not bearer", method: "POST", token: "s3cret", auth: "Basic s3cret", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 401},
		{name: "token not asked", method: "POST", auth: "Bearer whatever", body: minioEvent("s3:ObjectCreated:Put", "b", "db/a"), status: 200, hints: []string{"b/db/a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &published{}
			h := &notificationsHandler{hints: p, token: tc.token, counter: p}
			req := httptest.NewRequest(tc.method, notificationsPath, strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			require.Equal(t, tc.status, rec.Code, rec.Body.String())
			require.Equal(t, tc.hints, p.hints)
			require.Equal(t, len(tc.hints), p.count)
			if tc.token != "" {
				require.NotContains(t, rec.Body.String(), tc.token)
			}
		})
	}
}

// TestNotificationsServed: the listener serves the handler at /notifications, publishes to a
// real bus, and /metrics counts what it took.
func TestNotificationsServed(t *testing.T) {
	cfg := config.Default()
	m, err := newMetrics("test", &cfg)
	require.NoError(t, err)
	hints := activities.NewHints()
	ch, unsubscribe := hints.Subscribe("bucket", "db/")
	defer unsubscribe()
	// serveNotifications does not return its address: take a free port.
	l := httptest.NewServer(nil)
	addr := l.Listener.Addr().String()
	l.Close()
	stop, err := serveNotifications(addr, &notificationsHandler{hints: hints, counter: m}, slog.Default())
	require.NoError(t, err)
	defer stop()
	resp, err := http.Post("http://"+addr+notificationsPath, "application/json",
		strings.NewReader(minioEvent("s3:ObjectCreated:Put", "bucket", "db%2Fk1", "other%2Fk2")))
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	select {
	case k := <-ch:
		require.Equal(t, "db/k1", k)
	case <-time.After(5 * time.Second):
		t.Fatal("no hint")
	}
	require.Contains(t, scrape(t, m), "bdr_notifications_received_total{")
	resp, err = http.Get("http://" + addr + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "the notifications listener serves nothing else")
}
