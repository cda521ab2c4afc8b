package objectstore

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// How ListParallel splits a listing. The layout below a database's root is not documented, so
// it reads the layout from the store instead of assuming one: it descends folder by folder
// (at most listMaxDepth levels) until a level has listMinSplit folders or more, then lists
// those folders whole, listFanout at a time.
const (
	listFanout   = 8
	listMaxDepth = 3
	listMinSplit = 4
)

// ListParallel returns every blob under prefix, as List does, with several requests at once.
//
// It lists prefix with the delimiter "/" first, descends into the folders found while they
// are few, then lists the folders of that level whole in parallel and merges everything in
// key order. StoreTime is that of the first request, which precedes all the others: a blob
// that existed then still exists when its folder is listed later, so the listing holds every
// blob that existed at StoreTime (and perhaps some written since, which is harmless). That is
// the guarantee List gives, and what makes "older than StoreTime - settle window" safe.
func (c *Client) ListParallel(ctx context.Context, prefix string) (Listing, error) {
	first, err := c.listFolder(ctx, prefix)
	if err != nil {
		return Listing{}, err
	}
	l := Listing{StoreTime: first.storeTime, Objects: first.objects, Requests: first.requests}
	level := first.folders
	for depth := 1; len(level) > 0 && len(level) < listMinSplit && depth < listMaxDepth; depth++ {
		found, err := inParallel(ctx, level, c.listFolder)
		if err != nil {
			return Listing{}, err
		}
		level = nil
		for _, f := range found {
			l.Requests += f.requests
			l.Objects = append(l.Objects, f.objects...)
			level = append(level, f.folders...)
		}
	}
	whole, err := inParallel(ctx, level, c.listAll)
	if err != nil {
		return Listing{}, err
	}
	for _, sub := range whole {
		l.Requests += sub.Requests
		l.Objects = append(l.Objects, sub.Objects...)
	}
	slices.SortFunc(l.Objects, func(a, b Object) int { return strings.Compare(a.Key, b.Key) })
	l.Resolution = resolution(time.Second, l.Objects)
	return l, nil
}

// folder is one level of a listing with the delimiter "/".
type folder struct {
	objects   []Object
	folders   []string
	storeTime time.Time // before the first request
	requests  int
}

// listFolder lists the blobs directly under prefix and the folders below it.
func (c *Client) listFolder(ctx context.Context, prefix string) (folder, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(c.bucket), Prefix: aws.String(prefix),
		Delimiter: aws.String("/"), MaxKeys: aws.Int32(1000)}
	var f folder
	err := c.pages(ctx, in, func(page []Object, prefixes []string, storeTime time.Time) error {
		f.requests++
		if f.storeTime.IsZero() {
			f.storeTime = storeTime
		}
		f.objects = append(f.objects, page...)
		f.folders = append(f.folders, prefixes...)
		return nil
	})
	return f, err
}

// listAll lists every blob under prefix, page after page.
func (c *Client) listAll(ctx context.Context, prefix string) (Listing, error) {
	return c.List(ctx, prefix)
}

// inParallel calls fn for every prefix, listFanout at a time, and returns the results in the
// order of prefixes; it stops at the first error.
func inParallel[T any](ctx context.Context, prefixes []string, fn func(context.Context, string) (T, error)) ([]T, error) {
	out := make([]T, len(prefixes))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(listFanout)
	for i, p := range prefixes {
		g.Go(func() error {
			var err error
			out[i], err = fn(ctx, p)
			return err
		})
	}
	return out, g.Wait()
}
