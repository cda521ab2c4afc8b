package objectstore_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// The tests run against real MinIO servers: what they check is how a real store answers.

func newClient(t testing.TB, m *stack.MinIO, bucket string) *objectstore.Client {
	t.Helper()
	c, err := objectstore.New(objectstore.Options{Endpoint: m.Endpoint, Bucket: bucket, PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey, MaxConns: 16})
	require.NoError(t, err)
	return c
}

func TestClientAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "objects"))
	c := newClient(t, m, "objects")
	require.NoError(t, c.Check(ctx))

	t.Run("errors are normalised", func(t *testing.T) {
		_, err := c.Head(ctx, "absent")
		require.ErrorIs(t, err, os.ErrNotExist)
		_, err = c.GetBytes(ctx, "absent")
		require.ErrorIs(t, err, os.ErrNotExist)
		require.NoError(t, c.Delete(ctx, "absent"), "deleting an absent blob is not an error")
		require.ErrorIs(t, newClient(t, m, "no-such-bucket").Check(ctx), objectstore.ErrNoBucket)
		bad, err := objectstore.New(objectstore.Options{Endpoint: m.Endpoint, Bucket: "objects", PathStyle: true,
			AccessKeyID: "nobody", SecretAccessKey: "wrong"})
		require.NoError(t, err)
		err = bad.Check(ctx)
		require.ErrorIs(t, err, objectstore.ErrAccessDenied)
		require.NotContains(t, err.Error(), "wrong")
		_, err = objectstore.New(objectstore.Options{Endpoint: "not a url", Bucket: "objects"})
		require.Error(t, err)
	})

	t.Run("listing reads every page, in key order, with the store's clock", func(t *testing.T) {
		for i := range 1203 {
			require.NoError(t, c.PutBytes(ctx, fmt.Sprintf("many/%05d", i), []byte{byte(i)}, nil))
		}
		require.NoError(t, c.PutBytes(ctx, "other/x", []byte("x"), nil))
		l, err := c.List(ctx, "many/")
		require.NoError(t, err)
		require.Len(t, l.Objects, 1203)
		for i, o := range l.Objects {
			require.Equal(t, fmt.Sprintf("many/%05d", i), o.Key)
		}
		require.WithinDuration(t, time.Now(), l.StoreTime, 5*time.Second)
		now, err := c.Now(ctx)
		require.NoError(t, err)
		require.WithinDuration(t, time.Now(), now, 5*time.Second)
	})

	t.Run("metadata, copy within the bucket", func(t *testing.T) {
		require.NoError(t, c.PutBytes(ctx, "meta/a", []byte("hello"), map[string]string{"bdr-source-etag": "abc"}))
		info, err := c.Head(ctx, "meta/a")
		require.NoError(t, err)
		require.Equal(t, "abc", info.Metadata["bdr-source-etag"])
		require.EqualValues(t, 5, info.Size)
		require.NoError(t, c.CopyWithin(ctx, "meta/a", "meta/b with space", 5, nil))
		got, err := c.GetBytes(ctx, "meta/b with space")
		require.NoError(t, err)
		require.Equal(t, "hello", string(got))
		info, err = c.Head(ctx, "meta/b with space")
		require.NoError(t, err)
		require.Equal(t, "abc", info.Metadata["bdr-source-etag"], "a copy keeps the metadata")
	})

	t.Run("uploads in progress are listed under a folder prefix", func(t *testing.T) {
		s3c := m.S3()
		key := "uploads/folder/slow"
		up, err := s3c.CreateMultipartUpload(ctx, createUpload("objects", key))
		require.NoError(t, err)
		uploads, err := c.ListUploads(ctx, "uploads/")
		require.NoError(t, err)
		require.Len(t, uploads.Uploads, 1)
		require.Equal(t, key, uploads.Uploads[0].Key)
		require.Equal(t, *up.UploadId, uploads.Uploads[0].UploadID)
		none, err := c.ListUploads(ctx, "elsewhere/")
		require.NoError(t, err)
		require.Empty(t, none.Uploads)
	})
}

// Where twoStores' Transfer copies in parts, and the size of each.
const threshold, part = 12 << 20, 5 << 20

// twoStores returns the buckets "src" and "dst" of two MinIO servers and a Transfer between
// them that copies blobs above threshold in parts of part bytes.
func twoStores(t *testing.T) (src, dst *objectstore.Client, tr *objectstore.Transfer) {
	t.Helper()
	ctx := context.Background()
	a, b := stack.NewMinIO(t), stack.NewMinIO(t)
	require.NoError(t, a.MakeBucket(ctx, "src"))
	require.NoError(t, b.MakeBucket(ctx, "dst"))
	src, dst = newClient(t, a, "src"), newClient(t, b, "dst")
	return src, dst, objectstore.NewTransfer(src, dst, threshold, part)
}

