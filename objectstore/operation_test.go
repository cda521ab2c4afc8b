package objectstore_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// uaRecorder is a store that answers every request as a blob (the first failOnce with 503)
// and keeps each request's method, path and User-Agent, as a store's access log does.
type uaRecorder struct {
	mu       sync.Mutex
	seen     []string // "METHOD /path UA"
	failOnce int
}

func (u *uaRecorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	u.mu.Lock()
	u.seen = append(u.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("User-Agent"))
	fail := u.failOnce > 0
	u.failOnce--
	u.mu.Unlock()
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("ETag", `"8d777f385d3dfec8815d20f7496026dc"`)
	w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 22:57:58 GMT")
	_, _ = io.WriteString(w, "data")
}

// take returns the requests seen since the last take.
func (u *uaRecorder) take() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	seen := u.seen
	u.seen = nil
	return seen
}

// TestOperationTagsUserAgent: a request made with WithOperation's context ends its User-Agent
// with " bdr-op/<operation>", through the SDK (HEAD) and through the copy path (GET, PUT),
// once per attempt even when the SDK retries; a request without one carries no tag.
func TestOperationTagsUserAgent(t *testing.T) {
	rec := &uaRecorder{}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	c, err := objectstore.New(objectstore.Options{Endpoint: srv.URL, PathStyle: true, Bucket: "objects",
		AccessKeyID: "a", SecretAccessKey: "s"})
	require.NoError(t, err)
	ctx := objectstore.WithOperation(context.Background(), "Replicate/Sync")

	_, err = c.Head(ctx, "k")
	require.NoError(t, err)
	_, err = c.GetBytes(ctx, "k")
	require.NoError(t, err)
	require.NoError(t, c.PutBytes(ctx, "k", []byte("data"), nil))
	seen := rec.take()
	require.Len(t, seen, 3)
	for i, want := range []string{"HEAD /objects/k aws-sdk-go-v2/", "GET /objects/k bottomless-dr", "PUT /objects/k bottomless-dr"} {
		assert.True(t, strings.HasPrefix(seen[i], want), "request %d: %q, want it to start %q", i, seen[i], want)
		assert.True(t, strings.HasSuffix(seen[i], " bdr-op/Replicate/Sync"), "request %d: %q", i, seen[i])
		assert.Equal(t, 1, strings.Count(seen[i], "bdr-op/"), "request %d: %q", i, seen[i])
	}

	rec.mu.Lock()
	rec.failOnce = 1
	rec.mu.Unlock()
	_, err = c.Head(ctx, "k")
	require.NoError(t, err)
	seen = rec.take()
	require.Len(t, seen, 2, "a 503, then the retry")
	for i, s := range seen {
		assert.Equal(t, 1, strings.Count(s, "bdr-op/Replicate/Sync"), "attempt %d: %q", i, s)
	}

	_, err = c.Head(context.Background(), "k")
	require.NoError(t, err)
	_, err = c.GetBytes(context.Background(), "k")
	require.NoError(t, err)
	for _, s := range rec.take() {
		assert.NotContains(t, s, "bdr-op/", "a request without an operation")
	}
}

// TestWithOperationCleans: only [A-Za-z0-9/_.-] reach the header, at most 128 bytes of them;
// an empty operation names none.
func TestWithOperationCleans(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"TestFailover/BranchCopy", "TestFailover/BranchCopy"},
		{"a_b.c-d/0", "a_b.c-d/0"},
		{"Evil\r\nX-Injected: 1", "Evil--X-Injected--1"},
		{"spaces and ü", "spaces-and---"},
		{strings.Repeat("x", 300), strings.Repeat("x", 128)},
		{"", ""},
	} {
		ctx := objectstore.WithOperation(context.Background(), tc.in)
		assert.Equal(t, tc.want, objectstore.Operation(ctx), "WithOperation(%q)", tc.in)
	}
	assert.Equal(t, "", objectstore.Operation(context.Background()))
}
