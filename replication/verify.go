package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// maxReportedKeys bounds the keys a Verify report lists: it goes into workflow history.
const maxReportedKeys = 20

// VerifyReport says what a full comparison of source and target found and repaired.
type VerifyReport struct {
	Watermark   time.Time `json:"watermark"`
	Checked     int       `json:"checked"`    // source blobs at or before the watermark
	Missing     int       `json:"missing"`    // absent from the target
	Mismatched  int       `json:"mismatched"` // present with another size or content
	Repaired    int       `json:"repaired"`
	RepairedKey []string  `json:"repairedKeys,omitempty"` // the first few
	// Vanished counts blobs to repair that the source deleted (or overwrote) before their
	// copy: nothing to repair.
	Vanished int `json:"vanished,omitempty"`
	// Deletes is what the pass did about the source's deletes (nil: not asked to).
	Deletes *DeleteReport `json:"deletes,omitempty"`
	// DifferingKeys are the first few keys found missing or different (repaired or not).
	DifferingKeys []string `json:"differingKeys,omitempty"`
}

// Verify is the anti-entropy pass (DESIGN 5.1): it compares every source blob at or before the
// target's watermark with the target (size, and content by ETag or the recorded source ETag),
// copies any that is missing or different, and reports what it found. The incremental path
// should never miss a blob; this pass proves it, and repairs a target damaged behind our back.
// It is idempotent. In order: strict a repaired blob is below the watermark, so the target
// stays a prefix. It compares nothing and writes nothing into a target that CheckTarget refuses,
// or whose record another source wrote (CheckRecordSource): a *RefusedError. Before each repair
// it checks that the record's generation is still the one it read, so that a fence or a seal
// during the pass stops it (one HEAD per repair; repairs are rare).
//
// With deletes, the pass also carries the source's deletes to the target after their delay
// (DESIGN 5.6, deletes.go), from the same two listings: the target's is taken first, so that
// a blob it shows and the source's lacks is one the source no longer holds.
func Verify(ctx context.Context, src, dst Store, copier Copier, db string, source, target Endpoint, exclude []string, deletes *DeletePolicy) (VerifyReport, error) {
	if err := CheckTarget(ctx, dst, db, target.Region); err != nil {
		return VerifyReport{}, fmt.Errorf("verify %s: %w", db, err)
	}
	rootPath := source.RootPath
	w, etag, found, err := readWatermarkETag(ctx, dst, db)
	if err != nil || !found {
		return VerifyReport{}, err // nothing replicated yet: nothing to compare
	}
	if err := CheckRecordSource(w, source, target); err != nil {
		return VerifyReport{}, fmt.Errorf("verify %s: %w", db, err)
	}
	// The target first: see deletes.go. For the comparison either order does, as every blob
	// at or before the watermark was in the target before the record said so.
	dl, err := dst.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify %s: %w", db, err)
	}
	listStart := time.Now()
	sl, err := src.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return VerifyReport{}, fmt.Errorf("verify %s: %w", db, err)
	}
	listed := time.Since(listStart)
	globs := compileGlobs(exclude)
	report, differing, err := compareListings(ctx, dst, db, sl, dl, globs, w.Time)
	if err != nil {
		return report, err
	}
	for _, o := range differing {
		if err := sameGeneration(ctx, dst, db, target.Region, etag, w.Generation); err != nil {
			return report, fmt.Errorf("verify %s: %w", db, err)
		}
		err := copier.Copy(ctx, o, o.Key, CopyMetadata(o.LastModified, o.ETag))
		if err != nil {
			gone, herr := goneFromSource(ctx, src, o, err)
			if herr != nil || !gone {
				return report, fmt.Errorf("verify %s: repair: %w", db, errors.Join(err, herr))
			}
			report.Vanished++
			continue
		}
		report.Repaired++
		if len(report.RepairedKey) < maxReportedKeys {
			report.RepairedKey = append(report.RepairedKey, o.Key)
		}
	}
	if deletes != nil {
		pass := deletePass{dst: dst, db: db, source: source, region: target.Region, policy: *deletes, etag: etag,
			generation: w.Generation, watermark: w.Time}
		d, err := pass.run(ctx, dl, sl, listed, globs)
		report.Deletes = &d
		if err != nil {
			return report, fmt.Errorf("verify %s: %w", db, err)
		}
	}
	return report, nil
}

