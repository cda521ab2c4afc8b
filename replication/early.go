package replication

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Early copies: copies started from hints (DESIGN 5a.6).
//
// A blob is eligible only once it is older than the settle window, so data waited in the
// source for the settle window before its copy even began. A hint says "this blob may be
// new": a Sync copies it at once, before it is eligible, and the watermark still moves only on
// a listing taken after the settle window, which then finds the blob already in (same size
// and source ETag) and does not copy it again. Hints come from the Sync's own listings (each
// lists the whole folder: the blobs beyond its cutoff are hints that cost nothing) and from
// SyncInput.Hints (bucket notifications). A hint lost, late or repeated changes nothing but
// speed: the listing alone decides what the watermark covers.
//
// Why the prefix holds: an early copy is a blob beyond the watermark in the target, like a
// copy of a window in flight. It is registered before it starts, and every watermark record
// written while it may be in the target lists it as Ahead, so sealing moves it aside if the
// watermark never reaches it; one that lands after the last record is younger than the record
// and sealing looks at it anyway (beyondRecord). order: strict makes no early copies: there
// the target is a prefix at every instant.
//
// Why an early copy only ever creates a key (Copier.CopyNew, If-None-Match: *): a key the
// source overwrites (a database's metadata, say) is in the target already, in its older
// version, which is the one the watermark's prefix holds. Copied early, the newer version
// would replace it; were the watermark never to reach that version, sealing would move it
// aside, and the key would be missing from what attaches. The store refuses such a copy, so
// nothing the prefix holds is ever replaced early, whatever a hint or a listing said: the
// newer version waits until it is eligible and the window copies it in order.

// earlyCopy is one copy started from a hint.
type earlyCopy struct {
	obj  objectstore.Object
	done chan struct{} // closed when the copy ended
	ok   bool          // it landed; set before done is closed
	// distrusted: the window copies another version of the key (distrustEarly), which may
	// land after this copy and replace it: whether the target holds this one is asked.
	distrusted bool
}

// maxEarlyCopies bounds the early copies a call tracks at once (those its watermark has not
// passed): what sealing may have to move aside, and the keys each watermark record lists. At
// the bench's steady load (190 blobs/s) and a 2 s settle window about 400 are tracked.
const maxEarlyCopies = 2000

// earlyLimit bounds the early copies a call tracks at once.
func (s *syncer) earlyLimit() int { return max(maxEarlyCopies, s.in.Policy.BatchMaxObjects) }

// earlyAllowed reports whether the call makes early copies.
func (s *syncer) earlyAllowed() bool { return s.in.copiesEarly() }

// copiesEarly reports whether a call with this input makes early copies: not with order:
// strict, early copies off, or a drain.
func (in SyncInput) copiesEarly() bool {
	return !in.Policy.Strict && !in.Drain && !in.Policy.NoEarlyCopies
}

// hintListed starts an early copy of every new blob of a listing beyond its cutoff: blobs it
// shows that are not eligible yet, under keys the listing before (prev) did not show, or all
// of them for a call's first listing (prev empty). A key prev showed is an overwrite: its
// copy would only be refused (see CopyNew above), after reading it from the source.
func (s *syncer) hintListed(ctx context.Context, prev, r round) {
	if !s.earlyAllowed() {
		return
	}
	for _, o := range r.listing.Objects {
		if o.LastModified.After(r.plan.Cutoff) && !excluded(s.exclude, o.Key) && !listed(prev.listing, o.Key) {
			s.startEarly(ctx, o)
		}
	}
}

// listed reports whether l (sorted by key, as listings are) shows key.
func listed(l objectstore.Listing, key string) bool {
	_, found := find(l, key)
	return found
}

// listedAs reports whether l shows o's key with o's ETag: this version.
func listedAs(l objectstore.Listing, o objectstore.Object) bool {
	i, found := find(l, o.Key)
	return found && l.Objects[i].ETag == o.ETag
}

// find returns where key is in l (sorted by key, as listings are), and whether it is there.
func find(l objectstore.Listing, key string) (int, bool) {
	return slices.BinarySearchFunc(l.Objects, key, func(o objectstore.Object, k string) int { return strings.Compare(o.Key, k) })
}

