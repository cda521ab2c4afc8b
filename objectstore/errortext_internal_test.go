package objectstore

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/stretchr/testify/require"
)

// TestHugeErrorBodiesAreCut: a store (or a proxy in front of it) that answers 500 with a
// 1 MiB body, an HTML page or an S3 error whose Message is 1 MiB, yields errors whose every
// link of the cause chain (what Temporal records in history) is a few hundred bytes, cut
// with a marker, on the direct path (GET, PUT) and the SDK's (LIST) alike; the store's error
// code still reaches callers through smithy.APIError.
func TestHugeErrorBodiesAreCut(t *testing.T) {
	t.Parallel()
	huge := strings.Repeat("x", 1<<20)
	htmlPage := "<html><body>" + huge + "</body></html>"
	xmlError := "<Error><Code>InternalError</Code><Message>" + huge + "</Message></Error>"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
		body := htmlPage
		if r.Method == http.MethodGet && r.URL.Query().Has("list-type") {
			body = xmlError
			w.Header().Set("Content-Type", "application/xml")
		}
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, PathStyle: true, Bucket: "bucket", AccessKeyID: "id", SecretAccessKey: "secret"})
	require.NoError(t, err)
	ctx := context.Background()

	_, _, getErr := c.Get(ctx, "db/blob")
	putErr := c.PutBytes(ctx, "db/blob", []byte("data"), nil)
	_, listErr := c.List(ctx, "db/")
	for name, err := range map[string]error{"get": getErr, "put": putErr, "list": listErr} {
		require.Error(t, err, name)
		require.Contains(t, err.Error(), cutMarker, "%s: the cut is marked", name)
		for e := err; e != nil; e = errors.Unwrap(e) {
			require.LessOrEqual(t, len(e.Error()), 2*maxErrorText, "%s: a link of the chain is %d bytes: %.200s", name, len(e.Error()), e.Error())
		}
		var api smithy.APIError
		require.True(t, errors.As(err, &api), "%s: %v", name, err)
		require.LessOrEqual(t, len(api.ErrorMessage()), maxErrorText+len(cutMarker), name)
	}
	require.Contains(t, getErr.Error(), "<html><body>xxx", "what the page said begins the message")
	var api smithy.APIError
	require.True(t, errors.As(listErr, &api))
	require.Equal(t, "InternalError", api.ErrorCode(), "the store's code survives the cut")
	require.True(t, strings.HasPrefix(api.ErrorMessage(), "xxx"))
	var status interface{ HTTPStatusCode() int }
	require.True(t, errors.As(listErr, &status))
	require.Equal(t, http.StatusInternalServerError, status.HTTPStatusCode())
}

// TestCutErrorText: short texts are kept whole; long ones keep maxErrorText bytes at most,
// never half a UTF-8 character, and end with the marker.
func TestCutErrorText(t *testing.T) {
	t.Parallel()
	short := strings.Repeat("a", maxErrorText)
	require.Equal(t, short, cutErrorText(short))
	require.Equal(t, "", cutErrorText(""))

	long := strings.Repeat("b", maxErrorText+1)
	require.Equal(t, strings.Repeat("b", maxErrorText)+cutMarker, cutErrorText(long))

	// "€" is three bytes; one straddles the limit.
	straddle := strings.Repeat("c", maxErrorText-1) + "€€"
	got := cutErrorText(straddle)
	require.Equal(t, strings.Repeat("c", maxErrorText-1)+cutMarker, got)
	require.True(t, strings.HasSuffix(got, cutMarker))
}
