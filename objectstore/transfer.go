package objectstore

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"
)

// Blobs up to bufferLimit are read whole into pooled memory before the PUT, so that the PUT
// can be retried; larger ones stream straight from GET to PUT (whole up to the multipart
// threshold, in parts above it).
const bufferLimit = 8 << 20

// partConcurrency is how many parts of one large blob move at once.
const partConcurrency = 4

// Transfer copies blobs from one store to another through the worker (there is no server-side
// copy between two stores). Integrity: when the source ETag is a plain MD5 (a single-part
// upload), the PUT carries it as Content-MD5 and the target refuses a body that differs, so
// every byte that lands is checked against what the source stored, by the target, without
// hashing here. Otherwise a buffered PUT carries the MD5 of what was read. Every streamed PUT,
// whole or a part, carries the CRC32C of what passed as a trailer (checksummedBody), which the
// target checks too. It is safe for concurrent use.
type Transfer struct {
	src, dst           *Client
	multipartThreshold int64
	partSize           int64
	buffers            sync.Pool
	puts               atomic.Int64
	bytes              atomic.Int64
}

// NewTransfer returns a Transfer from src to dst. Blobs larger than multipartThreshold are
// copied in parts of partSize.
func NewTransfer(src, dst *Client, multipartThreshold, partSize int64) *Transfer {
	return &Transfer{src: src, dst: dst, multipartThreshold: multipartThreshold, partSize: partSize,
		buffers: sync.Pool{New: func() any { return new(bytes.Buffer) }}}
}

// ErrSourceChanged is returned by Copy when the source blob was overwritten between its
// listing and the copy: the copy would carry the listing's time with another version's
// content. Like os.ErrNotExist (the blob was deleted), it means the listed version is gone.
var ErrSourceChanged = errors.New("changed since it was listed")

// Stats returns the PUT requests (objects and parts) made and the bytes written so far.
func (t *Transfer) Stats() (puts, bytes int64) { return t.puts.Load(), t.bytes.Load() }

// Copy copies obj from the source to dstKey in the target with meta as user metadata. It is
// idempotent: copying again writes the same content under the same key.
func (t *Transfer) Copy(ctx context.Context, obj Object, dstKey string, meta map[string]string) error {
	switch {
	case obj.Size > t.multipartThreshold:
		return t.copyMultipart(ctx, obj, dstKey, meta)
	case obj.Size > bufferLimit:
		return t.copyStream(ctx, obj, dstKey, meta, false)
	default:
		return t.copyBuffered(ctx, obj, dstKey, meta, false)
	}
}

// CopyNew copies obj as Copy does, but only if the target holds no blob under dstKey: its PUT
// is conditional (If-None-Match: *), so it fails with ErrPreconditionFailed and writes nothing
// if one is there, however recent. A retried PUT whose first try landed fails the same way:
// the caller asks the target when that matters. A blob above the multipart threshold is not
// copied (ErrTooLargeToCopyNew): its parts would be uploaded before the condition is checked.
func (t *Transfer) CopyNew(ctx context.Context, obj Object, dstKey string, meta map[string]string) error {
	switch {
	case obj.Size > t.multipartThreshold:
		return fmt.Errorf("objectstore: copy %s if new: %w", obj.Key, ErrTooLargeToCopyNew)
	case obj.Size > bufferLimit:
		return t.copyStream(ctx, obj, dstKey, meta, true)
	default:
		return t.copyBuffered(ctx, obj, dstKey, meta, true)
	}
}

// ErrTooLargeToCopyNew is CopyNew's refusal of a blob it would copy in parts.
var ErrTooLargeToCopyNew = errors.New("too large to copy in one conditional PUT")

// copyHeaders are the headers of a copy's PUT: meta, contentMD5 if set, and with ifNew the
// condition that the key is free.
func copyHeaders(meta map[string]string, contentMD5 string, ifNew bool) http.Header {
	h := putHeaders(meta, contentMD5)
	if ifNew {
		h.Set("If-None-Match", "*")
	}
	return h
}

// notNew turns a refused conditional PUT of dstKey into ErrPreconditionFailed.
func notNew(dstKey string, err error) error {
	if preconditionFailed(err) {
		return fmt.Errorf("objectstore: copy to %s if new: %w", dstKey, ErrPreconditionFailed)
	}
	return err
}

