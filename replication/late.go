package replication

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
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

// add counts the late blob at key.
func (l *late) add(key string) {
	l.count++
	if len(l.keys) < maxLateKeys {
		l.keys = append(l.keys, key)
	}
}

func (l *late) merge(m late) {
	l.count += m.count
	for _, k := range m.keys {
		if len(l.keys) < maxLateKeys {
			l.keys = append(l.keys, k)
		}
	}
}

// maxLateHeads bounds the blobs a Sync asks the target about one by one (a HEAD each) when it
// knows which blobs at or before the watermark are new since it last looked; past it, one
// listing of the target (findLate) costs less.
const maxLateHeads = 64

// lookForLate returns the late blobs of the source listing l at or before t (excluded ones and
// the versions in skip left out), as findLate does, looking only at the blobs known does not
// hold when known is set (the blobs it holds were looked at before): a HEAD each, which also
// tells a copy of another version of the same size (the ETag its copy carries), or findLate
// if there are more than maxLateHeads.
func lookForLate(ctx context.Context, dst Store, prefix string, l objectstore.Listing, t time.Time,
	exclude []*regexp.Regexp, skip map[string]bool, known func(objectstore.Object) bool) (late, error) {
	if known == nil {
		return findLate(ctx, dst, prefix, l, t, exclude, skip)
	}
	var candidates []objectstore.Object
	for _, o := range l.Objects {
		if o.LastModified.After(t) || excluded(exclude, o.Key) || skip[version(o)] || known(o) {
			continue
		}
		if len(candidates) == maxLateHeads {
			return findLate(ctx, dst, prefix, l, t, exclude, skip)
		}
		candidates = append(candidates, o)
	}
	var found late
	for _, o := range candidates {
		info, err := dst.Head(ctx, o.Key)
		switch {
		case errors.Is(err, os.ErrNotExist):
		case err != nil:
			return late{}, fmt.Errorf("look for late blobs: %w", err)
		case isCopyOf(info, o):
			continue
		}
		found.add(o.Key)
	}
	return found, nil
}

// version names one version of a blob: its key and ETag. A late overwrite of a key the
// window holds is another version, not the window's.
func version(o objectstore.Object) string { return o.Key + "\x00" + o.ETag }

// findLate returns the blobs of the source listing l at or before t (excluded ones and the
// versions in skip left out) that the target lacks, or holds with another size: blobs the watermark
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
		if o.LastModified.After(t) || excluded(exclude, o.Key) || skip[version(o)] {
			continue
		}
		if size, ok := in[o.Key]; ok && size == o.Size {
			continue
		}
		found.add(o.Key)
	}
	return found, nil
}
