package objectstore_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// BenchmarkListing compares the serial listing with the parallel one on the steady-lag
// benchmark's folder after a minute of writes: 12,000 blobs, 8 writers' folders of 1,500.
//
//	go test -run '^$' -bench Listing -benchtime 20x ./objectstore/
func BenchmarkListing(b *testing.B) {
	ctx := context.Background()
	m := stack.NewMinIO(b)
	require.NoError(b, m.MakeBucket(ctx, "objects"))
	c := newClient(b, m, "objects")
	const writers, perWriter = 8, 1500
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(32)
	for w := range writers {
		for i := range perWriter {
			g.Go(func() error {
				return c.PutBytes(gctx, workload.Key("lag/0001", w, i), []byte(fmt.Sprint(w, i)), nil)
			})
		}
	}
	require.NoError(b, g.Wait())
	for _, bc := range []struct {
		name string
		list func(context.Context, string) (objectstore.Listing, error)
	}{
		{"serial", c.List},
		{"parallel", c.ListParallel},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				l, err := bc.list(ctx, "lag/")
				require.NoError(b, err)
				require.Len(b, l.Objects, writers*perWriter)
			}
		})
	}
}
