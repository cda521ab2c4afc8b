package stack

// The request recorder: with Options.RecordStoreRequests, an HTTP reverse proxy in front of
// each region's MinIO notes every request that reaches the store (method, bucket, key, the
// query's S3 action, and the bdr operation the worker names in the User-Agent, see
// objectstore.WithOperation). Why: a test can then prove which operations touched a store,
// e.g. that a drill sends nothing to the primary's while replication reads it. Toxiproxy sees
// bytes, not requests, so the fault layer cannot tell them apart.
//
// It passes requests through unchanged, for SigV4: the path and query as sent, every header
// (the Host the client signed for included), the body streamed. This package does not import
// objectstore (it tests it), so the tag's prefix is spelled here too.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// operationTagPrefix starts the User-Agent token that names a request's bdr operation
// (objectstore.OperationTagPrefix).
const operationTagPrefix = "bdr-op/"

// StoreRequest is one request that reached a region's object store through the recorder,
// noted when it arrived (before the store answered, so that a request the store failed is
// noted too).
type StoreRequest struct {
	Method string
	Bucket string // the first segment of the path (the stack's stores are path-style)
	Key    string // the rest of the path, unescaped; "" for a request on the bucket itself
	// Query is the S3 action the query string asks for: its parameter names, sorted and
	// joined with '&', with list-type's value ("list-type=2", "uploads", "partNumber&uploadId",
	// "delimiter&list-type=2&prefix"), without the values (prefixes, tokens) that vary.
	Query string
	// Prefix and Delimiter are a listing's prefix and delimiter parameters ("" for others).
	Prefix, Delimiter string
	// Operation is the bdr operation that made the request, from the "bdr-op/<operation>"
	// token of its User-Agent ("Replicate/Sync"): "" when it has none.
	Operation string
	UserAgent string
	At        time.Time
	// Done is when the store's answer had been passed on to the client, body and all (zero
	// while the request is in flight): a listing shows no blob written after it.
	Done time.Time
	// Status is the store's answer's status code (0 while the request is in flight).
	Status int
	// Bytes is the size of the body as sent: the decoded size of an aws-chunked (streamed)
	// upload (X-Amz-Decoded-Content-Length), else Content-Length; 0 without a body. A
	// server-side copy (X-Amz-Copy-Source) sends none.
	Bytes int64
	// CopySource is a server-side copy's source ("/bucket/key"), "" for any other request.
	CopySource string
}

// String is the request in one line, for test failures.
func (r StoreRequest) String() string {
	s := r.Method + " /" + r.Bucket
	if r.Key != "" {
		s += "/" + r.Key
	}
	if r.Query != "" {
		s += "?" + r.Query
	}
	if r.Operation != "" {
		s += " [" + r.Operation + "]"
	}
	if r.Status != 0 {
		s += fmt.Sprintf(" -> %d", r.Status)
	}
	return s
}

// recorder is one region's request recorder. It is safe for concurrent use.
type recorder struct {
	addr  string // host:port the clients use
	srv   *http.Server
	proxy *httputil.ReverseProxy

	mu    sync.Mutex
	reqs  []StoreRequest
	holds []*Hold
}

// Hold keeps the requests it matches from reaching the store until Release: a test's way to
// stop the worker at a chosen step (its copies, say) without a timer, do something there,
// and let it go on. Requests are held after they are noted. A request whose client gives up
// leaves the hold but stays in Held.
type Hold struct {
	match    func(StoreRequest) bool
	released chan struct{}
	once     sync.Once

	mu      sync.Mutex
	held    []StoreRequest
	arrived chan struct{} // closed at the next request held
}

// Wait blocks until the hold holds n requests at once, or ctx ends.
func (h *Hold) Wait(ctx context.Context, n int) error {
	for {
		h.mu.Lock()
		held, changed := len(h.held), h.arrived
		h.mu.Unlock()
		if held >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d requests held, waiting for %d: %w", held, n, ctx.Err())
		}
	}
}

// Held returns the requests the hold holds.
func (h *Hold) Held() []StoreRequest {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.held)
}

// Release lets every held request through and stops holding; it is safe to call twice.
func (h *Hold) Release() { h.once.Do(func() { close(h.released) }) }

// hold blocks r while a hold matches it.
func (rec *recorder) hold(r *http.Request, req StoreRequest) {
	rec.mu.Lock()
	var h *Hold
	for _, candidate := range rec.holds {
		if candidate.match(req) {
			h = candidate
			break
		}
	}
	rec.mu.Unlock()
	if h == nil {
		return
	}
	select {
	case <-h.released:
		return
	default:
	}
	h.mu.Lock()
	h.held = append(h.held, req)
	close(h.arrived) // wakes Wait; the next request held closes a new one
	h.arrived = make(chan struct{})
	h.mu.Unlock()
	select {
	case <-h.released:
	case <-r.Context().Done():
	}
}

// startRecorder starts a recorder for the store at upstream (host:port) on a free loopback
// port; its proxy's errors go to logw.
func startRecorder(upstream string, logw io.Writer) (*recorder, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("recorder for %s: %w", upstream, err)
	}
	rec := &recorder{addr: l.Addr().String()}
	rec.proxy = &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			// Not SetURL: it rebuilds the path, and an escaping other than the client's
			// would break the signature. Only where the request goes changes.
			r.Out.URL.Scheme = "http"
			r.Out.URL.Host = upstream
			r.Out.Host = r.In.Host // what the client signed for, and MinIO checks
		},
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 64, // the worker copies in parallel; reuse, don't redial
			IdleConnTimeout:     90 * time.Second,
			// Asking for gzip on the client's behalf would change the answers it reads.
			DisableCompression: true,
		},
		ErrorLog: log.New(logw, "", log.LstdFlags),
	}
	rec.srv = &http.Server{Handler: rec, ReadHeaderTimeout: 30 * time.Second, ErrorLog: log.New(logw, "", log.LstdFlags)}
	go func() {
		if err := rec.srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			fmt.Fprintf(logw, "recorder %s: %v\n", rec.addr, err)
		}
	}()
	return rec, nil
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req, i := rec.note(r)
	rec.hold(r, req)
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	rec.proxy.ServeHTTP(sw, r)
	rec.mu.Lock()
	rec.reqs[i].Done = time.Now()
	rec.reqs[i].Status = sw.status
	rec.mu.Unlock()
}

