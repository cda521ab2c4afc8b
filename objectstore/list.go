package objectstore

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Listing is every blob under a prefix, in key order, with the store's clock read from the
// Date header of the first page. Any blob written after that instant has a LastModified
// after StoreTime, which is what makes "older than StoreTime - settle window" safe.
type Listing struct {
	Objects   []Object
	StoreTime time.Time
}

// List returns every blob under prefix, reading all pages.
func (c *Client) List(ctx context.Context, prefix string) (Listing, error) {
	var l Listing
	err := c.Walk(ctx, prefix, "", func(page []Object, storeTime time.Time) error {
		if l.StoreTime.IsZero() {
			l.StoreTime = storeTime
		}
		l.Objects = append(l.Objects, page...)
		return nil
	})
	return l, err
}

// Walk calls fn with each page of blobs under prefix after startAfter, in key order.
func (c *Client) Walk(ctx context.Context, prefix, startAfter string, fn func(page []Object, storeTime time.Time) error) error {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(c.bucket), Prefix: aws.String(prefix), MaxKeys: aws.Int32(1000)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	for {
		out, err := c.s3.ListObjectsV2(ctx, in)
		if err != nil {
			return fmt.Errorf("objectstore: list %s: %w", prefix, normalize(err))
		}
		page := make([]Object, 0, len(out.Contents))
		for _, o := range out.Contents {
			page = append(page, Object{Key: aws.ToString(o.Key), Size: aws.ToInt64(o.Size),
				LastModified: aws.ToTime(o.LastModified), ETag: trimETag(aws.ToString(o.ETag))})
		}
		if err := fn(page, responseDate(out.ResultMetadata)); err != nil {
			return err
		}
		if !aws.ToBool(out.IsTruncated) || out.NextContinuationToken == nil {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
		in.StartAfter = nil
	}
}

// Upload is a multipart upload in progress.
type Upload struct {
	Key       string
	UploadID  string
	Initiated time.Time
}

// Uploads returns the multipart uploads in progress under prefix. A blob uploaded that way
// appears only when completed, possibly with a LastModified in the past, so the watermark
// must not pass the earliest Initiated.
//
// The whole bucket is listed and filtered here: MinIO answers a prefix only when it is a whole
// key (a folder prefix returns nothing), while AWS S3 honours any prefix. In-progress uploads
// are few, so this costs little.
func (c *Client) Uploads(ctx context.Context, prefix string) ([]Upload, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: aws.String(c.bucket)}
	var uploads []Upload
	for {
		out, err := c.s3.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("objectstore: list uploads %s: %w", prefix, normalize(err))
		}
		for _, u := range out.Uploads {
			if !strings.HasPrefix(aws.ToString(u.Key), prefix) {
				continue
			}
			uploads = append(uploads, Upload{Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId),
				Initiated: aws.ToTime(u.Initiated)})
		}
		if !aws.ToBool(out.IsTruncated) {
			return uploads, nil
		}
		in.KeyMarker, in.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
}

// Now returns the store's clock (its Date header, one-second resolution). Eligibility is
// judged by this clock, never the worker's, so a skewed worker cannot copy an unsettled blob.
func (c *Client) Now(ctx context.Context) (time.Time, error) {
	out, err := c.s3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(c.bucket)})
	if err != nil {
		return time.Time{}, fmt.Errorf("objectstore: clock of %s: %w", c.bucket, normalize(err))
	}
	t := responseDate(out.ResultMetadata)
	if t.IsZero() {
		return time.Time{}, fmt.Errorf("objectstore: clock of %s: no Date header", c.bucket)
	}
	return t, nil
}

func responseDate(md middleware.Metadata) time.Time {
	raw, ok := awsmiddleware.GetRawResponse(md).(*smithyhttp.Response)
	if !ok {
		return time.Time{}
	}
	t, err := http.ParseTime(raw.Header.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
