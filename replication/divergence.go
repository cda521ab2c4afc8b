package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Divergence (DESIGN 5.5): after an unplanned failover from region A to region B, A's folder
// may hold blobs B never received (a batch in flight, and whatever A's database wrote while
// it was cut off). When A answers again, its whole folder is rebuilt in B as a recovered
// branch (blobs B holds are server-side copies inside B, only the tail crosses regions), and
// what B's folder does not hold is moved aside in A, so that A's folder becomes a prefix of
// B's history and can be B's replica.

// DivergedPrefix is where a returning region's blobs that the new primary does not hold are
// moved aside, never deleted.
func DivergedPrefix(db, id string) string { return StateRoot + "/" + db + "/diverged/" + id + "/" }

// RecoveredPrefix is where the new primary's bucket records its recovered branches.
func RecoveredPrefix(db string) string { return StateRoot + "/" + db + "/recovered/" }

// RecoveredKey is where the new primary's bucket records recovered branch id.
func RecoveredKey(db, id string) string { return RecoveredPrefix(db) + id + ".json" }

// WriteRecovered records a recovered branch's report (an opaque JSON object).
func WriteRecovered(ctx context.Context, s Store, db, id string, report any) error {
	if err := writeJSON(ctx, s, RecoveredKey(db, id), report); err != nil {
		return fmt.Errorf("record recovered branch %s of %s: %w", id, db, err)
	}
	return nil
}

// Holder is where the new primary holds a blob of the returning region identically.
type Holder struct {
	Key    string // in the new primary's bucket
	InRoot bool   // under the database's root path, not sealed aside
}

// Divergence compares a returning region's folder (A) with the new primary's (B).
type Divergence struct {
	// Objects is A's folder as it stands, storage locks and excluded keys left out.
	Objects []objectstore.Object
	// Held maps each of A's keys that B holds identically to where B holds it: under its
	// root path, or sealed aside by the failover (which counts as held).
	Held map[string]Holder
}

// Tail is the part of A's folder that B holds nowhere: it crosses regions into the
// recovered branch, and it is what a failover lost until then.
func (d Divergence) Tail() []objectstore.Object {
	var out []objectstore.Object
	for _, o := range d.Objects {
		if _, ok := d.Held[o.Key]; !ok {
			out = append(out, o)
		}
	}
	return out
}

// Diverged is the part of A's folder that B's folder does not hold identically (the tail and
// what B holds only sealed aside): moved aside in A, it leaves A's folder a prefix of B's.
func (d Divergence) Diverged() []objectstore.Object {
	var out []objectstore.Object
	for _, o := range d.Objects {
		if h, ok := d.Held[o.Key]; !ok || !h.InRoot {
			out = append(out, o)
		}
	}
	return out
}

// Span is the LastModified of the oldest and the newest of objs: when a tail was written.
func Span(objs []objectstore.Object) (oldest, newest time.Time) {
	for _, o := range objs {
		if oldest.IsZero() || o.LastModified.Before(oldest) {
			oldest = o.LastModified
		}
		if o.LastModified.After(newest) {
			newest = o.LastModified
		}
	}
	return oldest, newest
}

// Sum counts objs and their bytes.
func Sum(objs []objectstore.Object) (n, bytes int64) {
	for _, o := range objs {
		n++
		bytes += o.Size
	}
	return n, bytes
}

// FindDivergence lists A's folder under rootPath and finds where B holds each blob: under the
// same key in B's folder, or under a failover's sealed prefix in B, with the same size and
// content (B's ETag equal to A's, or B's copy recording A's ETag as its source ETag). It
// changes nothing.
func FindDivergence(ctx context.Context, a, b Store, db, rootPath string, exclude []string) (Divergence, error) {
	al, err := a.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return Divergence{}, fmt.Errorf("divergence of %s: list the returning region: %w", db, err)
	}
	bl, err := b.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return Divergence{}, fmt.Errorf("divergence of %s: list the primary: %w", db, err)
	}
	sealed, err := b.ListParallel(ctx, StateRoot+"/"+db+"/sealed/")
	if err != nil {
		return Divergence{}, fmt.Errorf("divergence of %s: list the sealed blobs: %w", db, err)
	}
	candidates := make(map[string][]Holder, len(bl.Objects)) // A's key -> B blobs that may hold it
	bObjects := make(map[string]objectstore.Object, len(bl.Objects)+len(sealed.Objects))
	for _, o := range bl.Objects {
		candidates[o.Key] = append(candidates[o.Key], Holder{Key: o.Key, InRoot: true})
		bObjects[o.Key] = o
	}
	for _, o := range sealed.Objects {
		// .bdr/<db>/sealed/<seal id>/<original key>
		rest := strings.TrimPrefix(o.Key, StateRoot+"/"+db+"/sealed/")
		if _, orig, ok := strings.Cut(rest, "/"); ok {
			candidates[orig] = append(candidates[orig], Holder{Key: o.Key})
			bObjects[o.Key] = o
		}
	}
	globs := compileGlobs(exclude)
	d := Divergence{Held: map[string]Holder{}}
	for _, o := range al.Objects {
		if excluded(globs, o.Key) || isStorageLock(o.Key) {
			continue
		}
		d.Objects = append(d.Objects, o)
		for _, h := range candidates[o.Key] {
			same, err := sameContent(ctx, b, bObjects[h.Key], o)
			if err != nil {
				return Divergence{}, fmt.Errorf("divergence of %s: %w", db, err)
			}
			if same {
				d.Held[o.Key] = h
				if h.InRoot {
					break // the root's copy is the one to prefer
				}
			}
		}
	}
	return d, nil
}

