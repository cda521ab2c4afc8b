package replication_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"pgregory.net/rapid"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// genWindowItems draws blobs in write order, all after start, several sometimes sharing a
// LastModified, and a cutoff not before the last of them.
func genWindowItems(t *rapid.T) (items []objectstore.Object, start, cutoff time.Time) {
	res := rapid.SampledFrom([]time.Duration{time.Millisecond, time.Second}).Draw(t, "resolution")
	start = base.Truncate(res).Add(-time.Nanosecond)
	if rapid.Bool().Draw(t, "zeroStart") {
		start = time.Time{}
	}
	lm := base.Truncate(res)
	for i := range rapid.IntRange(0, 25).Draw(t, "n") {
		lm = lm.Add(time.Duration(rapid.SampledFrom([]int64{0, 0, 1, 999, 1000, 3000}).Draw(t, "gapMs")) * time.Millisecond).Truncate(res)
		items = append(items, objectstore.Object{Key: fmt.Sprintf("db/%03d", i), Size: 1, LastModified: lm})
	}
	cutoff = lm // NewWindow's items are not newer than the cutoff
	if ms := rapid.Int64Range(0, 2000).Draw(t, "cutoffMs"); ms > 0 {
		cutoff = lm.Add(time.Duration(ms)*time.Millisecond - time.Nanosecond)
	}
	return items, start, cutoff
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// checkWindow checks the window's watermark against which items are done.
func checkWindow(t *rapid.T, w *replication.Window, items []objectstore.Object, done []bool, start, cutoff time.Time) time.Time {
	wm := w.Watermark()
	prefix := 0
	for prefix < len(items) && done[prefix] {
		prefix++
	}
	if w.InPrefix() != prefix {
		t.Fatalf("InPrefix %d, want %d", w.InPrefix(), prefix)
	}
	if w.Complete() != (prefix == len(items)) {
		t.Fatalf("Complete %v with %d of %d in the prefix", w.Complete(), prefix, len(items))
	}
	for i, it := range items {
		if !it.LastModified.After(wm) && !done[i] {
			t.Fatalf("item %d (%s) at or before watermark %s is not done", i, it.LastModified, wm)
		}
	}
	if wm.Before(start) {
		t.Fatalf("watermark %s before start %s", wm, start)
	}
	// The watermark is the newest such time: the cutoff once all are in, else just before
	// the first item missing.
	want := later(start, cutoff)
	if prefix < len(items) {
		want = later(start, items[prefix].LastModified.Add(-time.Nanosecond))
	}
	if !wm.Equal(want) {
		t.Fatalf("watermark %s, want %s", wm, want)
	}
	wantKey := ""
	if prefix > 0 {
		wantKey = items[prefix-1].Key
	}
	if w.LastKey() != wantKey {
		t.Fatalf("LastKey %q, want %q", w.LastKey(), wantKey)
	}
	return wm
}

// TestWindowProperties drives a window as Sync does: items start in order when CanStart lets
// them, and the started ones finish in any order.
func TestWindowProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		items, start, cutoff := genWindowItems(t)
		maxAhead := rapid.IntRange(-1, 6).Draw(t, "maxAhead")
		w := replication.NewWindow(items, start, cutoff, maxAhead)
		if maxAhead < 1 {
			maxAhead = 1
		}
		if w.Len() != len(items) {
			t.Fatalf("Len %d, want %d", w.Len(), len(items))
		}
		done := make([]bool, len(items))
		var inflight []int
		next := 0
		wm := checkWindow(t, w, items, done, start, cutoff)
		for !w.Complete() {
			if next < len(items) && w.CanStart(next) && (len(inflight) == 0 || rapid.Bool().Draw(t, "start")) {
				w.Start(next)
				inflight = append(inflight, next)
				next++
			} else {
				if len(inflight) == 0 {
					t.Fatalf("stuck: item %d cannot start with nothing in flight (prefix %d)", next, w.InPrefix())
				}
				k := rapid.IntRange(0, len(inflight)-1).Draw(t, "finish")
				i := inflight[k]
				inflight = append(inflight[:k], inflight[k+1:]...)
				w.Done(i)
				done[i] = true
			}
			// Never more than maxAhead started beyond the completed prefix.
			if next-w.InPrefix() > maxAhead {
				t.Fatalf("%d started beyond the prefix of %d, max %d", next-w.InPrefix(), w.InPrefix(), maxAhead)
			}
			if next < len(items) && w.CanStart(next) != (next < w.InPrefix()+maxAhead) {
				t.Fatalf("CanStart(%d) = %v with prefix %d and maxAhead %d", next, w.CanStart(next), w.InPrefix(), maxAhead)
			}
			got := checkWindow(t, w, items, done, start, cutoff)
			if got.Before(wm) {
				t.Fatalf("watermark moved back from %s to %s", wm, got)
			}
			wm = got
			checkAhead(t, w, items[:next], wm)
		}
		if !wm.Equal(later(start, cutoff)) {
			t.Fatalf("watermark %s after all done, want max(start, cutoff) = %s", wm, later(start, cutoff))
		}
	})
}

