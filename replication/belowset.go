package replication

import (
	"fmt"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Which blobs at or before the watermark are new? The watermark record keeps only a Digest of
// them (Watermark.Below): enough to tell that the set changed, not how. A database's garbage
// collection deletes blobs below the watermark all day, and each deletion changes the set, so
// a Sync that knew only the Digest listed the whole target to look for late blobs on nearly
// every call: the cost of a second full listing, for nothing. A Sync that knows the set the
// Digest stands for looks only at blobs outside it: none, when the change was deletions. It
// knows it inside a call (the listing before) and, across calls, from a BelowCache that the
// worker keeps in memory; nothing it holds is trusted unless its Digest is the record's.

// belowSet is a set of source blobs (by blobHash) at or before a time, and its Digest.
type belowSet struct {
	time   time.Time
	digest Digest
	hashes []uint64 // sorted
}

// belowSetOf returns the set of the blobs of l at or before t, excluded ones and those skip
// names left out.
func belowSetOf(l objectstore.Listing, t time.Time, exclude []*regexp.Regexp, skip func(objectstore.Object) bool) belowSet {
	s := belowSet{time: t}
	for _, o := range l.Objects {
		if !o.LastModified.After(t) && !excluded(exclude, o.Key) && !skip(o) {
			s.digest.add(o)
			s.hashes = append(s.hashes, blobHash(o))
		}
	}
	slices.Sort(s.hashes)
	return s
}

// holds reports whether o (this version) is in the set.
func (s belowSet) holds(o objectstore.Object) bool {
	_, found := slices.BinarySearch(s.hashes, blobHash(o))
	return found
}

// BelowCache remembers, per replication, the set of source blobs that the last Sync call's
// watermark record vouched for (the set Watermark.Below digests), so that the next call,
// finding that set changed, looks only at the blobs outside it for late ones instead of
// listing the whole target. It is a hint for speed, held in the worker's memory (8 bytes a
// blob): an entry is used only when its watermark and Digest are the record's. It is safe for
// concurrent use; the zero value is ready.
type BelowCache struct {
	mu      sync.Mutex
	entries map[string]belowSet
}

// belowCacheKey names a replication's entry: the same database between the same folders.
func belowCacheKey(in SyncInput) string {
	return fmt.Sprintf("%s\x00%s\x00%s\x00%s\x00%s\x00%s", in.Database, in.From, in.To, in.SourceBucket, in.TargetBucket, in.RootPath)
}

// matching returns the set remembered under key if it is the one a record at t with below
// vouches for.
func (c *BelowCache) matching(key string, t time.Time, below *Digest) (belowSet, bool) {
	if c == nil || below == nil {
		return belowSet{}, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.entries[key]
	return s, ok && s.time.Equal(t) && s.digest == *below
}

// remember keeps s under key if it is the one a record at t with below vouches for, and
// forgets key's entry otherwise.
func (c *BelowCache) remember(key string, s belowSet, t time.Time, below *Digest) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if below == nil || !s.time.Equal(t) || s.digest != *below {
		delete(c.entries, key)
		return
	}
	if c.entries == nil {
		c.entries = map[string]belowSet{}
	}
	c.entries[key] = s
}