func (t *Transfer) copyBuffered(ctx context.Context, obj Object, dstKey string, meta map[string]string, ifNew bool) error {
	body, info, err := t.src.Get(ctx, obj.Key)
	if err != nil {
		return err
	}
	if err := checkSameVersion(obj, info); err != nil {
		body.Close()
		return err
	}
	buf, err := t.readAll(body, obj.Key, obj.Size)
	if err != nil {
		return err
	}
	defer t.buffers.Put(buf)
	// MD5 over every byte copied was the largest CPU cost of a small-blob copy; the target
	// computes it anyway (for its own ETag) and compares it with Content-MD5.
	if err := t.dst.put(ctx, dstKey, buf.Bytes(), copyHeaders(meta, contentMD5(info.ETag, buf.Bytes()), ifNew)); err != nil {
		if isBadDigest(err) {
			return fmt.Errorf("objectstore: copy %s: what was read does not match its ETag %s: %w", obj.Key, info.ETag, err)
		}
		return notNew(dstKey, err)
	}
	t.puts.Add(1)
	t.bytes.Add(int64(buf.Len()))
	return nil
}

// copyStream streams a blob too large to buffer from a GET straight into a PUT, with the
// CRC32C of what passed as a trailer and, when the source ETag is an MD5, that as Content-MD5:
// the target checks the way there and, with the MD5, the content against the source's.
func (t *Transfer) copyStream(ctx context.Context, obj Object, dstKey string, meta map[string]string, ifNew bool) error {
	err := t.fromSource(ctx, func() error {
		body, info, err := t.src.Get(ctx, obj.Key)
		if err != nil {
			return settled{err}
		}
		defer body.Close()
		if err := checkSameVersion(obj, info); err != nil {
			return err
		}
		sum, _ := etagMD5(info.ETag)
		// The body is read with ctx: if ctx ends mid-body, the read fails and the PUT with it.
		return land(ctx, "put "+dstKey, func(lctx context.Context) error {
			_, err := t.dst.direct.putStream(lctx, dstKey, nil, copyHeaders(meta, sum, ifNew), newChecksummedBody(body, info.Size))
			return err
		})
	})
	if err != nil {
		return notNew(dstKey, err)
	}
	t.puts.Add(1)
	t.bytes.Add(obj.Size)
	return nil
}

// fromSource runs send, one attempt at streaming from the source into the target, and runs it
// again after a transient failure, as the stores' other requests are retried: a stream cannot
// be sent twice, so each attempt reads the source again. A failure to open the source comes
// back from send as settled: the source's client has retried that already.
func (t *Transfer) fromSource(ctx context.Context, send func() error) error {
	err := t.dst.direct.retry(ctx, send)
	var s settled
	if errors.As(err, &s) {
		return s.err
	}
	return err
}

// settled is an error no further attempt should follow. It does not unwrap, so that retryable
// does not look inside it; fromSource returns the error within.
type settled struct{ err error }

func (s settled) Error() string { return s.err.Error() }

func (t *Transfer) copyMultipart(ctx context.Context, obj Object, dstKey string, meta map[string]string) error {
	created, err := t.dst.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String(t.dst.bucket), Key: aws.String(dstKey), Metadata: meta,
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		return fmt.Errorf("objectstore: start upload %s: %w", dstKey, normalize(err))
	}
	uploadID := created.UploadId
	abort := func() {
		// A fresh context: the upload must be aborted even when ctx was cancelled, or its
		// parts would stay in the bucket (and hold the watermark back) until a lifecycle rule.
		_, _ = t.dst.s3.AbortMultipartUpload(context.WithoutCancel(ctx), &s3.AbortMultipartUploadInput{
			Bucket: aws.String(t.dst.bucket), Key: aws.String(dstKey), UploadId: uploadID})
	}
	nparts := int((obj.Size + t.partSize - 1) / t.partSize)
	parts := make([]types.CompletedPart, nparts)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(partConcurrency)
	for i := 0; i < nparts; i++ {
		g.Go(func() error {
			var err error
			parts[i], err = t.copyPart(gctx, obj, dstKey, aws.ToString(uploadID), i)
			return err
		})
	}
	if err := g.Wait(); err != nil {
		abort()
		return err
	}
	err = land(ctx, "complete upload "+dstKey, func(lctx context.Context) error {
		_, err := t.dst.s3.CompleteMultipartUpload(lctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String(t.dst.bucket), Key: aws.String(dstKey), UploadId: uploadID,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
		return err
	})
	if err != nil {
		abort()
	}
	return err
}