// hinted starts an early copy of the blob at key, named by a hint, if it is in the folder
// and not eligible yet. The hint's key is all it trusts: the blob's time, size and ETag come
// from a listing of the source (listedAlone).
func (s *syncer) hinted(ctx context.Context, key string) {
	if !s.earlyAllowed() || !strings.HasPrefix(key, s.prefix) || excluded(s.exclude, key) {
		return
	}
	// Before the listing: a key already copying, or one the latest listing shows (an overwrite,
	// whose copy would be refused, see hintListed), or one an earlier call copied (the record's
	// Ahead: a hint held between calls, activities.Hints, names it again), or no room.
	// startEarly checks again what may have changed since.
	s.mu.Lock()
	s.lastHint = time.Now()
	_, known := s.early[key]
	skip := known || s.carriedKeys[key] || len(s.early) >= s.earlyLimit() || listed(s.last.listing, key)
	s.mu.Unlock()
	if skip {
		return
	}
	o, ok := listedAlone(ctx, s.src, key)
	if !ok {
		return // gone, or the source did not answer: the listing decides
	}
	s.startEarly(ctx, o)
}

// listedAlone returns the blob at key as a listing shows it: one LIST request with key as the
// prefix. Not a HEAD: a HEAD's Last-Modified has whole seconds, where MinIO's listings have
// milliseconds. The watermark is a time from listings, so an early copy's time must be one
// too: taken a second early, it passed for at or before a watermark that had not reached it,
// left the records' Ahead and would have stayed in place at a seal, its copy claiming the
// earlier time (e2e TestNotifications found it).
func listedAlone(ctx context.Context, src Store, key string) (objectstore.Object, bool) {
	l, err := src.List(ctx, key)
	if err != nil {
		return objectstore.Object{}, false
	}
	i, found := find(l, key)
	if !found {
		return objectstore.Object{}, false
	}
	return l.Objects[i], true
}

// startEarly registers and starts an early copy of o, unless one of that version is known,
// the window already holds o (eligible: the window copies it), or the call tracks earlyLimit.
func (s *syncer) startEarly(ctx context.Context, o objectstore.Object) {
	s.mu.Lock()
	// While a checkpoint writes the record, a copy registered now would miss its Ahead (see
	// checkpoint): wait until it has landed.
	for s.recording && !s.stopFollowing && ctx.Err() == nil {
		s.changed.Wait()
	}
	if !s.mayCopyEarly(ctx, o) {
		s.mu.Unlock()
		return
	}
	e := &earlyCopy{obj: o, done: make(chan struct{})}
	if s.early == nil {
		s.early = map[string]*earlyCopy{}
	}
	s.early[o.Key] = e
	s.earlyWG.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.earlyWG.Done()
		defer close(e.done)
		select {
		case s.earlySlots <- struct{}{}:
			defer func() { <-s.earlySlots }()
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil || s.alive() != nil {
			return
		}
		if err := s.copier.CopyNew(ctx, o, o.Key, CopyMetadata(o.LastModified, o.ETag)); err != nil {
			return // the window copies it when it is eligible
		}
		s.mu.Lock()
		e.ok = true
		s.copied++
		s.copiedBytes += o.Size
		s.earlyCopied++
		s.mu.Unlock()
	}()
}

// mayCopyEarly reports whether o may be copied early now. s.mu is held. Never:
//   - an early copy of the key still in flight, or done for this version;
//   - a key the record lists as Ahead: an earlier call copied it (early, or in flight when it
//     ended), and the window checks the target for it when it is eligible (carriedIn);
//   - a key the target held as o when the call began (a resumed call);
//   - a key with a blob in the window not in yet (an older version): that copy could land
//     after this one and leave the older content under a key taken as in;
//   - a blob the window has (eligible), or when the call tracks earlyLimit copies or is over.
func (s *syncer) mayCopyEarly(ctx context.Context, o objectstore.Object) bool {
	if e, ok := s.early[o.Key]; ok {
		select {
		case <-e.done:
			if e.obj.ETag == o.ETag {
				return false
			}
		default:
			return false
		}
	}
	if got, ok := s.existing[o.Key]; ok && got.Size == o.Size && got.ETag == o.ETag {
		return false
	}
	return !s.carriedKeys[o.Key] && s.windowPending[o.Key] == 0 && len(s.early) < s.earlyLimit() &&
		o.LastModified.After(s.earlyFloor()) && !s.stopFollowing && ctx.Err() == nil
}

