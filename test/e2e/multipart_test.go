package e2e

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestSlowMultipartHoldsWatermark: a multipart upload that began before faster single PUTs is
// not passed over. While it is in progress the watermark stays before its start and the later
// blobs wait; once it completes, it and they are copied and the watermark passes them all.
func TestSlowMultipartHoldsWatermark(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, nil)
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	c := s.MinIO["primary"].S3()
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	put := func(key string, data []byte) {
		if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
			t.Fatal(err)
		}
	}
	put(rootPath+"/0001/early", []byte("written before the slow upload"))
	waitFor(t, time.Minute, "the early blob to replicate", func() (bool, error) {
		_, err := dst.Head(ctx, rootPath+"/0001/early")
		return err == nil, err
	})

	slowKey := rootPath + "/0001/slow-multipart"
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(slowKey)})
	if err != nil {
		t.Fatal(err)
	}
	part1 := workload.Content(99, 1, 5<<20)
	p1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(slowKey), UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(part1)})
	if err != nil {
		t.Fatal(err)
	}
	listed, err := src.ListUploads(ctx, rootPath+"/")
	uploads := listed.Uploads
	if err != nil || len(uploads) != 1 {
		t.Fatalf("uploads in progress: %v, %v", uploads, err)
	}
	started := uploads[0].Initiated
	time.Sleep(1100 * time.Millisecond) // the fast blobs are written in a later second
	for i := range 5 {
		put(fmt.Sprintf("%s/0001/fast-%d", rootPath, i), []byte(fmt.Sprintf("fast %d", i)))
	}
	// Several polls, well past the settle window: the fast blobs are settled but must wait.
	time.Sleep(4 * time.Second)
	w, err := readWatermark(ctx, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !w.Time.Before(started) {
		t.Errorf("watermark %s passed the start %s of an upload in progress", w.Time, started)
	}
	for i := range 5 {
		if _, err := dst.Head(ctx, fmt.Sprintf("%s/0001/fast-%d", rootPath, i)); err == nil {
			t.Errorf("fast-%d was copied while an earlier upload was in progress", i)
		}
	}
	st, err := queryStatus(ctx, tc, run.GetID())
	if err != nil || st.HeldBy == "" {
		t.Errorf("status should name the upload holding replication back: %+v, %v", st.HeldBy, err)
	}

	part2 := workload.Content(99, 2, 1<<20)
	p2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String(bucket), Key: aws.String(slowKey), UploadId: up.UploadId,
		PartNumber: aws.Int32(2), Body: bytes.NewReader(part2)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(slowKey),
		UploadId: up.UploadId, MultipartUpload: &s3types.CompletedMultipartUpload{Parts: []s3types.CompletedPart{
			{ETag: p1.ETag, PartNumber: aws.Int32(1)}, {ETag: p2.ETag, PartNumber: aws.Int32(2)}}}}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "the slow blob and the fast ones to replicate", func() (bool, error) {
		w, err := readWatermark(ctx, dst)
		if err != nil {
			return false, err
		}
		// MinIO dates a completed multipart blob at completion, AWS at initiation: wait for
		// the watermark to pass both the slow blob and the fast ones, whichever is later. The
		// times come from a listing: HEAD's Last-Modified is an HTTP date (whole seconds), and
		// the watermark moves by milliseconds where the listing shows them.
		l, err := src.List(ctx, rootPath+"/0001/")
		if err != nil {
			return false, err
		}
		listed := map[string]time.Time{}
		for _, o := range l.Objects {
			listed[o.Key] = o.LastModified
		}
		fast, slow := listed[rootPath+"/0001/fast-4"], listed[slowKey]
		if fast.IsZero() || slow.IsZero() {
			return false, fmt.Errorf("fast-4 or the slow blob is not listed in the source")
		}
		return !w.Time.Before(fast) && !w.Time.Before(slow), nil
	})
	got, err := dst.GetBytes(ctx, slowKey)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, append(part1, part2...)) {
		t.Errorf("the slow blob's copy differs from what was uploaded (%d bytes)", len(got))
	}
	w, _ = readWatermark(ctx, dst)
	if _, err := checkPrefix(ctx, src, dst, w.Time); err != nil {
		t.Fatal(err)
	}
}
