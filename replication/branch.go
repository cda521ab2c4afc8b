package replication

import (
	"context"
	"encoding/json"
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

// A branch (DESIGN 6) is a copy of a target's sealed prefix in its own root path of the same
// bucket, made with server-side copies (no egress), and attached under its own name: a drill
// attaches one to prove the replica comes up without touching the replica itself, which
// replication keeps writing to.

// BranchRoot is the root path of a branch of the database at rootPath: <root>_<kind>_<stamp>
// (kind "drill" or "recovered", stamp <yyyymmddhhmmss>). It is a sibling of rootPath, never
// under it: replication lists rootPath+"/" and never sees a branch.
func BranchRoot(rootPath, kind, stamp string) string { return rootPath + "_" + kind + "_" + stamp }

// RecordView is one version of a target's watermark record, with what a reader needs to tell
// the blobs at or before its watermark from those beyond without changing anything.
type RecordView struct {
	Time time.Time `json:"time"` // the watermark W
	// Since is the store time from which a blob written to the target may be beyond W: the
	// record's own LastModified to the second, or an earlier fence's or seal's SealFrom.
	Since time.Time `json:"since"`
	// Ahead lists the blobs whose copy had begun beyond W when the record was written.
	Ahead      []string `json:"ahead,omitempty"`
	Generation int64    `json:"generation,omitempty"`
	// From is the region the record replicates from.
	From string `json:"from,omitempty"`
}

// maxViewAttempts bounds ReadRecordView's retries when the record changes while it is read.
const maxViewAttempts = 5

// ReadRecordView reads the target's watermark record and its LastModified as one version (a
// HEAD and a GET with the same ETag); found is false when there is none. Replication may be
// rewriting the record every moment: a version changed between the two reads is read again.
func ReadRecordView(ctx context.Context, target Store, db string) (v RecordView, found bool, err error) {
	for range maxViewAttempts {
		info, err := target.Head(ctx, WatermarkKey(db))
		if errors.Is(err, os.ErrNotExist) {
			return RecordView{}, false, nil
		}
		if err != nil {
			return RecordView{}, false, fmt.Errorf("read watermark of %s: %w", db, err)
		}
		w, etag, found, err := readWatermarkETag(ctx, target, db)
		if err != nil || !found {
			return RecordView{}, found, err
		}
		if strings.Trim(etag, `"`) != strings.Trim(info.ETag, `"`) {
			continue // rewritten between the HEAD and the GET
		}
		since := info.LastModified.Truncate(time.Second)
		if !w.SealFrom.IsZero() && w.SealFrom.Before(since) {
			since = w.SealFrom
		}
		return RecordView{Time: w.Time, Since: since, Ahead: w.Ahead, Generation: w.Generation, From: w.From}, true, nil
	}
	return RecordView{}, false, fmt.Errorf("read watermark of %s: the record kept changing (%d attempts)", db, maxViewAttempts)
}

// beyondRecord reports whether the target blob o may hold a source write after the record's
// watermark (checked: its source time had to be read). Only two kinds of blob can be beyond
// it: those whose copy had begun when the record was written (Ahead) and those written to the
// target since (Since). Every other blob belongs to the completed prefix. A blob without our
// source-time metadata was not replicated: foreignBeyond says what it is when written since
// the record. Seal leaves such a blob where it is (not ours to move); a branch leaves it out
// (a database attached in the target after a failover writes blobs without it, and they
// come after the watermark).
func beyondRecord(ctx context.Context, target Store, o objectstore.Object, w, since time.Time, ahead map[string]bool, foreignBeyond bool) (beyond, checked bool, err error) {
	if o.LastModified.Before(since) && !ahead[o.Key] {
		return false, false, nil
	}
	info, err := target.Head(ctx, o.Key)
	if err != nil {
		return false, true, err
	}
	srcTime, ok, err := copiedSourceTime(o.Key, info)
	switch {
	case err != nil:
		return false, true, err
	case !ok:
		return foreignBeyond, true, nil
	}
	return srcTime.After(w), true, nil
}

// copiedSourceTime returns the source's LastModified that the copy at key carries (DESIGN
// 5.2); ok is false for a blob without it, which was not replicated.
func copiedSourceTime(key string, info objectstore.Info) (t time.Time, ok bool, err error) {
	src, ok := info.Metadata[MetaSourceLastModified]
	if !ok {
		return time.Time{}, false, nil
	}
	t, err = time.Parse(time.RFC3339Nano, src)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("%s has a bad %s %q", key, MetaSourceLastModified, src)
	}
	return t, true, nil
}

