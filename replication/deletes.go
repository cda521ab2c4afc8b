package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Deletes at the source reach the target only after a delay (DESIGN 5.6).
//
// A bottomless database deletes old blobs all day: its garbage collection removes what no
// point in its retention window needs any more. The target mirrors that, late: a blob the
// source no longer holds is recorded as pending in the target's bucket (DeletesKey) with the
// source's clock at the first listing that lacked it, and deleted from the target once the
// delay has passed since then. Recorded, so a worker that restarts or a history that is lost
// keeps the time already waited and never deletes early: a blob missed once is only seen
// later, which delays its delete and never hastens it.
//
// The milestone rule: a blob is kept while a milestone recorded in the target's bucket
// (.bdr/<db>/milestones/) may need it, that is while some milestone's time M satisfies
// sourceTime <= M + milestoneMargin and M - milestoneMargin < missingSince. The blob then
// existed at M (it was written before M and deleted after M, as far as the two clocks tell),
// so an ATTACH AT MILESTONE M may read it. It is safe because it is conservative: a blob whose
// source time is unknown (no copy metadata) counts as written at the beginning of time, and
// the margin covers the distance between the database's clock (a milestone's time) and the
// store's (a blob's). A blob written after M, or deleted before M, cannot be part of M's
// state. A milestone holds until its record is removed, whatever its age: a failover accepts
// any recorded milestone (workflows.checkAttachAt), so none may lose its blobs under it.
//
// What keeps a delete from ever removing a blob the source still holds: the target is listed
// before the source, so a blob in the target and absent from the later source listing was
// there and is gone (or was never the source's, such as a blob the target's own cluster wrote
// during a rolled-back switchover); a pending blob that shows up in the source again leaves
// the record; and the Replicate workflow runs this pass and its Syncs one at a time, so no
// copy of a new version lands between the pass's listing and its delete. Each delete is
// conditional on the target's blob still having the ETag recorded, checked by a HEAD just
// before (S3 has no conditional DELETE), and on the watermark record being the one the pass
// read: a Sync that checkpointed since (an earlier attempt of the pass still running after
// the workflow moved on) stops the deletes, which the next pass makes.
//
// The watermark rule: a blob is deleted only once the watermark has passed the time it was
// found missing. Until then the target holds the source's state at the watermark, from before
// the delete, and that state may need the blob (a watermark held back for long by an
// abandoned upload would otherwise lose blobs its attach reads).

// milestoneMargin is how far a milestone's time (the database's clock) and a blob's times
// (the store's clocks) may be apart: a blob within it of a milestone is kept for it.
const milestoneMargin = time.Minute

// deleteConcurrency is how many deletes a pass runs at once: each is three requests.
const deleteConcurrency = 8

// DeletesKey is where a target records the source's deletes still to reach it.
func DeletesKey(db string) string { return StateRoot + "/" + db + "/deletes.json" }

// DeletePolicy is replication.delete_delay.
type DeletePolicy struct {
	Delay time.Duration
	// Never keeps every blob in the target: nothing is recorded or deleted, and the pass only
	// counts the blobs the source no longer holds (DeleteReport.Kept).
	Never bool
}

// DeleteLog is the record at DeletesKey.
type DeleteLog struct {
	Database string `json:"database"`
	// Source is whose deletes these are: a record of another source (the direction changed
	// since) is started afresh, since its times say nothing about this one.
	Source  Endpoint        `json:"source"`
	Pending []PendingDelete `json:"pending"`
	// DeletedObjects and DeletedBytes count every delete since the record began.
	DeletedObjects int64 `json:"deletedObjects"`
	DeletedBytes   int64 `json:"deletedBytes"`
	// Generation is the watermark record's when the log was written: a fence or a seal since
	// (a failover, perhaps and back) starts it afresh, as its times belong to another era.
	Generation int64     `json:"generation"`
	WrittenAt  time.Time `json:"writtenAt"`
}

