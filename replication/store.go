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
	// ListUploads returns the multipart uploads in progress under prefix, with the store's
	// time when the listing began.
	ListUploads(ctx context.Context, prefix string) (objectstore.UploadListing, error)
	Head(ctx context.Context, key string) (objectstore.Info, error)
	GetBytes(ctx context.Context, key string) ([]byte, error)
	// GetBytesETag is GetBytes with the blob's ETag, for a conditional write after it.
	GetBytesETag(ctx context.Context, key string) ([]byte, string, error)
	// PutBytes and CopyWithin, once started, run until the store answers even if ctx is
	// cancelled (objectstore's landing): a write abandoned half-way could land after a newer
	// one, and move the watermark record back.
	PutBytes(ctx context.Context, key string, data []byte, meta map[string]string) error
	CopyWithin(ctx context.Context, srcKey, dstKey string, size int64, meta map[string]string) error
	// PutBytesIf is PutBytes only if the blob's ETag is still ifMatch, or with ifMatch "" only
	// if there is none; otherwise objectstore.ErrPreconditionFailed. It returns the new ETag.
	// The watermark record is written this way: the fencing token's check and the write are
	// one request, so nothing can slip in between (DESIGN 5a.4).
	PutBytesIf(ctx context.Context, key string, data []byte, meta map[string]string, ifMatch string) (string, error)
	Delete(ctx context.Context, key string) error
}

// Copier copies one source blob to a key of the target store.
type Copier interface {
	Copy(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string) error
	// CopyNew copies as Copy does only if the target holds nothing under dstKey, in one
	// conditional PUT (objectstore.ErrPreconditionFailed otherwise, nothing written). It may
	// refuse a blob it cannot copy that way (a large one): an early copy (early.go) is never
	// needed.
	CopyNew(ctx context.Context, obj objectstore.Object, dstKey string, meta map[string]string) error
}

var (
	_ Store  = (*objectstore.Client)(nil)
	_ Copier = (*objectstore.Transfer)(nil)
)
