package objectstore

import (
	"cmp"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// captureTransport answers every request with 200 and an empty body, and keeps the requests.
type captureTransport struct{ reqs []*http.Request }

func (c *captureTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
	}
	c.reqs = append(c.reqs, r)
	h := http.Header{"Date": {time.Now().UTC().Format(http.TimeFormat)}, "Etag": {`"d41d8cd98f00b204e9800998ecf8427e"`}}
	return &http.Response{StatusCode: 200, Header: h, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
}

// TestDirectRequestsMatchSDK: for awkward keys and each way of addressing a bucket, the
// direct GET and PUT go to the URL the SDK's GetObject and PutObject use, escaped alike, with
// the same body checks and metadata headers.
func TestDirectRequestsMatchSDK(t *testing.T) {
	keys := []string{"plain/key", "a b/c", "ü/€ sign", "x+y=z&w", "~tilde_-.", "pct%20", "dots/./../x",
		"semi;colon:at@", "q?uery#hash", "double//slash", "trailing/"}
	for _, o := range []Options{
		{Endpoint: "http://127.0.0.1:9000", PathStyle: true, Bucket: "objects"},
		{Endpoint: "http://store.example:9000/", PathStyle: false, Bucket: "objects"},
		{Region: "eu-west-1", Bucket: "my-bucket"},
		{Region: "eu-west-1", PathStyle: true, Bucket: "my-bucket"},
		{Region: "us-east-1", Bucket: "my.dotted.bucket"},
		{Endpoint: "https://s3.example.com", Region: "us-west-2", Bucket: "Upper_Case"},
	} {
		o.AccessKeyID, o.SecretAccessKey = "AKIDEXAMPLE", "secret"
		c, err := New(o)
		require.NoError(t, err)
		capture := &captureTransport{}
		c.direct.hc.Transport = capture // the SDK client shares it
		for _, key := range keys {
			ctx := context.Background()
			_, err := c.s3.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(key)})
			require.NoError(t, err)
			body, _, err := c.direct.get(ctx, key)
			require.NoError(t, err)
			require.NoError(t, body.Close())
			meta := map[string]string{"bdr-source-etag": "abc", "Mixed": "v"}
			_, err = c.s3.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(o.Bucket), Key: aws.String(key),
				Body: strings.NewReader("data"), ContentLength: aws.Int64(4), Metadata: meta,
				ContentMD5: aws.String("jXd/OF09/siBXSD3SWAm3A==")}, unsignedPayload)
			require.NoError(t, err)
			require.NoError(t, c.direct.put(ctx, key, []byte("data"), putHeaders(meta, "jXd/OF09/siBXSD3SWAm3A==")))
			require.Len(t, capture.reqs, 4)
			for i, what := range []string{"GET", "PUT"} {
				sdk, ours := capture.reqs[2*i], capture.reqs[2*i+1]
				assert.Equal(t, sdk.Method, ours.Method, "%s %q", what, key)
				// The SDK adds ?x-id=<operation>, a hint the store ignores.
				sdkURL := *sdk.URL
				q := sdkURL.Query()
				assert.Equal(t, what[:1]+strings.ToLower(what[1:])+"Object", q.Get("x-id"))
				q.Del("x-id")
				sdkURL.RawQuery = q.Encode()
				assert.Equal(t, sdkURL.String(), ours.URL.String(), "%s %q via %+v", what, key, o.Endpoint)
				assert.Equal(t, sdk.URL.EscapedPath(), ours.URL.EscapedPath(), "%s %q", what, key)
				assert.Equal(t, cmp.Or(sdk.Host, sdk.URL.Host), cmp.Or(ours.Host, ours.URL.Host), "%s %q", what, key)
				for _, h := range []string{"Content-Md5", "X-Amz-Meta-Bdr-Source-Etag", "X-Amz-Meta-Mixed", "X-Amz-Content-Sha256"} {
					assert.Equal(t, sdk.Header.Get(h), ours.Header.Get(h), "%s %q header %s", what, key, h)
				}
				assert.Equal(t, sdk.ContentLength, ours.ContentLength, "%s %q", what, key)
				assert.Contains(t, ours.Header.Get("Authorization"), "Credential=AKIDEXAMPLE/")
			}
			capture.reqs = nil
		}
	}
}

// fakeStore serves each request with the next scripted answer (the last one repeats).
type fakeStore struct {
	answers []func(w http.ResponseWriter)
	calls   atomic.Int32
}

func (f *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	n := int(f.calls.Add(1)) - 1
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	f.answers[min(n, len(f.answers)-1)](w)
}