// PendingDelete is a target blob the source no longer holds.
type PendingDelete struct {
	Key  string `json:"key"`
	Size int64  `json:"size"`
	ETag string `json:"etag"` // the target's, when first found
	// MissingSince is the source's clock at the first listing that lacked the blob.
	MissingSince time.Time `json:"missingSince"`
}

// DeleteReport is what a pass did about the source's deletes. It goes into workflow
// history: counts, a few milestone names, no keys.
type DeleteReport struct {
	Pending      int   `json:"pending"` // recorded, their delay not yet over
	PendingBytes int64 `json:"pendingBytes"`
	// Held are due, but kept for a recorded milestone (HeldBy names a few).
	Held   int      `json:"held"`
	HeldBy []string `json:"heldBy,omitempty"`
	// Deleted and DeletedBytes are this pass's deletes; DeletedTotal counts all since the
	// record began.
	Deleted      int   `json:"deleted"`
	DeletedBytes int64 `json:"deletedBytes"`
	DeletedTotal int64 `json:"deletedTotal"`
	// NextDueAt is when the next pending blob's delay is over (zero: none pending).
	NextDueAt time.Time `json:"nextDueAt,omitzero"`
	// Kept counts the blobs the source no longer holds, with delete_delay: never.
	Kept  int  `json:"kept,omitempty"`
	Never bool `json:"never,omitempty"`
}

// deletePass is one pass over the source's deletes, from the target's and the source's
// listings, the target's listed first.
type deletePass struct {
	dst        Store
	db         string
	source     Endpoint
	region     string // the target's, for errors
	policy     DeletePolicy
	etag       string    // the watermark record's, when the pass began
	generation int64     // the record's
	watermark  time.Time // the record's: nothing missing since after it is deleted
}

// run records the target blobs the source listing lacks, deletes those whose delay is over
// and that no milestone holds, and writes the record. listed is how long the source listing
// took, by this machine's clock.
func (p deletePass) run(ctx context.Context, targetListing, sourceListing objectstore.Listing, listed time.Duration, exclude []*regexp.Regexp) (DeleteReport, error) {
	inSource := make(map[string]bool, len(sourceListing.Objects))
	for _, o := range sourceListing.Objects {
		inSource[o.Key] = true
	}
	var gone []objectstore.Object
	for _, o := range targetListing.Objects {
		if !inSource[o.Key] && !excluded(exclude, o.Key) {
			gone = append(gone, o)
		}
	}
	if p.policy.Never {
		return DeleteReport{Never: true, Kept: len(gone)}, nil
	}
	log, logETag, err := p.read(ctx)
	if err != nil {
		return DeleteReport{}, err
	}
	before := slices.Clone(log.Pending)
	// The listing's StoreTime is a lower bound of the source's clock when it began (its Date
	// header, whole seconds): a blob it lacks was deleted before the listing ended, so before
	// the end of that second plus the listing's length. Missing since then, and due by the
	// listing's start: never early on either side.
	now := sourceListing.StoreTime
	missingSince := now.Truncate(time.Second).Add(time.Second + listed).Round(time.Millisecond).Add(time.Millisecond)
	log.Pending = stillPending(log.Pending, gone, missingSince)
	due, report := p.split(log.Pending, now)
	var errs []error
	if len(due) > 0 {
		held, err := p.held(ctx, due)
		if err != nil {
			// Without the milestones nothing is known to be free of them: delete nothing.
			errs = append(errs, err)
			due = nil
		}
		deleted, err := p.deleteAll(ctx, due, held)
		errs = append(errs, err)
		report.Held, report.HeldBy = held.count, held.names
		report.Deleted = len(deleted)
		log.Pending = slices.DeleteFunc(log.Pending, func(d PendingDelete) bool { return deleted[d.Key] })
		for _, d := range due {
			if deleted[d.Key] {
				report.DeletedBytes += d.Size
			}
		}
		log.DeletedObjects += int64(report.Deleted)
		log.DeletedBytes += report.DeletedBytes
	}
	report.DeletedTotal = log.DeletedObjects
	// Written even when a delete failed: what was deleted leaves the record, and what was
	// found keeps the time it was first found. Not rewritten when nothing changed.
	if report.Deleted > 0 || !slices.Equal(before, log.Pending) {
		errs = append(errs, p.write(ctx, log, logETag))
	}
	return report, errors.Join(errs...)
}