// sameContent reports whether B's blob held is A's blob o: same size and the same ETag, or
// B's copy records o's ETag as its source's (a multipart copy has an ETag of its own).
func sameContent(ctx context.Context, b Store, held, o objectstore.Object) (bool, error) {
	if held.Size != o.Size {
		return false, nil
	}
	if held.ETag == o.ETag {
		return true, nil
	}
	info, err := b.Head(ctx, held.Key)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return info.Size == o.Size && info.Metadata[MetaSourceETag] == o.ETag, nil
}

// BuildRecovered rebuilds A's folder (d.Objects) in B under branchRoot: a blob B holds is a
// server-side copy inside B from where it holds it, any other (the tail) is copied across
// regions with crossing (A to B). It is resumable as CopyBranch is: a blob already in
// branchRoot with the same size is not copied again. alive (nil: always) is asked before
// each copy starts.
func BuildRecovered(ctx context.Context, b Store, crossing Copier, d Divergence, rootPath, branchRoot string, concurrency int,
	alive func() error, progress func(RecoveredProgress)) (RecoveredProgress, error) {
	if !strings.HasPrefix(branchRoot, rootPath+"_") {
		return RecoveredProgress{}, fmt.Errorf("build recovered branch: %q is not a branch of %q", branchRoot, rootPath)
	}
	existing, err := b.ListParallel(ctx, branchRoot+"/")
	if err != nil {
		return RecoveredProgress{}, fmt.Errorf("build recovered branch %s: %w", branchRoot, err)
	}
	present := make(map[string]int64, len(existing.Objects))
	for _, o := range existing.Objects {
		present[o.Key] = o.Size
	}
	var p RecoveredProgress
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, o := range d.Objects {
		dst := branchKey(o.Key, rootPath, branchRoot)
		if size, ok := present[dst]; ok && size == o.Size {
			p.Present++
			continue
		}
		h, held := d.Held[o.Key]
		g.Go(func() error {
			if alive != nil {
				if err := alive(); err != nil {
					return fmt.Errorf("build recovered branch %s: %w", branchRoot, err)
				}
			}
			var err error
			if held {
				err = b.CopyWithin(gctx, h.Key, dst, o.Size, nil)
			} else {
				err = crossing.Copy(gctx, o, dst, CopyMetadata(o.LastModified, o.ETag))
			}
			if err != nil {
				return fmt.Errorf("build recovered branch %s: %s: %w", branchRoot, o.Key, err)
			}
			mu.Lock()
			defer mu.Unlock()
			if held {
				p.Within++
			} else {
				p.Crossed++
				p.CrossedBytes += o.Size
			}
			if progress != nil {
				progress(p)
			}
			return nil
		})
	}
	err = g.Wait()
	return p, err
}

// RecoveredProgress counts a recovered branch's copies.
type RecoveredProgress struct {
	Within       int64 `json:"within"`       // server-side copies inside the new primary's bucket
	Crossed      int64 `json:"crossed"`      // copies across regions: the tail
	CrossedBytes int64 `json:"crossedBytes"` // their bytes
	Present      int64 `json:"present"`      // copied already by an earlier attempt
}

// MoveAside moves objs under DivergedPrefix(db, id) in s: each is copied there first, then
// deleted from its place, so that a crash between the two leaves it in both places, never in
// neither. It is idempotent: a blob already moved is gone from its place and not listed
// again.
func MoveAside(ctx context.Context, s Store, db, id string, objs []objectstore.Object, concurrency int) (int64, error) {
	dest := DivergedPrefix(db, id)
	var moved atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, o := range objs {
		g.Go(func() error {
			if err := s.CopyWithin(gctx, o.Key, dest+o.Key, o.Size, nil); err != nil {
				return fmt.Errorf("move %s aside: %w", o.Key, err)
			}
			if err := s.Delete(gctx, o.Key); err != nil {
				return fmt.Errorf("move %s aside: %w", o.Key, err)
			}
			moved.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return moved.Load(), err
}
