package replication

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
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
}

// Verify is the anti-entropy pass (DESIGN 5.1): it compares every source blob at or before the
// target's watermark with the target (size, and content by ETag or the recorded source ETag),
// copies any that is missing or different, and reports what it found. The incremental path
// should never miss a blob; this pass proves it, and repairs a target damaged behind our back.
// It is idempotent. In order: strict a repaired blob is below the watermark, so the target
// stays a prefix.
func Verify(ctx context.Context, src, dst Store, copier Copier, db, rootPath string, exclude []string) (VerifyReport, error) {
	w, found, err := ReadWatermark(ctx, dst, db)
	if err != nil || !found {
		return VerifyReport{}, err // nothing replicated yet: nothing to compare
	}
	report := VerifyReport{Watermark: w.Time}
	sl, err := src.List(ctx, rootPath+"/")
	if err != nil {
		return report, fmt.Errorf("verify %s: %w", db, err)
	}
	dl, err := dst.List(ctx, rootPath+"/")
	if err != nil {
		return report, fmt.Errorf("verify %s: %w", db, err)
	}
	target := make(map[string]int, len(dl.Objects))
	for i, o := range dl.Objects {
		target[o.Key] = i
	}
	globs := compileGlobs(exclude)
	for _, o := range sl.Objects {
		if o.LastModified.After(w.Time) || excluded(globs, o.Key) {
			continue
		}
		report.Checked++
		i, ok := target[o.Key]
		same := false
		if ok {
			got := dl.Objects[i]
			same = got.Size == o.Size && got.ETag == o.ETag
			if !same && got.Size == o.Size {
				// A multipart copy has its own ETag; it records the source's.
				info, err := dst.Head(ctx, o.Key)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					return report, fmt.Errorf("verify %s: %w", db, err)
				}
				same = err == nil && info.Metadata[MetaSourceETag] == o.ETag
			}
		}
		if same {
			continue
		}
		if ok {
			report.Mismatched++
		} else {
			report.Missing++
		}
		if err := copier.Copy(ctx, o, o.Key, CopyMetadata(o.LastModified, o.ETag)); err != nil {
			return report, fmt.Errorf("verify %s: repair: %w", db, err)
		}
		report.Repaired++
		if len(report.RepairedKey) < maxReportedKeys {
			report.RepairedKey = append(report.RepairedKey, o.Key)
		}
	}
	return report, nil
}