// stillPending returns the recorded blobs that are still gone, with their first time kept,
// and the newly gone ones with missingSince. A recorded blob the source holds again, or that the
// target no longer holds as recorded, leaves the record.
func stillPending(recorded []PendingDelete, gone []objectstore.Object, missingSince time.Time) []PendingDelete {
	since := make(map[string]PendingDelete, len(recorded))
	for _, d := range recorded {
		since[d.Key] = d
	}
	out := make([]PendingDelete, 0, len(gone))
	for _, o := range gone {
		d, ok := since[o.Key]
		if !ok || d.ETag != o.ETag || d.Size != o.Size {
			d = PendingDelete{Key: o.Key, Size: o.Size, ETag: o.ETag, MissingSince: missingSince}
		}
		out = append(out, d)
	}
	slices.SortStableFunc(out, func(a, b PendingDelete) int { return a.MissingSince.Compare(b.MissingSince) })
	return out
}

// split returns the pending blobs whose delay is over at now, and a report of the others.
func (p deletePass) split(pending []PendingDelete, now time.Time) ([]PendingDelete, DeleteReport) {
	var due []PendingDelete
	var report DeleteReport
	for _, d := range pending {
		at := d.MissingSince.Add(p.policy.Delay)
		if !at.After(now) && !d.MissingSince.After(p.watermark) {
			due = append(due, d)
			continue
		}
		report.Pending++
		report.PendingBytes += d.Size
		if report.NextDueAt.IsZero() || at.Before(report.NextDueAt) {
			report.NextDueAt = at
		}
	}
	return due, report
}

// maxHeldNames bounds the milestone names a report lists.
const maxHeldNames = 5

// holds is which due blobs recorded milestones hold.
type holds struct {
	keys  map[string]bool
	count int
	names []string
}

// held applies the milestone rule (above) to the due blobs. A blob's source time is read from
// its copy metadata only when a milestone could hold it.
func (p deletePass) held(ctx context.Context, due []PendingDelete) (holds, error) {
	h := holds{keys: map[string]bool{}}
	milestones, err := ListMilestones(ctx, p.dst, p.db)
	if err != nil || len(milestones) == 0 {
		return h, err
	}
	for _, d := range due {
		// Milestones made before the blob was missing could hold it; the others cannot.
		var candidates []Milestone
		for _, m := range milestones {
			if m.Time.Add(-milestoneMargin).Before(d.MissingSince) {
				candidates = append(candidates, m)
			}
		}
		if len(candidates) == 0 {
			continue
		}
		written, err := p.sourceTime(ctx, d.Key)
		if err != nil {
			return h, err
		}
		for _, m := range candidates {
			if !written.After(m.Time.Add(milestoneMargin)) {
				h.keys[d.Key] = true
				h.count++
				if !slices.Contains(h.names, m.Name) && len(h.names) < maxHeldNames {
					h.names = append(h.names, m.Name)
				}
				break
			}
		}
	}
	// A held blob stays in the record: it is due at every pass until the milestone goes.
	return h, nil
}

// sourceTime returns when the source wrote the target's copy at key, by its copy metadata;
// the zero time (before every milestone) when it has none or the blob is gone.
func (p deletePass) sourceTime(ctx context.Context, key string) (time.Time, error) {
	info, err := p.dst.Head(ctx, key)
	if errors.Is(err, os.ErrNotExist) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("read the source time of %s: %w", key, err)
	}
	t, _, err := copiedSourceTime(key, info)
	return t, err
}

