package objectstore

import (
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/encoding/httpbinding"
)

// direct sends the requests of the copy path (GET and PUT of a whole blob, and the parts of a
// large one streamed with a checksum trailer) with net/http and the SDK's SigV4 signer,
// bypassing the SDK's operation stack. Why: copying a small blob costs the worker about 1 ms
// of CPU through the SDK and half that this way, measured side by side against MinIO; on a
// machine shared with the stores, that CPU is copy throughput and replication lag. Everything
// else (listings, HEAD, creating and completing uploads, server-side copies) stays with the
// SDK.
//
// It keeps the SDK's contract where it matters: the bucket's URL comes from the SDK's own
// endpoint resolver and keys are escaped by the same function as the SDK's serializers, so a
// request goes to the same URL (TestDirectRequestsMatchSDK); errors are smithy.APIError with
// the store's code, so normalize reads them alike; transient failures are retried as the
// SDK's standard retryer would; every attempt feeds the store's clock and the contact log
// as the SDK's middlewares do; and the context's operation ends the User-Agent (operation.go).
type direct struct {
	hc          *http.Client
	bucketURL   url.URL // the bucket's URL, path-style or virtual-hosted as the SDK resolves it
	keyPrefix   string  // bucketURL's path, to which "/key" is appended
	rawPrefix   string  // the same, escaped
	region      string
	creds       aws.CredentialsProvider
	signer      *v4.Signer
	clock       *storeClock
	contact     *contactLog
	maxAttempts int
}

// emptyPayloadHash is the SHA-256 of an empty body, which a request without one is signed with.
const emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

// maxRetryBackoff caps the wait between two attempts, as the SDK's standard retryer does.
const maxRetryBackoff = 20 * time.Second

func newDirect(o s3.Options, hc *http.Client, bucket string, clock *storeClock, contact *contactLog) (*direct, error) {
	params := s3.EndpointParameters{Bucket: aws.String(bucket), Region: aws.String(o.Region),
		ForcePathStyle: aws.Bool(o.UsePathStyle), Endpoint: o.BaseEndpoint}.WithDefaults()
	ep, err := s3.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), params)
	if err != nil {
		return nil, fmt.Errorf("objectstore: endpoint of bucket %s: %w", bucket, err)
	}
	return &direct{hc: hc, bucketURL: ep.URI, region: o.Region, creds: o.Credentials,
		keyPrefix: strings.TrimSuffix(ep.URI.Path, "/"), rawPrefix: strings.TrimSuffix(ep.URI.EscapedPath(), "/"),
		// S3 signs the path as sent: each key is escaped once, by objectURL.
		signer:  v4.NewSigner(func(so *v4.SignerOptions) { so.DisableURIPathEscaping = true }),
		clock:   clock,
		contact: contact, maxAttempts: max(1, o.RetryMaxAttempts)}, nil
}

// objectURL returns the URL of key in the bucket.
func (d *direct) objectURL(key string) *url.URL {
	u := d.bucketURL
	u.Path = d.keyPrefix + "/" + key
	u.RawPath = d.rawPrefix + "/" + httpbinding.EscapePath(key, false)
	return &u
}

// get opens key for reading.
func (d *direct) get(ctx context.Context, key string) (io.ReadCloser, Info, error) {
	resp, err := d.do(ctx, http.MethodGet, key, nil, nil)
	if err != nil {
		return nil, Info{}, fmt.Errorf("objectstore: get %s: %w", key, normalize(err))
	}
	info := Info{Object: Object{Key: key, Size: resp.ContentLength, ETag: trimETag(resp.Header.Get("ETag"))},
		Metadata: map[string]string{}}
	if t, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		info.LastModified = t.UTC()
	}
	for name, values := range resp.Header {
		if k, ok := cutPrefixFold(name, "X-Amz-Meta-"); ok && len(values) > 0 {
			info.Metadata[strings.ToLower(k)] = values[0]
		}
	}
	return resp.Body, info, nil
}

// put writes data to key with the headers h (putHeaders: user metadata, Content-MD5).
func (d *direct) put(ctx context.Context, key string, data []byte, h http.Header) error {
	resp, err := d.do(ctx, http.MethodPut, key, h, data)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.Body.Close()
}

