package objectstore

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// S3 copies at most 5 GiB in one CopyObject; a larger blob is copied in parts of up to 5 GiB
// each with UploadPartCopy. The part size is the larger of 512 MiB and what keeps a copy
// within S3's 10,000 parts.
const (
	maxCopyObject     = 5 << 30
	copyPartSize      = 512 << 20
	maxUploadParts    = 10000
	copyPartsInFlight = 4
)

// CopyWithin copies a blob of size bytes to another key of the same bucket on the server,
// without moving its bytes through us: one CopyObject, or a multipart copy when the blob is
// larger than a CopyObject takes (sealing a 6 GiB blob aside must not fail). With meta nil
// the source's metadata is kept; otherwise replaced.
func (c *Client) CopyWithin(ctx context.Context, srcKey, dstKey string, size int64, meta map[string]string) error {
	if size > c.copyLimit() {
		return c.copyWithinInParts(ctx, srcKey, dstKey, size, meta)
	}
	in := &s3.CopyObjectInput{
		Bucket: aws.String(c.bucket), Key: aws.String(dstKey),
		CopySource: aws.String(c.copySource(srcKey)),
	}
	if meta != nil {
		in.Metadata = meta
		in.MetadataDirective = "REPLACE"
	}
	return land(ctx, fmt.Sprintf("copy %s to %s", srcKey, dstKey), func(lctx context.Context) error {
		_, err := c.s3.CopyObject(lctx, in)
		return err
	})
}

func (c *Client) copySource(key string) string { return c.bucket + "/" + escapeCopySource(key) }

// copyLimit is the largest blob copied with one CopyObject (tests lower it).
func (c *Client) copyLimit() int64 {
	if c.copyLimitForTest > 0 {
		return c.copyLimitForTest
	}
	return maxCopyObject
}

// copyWithinInParts is CopyWithin for a blob too large for one CopyObject. A multipart copy
// does not carry the source's metadata over, so with meta nil it is read first.
func (c *Client) copyWithinInParts(ctx context.Context, srcKey, dstKey string, size int64, meta map[string]string) error {
	if meta == nil {
		info, err := c.Head(ctx, srcKey)
		if err != nil {
			return err
		}
		meta = info.Metadata
	}
	created, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(c.bucket), Key: aws.String(dstKey), Metadata: meta})
	if err != nil {
		return fmt.Errorf("objectstore: start copy %s to %s: %w", srcKey, dstKey, normalize(err))
	}
	uploadID := created.UploadId
	abort := func() {
		// A fresh context: an upload left behind would hold a replication's watermark back.
		_, _ = c.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(c.bucket), Key: aws.String(dstKey), UploadId: uploadID})
	}
	partSize := max(c.partSizeFor(size), (size+maxUploadParts-1)/maxUploadParts)
	parts := make([]types.CompletedPart, (size+partSize-1)/partSize)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(copyPartsInFlight)
	for i := range parts {
		g.Go(func() error {
			first := int64(i) * partSize
			last := min(first+partSize, size) - 1
			out, err := c.s3.UploadPartCopy(gctx, &s3.UploadPartCopyInput{
				Bucket: aws.String(c.bucket), Key: aws.String(dstKey), UploadId: uploadID,
				PartNumber: aws.Int32(int32(i + 1)), CopySource: aws.String(c.copySource(srcKey)),
				CopySourceRange: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))})
			if err != nil {
				return fmt.Errorf("objectstore: copy part %d of %s to %s: %w", i+1, srcKey, dstKey, normalize(err))
			}
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.CopyPartResult.ETag}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		abort()
		return err
	}
	err = land(ctx, fmt.Sprintf("complete copy %s to %s", srcKey, dstKey), func(lctx context.Context) error {
		_, err := c.s3.CompleteMultipartUpload(lctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(c.bucket), Key: aws.String(dstKey), UploadId: uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	})
	if err != nil {
		abort()
	}
	return err
}

// partSizeFor is the part size of a multipart copy (tests lower it; S3 takes parts of at least
// 5 MiB but the last).
func (c *Client) partSizeFor(int64) int64 {
	if c.copyPartSizeForTest > 0 {
		return c.copyPartSizeForTest
	}
	return copyPartSize
}
