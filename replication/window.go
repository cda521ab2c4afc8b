package replication

import (
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Window tracks blobs in write order that are copied in parallel, and the watermark their
// completed prefix allows (DESIGN 5.2). Copies may finish in any order; the watermark moves
// only past blobs whose predecessors are all in, and never past a blob still in flight, so
// every source blob with LastModified <= Watermark() is in the target at every instant.
// At most maxAhead blobs beyond the completed prefix are started: that bounds what sealing
// has to move aside after a failure. Window is not safe for concurrent use.
type Window struct {
	items    []objectstore.Object
	done     []bool
	started  []bool
	next     int // one past the highest item started
	prefix   int // items[:prefix] are all in
	start    time.Time
	cutoff   time.Time
	maxAhead int
}

// NewWindow tracks items (in write order, all newer than start and not newer than cutoff).
func NewWindow(items []objectstore.Object, start, cutoff time.Time, maxAhead int) *Window {
	if maxAhead < 1 {
		maxAhead = 1
	}
	return &Window{items: items, done: make([]bool, len(items)), started: make([]bool, len(items)), start: start, cutoff: cutoff, maxAhead: maxAhead}
}

// Extend appends the blobs of a later listing (in write order, all newer than the current
// cutoff and not newer than cutoff) and moves the cutoff there. Appended this way the window
// tracks what a new window starting at the old cutoff would, so its watermark keeps the same
// guarantee: the blobs it reaches are exactly those of the listings it was given.
func (w *Window) Extend(items []objectstore.Object, cutoff time.Time) {
	w.items = append(w.items, items...)
	w.done = append(w.done, make([]bool, len(items))...)
	w.started = append(w.started, make([]bool, len(items))...)
	w.cutoff = later(w.cutoff, cutoff)
}

// Cutoff returns the watermark the window reaches once every blob is in.
func (w *Window) Cutoff() time.Time { return later(w.start, w.cutoff) }

// Unstarted returns how many blobs after the highest one started have not started.
func (w *Window) Unstarted() int { return len(w.items) - w.next }

// Len returns the number of blobs tracked.
func (w *Window) Len() int { return len(w.items) }

// Item returns the i-th blob in write order.
func (w *Window) Item(i int) objectstore.Object { return w.items[i] }

// CanStart reports whether blob i may start now without exceeding maxAhead.
func (w *Window) CanStart(i int) bool { return i < w.prefix+w.maxAhead }

// Start records that the copy of blob i has begun.
func (w *Window) Start(i int) {
	w.started[i] = true
	w.next = max(w.next, i+1)
}

// Ahead returns the keys of blobs started beyond the watermark (in flight or done): the only
// blobs this window can have put in a target beyond it. Sealing reads them from the record.
// They include the end of the completed prefix when it shares the LastModified of the first
// blob missing: the watermark never separates blobs written in the same instant.
func (w *Window) Ahead() []string {
	first := w.prefix
	for first > 0 && first < len(w.items) && w.items[first-1].LastModified.Equal(w.items[w.prefix].LastModified) {
		first--
	}
	var keys []string
	for i := first; i < max(w.next, w.prefix); i++ {
		if w.started[i] || w.done[i] {
			keys = append(keys, w.items[i].Key)
		}
	}
	return keys
}

// Done records that blob i is in the target.
func (w *Window) Done(i int) {
	w.done[i] = true
	for w.prefix < len(w.items) && w.done[w.prefix] {
		w.prefix++
	}
}

// Complete reports whether every blob is in.
func (w *Window) Complete() bool { return w.prefix == len(w.items) }

// Watermark returns the newest time W such that every source blob with LastModified <= W is
// in the target: the cutoff once all are in, otherwise just before the first blob missing.
func (w *Window) Watermark() time.Time {
	if w.Complete() {
		return w.Cutoff()
	}
	return later(w.start, w.items[w.prefix].LastModified.Add(-time.Nanosecond))
}

// LastKey returns the key of the last blob of the completed prefix, "" if none.
func (w *Window) LastKey() string {
	if w.prefix == 0 {
		return ""
	}
	return w.items[w.prefix-1].Key
}

// InPrefix returns how many blobs of the completed prefix there are.
func (w *Window) InPrefix() int { return w.prefix }

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