// BranchPlan is what a branch holds: the target's sealed view at a record.
type BranchPlan struct {
	Objects []objectstore.Object
	Bytes   int64
	Checked int64 // blobs whose source time was read
	Beyond  int64 // blobs beyond the watermark, left out
}

// PlanBranch lists the target's blobs under rootPath and keeps its sealed view at v: every
// blob at or before v's watermark, without storage locks or excluded keys. That is what Seal
// would leave in place, but for blobs without replication metadata written since the record,
// which Seal leaves and a branch does not (beyondRecord). It changes nothing, so replication may go on writing meanwhile; a blob it
// writes is beyond v's watermark or already held by the view.
func PlanBranch(ctx context.Context, target Store, rootPath string, v RecordView, exclude []string) (BranchPlan, error) {
	listing, err := target.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return BranchPlan{}, fmt.Errorf("plan branch of %s: %w", rootPath, err)
	}
	ahead := make(map[string]bool, len(v.Ahead))
	for _, k := range v.Ahead {
		ahead[k] = true
	}
	globs := compileGlobs(exclude)
	var plan BranchPlan
	for _, o := range listing.Objects {
		if excluded(globs, o.Key) || isStorageLock(o.Key) {
			continue
		}
		beyond, checked, err := beyondRecord(ctx, target, o, v.Time, v.Since, ahead, true)
		if checked {
			plan.Checked++
		}
		if errors.Is(err, os.ErrNotExist) {
			continue // gone since the listing: moved aside by a seal, so beyond the watermark
		}
		if err != nil {
			return plan, fmt.Errorf("plan branch of %s: %w", rootPath, err)
		}
		if beyond {
			plan.Beyond++
			continue
		}
		plan.Objects = append(plan.Objects, o)
		plan.Bytes += o.Size
	}
	return plan, nil
}

// isStorageLock reports whether key is a storage lock: never part of a branch, whatever the
// exclude setting (an attach refuses a location holding one).
func isStorageLock(key string) bool { return strings.Contains(key, "/storage_locks/") }

// BranchProgress counts a branch copy as it goes.
type BranchProgress struct {
	Copied, CopiedBytes   int64 // copies made by this call
	Present, PresentBytes int64 // blobs an earlier call had copied already
}

// CopyBranch copies plan's blobs from rootPath to branchRoot in the same bucket, concurrency
// at a time, with server-side copies that keep each blob's metadata. A blob already in
// branchRoot with the same size is skipped: a server-side copy lands whole or not at all, so
// a copy resumed after a crash copies nothing twice. progress is called after each copy, from
// several goroutines one at a time. alive (nil: always) is asked before each copy starts: a
// caller cut off from Temporal, whose attempt may already run elsewhere, starts no more.
func CopyBranch(ctx context.Context, s Store, plan []objectstore.Object, rootPath, branchRoot string, concurrency int,
	alive func() error, progress func(BranchProgress)) (BranchProgress, error) {
	if !strings.HasPrefix(branchRoot, rootPath+"_") {
		return BranchProgress{}, fmt.Errorf("copy branch: %q is not a branch of %q", branchRoot, rootPath)
	}
	existing, err := s.ListParallel(ctx, branchRoot+"/")
	if err != nil {
		return BranchProgress{}, fmt.Errorf("copy branch %s: %w", branchRoot, err)
	}
	present := make(map[string]int64, len(existing.Objects))
	for _, o := range existing.Objects {
		present[o.Key] = o.Size
	}
	var p BranchProgress
	var todo []objectstore.Object
	for _, o := range plan {
		if size, ok := present[branchKey(o.Key, rootPath, branchRoot)]; ok && size == o.Size {
			p.Present++
			p.PresentBytes += o.Size
			continue
		}
		todo = append(todo, o)
	}
	var mu sync.Mutex
	var copied, copiedBytes atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, o := range todo {
		g.Go(func() error {
			if alive != nil {
				if err := alive(); err != nil {
					return fmt.Errorf("copy branch %s: %w", branchRoot, err)
				}
			}
			if err := s.CopyWithin(gctx, o.Key, branchKey(o.Key, rootPath, branchRoot), o.Size, nil); err != nil {
				return fmt.Errorf("copy branch %s: %w", branchRoot, err)
			}
			n, b := copied.Add(1), copiedBytes.Add(o.Size)
			if progress != nil {
				mu.Lock()
				progress(BranchProgress{Copied: n, CopiedBytes: b, Present: p.Present, PresentBytes: p.PresentBytes})
				mu.Unlock()
			}
			return nil
		})
	}
	err = g.Wait()
	p.Copied, p.CopiedBytes = copied.Load(), copiedBytes.Load()
	return p, err
}

