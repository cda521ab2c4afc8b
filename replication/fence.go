package replication

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Fence is the marker a failover writes in its target's bucket, at FenceKey, before it seals
// the target and promotes it (DESIGN 5a.3): from then on no replication may write into that
// folder, whatever resumes it, until a new primary record is written over the one the fence
// found.
type Fence struct {
	Database string `json:"database"`
	// Region is the region whose folder is fenced: the failover's target, about to serve.
	Region string `json:"region"`
	// Generation is the watermark record's generation the fence sealed: the record was bumped
	// to it, so a Sync that read an older one can no longer checkpoint (see Watermark).
	Generation int64 `json:"generation"`
	// At is the worker's clock when the fence was written; informational only.
	At time.Time `json:"at"`
	By string    `json:"by,omitempty"` // the workflow that fenced
	// Primary is the bucket's primary record when the fence was written, nil if it had none.
	// The fence is in force while the bucket's record is still that one (see CheckTarget).
	Primary *Primary `json:"primary,omitempty"`
}

// FenceKey is where a bucket records the fence of db's folder.
func FenceKey(db string) string { return StateRoot + "/" + db + "/fence.json" }

// ReadFence reads the fence marker of db; found is false when there is none.
func ReadFence(ctx context.Context, s Store, db string) (f Fence, found bool, err error) {
	found, err = readJSON(ctx, s, FenceKey(db), &f)
	if err != nil {
		return Fence{}, false, fmt.Errorf("read fence of %s: %w", db, err)
	}
	return f, found, nil
}

// Why a write into a folder was refused (RefusedError.Reason).
const (
	// RefusedPrimary: the bucket's primary record names the folder's region.
	RefusedPrimary = "target is the primary"
	// RefusedFenced: a failover fenced the folder and no primary record has been written since.
	RefusedFenced = "target is fenced"
	// RefusedGeneration: the watermark record's generation changed under a running Sync (a
	// fence or a seal): it must stop writing at once.
	RefusedGeneration = "target was sealed or fenced"
	// RefusedSource: the watermark record in the target was written by a replication from
	// another source (another bucket, region or root path).
	RefusedSource = "target replicates another source"
)

// RefusedError says that a write into a target folder is refused, and why. It is never worth
// retrying as it is: an operator (or the failover that caused it) has to act first.
type RefusedError struct {
	Database string
	Region   string // the target's region
	Reason   string // one of the Refused constants
	Detail   string // what was found, for the operator
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to write into %s's folder of %s: %s: %s", e.Region, e.Database, e.Reason, e.Detail)
}

// IsRefused reports whether err is (or wraps) a RefusedError.
func IsRefused(err error) bool {
	var r *RefusedError
	return errors.As(err, &r)
}

// CheckTarget returns a *RefusedError when nothing may be written into db's folder in dst,
// the bucket of region to. It reads dst's own records only, so it holds even when the
// source's bucket is gone. The rule (DESIGN 5a.3):
//
//  1. If dst's primary record names to, the folder is the live database's: refused.
//  2. If dst holds a fence marker and dst's primary record is still the one the fence found
//     (both absent included), a failover is promoting to: refused.
//  3. Otherwise writing is allowed.
//
// Why "the one the fence found" rather than comparing times: records are written by different
// workers whose clocks differ, and a failover writes the new primary record only after the
// fence, so any record written since lifts the fence whatever the clocks say. The legitimate
// later cases follow: after a failover A->B, B's record names B (rule 1 refuses A->B) while A's
// names B too and A has no fence (B->A is allowed); after a switchback back to A, the fence
// that switchback wrote in A is lifted by the record naming A, and B's record names A and is
// not the one B's old fence found (A->B is allowed again).
func CheckTarget(ctx context.Context, dst Store, db, to string) error {
	p, pFound, err := ReadPrimary(ctx, dst, db)
	if err != nil {
		return fmt.Errorf("check target %s: %w", to, err)
	}
	if pFound && p.Region == to {
		return &RefusedError{Database: db, Region: to, Reason: RefusedPrimary,
			Detail: fmt.Sprintf("%s records %s as the primary since %s (%s); replicating into it would overwrite the data it serves",
				PrimaryKey(db), to, p.Since.UTC().Format(time.RFC3339), p.By)}
	}
	f, fFound, err := ReadFence(ctx, dst, db)
	if err != nil {
		return fmt.Errorf("check target %s: %w", to, err)
	}
	if fFound && fenceInForce(f, p, pFound) {
		return &RefusedError{Database: db, Region: to, Reason: RefusedFenced,
			Detail: fmt.Sprintf("%s: fenced at %s by %s (generation %d) and no primary record written since; a failover is promoting it",
				FenceKey(db), f.At.UTC().Format(time.RFC3339), f.By, f.Generation)}
	}
	return nil
}