// Compare checks every source blob, whatever the watermark, against the target and repairs
// nothing: the proof a planned switchover needs that the target holds the whole source
// (RPO 0). Report.Missing and Report.Mismatched are both 0 when it does.
func Compare(ctx context.Context, src, dst Store, db, rootPath string, exclude []string) (VerifyReport, error) {
	report, _, err := compare(ctx, src, dst, db, rootPath, exclude, time.Time{})
	return report, err
}

// compare returns the source blobs (at or before upTo, or all when upTo is zero) that are
// missing from the target or differ from it, by size and content: the ETag, or for a
// multipart copy the source ETag it records.
func compare(ctx context.Context, src, dst Store, db, rootPath string, exclude []string, upTo time.Time) (VerifyReport, []objectstore.Object, error) {
	sl, err := src.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return VerifyReport{Watermark: upTo}, nil, fmt.Errorf("compare %s: %w", db, err)
	}
	dl, err := dst.ListParallel(ctx, rootPath+"/")
	if err != nil {
		return VerifyReport{Watermark: upTo}, nil, fmt.Errorf("compare %s: %w", db, err)
	}
	return compareListings(ctx, dst, db, sl, dl, compileGlobs(exclude), upTo)
}

// compareListings is compare on listings of the source (sl) and of the target (dl).
func compareListings(ctx context.Context, dst Store, db string, sl, dl objectstore.Listing, globs []*regexp.Regexp, upTo time.Time) (VerifyReport, []objectstore.Object, error) {
	report := VerifyReport{Watermark: upTo}
	target := make(map[string]objectstore.Object, len(dl.Objects))
	for _, o := range dl.Objects {
		target[o.Key] = o
	}
	var differing []objectstore.Object
	for _, o := range sl.Objects {
		if (!upTo.IsZero() && o.LastModified.After(upTo)) || excluded(globs, o.Key) {
			continue
		}
		report.Checked++
		got, ok := target[o.Key]
		same := ok && got.Size == o.Size && got.ETag == o.ETag
		if ok && !same && got.Size == o.Size {
			info, err := dst.Head(ctx, o.Key)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return report, nil, fmt.Errorf("compare %s: %w", db, err)
			}
			same = err == nil && info.Metadata[MetaSourceETag] == o.ETag
		}
		switch {
		case same:
			continue
		case ok:
			report.Mismatched++
		default:
			report.Missing++
		}
		differing = append(differing, o)
		if len(report.DifferingKeys) < maxReportedKeys {
			report.DifferingKeys = append(report.DifferingKeys, o.Key)
		}
	}
	return report, differing, nil
}

// sameGeneration returns a *RefusedError (RefusedGeneration) if db's watermark record in dst
// no longer has generation gen. etag is the record's ETag when gen was read: while the record
// still has it, one HEAD suffices.
func sameGeneration(ctx context.Context, dst Store, db, region, etag string, gen int64) error {
	info, err := dst.Head(ctx, WatermarkKey(db))
	if err == nil && info.ETag == etag {
		return nil
	}
	w, found, err := ReadWatermark(ctx, dst, db)
	if err != nil {
		return err
	}
	if !found || w.Generation != gen {
		return &RefusedError{Database: db, Region: region, Reason: RefusedGeneration,
			Detail: fmt.Sprintf("the watermark record's generation went from %d to %d during the pass: it stops writing", gen, w.Generation)}
	}
	return nil
}
