package objectstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Listing is every blob under a prefix, in key order, with the store's clock when the listing
// began. Any blob written after that instant has a LastModified after StoreTime, which is what
// makes "older than StoreTime - settle window" safe.
type Listing struct {
	Objects []Object
	// StoreTime is a lower bound of the store's clock when the first request was sent: the
	// store clock's estimate (see storeClock), never earlier than the first response's Date
	// header (whole seconds).
	StoreTime time.Time
	// Resolution is the coarsest step, at most a second, of which every LastModified listed is
	// a whole multiple: the store's LastModified resolution or a multiple of it. It is below a
	// second only when some LastModified has a sub-second part (MinIO lists milliseconds; AWS
	// S3 lists whole seconds). Zero means unknown, to be taken as one second.
	Resolution time.Duration
	// Requests is how many LIST requests the listing took (pages, and folders listed apart):
	// what it costs on S3, which bills LIST requests by the thousand.
	Requests int
}

// List returns every blob under prefix, reading all pages one after the other.
func (c *Client) List(ctx context.Context, prefix string) (Listing, error) {
	l := Listing{Resolution: time.Second}
	err := c.Walk(ctx, prefix, "", func(page []Object, storeTime time.Time) error {
		l.Requests++
		if l.StoreTime.IsZero() {
			l.StoreTime = storeTime
		}
		l.Objects = append(l.Objects, page...)
		l.Resolution = resolution(l.Resolution, page)
		return nil
	})
	return l, err
}

// Walk calls fn with each page of blobs under prefix after startAfter, in key order, and the
// store's time before the page was asked for.
func (c *Client) Walk(ctx context.Context, prefix, startAfter string, fn func(page []Object, storeTime time.Time) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(c.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1000)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	return c.pages(ctx, in, func(page []Object, _ []string, storeTime time.Time) error {
		return fn(page, storeTime)
	})
}

// pages runs a listing and calls fn with each page: its blobs, its common prefixes (with a
// delimiter) and the store's time before the page was asked for.
func (c *Client) pages(ctx context.Context, in *s3.ListObjectsV2Input, fn func(page []Object, prefixes []string, storeTime time.Time) error) error {
	for {
		before := time.Now()
		out, err := c.s3.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("objectstore: list %s: %w", aws.ToString(in.Prefix), normalize(err))
		}
		page := make([]Object, 0, len(out.Contents))
		for _, o := range out.Contents {
			page = append(page, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified), ETag: trimETag(aws.ToString(o.ETag))})
		}
		prefixes := make([]string, 0, len(out.CommonPrefixes))
		for _, p := range out.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(p.Prefix))
		}
		if err := fn(page, prefixes, c.clock.storeTime(before, responseDate(out.ResultMetadata))); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

// resolution returns the coarsest step of which step and every LastModified of objs are whole
// multiples: the greatest common divisor of step and their sub-second parts. Starting from one
// second, it is a multiple of the store's true resolution, whatever that is, because every
// LastModified is.
func resolution(step time.Duration, objs []Object) time.Duration {
	g := int64(step)
	for _, o := range objs {
		if g == 1 {
			break
		}
		g = gcd(g, int64(o.LastModified.Nanosecond()))
	}
	return time.Duration(g)
}

func gcd(a, b int64) int64 {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// UploadListing is the multipart uploads in progress under a prefix, with the store's clock
// when the listing began.
type UploadListing struct {
	Uploads []Upload
	// StoreTime is a lower bound of the store's clock when the first request was sent (as
	// Listing.StoreTime): an upload begun after it is not listed, and begins after it.
	StoreTime time.Time
	Requests  int // LIST requests the listing took
}

// ListUploads returns the multipart uploads in progress under prefix, with the store's time
// before the first request. A blob uploaded that way appears only when completed, possibly
// with a LastModified in the past, so the watermark must not pass the earliest Initiated; nor
// that time, or an upload begun between this listing and a later one of the blobs could
// complete below it (see replication's listRound).
//
// The whole bucket is listed and filtered here: MinIO answers a prefix only when it is a whole
// key (a folder prefix returns nothing), while AWS S3 honours any prefix. In-progress uploads
// are few, so this costs little.
func (c *Client) ListUploads(ctx context.Context, prefix string) (UploadListing, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(c.bucket)}
	var l UploadListing
	for {
		before := time.Now()
		out, err := c.s3.ListMultipartUploads(ctx, in)
		if err != nil {
			return UploadListing{}, fmt.Errorf("objectstore: list uploads %s: %w", prefix, normalize(err))
		}
		l.Requests++
		if l.StoreTime.IsZero() {
			l.StoreTime = c.clock.storeTime(before, responseDate(out.ResultMetadata))
		}
		for _, u := range out.Uploads {
			if !strings.HasPrefix(aws.ToString(u.Key), prefix) {
				continue
			}
			l.Uploads = append(l.Uploads, Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId),
				Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(out.IsTruncated) {
			return l, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// Now returns a lower bound of the store's clock when it was called: the Date header of a
// request it makes, refined by the store clock's estimate. Eligibility is judged by this
// clock, never the worker's, so a skewed worker cannot copy an unsettled blob.
func (c *Client) Now(ctx context.Context) (time.Time, error) {
	before := time.Now()
	out, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.bucket)})
	if err != nil {
		return time.Time{}, fmt.Errorf("objectstore: clock of %s: %w", c.bucket, normalize(err))
	}
	date := responseDate(out.ResultMetadata)
	if date.IsZero() {
		return time.Time{}, fmt.Errorf("objectstore: clock of %s: no Date header", c.bucket)
	}
	return c.clock.storeTime(before, date), nil
}

func responseDate(md middleware.Metadata) time.Time {
	raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return time.Time{}
	}
	return parseDate(raw.Header)
}