// do sends one request, retrying transient failures, and returns a response with a 2xx
// status; the caller closes its body. body is sent as is (nil for none).
func (d *direct) do(ctx context.Context, method, key string, h http.Header, body []byte) (*http.Response, error) {
	var resp *http.Response
	err := d.retry(ctx, func() error {
		var err error
		resp, err = d.attempt(ctx, method, key, h, body)
		return err
	})
	return resp, err
}

// retry runs attempt until it succeeds, fails for good, or has run maxAttempts times, waiting
// in between as the SDK's standard retryer does: full jitter over an exponential ceiling.
func (d *direct) retry(ctx context.Context, attempt func() error) error {
	for n := 1; ; n++ {
		err := attempt()
		if err == nil || n >= d.maxAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		wait := time.Duration(rand.Float64() * float64(min(maxRetryBackoff, time.Second<<(n-1))))
		if err := sleepCtx(ctx, wait); err != nil {
			return err
		}
	}
}

func (d *direct) attempt(ctx context.Context, method, key string, h http.Header, body []byte) (*http.Response, error) {
	var r io.Reader
	payload := emptyPayloadHash
	if body != nil {
		// Bodies are checked by Content-MD5 instead: SHA-256 over every byte copied was the
		// largest CPU cost of a copy.
		r, payload = bytes.NewReader(body), "UNSIGNED-PAYLOAD"
	}
	req, err := d.request(ctx, method, key, nil, h, r, int64(len(body)), payload)
	if err != nil {
		return nil, err
	}
	return d.send(ctx, req)
}

// send sends one signed request and returns a response with a 2xx status (the caller closes
// its body) or the store's error. Either way the answer feeds the clock and the contact log.
func (d *direct) send(ctx context.Context, req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := d.hc.Do(req)
	recv := time.Now()
	if err != nil {
		// A request whose own context ended says nothing about the store (as contactLog).
		if ctx.Err() == nil {
			d.contact.observe(false, recv)
		}
		return nil, &sendError{err: err}
	}
	d.contact.observe(true, recv)
	d.clock.observeRequest(parseDate(resp.Header), sent, recv)
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, readAPIError(resp)
}

// uploadPart streams body as part number part of an upload and returns the part's ETag.
func (d *direct) uploadPart(ctx context.Context, key, uploadID string, part int, body *checksummedBody) (etag string, err error) {
	return d.putStream(ctx, key, url.Values{"partNumber": {strconv.Itoa(part)}, "uploadId": {uploadID}}, nil, body)
}

