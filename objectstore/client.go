// Package objectstore is the S3 client of bottomless-dr (aws-sdk-go-v2): paged listing,
// streaming get and put, multipart transfers for large blobs, server-side copy, the store's
// own clock, and in-progress multipart uploads. The copy path's GETs and PUTs skip the SDK's
// operation stack, for half its CPU cost, and stream large blobs and their parts with a
// checksum trailer instead of holding them in memory (see direct and checksummedBody).
// Provider errors are normalised here: a missing key is os.ErrNotExist, a missing bucket
// ErrNoBucket, refused credentials ErrAccessDenied, and text from a store's error response
// is cut to a few hundred bytes (maxErrorText). A request whose context names a bdr operation
// (WithOperation) says so in its User-Agent, for the stores' access logs (operation.go).
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

var (
	// ErrNoBucket means the configured bucket does not exist.
	ErrNoBucket = errors.New("bucket does not exist")
	// ErrAccessDenied means the store refused the credentials or the request.
	ErrAccessDenied = errors.New("access denied (check the credentials)")
)

// Options say how to reach one bucket. Credentials are resolved values; they are held only
// in memory by the client and never logged.
type Options struct {
	Endpoint        string // http(s)://host:port; empty for AWS
	Region          string
	Bucket          string
	PathStyle       bool
	AccessKeyID     string
	SecretAccessKey string
	// MaxConns bounds the idle connections kept per host; set it to the copy concurrency or
	// more so that parallel copies reuse connections instead of opening new ones.
	MaxConns int
}

// Client is one bucket of one region's object store. It is safe for concurrent use.
type Client struct {
	s3       *s3.Client
	bucket   string
	endpoint string
	direct   *direct     // the copy path: GET and PUT of whole blobs, streamed blobs and parts
	clock    *storeClock // fed by every response of s3 and direct
	contact  *contactLog // fed by every attempt of s3 and direct
	// copyLimitForTest and copyPartSizeForTest, when set, stand for S3's 5 GiB CopyObject
	// limit and the multipart copy's part size, so that a test copies a few MiB in parts.
	copyLimitForTest, copyPartSizeForTest int64
}

// New returns a client for the bucket in opts. It does not contact the store; use Check.
func New(opts Options) (*Client, error) {
	if opts.Bucket == "" {
		return nil, errors.New("objectstore: bucket is required")
	}
	if opts.Endpoint != "" {
		if u, err := url.Parse(opts.Endpoint); err != nil || u.Scheme == "" || u.Host == "" {
			return nil, fmt.Errorf("objectstore: endpoint %q is not a URL", opts.Endpoint)
		}
	}
	region := opts.Region
	if region == "" {
		region = "us-east-1"
	}
	maxConns := opts.MaxConns
	if maxConns < 16 {
		maxConns = 16
	}
	transport := &http.Transport{
		Proxy:               nil, // stores are reached directly; a proxy env var must not reroute them
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns * 2,
		MaxIdleConnsPerHost: maxConns * 2,
		IdleConnTimeout:     90 * time.Second,
		// Blobs are mostly compressed data already; asking for gzip would only cost CPU.
		DisableCompression:    true,
		ResponseHeaderTimeout: 60 * time.Second,
		WriteBufferSize:       256 << 10,
		ReadBufferSize:        256 << 10,
	}
	hc := &http.Client{Transport: transport}
	s3opts := s3.Options{
		Region:       region,
		UsePathStyle: opts.PathStyle,
		Credentials:  credentials.NewStaticCredentialsProvider(opts.AccessKeyID, opts.SecretAccessKey, ""),
		HTTPClient:   hc,
		// Copies are checked by Content-MD5 or a CRC32C trailer of their own (see Transfer), so
		// the SDK's default CRC on every request would only add CPU time.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
		RetryMaxAttempts:           5,
	}
	if opts.Endpoint != "" {
		s3opts.BaseEndpoint = aws.String(opts.Endpoint)
	}
	clock := newStoreClock(clockWindow)
	contact := &contactLog{}
	d, err := newDirect(s3opts, hc, opts.Bucket, clock, contact)
	if err != nil {
		return nil, err
	}
	s3opts.APIOptions = append(s3opts.APIOptions, clock.addMiddleware, contact.addMiddleware, addOperationMiddleware)
	return &Client{s3: s3.New(s3opts), direct: d, bucket: opts.Bucket, endpoint: opts.Endpoint, clock: clock, contact: contact}, nil
}

// Bucket returns the bucket's name.
func (c *Client) Bucket() string { return c.bucket }

// Endpoint returns the endpoint the client talks to.
func (c *Client) Endpoint() string { return c.endpoint }

// Check verifies that the bucket exists and that the credentials are accepted.
func (c *Client) Check(ctx context.Context) error {
	_, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.bucket)})
	if err == nil {
		return nil
	}
	err = normalize(err)
	if errors.Is(err, errNotExist) {
		// HEAD has no body, so a missing bucket comes back as a bare 404 "NotFound".
		err = ErrNoBucket
	}
	return fmt.Errorf("objectstore: bucket %s: %w", c.bucket, err)
}

// normalize maps provider errors to the package's sentinel errors, keeping the original.
func normalize(err error) error {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return err
	}
	switch apiErr.ErrorCode() {
	case "NoSuchKey", "NotFound":
		return fmt.Errorf("%w (%s)", errNotExist, apiErr.ErrorCode())
	case "NoSuchBucket":
		return ErrNoBucket
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden":
		return fmt.Errorf("%w: %s", ErrAccessDenied, apiErr.ErrorCode())
	}
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) && re.HTTPStatusCode() == http.StatusForbidden {
		return fmt.Errorf("%w: %s", ErrAccessDenied, apiErr.ErrorCode())
	}
	// The SDK keeps an error body's whole Code and Message (a proxy can send megabytes); the
	// direct path cuts its own (readAPIError). Replaced, not wrapped: Temporal records every
	// error of the cause chain.
	if len(apiErr.ErrorCode()) > maxErrorText || len(apiErr.ErrorMessage()) > maxErrorText {
		cut := &apiError{code: cutErrorText(apiErr.ErrorCode()), message: cutErrorText(apiErr.ErrorMessage())}
		if re != nil {
			cut.status = re.HTTPStatusCode()
		}
		return &cutError{text: cutErrorText(err.Error()), api: cut}
	}
	return err
}

// cutError stands for a store's error whose text was too long to keep: its text is the
// original's, cut, and it unwraps to a copy of the original's API error with its code and
// message cut, so that errors.As still finds a smithy.APIError.
type cutError struct {
	text string
	api  *apiError
}

func (e *cutError) Error() string { return e.text }
func (e *cutError) Unwrap() error { return e.api }