func s3Error(status int, code string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>`+code+`</Code><Message>scripted</Message></Error>`)
	}
}

func blob(w http.ResponseWriter) {
	w.Header().Set("ETag", `"8d777f385d3dfec8815d20f7496026dc"`)
	w.Header().Set("Last-Modified", "Mon, 23 Nov 2026 22:57:58 GMT")
	w.Header().Set("X-Amz-Meta-Bdr-Source-Etag", "abc")
	_, _ = io.WriteString(w, "data")
}

func fakeClient(t *testing.T, f *fakeStore) *Client {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Options{Endpoint: srv.URL, PathStyle: true, Bucket: "objects", AccessKeyID: "a", SecretAccessKey: "s"})
	require.NoError(t, err)
	return c
}

// TestDirectAnswers: what the store answers becomes what callers test for, transient
// failures are retried, and every attempt tells the contact log and the clock.
func TestDirectAnswers(t *testing.T) {
	ctx := context.Background()
	t.Run("a blob and its headers", func(t *testing.T) {
		c := fakeClient(t, &fakeStore{answers: []func(http.ResponseWriter){blob}})
		body, info, err := c.Get(ctx, "k")
		require.NoError(t, err)
		data, err := io.ReadAll(body)
		require.NoError(t, err)
		require.NoError(t, body.Close())
		assert.Equal(t, "data", string(data))
		assert.Equal(t, Info{Object: Object{Key: "k", Size: 4, ETag: "8d777f385d3dfec8815d20f7496026dc",
			LastModified: time.Date(2026, 11, 23, 22, 57, 58, 0, time.UTC)},
			Metadata: map[string]string{"bdr-source-etag": "abc"}}, info)
		_, ok := c.clock.at(time.Now())
		assert.True(t, ok, "the Date header fed the store's clock")
		assert.False(t, c.Contact().AnsweredAt.IsZero())
	})
	t.Run("errors map to the package's", func(t *testing.T) {
		for _, tc := range []struct {
			status int
			code   string
			is     error
		}{{404, "NoSuchKey", os.ErrNotExist}, {404, "NoSuchBucket", ErrNoBucket}, {403, "AccessDenied", ErrAccessDenied},
			{403, "SignatureDoesNotMatch", ErrAccessDenied}} {
			f := &fakeStore{answers: []func(http.ResponseWriter){s3Error(tc.status, tc.code)}}
			_, _, err := fakeClient(t, f).Get(ctx, "k")
			assert.ErrorIs(t, err, tc.is, tc.code)
			assert.Equal(t, int32(1), f.calls.Load(), "%s is not retried", tc.code)
		}
		f := &fakeStore{answers: []func(http.ResponseWriter){s3Error(400, "BadDigest")}}
		err := fakeClient(t, f).put(ctx, "k", []byte("data"), putHeaders(nil, "AAAAAAAAAAAAAAAAAAAAAA=="))
		assert.True(t, isBadDigest(err), "BadDigest is recognised: %v", err)
		assert.Equal(t, int32(1), f.calls.Load())
	})
	t.Run("transient failures are retried", func(t *testing.T) {
		f := &fakeStore{answers: []func(http.ResponseWriter){s3Error(503, "SlowDown"), s3Error(500, "InternalError"), blob}}
		body, _, err := fakeClient(t, f).Get(ctx, "k")
		require.NoError(t, err)
		require.NoError(t, body.Close())
		assert.Equal(t, int32(3), f.calls.Load())
		f = &fakeStore{answers: []func(http.ResponseWriter){s3Error(503, "SlowDown"), func(w http.ResponseWriter) {}}}
		require.NoError(t, fakeClient(t, f).put(ctx, "k", []byte("data"), putHeaders(nil, "")))
		assert.Equal(t, int32(2), f.calls.Load(), "the PUT's body is sent again")
	})
	t.Run("a store that does not answer", func(t *testing.T) {
		srv := httptest.NewServer(http.NotFoundHandler())
		c, err := New(Options{Endpoint: srv.URL, PathStyle: true, Bucket: "objects", AccessKeyID: "a", SecretAccessKey: "s"})
		require.NoError(t, err)
		c.direct.maxAttempts = 2
		srv.Close()
		_, _, err = c.Get(ctx, "k")
		var se *sendError
		require.ErrorAs(t, err, &se)
		assert.False(t, c.Contact().SilentSince.IsZero(), "the failed attempt counts as silence")
		assert.False(t, errors.Is(err, os.ErrNotExist))
	})
}

// unsignedPayload makes the SDK sign a body as the direct path does, unhashed.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// TestCheckConditionalWritesOnAStoreThatIgnoresThem: a store that answers every PUT with
// success, whatever its condition, fails the probe with ErrNoConditionalWrites.
func TestCheckConditionalWritesOnAStoreThatIgnoresThem(t *testing.T) {
	c := fakeClient(t, &fakeStore{answers: []func(http.ResponseWriter){blob}})
	err := c.CheckConditionalWrites(context.Background(), ".bdr/probe")
	require.ErrorIs(t, err, ErrNoConditionalWrites)
	require.ErrorContains(t, err, "written despite If-None-Match: * over a blob")
}

// TestCheckConditionalWritesAfterALostAnswer: a probe whose first PUT is refused because its
// own earlier try landed (the answer lost, the PUT retried) reads the blob back, finds its
// own, and goes on: the store is not blamed.
func TestCheckConditionalWritesAfterALostAnswer(t *testing.T) {
	probe := func(w http.ResponseWriter) {
		w.Header().Set("ETag", `"0b3d7e4bbdb1c3e5e1b6fcd3aa3b9e4c"`)
		_, _ = io.WriteString(w, "probe")
	}
	refused := s3Error(http.StatusPreconditionFailed, "PreconditionFailed")
	f := &fakeStore{answers: []func(http.ResponseWriter){refused, probe, refused, refused, func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }}}
	require.NoError(t, fakeClient(t, f).CheckConditionalWrites(context.Background(), ".bdr/probe"))
	require.EqualValues(t, 5, f.calls.Load(), "PUT, GET, two refused PUTs, DELETE")
}
