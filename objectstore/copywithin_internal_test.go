package objectstore

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// TestCopyWithinALargeBlobInParts: a blob larger than one CopyObject takes (5 GiB on S3; a
// few MiB here, the limit lowered) is copied in parts on the server, whole, in order, with the
// source's metadata or the metadata given; the upload is completed, none is left behind.
func TestCopyWithinALargeBlobInParts(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	c := bucketClient(t, m, m.Endpoint, "objects")
	c.copyLimitForTest, c.copyPartSizeForTest = 6<<20, 5<<20
	data := workload.Content(9, 1, 12<<20+7) // three parts, the last short
	require.NoError(t, c.PutBytes(ctx, "big", data, map[string]string{"bdr-source-etag": "e1"}))

	require.NoError(t, c.CopyWithin(ctx, "big", "sealed/big", int64(len(data)), nil))
	got, err := c.GetBytes(ctx, "sealed/big")
	require.NoError(t, err)
	require.True(t, bytes.Equal(data, got), "the copy is the blob, whole and in order")
	info, err := c.Head(ctx, "sealed/big")
	require.NoError(t, err)
	require.Equal(t, "e1", info.Metadata["bdr-source-etag"], "the source's metadata is kept")
	require.Contains(t, info.ETag, "-3", "copied in three parts")

	require.NoError(t, c.CopyWithin(ctx, "big", "other/big", int64(len(data)), map[string]string{"bdr-source-etag": "e2"}))
	info, err = c.Head(ctx, "other/big")
	require.NoError(t, err)
	require.Equal(t, "e2", info.Metadata["bdr-source-etag"], "the metadata given replaces the source's")

	uploads, err := c.ListUploads(ctx, "")
	require.NoError(t, err)
	require.Empty(t, uploads.Uploads, "no upload left behind")
}