// statusWriter keeps the status code a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush passes a flush on, as the reverse proxy flushes streamed answers.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// note records r, and returns it as recorded and its index.
func (rec *recorder) note(r *http.Request) (StoreRequest, int) {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	req := StoreRequest{Method: r.Method, Bucket: bucket, Key: key, Query: queryAction(r.URL.Query()),
		Prefix: r.URL.Query().Get("prefix"), Delimiter: r.URL.Query().Get("delimiter"),
		Operation: operationOf(r.UserAgent()), UserAgent: r.UserAgent(), At: time.Now(),
		Bytes: max(r.ContentLength, 0), CopySource: r.Header.Get("X-Amz-Copy-Source")}
	if decoded, err := strconv.ParseInt(r.Header.Get("X-Amz-Decoded-Content-Length"), 10, 64); err == nil {
		req.Bytes = decoded
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.reqs = append(rec.reqs, req)
	return req, len(rec.reqs) - 1
}

// since returns a copy of the requests after the first n.
func (rec *recorder) since(n int) []StoreRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if n >= len(rec.reqs) {
		return nil
	}
	return slices.Clone(rec.reqs[max(n, 0):])
}

func (rec *recorder) count() int {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return len(rec.reqs)
}

func (rec *recorder) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rec.srv.Shutdown(ctx); err != nil {
		_ = rec.srv.Close()
	}
}

// queryAction returns the names of q's parameters, sorted and joined with '&', with
// list-type's value.
func queryAction(q map[string][]string) string {
	names := make([]string, 0, len(q))
	for name, values := range q {
		if name == "list-type" && len(values) > 0 {
			name += "=" + values[0]
		}
		names = append(names, name)
	}
	slices.Sort(names)
	return strings.Join(names, "&")
}

// operationOf returns the operation a User-Agent names in its "bdr-op/<operation>" token,
// or "".
func operationOf(userAgent string) string {
	for _, token := range strings.Fields(userAgent) {
		if op, ok := strings.CutPrefix(token, operationTagPrefix); ok {
			return op
		}
	}
	return ""
}

// StoreRequests returns a copy of the requests that reached region's object store through
// its recorder so far, in the order they arrived (with Options.RecordStoreRequests; nil
// otherwise). The worker, bdr and the stand-ins attached by the worker (they reach the store
// at bdr.yaml's endpoint) go through the recorder; the tests' own clients (MinIO.S3,
// test/stores) and stand-ins given MinIO's endpoint directly do not.
func (s *Stack) StoreRequests(region string) []StoreRequest { return s.StoreRequestsSince(region, 0) }

// StoreRequestsSince returns a copy of the requests to region's store after the first n: with
// n from StoreRequestCount, those that arrived since.
func (s *Stack) StoreRequestsSince(region string, n int) []StoreRequest {
	rec, ok := s.recorders[region]
	if !ok {
		return nil
	}
	return rec.since(n)
}

// HoldRequests holds the requests to region's store that match (with
// Options.RecordStoreRequests) until the returned Hold is released; the test releases it
// when it ends at the latest.
func (s *Stack) HoldRequests(t testing.TB, region string, match func(StoreRequest) bool) *Hold {
	t.Helper()
	rec, ok := s.recorders[region]
	if !ok {
		t.Fatalf("hold requests to %s: the stack records no store requests (Options.RecordStoreRequests)", region)
	}
	h := &Hold{match: match, released: make(chan struct{}), arrived: make(chan struct{})}
	rec.mu.Lock()
	rec.holds = append(rec.holds, h)
	rec.mu.Unlock()
	t.Cleanup(h.Release)
	return h
}

// StoreRequestCount returns how many requests reached region's store through its recorder so
// far: a mark for StoreRequestsSince.
func (s *Stack) StoreRequestCount(region string) int {
	rec, ok := s.recorders[region]
	if !ok {
		return 0
	}
	return rec.count()
}

// Writes returns the PUTs (uploads and server-side copies) among reqs that operation made
// under prefix, but those the store refused as conditional writes (412: nothing written).
func Writes(reqs []StoreRequest, operation, prefix string) []StoreRequest {
	var out []StoreRequest
	for _, r := range reqs {
		if r.Method == "PUT" && r.Operation == operation && strings.HasPrefix(r.Key, prefix) && r.Status != http.StatusPreconditionFailed {
			out = append(out, r)
		}
	}
	return out
}

// Listings returns the blob listings (ListObjectsV2 pages) among reqs that operation made of
// prefix or a folder below it.
func Listings(reqs []StoreRequest, operation, prefix string) []StoreRequest {
	var out []StoreRequest
	for _, r := range reqs {
		if r.Method == "GET" && r.Key == "" && strings.Contains(r.Query, "list-type=2") && r.Operation == operation &&
			strings.HasPrefix(r.Prefix, prefix) {
			out = append(out, r)
		}
	}
	return out
}

// BodyBytes sums the bodies of reqs as sent.
func BodyBytes(reqs []StoreRequest) int64 {
	var n int64
	for _, r := range reqs {
		n += r.Bytes
	}
	return n
}