// TestWindowAnyOrder completes the items in any order, ignoring CanStart.
func TestWindowAnyOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		items, start, cutoff := genWindowItems(t)
		w := replication.NewWindow(items, start, cutoff, rapid.IntRange(1, 4).Draw(t, "maxAhead"))
		order := make([]int, len(items))
		for i := range order {
			order[i] = i
		}
		order = rapid.Permutation(order).Draw(t, "order")
		done := make([]bool, len(items))
		wm := checkWindow(t, w, items, done, start, cutoff)
		for _, i := range order {
			w.Done(i)
			done[i] = true
			got := checkWindow(t, w, items, done, start, cutoff)
			if got.Before(wm) {
				t.Fatalf("watermark moved back from %s to %s", wm, got)
			}
			wm = got
		}
		if !w.Complete() || !wm.Equal(later(start, cutoff)) {
			t.Fatalf("after all done: complete %v, watermark %s, want %s", w.Complete(), wm, later(start, cutoff))
		}
	})
}

func TestWindowSameTimeNotSeparated(t *testing.T) {
	lm := at("2025-03-14T15:09:26Z")
	items := []objectstore.Object{{Key: "a", LastModified: lm}, {Key: "b", LastModified: lm}, {Key: "c", LastModified: lm.Add(time.Second)}}
	start := lm.Add(-time.Second)
	w := replication.NewWindow(items, start, lm.Add(5*time.Second), 0)
	assert.True(t, w.CanStart(0))
	assert.False(t, w.CanStart(1), "maxAhead below 1 means 1")
	w.Done(0)
	// a is in but b, written in the same instant, is not: the watermark stays before both.
	assert.Equal(t, lm.Add(-time.Nanosecond), w.Watermark())
	assert.Equal(t, "a", w.LastKey())
	w.Done(1)
	assert.Equal(t, lm.Add(time.Second-time.Nanosecond), w.Watermark())
	w.Done(2)
	assert.Equal(t, lm.Add(5*time.Second), w.Watermark())

	empty := replication.NewWindow(nil, start, start.Add(-time.Hour), 3)
	assert.True(t, empty.Complete())
	assert.Equal(t, start, empty.Watermark(), "the watermark never moves back to an older cutoff")
	assert.Equal(t, "", empty.LastKey())
}

// TestWindowExtend drives a window that a later listing extends at a random moment (as Sync
// does while following): before, it is a window over the first listing's blobs up to its
// cutoff; after, the watermark and Ahead are exactly those of one window over all the blobs.
func TestWindowExtend(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		items, start, cutoff := genWindowItems(t)
		// A listing's cutoff never separates blobs written in the same instant.
		var splits []int
		for k := 0; k <= len(items); k++ {
			if k == 0 || k == len(items) || items[k-1].LastModified.Before(items[k].LastModified) {
				splits = append(splits, k)
			}
		}
		k := rapid.SampledFrom(splits).Draw(t, "split")
		mid := cutoff
		if k < len(items) {
			mid = items[k].LastModified.Add(-time.Nanosecond)
		}
		maxAhead := rapid.IntRange(1, 6).Draw(t, "maxAhead")
		w := replication.NewWindow(slices.Clone(items[:k]), start, mid, maxAhead)
		n, cut := k, mid // what the window tracks so far
		extended := false
		done := make([]bool, len(items))
		var inflight []int
		next := 0
		wm := checkWindow(t, w, items[:n], done[:n], start, cut)
		if !w.Cutoff().Equal(later(start, cut)) {
			t.Fatalf("Cutoff %s, want %s", w.Cutoff(), later(start, cut))
		}
		for !extended || !w.Complete() {
			switch {
			case !extended && (w.Complete() || rapid.Bool().Draw(t, "extend")):
				w.Extend(slices.Clone(items[k:]), cutoff)
				n, cut, extended = len(items), cutoff, true
			case next < n && w.CanStart(next) && (len(inflight) == 0 || rapid.Bool().Draw(t, "start")):
				w.Start(next)
				inflight = append(inflight, next)
				next++
			default:
				if len(inflight) == 0 {
					t.Fatalf("stuck: item %d of %d cannot start with nothing in flight (prefix %d)", next, n, w.InPrefix())
				}
				j := rapid.IntRange(0, len(inflight)-1).Draw(t, "finish")
				i := inflight[j]
				inflight = append(inflight[:j], inflight[j+1:]...)
				w.Done(i)
				done[i] = true
			}
			if w.Len() != n || w.Unstarted() != n-next {
				t.Fatalf("Len %d, Unstarted %d; want %d, %d", w.Len(), w.Unstarted(), n, n-next)
			}
			if next-w.InPrefix() > maxAhead {
				t.Fatalf("%d started beyond the prefix of %d, max %d", next-w.InPrefix(), w.InPrefix(), maxAhead)
			}
			got := checkWindow(t, w, items[:n], done[:n], start, cut)
			if got.Before(wm) {
				t.Fatalf("watermark moved back from %s to %s", wm, got)
			}
			wm = got
			checkAhead(t, w, items[:next], wm)
		}
		if !wm.Equal(later(start, cutoff)) || !w.Cutoff().Equal(wm) {
			t.Fatalf("watermark %s, Cutoff %s after all done, want %s", wm, w.Cutoff(), later(start, cutoff))
		}
	})
}

// checkAhead: Ahead lists exactly the blobs started beyond the watermark wm: all a target
// can hold beyond it, which is what sealing moves aside.
func checkAhead(t fatalf, w *replication.Window, started []objectstore.Object, wm time.Time) {
	t.Helper()
	var ahead []string
	for _, o := range started {
		if o.LastModified.After(wm) {
			ahead = append(ahead, o.Key)
		}
	}
	if got := w.Ahead(); !slices.Equal(got, ahead) {
		t.Fatalf("Ahead %v, want %v (watermark %s)", got, ahead, wm)
	}
}
