package replication

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Digest summarises a set of source blobs: how many, and the XOR of a hash of each one's key
// and ETag. The watermark record keeps the Digest of the source blobs at or before its
// watermark (Watermark.Below), so that the next listing can tell, at no cost but hashing what
// it lists, whether that set changed: a blob that shows up at or below the watermark after
// the watermark passed it (DESIGN 5a.6) changes it. So does a deleted or overwritten one,
// which is why a change is only a reason to look (findLate), not a late blob itself.
type Digest struct {
	Count int64  `json:"count"`
	Hash  uint64 `json:"hash"`
}

func blobHash(o objectstore.Object) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(o.Key))
	_, _ = h.Write([]byte{0})
	_, _ = h.Write([]byte(o.ETag))
	return h.Sum64()
}

func (d *Digest) add(o objectstore.Object) { d.Count++; d.Hash ^= blobHash(o) }

// remove takes out o, which d holds.
func (d *Digest) remove(o objectstore.Object) { d.Count--; d.Hash ^= blobHash(o) }

func (d Digest) plus(e Digest) Digest { return Digest{Count: d.Count + e.Count, Hash: d.Hash ^ e.Hash} }
func (d Digest) minus(e Digest) Digest {
	return Digest{Count: d.Count - e.Count, Hash: d.Hash ^ e.Hash}
}

// digestUpTo returns the Digest of the blobs of l at or before t, excluded ones left out.
func digestUpTo(l objectstore.Listing, t time.Time, exclude []*regexp.Regexp) Digest {
	var d Digest
	for _, o := range l.Objects {
		if !o.LastModified.After(t) && !excluded(exclude, o.Key) {
			d.add(o)
		}
	}
	return d
}

// maxLateKeys bounds the late keys a SyncResult lists: it goes into workflow history.
const maxLateKeys = 20

// late is what a Sync found at or before a watermark it had already passed.
type late struct {
	count int64
	keys  []string
}

func (l *late) merge(m late) {
	l.count += m.count
	for _, k := range m.keys {
		if len(l.keys) < maxLateKeys {
			l.keys = append(l.keys, k)
		}
	}
}

// findLate returns the blobs of the source listing l at or before t (excluded ones and those
// in skip left out) that the target lacks, or holds with another size: blobs the watermark
// passed before they showed. It lists the target once; it is called only when the digest of
// the blobs at or before t changed, which a deletion at the source causes too (then it finds
// none). Content is the anti-entropy pass's to compare (Verify): a blob of the right size is
// taken as in.
func findLate(ctx context.Context, dst Store, prefix string, l objectstore.Listing, t time.Time,
	exclude []*regexp.Regexp, skip map[string]bool) (late, error) {
	tl, err := dst.ListParallel(ctx, prefix)
	if err != nil {
		return late{}, fmt.Errorf("look for late blobs: %w", err)
	}
	in := make(map[string]int64, len(tl.Objects))
	for _, o := range tl.Objects {
		in[o.Key] = o.Size
	}
	var found late
	for _, o := range l.Objects {
		if o.LastModified.After(t) || excluded(exclude, o.Key) || skip[o.Key] {
			continue
		}
		if size, ok := in[o.Key]; ok && size == o.Size {
			continue
		}
		found.count++
		if len(found.keys) < maxLateKeys {
			found.keys = append(found.keys, o.Key)
		}
	}
	return found, nil
}
