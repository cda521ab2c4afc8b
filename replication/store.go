package replication

import (
	"context"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Store is what replication needs of one bucket.
type Store interface {
	// List and ListParallel both return every blob under prefix that existed when the listing
	// began, with the store's time then; ListParallel may send several requests at once.
	List(ctx context.Context, prefix string) (objectstore.Listing, error)
	ListParallel(ctx context.Context, prefix string) (objectstore.Listing, error)
	Uploads(ctx context.Context, prefix string) ([]objectstore.Upload, error)
	Head(ctx context.Context, key string) (objectstore.Info, error)
	GetBytes(ctx context.Context, key string) ([]byte, error)
	// PutBytes and CopyWithin, once started, run until the store answers even if ctx is
	// cancelled (objectstore's landing): a write abandoned half-way could land after a newer
	// one, and move the watermark record back.
	PutBytes(ctx context.Context, key string, data []byte, meta map[string]string) error
	CopyWithin(ctx context.Context, srcKey, dstKey string, meta map[string]string) error
	Delete(ctx context.Context, key string) error
}

// Copier copies one source blob to a key of the target store.
type Copier interface {
	Copy(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string) error
}

var (
	_ Store  = (*objectstore.Client)(nil)
	_ Copier = (*objectstore.Transfer)(nil)
)