// branchKey is where a blob of rootPath goes in branchRoot.
func branchKey(key, rootPath, branchRoot string) string {
	return branchRoot + strings.TrimPrefix(key, rootPath)
}

// DeleteBranch deletes every blob under branchRoot, which must be a branch of rootPath, and
// returns how many it deleted. It lists again after deleting, and deletes again what it finds:
// a copy that was in flight when it listed (a worker cut off from Temporal finishing its last
// copies) lands after the listing. It fails if the branch still holds blobs after a few
// passes. It is idempotent.
func DeleteBranch(ctx context.Context, s Store, rootPath, branchRoot string, concurrency int) (int64, error) {
	if !strings.HasPrefix(branchRoot, rootPath+"_") {
		return 0, fmt.Errorf("delete branch: %q is not a branch of %q", branchRoot, rootPath)
	}
	var deleted int64
	for range maxDeletePasses {
		l, err := s.ListParallel(ctx, branchRoot+"/")
		if err != nil {
			return deleted, fmt.Errorf("delete branch %s: %w", branchRoot, err)
		}
		if len(l.Objects) == 0 {
			return deleted, nil
		}
		n, err := deleteAll(ctx, s, l.Objects, concurrency)
		deleted += n
		if err != nil {
			return deleted, fmt.Errorf("delete branch %s: %w", branchRoot, err)
		}
	}
	return deleted, fmt.Errorf("delete branch %s: blobs keep appearing in it after %d passes", branchRoot, maxDeletePasses)
}

// maxDeletePasses bounds DeleteBranch's listings.
const maxDeletePasses = 4

// deleteAll deletes objs, concurrency at a time, and returns how many it deleted.
func deleteAll(ctx context.Context, s Store, objs []objectstore.Object, concurrency int) (int64, error) {
	var deleted atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(1, concurrency))
	for _, o := range objs {
		g.Go(func() error {
			if err := s.Delete(gctx, o.Key); err != nil {
				return err
			}
			deleted.Add(1)
			return nil
		})
	}
	err := g.Wait()
	return deleted.Load(), err
}

// ErrDrillClaimed is what ClaimDrill returns when another workflow recorded a drill with the
// same id (two drills started in the same second): their branches would be one.
var ErrDrillClaimed = errors.New("claimed by another drill")

// ClaimDrill records a drill's first report only if no other workflow recorded one with the
// same id, with a conditional write (If-None-Match), so that two drills started in the same
// second cannot share a branch. A report already recorded by the same workflow (a retry) is
// replaced. workflowID is the report's "workflowId".
func ClaimDrill(ctx context.Context, s Store, db, id, workflowID string, report []byte) error {
	key := DrillKey(db, id)
	_, err := s.PutBytesIf(ctx, key, report, nil, "")
	if !errors.Is(err, objectstore.ErrPreconditionFailed) {
		if err != nil {
			return fmt.Errorf("record drill %s of %s: %w", id, db, err)
		}
		return nil
	}
	var earlier struct {
		WorkflowID string `json:"workflowId"`
	}
	if _, err := readJSON(ctx, s, key, &earlier); err != nil {
		return fmt.Errorf("record drill %s of %s: %w", id, db, err)
	}
	if earlier.WorkflowID != workflowID {
		return fmt.Errorf("drill %s of %s: %w (%s)", id, db, ErrDrillClaimed, earlier.WorkflowID)
	}
	return WriteDrill(ctx, s, db, id, json.RawMessage(report))
}
