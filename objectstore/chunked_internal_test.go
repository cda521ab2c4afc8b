package objectstore

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

func crc32c(data []byte) string { return crc32cString(crc32.Checksum(data, castagnoli)) }

// decodeChunked parses an aws-chunked body with trailers, as a store does, and returns the
// data and the trailers.
func decodeChunked(t *testing.T, encoded []byte) (data []byte, trailers map[string]string) {
	t.Helper()
	r := bufio.NewReader(bytes.NewReader(encoded))
	line := func() string {
		s, err := r.ReadString('\n')
		require.NoError(t, err)
		require.True(t, strings.HasSuffix(s, "\r\n"), "line %q ends with CRLF", s)
		return strings.TrimSuffix(s, "\r\n")
	}
	for {
		size, err := strconv.ParseInt(line(), 16, 64)
		require.NoError(t, err)
		if size == 0 {
			break
		}
		require.LessOrEqual(t, size, int64(chunkLength))
		chunk := make([]byte, size)
		_, err = io.ReadFull(r, chunk)
		require.NoError(t, err)
		data = append(data, chunk...)
		require.Equal(t, "", line(), "a chunk's data ends with CRLF")
	}
	trailers = map[string]string{}
	for l := line(); l != ""; l = line() {
		name, value, ok := strings.Cut(l, ":")
		require.True(t, ok, "trailer %q", l)
		trailers[name] = value
	}
	_, err := r.ReadByte()
	require.ErrorIs(t, err, io.EOF, "nothing after the final CRLF")
	return data, trailers
}

func TestChecksummedBody(t *testing.T) {
	for _, n := range []int{0, 1, chunkLength - 1, chunkLength, chunkLength + 1, 3*chunkLength + 17} {
		data := workload.Content(7, n, n)
		body := newChecksummedBody(bytes.NewReader(data), int64(n))
		encoded, err := io.ReadAll(body)
		require.NoError(t, err)
		require.EqualValues(t, encodedLength(int64(n)), len(encoded), "Content-Length of %d bytes", n)
		got, trailers := decodeChunked(t, encoded)
		require.True(t, bytes.Equal(data, got), "%d bytes come out as they went in", n)
		require.Equal(t, map[string]string{trailerCRC32C: crc32c(data)}, trailers)
		sum, ok := body.Sum()
		require.True(t, ok)
		require.Equal(t, crc32c(data), sum)
	}
	// A source that ends early makes the body fail, never a shorter body that looks whole.
	body := newChecksummedBody(bytes.NewReader(make([]byte, 10)), 20)
	_, err := io.ReadAll(body)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	_, ok := body.Sum()
	require.False(t, ok, "no checksum for a body cut short")
}

// TestTargetChecksStreamedParts is what a multipart copy's integrity rests on: the target
// refuses a streamed part whose trailer does not match what arrived, and keeps one that does.
func TestTargetChecksStreamedParts(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	c := bucketClient(t, m, m.Endpoint, "objects")
	created, err := c.s3.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("objects"),
		Key: aws.String("big"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	require.NoError(t, err)
	id := aws.ToString(created.UploadId)
	part1, part2 := workload.Content(8, 1, 5<<20), workload.Content(8, 2, 3*chunkLength+5)

	corrupt := newChecksummedBody(bytes.NewReader(part1), int64(len(part1)))
	corrupt.crc.Write([]byte("changed on the way")) // the trailer no longer matches the data
	_, err = c.direct.uploadPart(ctx, "big", id, 1, corrupt)
	require.Error(t, err, "a part whose trailer does not match is refused")
	var ae *apiError
	require.True(t, errors.As(err, &ae), "%v", err)
	require.Contains(t, []string{"XAmzContentChecksumMismatch", "BadDigest"}, ae.code, "%v", err)

	var parts []types.CompletedPart
	for i, data := range [][]byte{part1, part2} {
		body := newChecksummedBody(bytes.NewReader(data), int64(len(data)))
		etag, err := c.direct.uploadPart(ctx, "big", id, i+1, body)
		require.NoError(t, err)
		sum, ok := body.Sum()
		require.True(t, ok)
		require.Equal(t, crc32c(data), sum)
		parts = append(parts, types.CompletedPart{ETag: aws.String(etag), PartNumber: aws.Int32(int32(i + 1)), ChecksumCRC32C: aws.String(sum)})
	}
	_, err = c.s3.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("objects"),
		Key: aws.String("big"), UploadId: aws.String(id), MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}})
	require.NoError(t, err)
	got, err := c.GetBytes(ctx, "big")
	require.NoError(t, err)
	require.True(t, bytes.Equal(append(append([]byte{}, part1...), part2...), got), "the parts as sent, in order")
}

