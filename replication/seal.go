package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// SealResult says what sealing moved aside.
type SealResult struct {
	Watermark time.Time `json:"watermark"`
	MovedKeys []string  `json:"movedKeys,omitempty"`
	SealedTo  string    `json:"sealedTo,omitempty"` // the prefix they were moved under
	Checked   int       `json:"checked"`            // blobs whose source time was read
	// Generation is the watermark record's generation after the seal bumped it: a Sync that
	// read an older one can no longer checkpoint, nor start copies after its next check.
	Generation int64 `json:"generation,omitempty"`
}

// Seal makes the target under rootPath exactly a prefix of the source's history at watermark
// w (DESIGN 5.3): blobs copied from beyond w (a batch in flight when the source failed) are
// moved under SealedPrefix(db, sealID), never deleted. It is idempotent.
//
// Only two kinds of blob can be beyond the watermark: those whose copy had started when the
// record was written (listed in it as Ahead) and those written to the target after it. Only
// those are inspected; every other blob belongs to the completed prefix.
//
// First it bumps the record's generation (DESIGN 5a.4), so that a Sync still writing (one cut
// off from Temporal) fails its next checkpoint and stops starting copies; what such a Sync
// had in flight may still land after the listing below, which is why a failover fences the
// target (WriteFence) and stops replication before it seals. A repeated Seal bumps again.
func Seal(ctx context.Context, target Store, db, rootPath, sealID string) (SealResult, error) {
	// The last checkpoint's time, read before the bump rewrites the record.
	since, err := recordTime(ctx, target, db)
	if err != nil {
		return SealResult{}, fmt.Errorf("seal %s: %w", db, err)
	}
	gen, err := bumpGeneration(ctx, target, db, 0, since)
	if err != nil {
		return SealResult{}, fmt.Errorf("seal %s: %w", db, err)
	}
	w, _, err := ReadWatermark(ctx, target, db)
	if err != nil {
		return SealResult{}, err
	}
	res := SealResult{Watermark: w.Time, Generation: gen}
	if !w.SealFrom.IsZero() && w.SealFrom.Before(since) {
		since = w.SealFrom // an earlier fence or seal rewrote the record after the last checkpoint
	}
	listing, err := target.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return res, fmt.Errorf("seal %s: %w", db, err)
	}
	dest := SealedPrefix(db, sealID)
	ahead := make(map[string]bool, len(w.Ahead))
	for _, k := range w.Ahead {
		ahead[k] = true
	}
	for _, o := range listing.Objects {
		beyond, checked, err := beyondRecord(ctx, target, o, w.Time, since, ahead, false)
		if checked {
			res.Checked++
		}
		if err != nil {
			return res, fmt.Errorf("seal %s: %w", db, err)
		}
		if !beyond {
			continue
		}
		if err := target.CopyWithin(ctx, o.Key, dest+o.Key, o.Size, nil); err != nil {
			return res, fmt.Errorf("seal %s: %w", db, err)
		}
		if err := target.Delete(ctx, o.Key); err != nil {
			return res, fmt.Errorf("seal %s: %w", db, err)
		}
		res.MovedKeys = append(res.MovedKeys, o.Key)
	}
	if len(res.MovedKeys) > 0 {
		res.SealedTo = dest
	}
	return res, nil
}

// recordTime returns the store time from which blobs in the target may be beyond its record's
// watermark: the record's LastModified to the second (a blob's LastModified in the same
// second may precede it), or the Unix epoch when there is no record, so that every blob is.
func recordTime(ctx context.Context, target Store, db string) (time.Time, error) {
	info, err := target.Head(ctx, WatermarkKey(db))
	if errors.Is(err, os.ErrNotExist) {
		return time.Unix(0, 0).UTC(), nil
	}
	if err != nil {
		return time.Time{}, err
	}
	return info.LastModified.Truncate(time.Second), nil
}
