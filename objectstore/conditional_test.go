package objectstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// TestConditionalPutAgainstMinIO: PutBytesIf writes only over the version it names, or only
// where there is none, as the watermark record's fencing token needs (replication.Sync).
func TestConditionalPutAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "cond"))
	c := newClient(t, m, "cond")

	first, err := c.PutBytesIf(ctx, "rec", []byte("one"), nil, "")
	require.NoError(t, err)
	require.NotEmpty(t, first)
	_, err = c.PutBytesIf(ctx, "rec", []byte("again"), nil, "")
	require.ErrorIs(t, err, objectstore.ErrPreconditionFailed, "If-None-Match over an existing blob")

	data, etag, err := c.GetBytesETag(ctx, "rec")
	require.NoError(t, err)
	require.Equal(t, "one", string(data))
	require.Equal(t, first, etag)

	second, err := c.PutBytesIf(ctx, "rec", []byte("two"), nil, first)
	require.NoError(t, err)
	_, err = c.PutBytesIf(ctx, "rec", []byte("stale"), nil, first)
	require.ErrorIs(t, err, objectstore.ErrPreconditionFailed, "If-Match with a stale ETag")
	data, etag, err = c.GetBytesETag(ctx, "rec")
	require.NoError(t, err)
	require.Equal(t, "two", string(data))
	require.Equal(t, second, etag)
}

// TestListUploadsStoreTimeAgainstMinIO: the uploads listing carries the store's time before
// its first request: not after the upload it lists began, and not after the store's clock
// once it has answered.
func TestListUploadsStoreTimeAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "ups"))
	c := newClient(t, m, "ups")
	up, err := m.S3().CreateMultipartUpload(ctx, createUpload("ups", "db/folder/big"))
	require.NoError(t, err)
	l, err := c.ListUploads(ctx, "db/")
	require.NoError(t, err)
	require.Len(t, l.Uploads, 1)
	require.Equal(t, *up.UploadId, l.Uploads[0].UploadID)
	require.False(t, l.StoreTime.IsZero())
	require.False(t, l.StoreTime.Before(l.Uploads[0].Initiated.Truncate(time.Second)), "listed at %s, upload began %s", l.StoreTime, l.Uploads[0].Initiated)
	now, err := c.Now(ctx)
	require.NoError(t, err)
	require.False(t, l.StoreTime.After(now.Add(time.Second)), "listed at %s, store clock after it %s", l.StoreTime, now)
}

// TestCheckConditionalWritesAgainstMinIO: MinIO passes the probe and the probe leaves nothing.
func TestCheckConditionalWritesAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "cond"))
	c := newClient(t, m, "cond")
	require.NoError(t, c.CheckConditionalWrites(ctx, ".bdr/probe"))
	l, err := c.List(ctx, "")
	require.NoError(t, err)
	require.Empty(t, l.Objects, "the probe deletes its blob")
}