// putStream streams body to key (with query, a part of an upload) with the headers h, its
// CRC32C in a trailer the store checks (checksummedBody), and returns the ETag. It makes one
// attempt: a stream cannot be sent twice, so the caller retries from the source.
func (d *direct) putStream(ctx context.Context, key string, query url.Values, h http.Header, body *checksummedBody) (etag string, err error) {
	h = h.Clone()
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Encoding", "aws-chunked")
	h.Set("X-Amz-Decoded-Content-Length", strconv.FormatInt(body.length, 10))
	h.Set("X-Amz-Trailer", trailerCRC32C)
	req, err := d.request(ctx, http.MethodPut, key, query, h, body, encodedLength(body.length), "STREAMING-UNSIGNED-PAYLOAD-TRAILER")
	if err != nil {
		return "", err
	}
	resp, err := d.send(ctx, req)
	if err != nil {
		return "", err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.Header.Get("ETag"), nil
}

// putHeaders are the headers of a PUT with meta as user metadata and, if set, contentMD5.
func putHeaders(meta map[string]string, contentMD5 string) http.Header {
	h := make(http.Header, len(meta)+1)
	for k, v := range meta {
		h.Set("X-Amz-Meta-"+k, v)
	}
	if contentMD5 != "" {
		h.Set("Content-Md5", contentMD5)
	}
	return h
}

// request builds and signs one attempt: body (nil for none) of length bytes, signed with
// payload as its hash, to key with query.
func (d *direct) request(ctx context.Context, method, key string, query url.Values, h http.Header, body io.Reader, length int64, payload string) (*http.Request, error) {
	if body == nil {
		body = http.NoBody
	}
	req, err := http.NewRequestWithContext(ctx, method, "", body)
	if err != nil {
		return nil, err
	}
	req.URL = d.objectURL(key)
	if query != nil {
		req.URL.RawQuery = query.Encode()
	}
	req.Host = req.URL.Host
	req.ContentLength = length
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Set("X-Amz-Content-Sha256", payload)
	req.Header.Set("User-Agent", directUserAgent)
	tagUserAgent(ctx, req.Header)
	creds, err := d.creds.Retrieve(ctx)
	if err != nil {
		return nil, fmt.Errorf("credentials: %w", err)
	}
	if err := d.signer.SignHTTP(ctx, creds, req, payload, "s3", d.region, time.Now().UTC()); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return req, nil
}

// sendError is a request that got no response: no connection, a reset, a timeout.
type sendError struct{ err error }

func (e *sendError) Error() string { return "send request: " + e.err.Error() }
func (e *sendError) Unwrap() error { return e.err }

// apiError is a store's error response. It is a smithy.APIError, as the SDK's are.
type apiError struct {
	status                   int
	code, message, requestID string
}

func (e *apiError) Error() string {
	return fmt.Sprintf("api error %s: %s (status %d, request id %s)", e.code, e.message, e.status, e.requestID)
}
func (e *apiError) ErrorCode() string             { return e.code }
func (e *apiError) ErrorMessage() string          { return e.message }
func (e *apiError) ErrorFault() smithy.ErrorFault { return smithy.FaultUnknown }
func (e *apiError) HTTPStatusCode() int           { return e.status }

var _ smithy.APIError = (*apiError)(nil)

// readAPIError reads an S3 error body (<Error><Code>…</Code><Message>…</Message></Error>).
// A body without one (a HEAD, a proxy's page) gets a code from the status, as the SDK does.
// Every text taken from the response is cut to maxErrorText (cutErrorText): the error ends up
// in Temporal's history, where a proxy's megabyte of HTML must not go.
func readAPIError(resp *http.Response) error {
	e := &apiError{status: resp.StatusCode, requestID: cutErrorText(resp.Header.Get("X-Amz-Request-Id"))}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var body struct {
		Code    string `xml:"Code"`
		Message string `xml:"Message"`
	}
	if xml.Unmarshal(raw, &body) == nil && body.Code != "" {
		e.code, e.message = cutErrorText(body.Code), cutErrorText(body.Message)
		return e
	}
	e.code = strings.ReplaceAll(http.StatusText(resp.StatusCode), " ", "")
	if e.code == "" {
		e.code = "Status" + strconv.Itoa(resp.StatusCode)
	}
	e.message = cutErrorText(strings.TrimSpace(string(raw)))
	return e
}

// maxErrorText bounds each piece of text from a store's error response (code, message,
// request ID) that reaches callers: errors become activity failures, recorded in Temporal's
// history with their whole cause chain.
const maxErrorText = 512

// cutMarker ends a text cutErrorText has cut.
const cutMarker = " …[cut]"

// cutErrorText returns s if it is at most maxErrorText bytes long, else its first
// maxErrorText bytes (not splitting a UTF-8 character) followed by cutMarker.
func cutErrorText(s string) string {
	if len(s) <= maxErrorText {
		return s
	}
	n := maxErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + cutMarker
}

// retryable reports whether another attempt may succeed: no response, a throttle, or a
// server-side failure. The SDK's standard retryer retries the same.
func retryable(err error) bool {
	var se *sendError
	if errors.As(err, &se) {
		return true
	}
	var ae *apiError
	if !errors.As(err, &ae) {
		return false
	}
	switch ae.code {
	case "RequestTimeout", "RequestTimeoutException", "SlowDown", "Throttling", "ThrottlingException",
		"TooManyRequestsException", "RequestThrottled", "InternalError", "ServiceUnavailable":
		return true
	}
	switch ae.status {
	case http.StatusInternalServerError, http.StatusBadGateway, http.StatusServiceUnavailable,
		http.StatusGatewayTimeout, http.StatusTooManyRequests:
		return true
	}
	return false
}

// cutPrefixFold is strings.CutPrefix ignoring ASCII case.
func cutPrefixFold(s, prefix string) (string, bool) {
	if len(s) < len(prefix) || !strings.EqualFold(s[:len(prefix)], prefix) {
		return s, false
	}
	return s[len(prefix):], true
}

// sleepCtx waits for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}