// fenceInForce reports whether fence f still holds given the bucket's primary record.
func fenceInForce(f Fence, p Primary, pFound bool) bool {
	if f.Primary == nil {
		return !pFound
	}
	return pFound && f.Primary.Same(p)
}

// Same reports whether q is the same record of the primary as p: the same region, made so at
// the same time by the same workflow.
func (p Primary) Same(q Primary) bool {
	return p.Database == q.Database && p.Region == q.Region && p.Since.Equal(q.Since) && p.By == q.By
}

// WriteFence fences db's folder in dst (the bucket of region): it bumps the watermark
// record's generation, so that a Sync still running stops at its next check, then records
// the fence marker, so that no Sync or Verify starts writing there again (CheckTarget). It is
// idempotent: when a fence found by the same primary record is already in force, it returns it
// (bumping the generation again only if the record fell behind it).
func WriteFence(ctx context.Context, dst Store, db, region, by string, now time.Time) (Fence, error) {
	p, pFound, err := ReadPrimary(ctx, dst, db)
	if err != nil {
		return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
	}
	old, found, err := ReadFence(ctx, dst, db)
	if err != nil {
		return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
	}
	sealFrom, err := recordTime(ctx, dst, db)
	if err != nil {
		return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
	}
	if found && old.Region == region && fenceInForce(old, p, pFound) {
		if _, err := bumpGeneration(ctx, dst, db, old.Generation, sealFrom); err != nil {
			return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
		}
		return old, nil
	}
	gen, err := bumpGeneration(ctx, dst, db, 0, sealFrom)
	if err != nil {
		return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
	}
	f := Fence{Database: db, Region: region, Generation: gen, At: now.UTC(), By: by}
	if pFound {
		f.Primary = &p
	}
	if err := writeJSON(ctx, dst, FenceKey(db), f); err != nil {
		return Fence{}, fmt.Errorf("fence %s in %s: %w", db, region, err)
	}
	return f, nil
}

// LiftFence removes the fence marker of db from dst: for a failover that fenced its target
// and then gave up, so that replication into the target may resume. Removing no marker is not
// an error. The generation stays bumped: a Sync cut off before the fence must still stop.
func LiftFence(ctx context.Context, dst Store, db string) error {
	if err := dst.Delete(ctx, FenceKey(db)); err != nil {
		return fmt.Errorf("lift fence of %s: %w", db, err)
	}
	return nil
}

// EnsurePrimary records region as db's primary in every bucket of stores when none of them
// records a primary yet: replication's first start names the serving region, so that no later
// replication can write into it (CheckTarget). It never overwrites a record: when some buckets
// hold one and others none (a failover that could not reach a bucket, or an earlier call cut
// short), the record found is copied to those that have none, provided all the records found
// agree. It returns the primary in force.
func EnsurePrimary(ctx context.Context, stores []Store, db, region, by string, now time.Time) (Primary, error) {
	var recorded *Primary
	missing := make([]Store, 0, len(stores))
	for _, s := range stores {
		p, found, err := ReadPrimary(ctx, s, db)
		if err != nil {
			return Primary{}, err
		}
		if !found {
			missing = append(missing, s)
			continue
		}
		if recorded != nil && !recorded.Same(p) {
			// Buckets disagree (one missed a failover's record): not ours to settle here.
			// CheckTarget still reads each target's own record.
			return *recorded, nil
		}
		recorded = &p
	}
	p := Primary{Database: db, Region: region, Since: now.UTC(), By: by}
	if recorded != nil {
		p = *recorded
	}
	for _, s := range missing {
		if err := WritePrimary(ctx, s, p); err != nil {
			return Primary{}, err
		}
	}
	return p, nil
}
