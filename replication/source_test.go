package replication_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestRecordOfAnotherSourceIsRefused: a target whose watermark record another replication
// wrote (another region, bucket or root path) is refused by Sync and Verify instead of being
// continued from that record's watermark, which says nothing of this source's blobs.
func TestRecordOfAnotherSourceIsRefused(t *testing.T) {
	for name, in := range map[string]func(*replication.SyncInput){
		"region":    func(in *replication.SyncInput) { in.From = "dr_west" },
		"bucket":    func(in *replication.SyncInput) { in.SourceBucket = "other-bucket" },
		"root path": func(in *replication.SyncInput) { in.RootPath = "other_folder" },
		"target":    func(in *replication.SyncInput) { in.TargetBucket = "moved" },
	} {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			e, first := zombieEnv(3)
			first.SourceBucket, first.TargetBucket = "src-bucket", "dst-bucket"
			_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, first, nil)
			require.NoError(t, err)
			w, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
			require.NoError(t, err)
			require.Equal(t, &replication.Endpoint{Region: "primary", Bucket: "src-bucket", RootPath: testRoot}, w.Source)
			require.Equal(t, &replication.Endpoint{Region: "secondary", Bucket: "dst-bucket", RootPath: testRoot}, w.Target)

			other := first
			in(&other)
			_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, other, nil)
			requireRefused(t, err, replication.RefusedSource)
			_, err = replication.Verify(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, testDB,
				replication.Endpoint{Region: other.From, Bucket: other.SourceBucket, RootPath: other.RootPath},
				replication.Endpoint{Region: other.To, Bucket: other.TargetBucket, RootPath: other.RootPath}, nil, nil)
			requireRefused(t, err, replication.RefusedSource)
			after, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
			require.NoError(t, err)
			require.Equal(t, w, after, "a refused call rewrote the record")
		})
	}
}

// TestRecordWithoutEndpoints: a record written before records named their endpoints is
// accepted once, by its regions, and rewritten with them even when the watermark does not
// move; one naming other regions is refused.
func TestRecordWithoutEndpoints(t *testing.T) {
	ctx := context.Background()
	writeOld := func(e *syncEnv, from string) {
		old := map[string]any{"database": testDB, "from": from, "to": "secondary",
			"time": base.Add(time.Hour), "copiedObjects": 7, "copiedBytes": 70, "writtenAt": base}
		data, err := json.Marshal(old)
		require.NoError(t, err)
		require.NoError(t, e.dst.PutBytes(ctx, replication.WatermarkKey(testDB), data, nil))
	}
	e, in := zombieEnv(2) // every blob is before the old record's watermark: nothing to copy
	writeOld(e, "primary")
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	w, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.Equal(t, &testSource, w.Source)
	require.Equal(t, &testTarget, w.Target)
	require.Equal(t, int64(7), w.CopiedObjects)

	e, in = zombieEnv(2)
	writeOld(e, "dr_west")
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	requireRefused(t, err, replication.RefusedSource)
}