// copyPart streams part i of obj from the source into the target. The part carries the CRC32C
// of what was read as a trailer, which the target checks: a multipart source's ETag is no
// checksum of the content, so only the way to the target can be checked, and CRC32C does that
// at a twentieth of MD5's CPU cost. Nothing is buffered here: a part held in memory before
// its PUT cost 16 MiB per part in flight and most of a large copy's CPU (zeroing the fresh
// buffers).
func (t *Transfer) copyPart(ctx context.Context, obj Object, dstKey, uploadID string, i int) (types.CompletedPart, error) {
	offset := int64(i) * t.partSize
	length := min(t.partSize, obj.Size-offset)
	var etag, sum string
	err := t.fromSource(ctx, func() error {
		src, err := t.src.GetRange(ctx, obj.Key, obj.ETag, offset, length)
		if errors.Is(err, ErrPreconditionFailed) {
			// The range is read only if the blob still has the listed ETag.
			err = fmt.Errorf("%w: %w", err, ErrSourceChanged)
		}
		if err != nil {
			return settled{err}
		}
		defer src.Close()
		body := newChecksummedBody(src, length)
		if etag, err = t.dst.direct.uploadPart(ctx, dstKey, uploadID, i+1, body); err != nil {
			return err
		}
		var ok bool
		if sum, ok = body.Sum(); !ok {
			return errors.New("accepted before its checksum was sent")
		}
		return nil
	})
	if err != nil {
		return types.CompletedPart{}, fmt.Errorf("objectstore: upload %s part %d: %w", dstKey, i+1, normalize(err))
	}
	t.puts.Add(1)
	t.bytes.Add(length)
	return types.CompletedPart{ETag: aws.String(etag), PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32C: aws.String(sum)}, nil
}

// readAll reads and closes body, of size bytes, into a pooled buffer; the caller puts the
// buffer back.
//
// Why the buffer is grown first: bytes.Buffer.ReadFrom needs bytes.MinRead bytes free before
// each read, so a buffer filled to exactly size doubled at the end, and one that GC took from
// the pool grew from nothing by doubling. Zeroing those new slices was half the CPU of copying
// 8 MiB pieces this way (pprof, when parts were still buffered); now a buffer is allocated at
// most once, at its final size.
func (t *Transfer) readAll(body io.ReadCloser, what string, size int64) (*bytes.Buffer, error) {
	defer body.Close()
	buf := t.buffers.Get().(*bytes.Buffer)
	buf.Reset()
	buf.Grow(int(size) + bytes.MinRead)
	if _, err := buf.ReadFrom(body); err != nil {
		t.buffers.Put(buf)
		return nil, fmt.Errorf("objectstore: read %s: %w", what, err)
	}
	return buf, nil
}

// checkSameVersion refuses to copy a blob that changed between the listing and the GET: the
// copy would carry the listing's time with another version's content.
func checkSameVersion(listed Object, got Info) error {
	if listed.ETag != "" && got.ETag != listed.ETag {
		return fmt.Errorf("objectstore: %s (ETag %s, now %s): %w", listed.Key, listed.ETag, got.ETag, ErrSourceChanged)
	}
	return nil
}

// contentMD5 returns the Content-MD5 (base64) of data, which was read from a blob with etag:
// the ETag itself when it is the content's MD5, so that the target checks data against what
// the source stored; otherwise the MD5 of data, which checks only the way to the target.
func contentMD5(etag string, data []byte) string {
	if sum, ok := etagMD5(etag); ok {
		return sum
	}
	sum := md5.Sum(data)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// etagMD5 returns a plain-MD5 ETag as a Content-MD5 value (base64), and false for any other.
func etagMD5(etag string) (string, bool) {
	plain, ok := plainMD5(etag)
	if !ok {
		return "", false
	}
	raw, _ := hex.DecodeString(plain)
	return base64.StdEncoding.EncodeToString(raw), true
}

// isBadDigest reports whether the store refused a body that did not match its Content-MD5.
func isBadDigest(err error) bool {
	var apiErr smithy.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode() == "BadDigest"
}

// plainMD5 reports whether an ETag is the MD5 of the content (single-part, unencrypted).
func plainMD5(etag string) (string, bool) {
	if len(etag) != 32 {
		return "", false
	}
	if _, err := hex.DecodeString(etag); err != nil {
		return "", false
	}
	return etag, true
}