// earlyFloor is the time an early copy's blob must be beyond: the window's cutoff (the window
// copies what is at or before it), or before the window exists (firstListing) the record's
// watermark. s.mu is held.
func (s *syncer) earlyFloor() time.Time {
	if s.window == nil {
		return s.state.Time
	}
	return s.window.Cutoff()
}

// distrustEarly marks the early copies of keys that eligible (the first window) holds in
// another version: copies started before the window existed (firstListing), when nothing said
// that an older version of the key was still to be copied. That copy (a plain PUT, in order)
// may land after the early one and replace it, so the early copy is not taken as in unless
// the target holds it (earlyIn). s.mu is held.
func (s *syncer) distrustEarly(eligible []objectstore.Object) {
	for _, o := range eligible {
		if e, ok := s.early[o.Key]; ok && e.obj.ETag != o.ETag {
			e.distrusted = true
		}
	}
}

// earlyIn reports whether an early copy put obj (this version) in the target, waiting for
// one in flight to end. One that failed may have landed all the same (its answer lost): the
// target is asked then.
func (s *syncer) earlyIn(ctx context.Context, obj objectstore.Object) (bool, error) {
	s.mu.Lock()
	e, ok := s.early[obj.Key]
	s.mu.Unlock()
	if !ok {
		return false, nil
	}
	select {
	case <-e.done:
	case <-ctx.Done():
		return false, context.Cause(ctx)
	}
	if e.obj.ETag != obj.ETag || e.obj.Size != obj.Size {
		return false, nil
	}
	s.mu.Lock()
	trusted := e.ok && !e.distrusted
	s.mu.Unlock()
	if trusted {
		return true, nil
	}
	landed, err := s.targetHolds(ctx, obj)
	if landed {
		s.mu.Lock()
		s.copied++
		s.copiedBytes += obj.Size
		s.earlyCopied++
		s.mu.Unlock()
	}
	return landed, err
}

// carriedIn reports whether obj is a key the record listed as Ahead when the call began (an
// early copy or a copy in flight of an earlier call) and the target holds it as obj: then it
// is not copied again. One HEAD, for those keys only.
func (s *syncer) carriedIn(ctx context.Context, obj objectstore.Object) (bool, error) {
	if !s.carriedKeys[obj.Key] {
		return false, nil
	}
	return s.targetHolds(ctx, obj)
}

// targetHolds reports whether the target holds obj (isCopyOf). One HEAD.
func (s *syncer) targetHolds(ctx context.Context, obj objectstore.Object) (bool, error) {
	info, err := s.dst.Head(ctx, obj.Key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, err
	}
	return isCopyOf(info, obj), nil
}

// isCopyOf reports whether info, a target blob, is a copy of obj: same size, and its ETag or
// the source ETag its copy records.
func isCopyOf(info objectstore.Info, obj objectstore.Object) bool {
	return info.Size == obj.Size && (info.ETag == obj.ETag || info.Metadata[MetaSourceETag] == obj.ETag)
}

// earlyAhead returns, sorted, the keys of early copies that may be in the target beyond t,
// and forgets those that t passed: the window has them. s.mu is held.
func (s *syncer) earlyAhead(t time.Time) []string {
	var keys []string
	for k, e := range s.early {
		if e.obj.LastModified.After(t) {
			keys = append(keys, k)
			continue
		}
		select {
		case <-e.done:
			delete(s.early, k)
		default: // in flight: the window waits for it
		}
	}
	slices.Sort(keys)
	return keys
}

// consumeHints starts early copies (with copyCtx) from hints until ctx ends or the channel
// closes. Each hint costs a listing of its key before its copy can start: up to
// SyncInput.Concurrency of them run at once, so that hints do not queue behind one another
// under a steady write load (one at a time, a request's round trip bounded how many blobs a
// second started early).
func (s *syncer) consumeHints(ctx, copyCtx context.Context, hints <-chan string, wg *sync.WaitGroup) {
	defer wg.Done()
	slots := make(chan struct{}, max(1, s.in.Concurrency))
	for {
		select {
		case <-ctx.Done():
			return
		case key, ok := <-hints:
			if !ok {
				return
			}
			// A hint read is looked up if a slot is free, even if ctx ended meanwhile:
			// read, it is no longer in the channel for the next call (activities.Hints).
			select {
			case slots <- struct{}{}:
			default:
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				s.hinted(copyCtx, key)
			}()
		}
	}
}