// deleteAll deletes the due blobs that are not held, deleteConcurrency at a time, and returns
// the keys it deleted (or found already gone).
func (p deletePass) deleteAll(ctx context.Context, due []PendingDelete, held holds) (map[string]bool, error) {
	deleted := map[string]bool{}
	var mu sync.Mutex
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(deleteConcurrency)
	for _, d := range due {
		if held.keys[d.Key] {
			continue
		}
		g.Go(func() error {
			ok, err := p.deleteOne(gctx, d)
			if ok {
				mu.Lock()
				deleted[d.Key] = true
				mu.Unlock()
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return deleted, fmt.Errorf("propagate deletes of %s: %w", p.db, err)
	}
	return deleted, nil
}

// deleteOne deletes d's blob from the target if it still has the ETag recorded; ok is true
// when the blob is gone afterwards.
func (p deletePass) deleteOne(ctx context.Context, d PendingDelete) (ok bool, err error) {
	if err := p.recordUnchanged(ctx); err != nil {
		return false, err
	}
	info, err := p.dst.Head(ctx, d.Key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, nil
	case err != nil:
		return false, err
	case info.ETag != d.ETag:
		return false, nil // rewritten since it was found: the next pass looks again
	}
	if err := p.dst.Delete(ctx, d.Key); err != nil {
		return false, err
	}
	return true, nil
}

// recordUnchanged returns an error if the watermark record is no longer the one the pass
// read: a Sync wrote it since (one HEAD).
func (p deletePass) recordUnchanged(ctx context.Context) error {
	info, err := p.dst.Head(ctx, WatermarkKey(p.db))
	if err != nil {
		return fmt.Errorf("check the watermark record of %s: %w", p.db, err)
	}
	if info.ETag != p.etag {
		return fmt.Errorf("the watermark record of %s changed during the pass (a Sync wrote it): deletes wait for the next pass", p.db)
	}
	return nil
}

// read returns the record and its ETag; a record of another source, or of another
// generation of the watermark record, is started afresh.
func (p deletePass) read(ctx context.Context) (DeleteLog, string, error) {
	fresh := DeleteLog{Database: p.db, Source: p.source, Generation: p.generation}
	data, etag, err := p.dst.GetBytesETag(ctx, DeletesKey(p.db))
	if errors.Is(err, os.ErrNotExist) {
		return fresh, "", nil
	}
	if err != nil {
		return DeleteLog{}, "", fmt.Errorf("read %s: %w", DeletesKey(p.db), err)
	}
	var log DeleteLog
	if err := json.Unmarshal(data, &log); err != nil {
		return DeleteLog{}, "", fmt.Errorf("%s is not valid JSON: %w", DeletesKey(p.db), err)
	}
	if log.Source != p.source || log.Generation != p.generation {
		return fresh, etag, nil
	}
	return log, etag, nil
}

// write replaces the record read with etag; a pass that wrote it meanwhile makes this fail.
func (p deletePass) write(ctx context.Context, log DeleteLog, etag string) error {
	log.WrittenAt = time.Now().UTC()
	data, err := marshalRecord(log)
	if err != nil {
		return err
	}
	if _, err := p.dst.PutBytesIf(ctx, DeletesKey(p.db), data, nil, etag); err != nil {
		return fmt.Errorf("record the pending deletes of %s: %w", p.db, err)
	}
	return nil
}

// ReadDeleteLog returns the record at DeletesKey; found is false when there is none.
func ReadDeleteLog(ctx context.Context, s Store, db string) (log DeleteLog, found bool, err error) {
	found, err = readJSON(ctx, s, DeletesKey(db), &log)
	if err != nil {
		return DeleteLog{}, false, fmt.Errorf("read the pending deletes of %s: %w", db, err)
	}
	return log, found, nil
}