// TestFailedStreamIsSentAgainFromTheSource: a streamed PUT cannot be replayed, so a PUT (a part
// of a multipart copy, or a whole streamed blob) that failed is read from the source again and
// sent again, and the copy is whole.
func TestFailedStreamIsSentAgainFromTheSource(t *testing.T) {
	ctx := context.Background()
	a, b := stack.NewMinIO(t), stack.NewMinIO(t)
	// In front of the target: the first PUT of part 2, and of the blob "streamed", fail.
	var part2, streamed atomic.Int32
	first := func(n *atomic.Int32) bool { return n.Add(1) == 1 }
	srv := busyProxy(t, b, func(r *http.Request) bool {
		return r.Method == http.MethodPut && ((r.URL.Query().Get("partNumber") == "2" && first(&part2)) ||
			(strings.HasSuffix(r.URL.Path, "/streamed") && first(&streamed)))
	})
	src, dst := bucketClient(t, a, a.Endpoint, "src"), bucketClient(t, b, srv.URL, "dst")
	// Above 16 MiB in parts of 5 MiB; between bufferLimit and 16 MiB streamed whole.
	tr := NewTransfer(src, dst, 16<<20, 5<<20)
	for key, size := range map[string]int{"parts": 18 << 20, "streamed": bufferLimit + 1} {
		data := workload.Content(9, size, size)
		require.NoError(t, src.PutBytes(ctx, key, data, nil))
		l, err := src.List(ctx, key)
		require.NoError(t, err)
		require.NoError(t, tr.Copy(ctx, l.Objects[0], key, nil), key)
		got, err := dst.GetBytes(ctx, key)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "the copy of %s is whole", key)
	}
	require.Equal(t, int32(2), part2.Load(), "part 2 was sent twice")
	require.Equal(t, int32(2), streamed.Load(), "the streamed blob was sent twice")
	puts, _ := tr.Stats()
	require.EqualValues(t, 4+1, puts, "four parts and one blob landed")
}

// TestSourceFailureIsRetriedOnce: a source that keeps failing is retried by its own client,
// and the copy does not try it again on top (attempts would multiply).
func TestSourceFailureIsRetriedOnce(t *testing.T) {
	ctx := context.Background()
	a, b := stack.NewMinIO(t), stack.NewMinIO(t)
	var gets atomic.Int32
	srv := busyProxy(t, a, func(r *http.Request) bool {
		if r.Method != http.MethodGet || !strings.HasSuffix(r.URL.Path, "/streamed") {
			return false
		}
		gets.Add(1)
		return true
	})
	src, dst := bucketClient(t, a, srv.URL, "src"), bucketClient(t, b, b.Endpoint, "dst")
	src.direct.maxAttempts, dst.direct.maxAttempts = 2, 2
	require.NoError(t, src.PutBytes(ctx, "streamed", make([]byte, bufferLimit+1), nil))
	l, err := src.List(ctx, "streamed")
	require.NoError(t, err)
	err = NewTransfer(src, dst, 16<<20, 5<<20).Copy(ctx, l.Objects[0], "streamed", nil)
	require.Error(t, err)
	require.Equal(t, int32(2), gets.Load(), "the source's own two attempts, no more: %v", err)
}

// busyProxy is a proxy in front of m that answers 503 SlowDown, as a busy store does, to the
// requests busy picks (after reading a little of their body), and passes the others on.
func busyProxy(t *testing.T, m *stack.MinIO, busy func(*http.Request) bool) *httptest.Server {
	t.Helper()
	target, err := url.Parse(m.Endpoint)
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if busy(r) {
			_, _ = io.CopyN(io.Discard, r.Body, 1<<20)
			s3Error(503, "SlowDown")(w)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