// TestTransferBetweenStores copies blobs of every size class (buffered, streamed, multipart)
// from one MinIO server to another and checks content, metadata and the PUT count.
func TestTransferBetweenStores(t *testing.T) {
	ctx := context.Background()
	src, dst, tr := twoStores(t)
	sizes := []int{0, 1, 64 << 10, 8<<20 + 1 /* streamed */, threshold + 1 /* 3 parts */}
	wantPuts := 0
	for i, size := range sizes {
		key := fmt.Sprintf("blob-%d", i)
		data := workload.Content(1, i, size)
		require.NoError(t, src.PutBytes(ctx, key, data, nil))
		l, err := src.List(ctx, key)
		require.NoError(t, err)
		require.Len(t, l.Objects, 1)
		require.NoError(t, tr.Copy(ctx, l.Objects[0], key, map[string]string{"bdr-source-etag": l.Objects[0].ETag}))
		got, err := dst.GetBytes(ctx, key)
		require.NoError(t, err)
		require.True(t, bytes.Equal(data, got), "blob of %d bytes differs after the copy", size)
		info, err := dst.Head(ctx, key)
		require.NoError(t, err)
		require.Equal(t, l.Objects[0].ETag, info.Metadata["bdr-source-etag"])
		if size > threshold {
			wantPuts += (size + part - 1) / part
		} else {
			wantPuts++
		}
	}
	puts, _ := tr.Stats()
	require.EqualValues(t, wantPuts, puts)
	uploads, err := dst.ListUploads(ctx, "")
	require.NoError(t, err)
	require.Empty(t, uploads.Uploads, "no multipart upload left behind")

	// A blob that changed after it was listed is refused, not copied with the wrong identity.
	require.NoError(t, src.PutBytes(ctx, "changing", []byte("v1"), nil))
	l, err := src.List(ctx, "changing")
	require.NoError(t, err)
	require.NoError(t, src.PutBytes(ctx, "changing", []byte("v2"), nil))
	err = tr.Copy(ctx, l.Objects[0], "changing", nil)
	require.ErrorContains(t, err, "changed since it was listed")

	// The same for a multipart copy: the parts are read only from the listed version.
	big := workload.Content(2, 0, threshold+1)
	require.NoError(t, src.PutBytes(ctx, "changing-big", big, nil))
	l, err = src.List(ctx, "changing-big")
	require.NoError(t, err)
	require.NoError(t, src.PutBytes(ctx, "changing-big", workload.Content(3, 0, threshold+1), nil))
	require.Error(t, tr.Copy(ctx, l.Objects[0], "changing-big", nil))
	_, err = dst.Head(ctx, "changing-big")
	require.ErrorIs(t, err, os.ErrNotExist, "nothing written for a blob that changed mid-copy")
}

// TestCopyNewAgainstMinIO checks that CopyNew writes a key only where the target holds none,
// buffered and streamed, refuses a blob it would copy in parts, and leaves the target's
// blob as it was when it refuses.
func TestCopyNewAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	src, dst, tr := twoStores(t)
	for i, size := range []int{1, 8<<20 + 1 /* streamed */} {
		key := fmt.Sprintf("blob-%d", i)
		old := workload.Content(1, i, size)
		require.NoError(t, src.PutBytes(ctx, key, workload.Content(2, i, size), nil))
		l, err := src.List(ctx, key)
		require.NoError(t, err)
		require.NoError(t, tr.CopyNew(ctx, l.Objects[0], "new/"+key, nil), "a free key is written")
		got, err := dst.GetBytes(ctx, "new/"+key)
		require.NoError(t, err)
		require.Equal(t, workload.Content(2, i, size), got)

		require.NoError(t, dst.PutBytes(ctx, "taken/"+key, old, nil))
		err = tr.CopyNew(ctx, l.Objects[0], "taken/"+key, nil)
		require.ErrorIs(t, err, objectstore.ErrPreconditionFailed, "a taken key is refused (%d bytes)", size)
		got, err = dst.GetBytes(ctx, "taken/"+key)
		require.NoError(t, err)
		require.True(t, bytes.Equal(old, got), "the target's blob is left as it was (%d bytes)", size)
	}
	require.NoError(t, src.PutBytes(ctx, "big", workload.Content(3, 0, threshold+1), nil))
	l, err := src.List(ctx, "big")
	require.NoError(t, err)
	require.ErrorIs(t, tr.CopyNew(ctx, l.Objects[0], "big", nil), objectstore.ErrTooLargeToCopyNew)
	_, err = dst.Head(ctx, "big")
	require.ErrorIs(t, err, os.ErrNotExist)
}

