package objectstore

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

func TestContentMD5(t *testing.T) {
	data := []byte("hello")
	sum := md5.Sum(data)
	want := base64.StdEncoding.EncodeToString(sum[:])
	require.Equal(t, want, contentMD5("5d41402abc4b2a76b9719d911017c592", data), "a plain ETag is used as it is")
	require.Equal(t, "XUFAKrxLKna5cZ2REBfFkg==", contentMD5("5d41402abc4b2a76b9719d911017c592", []byte("other")),
		"not recomputed: the target compares it with what it receives")
	require.Equal(t, want, contentMD5("5d41402abc4b2a76b9719d911017c592-2", data), "a multipart ETag: the MD5 of what was read")
	require.Equal(t, want, contentMD5("", data))
}

// TestTargetRefusesBodyThatDiffersFromContentMD5 is what a buffered copy's integrity rests on:
// the target store itself refuses a body that is not what the source's ETag says.
func TestTargetRefusesBodyThatDiffersFromContentMD5(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	c := bucketClient(t, m, m.Endpoint, "objects")
	etag := "5d41402abc4b2a76b9719d911017c592" // MD5 of "hello"
	err := c.put(ctx, "k", []byte("hellO"), putHeaders(nil, contentMD5(etag, []byte("hellO"))))
	require.Error(t, err)
	require.True(t, isBadDigest(err), "%v", err)
	_, err = c.Head(ctx, "k")
	require.Error(t, err, "nothing written")
	require.NoError(t, c.put(ctx, "k", []byte("hello"), putHeaders(nil, contentMD5(etag, []byte("hello")))))
	info, err := c.Head(ctx, "k")
	require.NoError(t, err)
	require.Equal(t, etag, info.ETag)
}

// bucketClient makes bucket in m and returns a client of it that reaches m at endpoint (m's
// own, or a proxy in front of it).
func bucketClient(t *testing.T, m *stack.MinIO, endpoint, bucket string) *Client {
	t.Helper()
	require.NoError(t, m.MakeBucket(context.Background(), bucket))
	c, err := New(Options{Endpoint: endpoint, Bucket: bucket, PathStyle: true, AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	require.NoError(t, err)
	return c
}
