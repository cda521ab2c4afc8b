package replication_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestUploadBegunBetweenTheListings: a multipart upload begun after the uploads listing and
// still in progress at the blob listing is in neither. Its blob completes later with the
// LastModified of its start, which must be beyond the watermark planned from those listings,
// so that the next Sync copies it: the cutoff is the uploads listing's store time.
func TestUploadBegunBetweenTheListings(t *testing.T) {
	for _, settle := range []time.Duration{0, 300 * time.Millisecond} {
		t.Run(settle.String(), func(t *testing.T) {
			ctx := context.Background()
			e := newSyncEnv(time.Millisecond, time.Millisecond)
			e.src.clockStep = time.Millisecond
			e.src.Put(testRoot+"/a", []byte("a"))
			e.clock.Advance(time.Minute)
			var once sync.Once
			var uploadID string
			e.src.afterList = func(kind string) {
				if kind != "uploads" {
					return
				}
				once.Do(func() {
					uploadID = e.src.StartUpload(testRoot+"/big", []byte("big")).UploadID
					e.clock.Advance(time.Second) // the blob listing comes a while later
				})
			}
			in := syncInput(replication.Policy{SettleWindow: settle, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
			_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			w := e.checkTarget(t, time.Time{})

			big := e.src.CompleteUpload(uploadID)
			require.True(t, big.LastModified.After(w), "the watermark %s passed an upload begun at %s that no listing showed", w, big.LastModified)
			e.clock.Advance(time.Minute)
			_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
			require.NoError(t, err)
			e.checkTarget(t, w)
			_, ok := e.dst.Get(testRoot + "/big")
			require.True(t, ok, "the upload was never copied")
		})
	}
}