// TestListParallelAgainstMinIO checks that the parallel listing finds exactly what the serial
// one finds, whatever the layout: blobs at every level, folders few and many, one deeper than
// the descent goes, and a prefix that is not a folder.
func TestListParallelAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "objects"))
	c := newClient(t, m, "objects")
	keys := []string{"root/top", "root/a/one", "root/a/b/c/d/e/deep", "root/a/b/x", "root/zz", "root.sibling", "rootless"}
	for w := range 6 {
		for i := range 180 {
			keys = append(keys, fmt.Sprintf("root/a/b/w%02d/%05d", w, i))
		}
	}
	for _, k := range keys {
		require.NoError(t, c.PutBytes(ctx, k, []byte(k), nil))
	}
	for _, prefix := range []string{"root/", "root/a/", "root", "root/a/b/w03/", "absent/", ""} {
		t.Run(prefix, func(t *testing.T) {
			before := time.Now()
			want, err := c.List(ctx, prefix)
			require.NoError(t, err)
			got, err := c.ListParallel(ctx, prefix)
			require.NoError(t, err)
			require.Equal(t, want.Objects, got.Objects)
			require.False(t, got.StoreTime.Before(want.StoreTime), "the second listing began later")
			require.False(t, got.StoreTime.After(time.Now()), "the store's clock is ours here")
			require.WithinDuration(t, before, got.StoreTime, 2*time.Second)
			require.Equal(t, want.Resolution, got.Resolution)
		})
	}
}

// TestListingClockAndResolutionAgainstMinIO checks what the listing says of the store's clock
// and of its LastModified resolution. MinIO runs on this machine's clock, so the store's true
// time is time.Now(): StoreTime is never later than the instant the listing began, and once a
// few responses have been seen it is much closer to it than the Date header's whole second.
func TestListingClockAndResolutionAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "objects"))
	c := newClient(t, m, "objects")
	for i := range 40 {
		require.NoError(t, c.PutBytes(ctx, fmt.Sprintf("clock/%03d", i), []byte{byte(i)}, nil))
		time.Sleep(37 * time.Millisecond) // responses spread over more than a second
	}
	var worst time.Duration
	for range 20 {
		before := time.Now()
		l, err := c.List(ctx, "clock/")
		after := time.Now()
		require.NoError(t, err)
		require.False(t, l.StoreTime.After(after), "store time %s after the listing ended %s", l.StoreTime, after)
		worst = max(worst, before.Sub(l.StoreTime))
		require.Less(t, l.Resolution, time.Second, "MinIO lists milliseconds")
		require.Zero(t, l.Resolution%time.Millisecond, "a multiple of MinIO's millisecond")
	}
	// The estimate is behind by about the fastest response's latency; on a loaded machine
	// that can be a good part of a tenth of a second, still far finer than the Date header.
	require.Less(t, worst, 300*time.Millisecond)
	now, err := c.Now(ctx)
	require.NoError(t, err)
	require.False(t, now.After(time.Now()))
	require.WithinDuration(t, time.Now(), now, 300*time.Millisecond)
}

// TestContactAgainstMinIO: a client knows when its store last answered and when the first
// request after that failed to reach it, and the store's death lies between the two.
func TestContactAgainstMinIO(t *testing.T) {
	ctx := context.Background()
	m := stack.NewMinIO(t)
	require.NoError(t, m.MakeBucket(ctx, "objects"))
	c := newClient(t, m, "objects")
	require.Zero(t, c.Contact(), "nothing asked yet")

	// Responses spread over more than a second date the store finely (see storeClock).
	for range 30 {
		_, err := c.Head(ctx, "absent")
		require.ErrorIs(t, err, os.ErrNotExist)
		time.Sleep(37 * time.Millisecond)
	}
	alive := c.Contact()
	require.WithinDuration(t, time.Now(), alive.AnsweredAt, time.Second, "a 404 is an answer")
	require.Zero(t, alive.SilentSince)

	killed := time.Now()
	require.NoError(t, m.Kill())
	// The first attempt fails at once; the deadline ends the SDK's retries early.
	short, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err := c.GetBytes(short, "any")
	require.Error(t, err)
	dead := c.Contact()
	require.Equal(t, alive.AnsweredAt, dead.AnsweredAt)
	require.False(t, dead.SilentSince.Before(killed), "silent since %s, before the kill at %s", dead.SilentSince, killed)
	// The first failed attempt counts, not the operation that gave up after retries.
	require.Less(t, dead.SilentSince.Sub(killed), 300*time.Millisecond)

	again, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	_, err = c.GetBytes(again, "any")
	require.Error(t, err)
	require.Equal(t, dead, c.Contact(), "later failures do not move the first silence")

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	other := newClient(t, m, "objects")
	_, err = other.GetBytes(cancelled, "any")
	require.Error(t, err)
	require.Zero(t, other.Contact(), "a request whose context ended says nothing of the store")
}
