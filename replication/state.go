package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"
)

// StateRoot is the folder of our own state in every bucket (DESIGN 5.8). It is outside every
// database's root path (config rejects a root path under it).
const StateRoot = ".bdr"

// Metadata keys carried by every copied blob (DESIGN 5.2): the source's LastModified and ETag.
const (
	MetaSourceLastModified = "bdr-source-last-modified"
	MetaSourceETag         = "bdr-source-etag"
)

// WatermarkKey is where the target records its watermark.
func WatermarkKey(db string) string { return StateRoot + "/" + db + "/watermark.json" }

// SecurityKey is where the buckets record the latest users/roles/groups/grants snapshot.
func SecurityKey(db string) string { return StateRoot + "/" + db + "/security/latest.json" }

// WriteSecurity records a users/roles/groups/grants snapshot of db at SecurityKey(db). The
// snapshot's shape belongs to the database package; here it is an opaque JSON object.
func WriteSecurity(ctx context.Context, s Store, db string, snapshot any) error {
	if err := writeJSON(ctx, s, SecurityKey(db), snapshot); err != nil {
		return fmt.Errorf("record security of %s: %w", db, err)
	}
	return nil
}

// ReadSecurity reads the snapshot recorded at SecurityKey(db) into snapshot; found is false
// when none was ever recorded.
func ReadSecurity(ctx context.Context, s Store, db string, snapshot any) (found bool, err error) {
	found, err = readJSON(ctx, s, SecurityKey(db), snapshot)
	if err != nil {
		return false, fmt.Errorf("read security of %s: %w", db, err)
	}
	return found, nil
}

// StagingPrefix is where order: strict copies blobs before moving them into place.
func StagingPrefix(db string) string { return StateRoot + "/" + db + "/staging/" }

// SealedPrefix is where sealing moves blobs beyond the watermark; never deleted by us.
func SealedPrefix(db, sealID string) string { return StateRoot + "/" + db + "/sealed/" + sealID + "/" }

// Watermark is the replication state a target holds: every source blob with LastModified <=
// Time is in the target with identical content.
type Watermark struct {
	Database string    `json:"database"`
	From     string    `json:"from"`
	To       string    `json:"to"`
	Time     time.Time `json:"time"`
	Key      string    `json:"key,omitempty"` // the last key of the completed prefix
	// Ahead lists the blobs whose copy had started beyond Time when the record was written;
	// with the blobs written after the record, they are all a target can hold beyond Time.
	Ahead         []string  `json:"ahead,omitempty"`
	CopiedObjects int64     `json:"copiedObjects"`
	CopiedBytes   int64     `json:"copiedBytes"`
	WrittenAt     time.Time `json:"writtenAt"` // the worker's clock; informational only
	// Generation is the record's fencing token (DESIGN 5a.4): a fence (WriteFence) and a seal
	// bump it, and a Sync that read another one refuses to write. A record written before
	// generations existed reads as 0.
	Generation int64 `json:"generation,omitempty"`
}

// ReadWatermark reads the target's watermark; found is false when there is none yet.
func ReadWatermark(ctx context.Context, s Store, db string) (w Watermark, found bool, err error) {
	found, err = readJSON(ctx, s, WatermarkKey(db), &w)
	if err != nil {
		return Watermark{}, false, fmt.Errorf("read watermark of %s: %w", db, err)
	}
	return w, found, nil
}

// WriteWatermark records w in the target. It is a whole-object write under a fixed key, so a
// retry writes the same thing.
func WriteWatermark(ctx context.Context, s Store, w Watermark) error {
	if err := writeJSON(ctx, s, WatermarkKey(w.Database), w); err != nil {
		return fmt.Errorf("write watermark of %s: %w", w.Database, err)
	}
	return nil
}

// bumpGeneration raises the generation of db's watermark record in s to at least atLeast and
// by one at least past the one it holds (creating the record if there is none), and returns
// the generation it wrote. Only the generation changes: the watermark stays as it is.
func bumpGeneration(ctx context.Context, s Store, db string, atLeast int64) (int64, error) {
	w, found, err := ReadWatermark(ctx, s, db)
	if err != nil {
		return 0, err
	}
	if !found {
		w = Watermark{Database: db}
	}
	if atLeast > 0 && w.Generation >= atLeast {
		return w.Generation, nil
	}
	w.Generation = max(w.Generation+1, atLeast)
	if err := WriteWatermark(ctx, s, w); err != nil {
		return 0, err
	}
	return w.Generation, nil
}

// readJSON decodes the JSON object at key into v; found is false when there is none.
func readJSON(ctx context.Context, s Store, key string, v any) (found bool, err error) {
	data, err := s.GetBytes(ctx, key)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("%s is not valid JSON: %w", key, err)
	}
	return true, nil
}

// writeJSON writes v as a whole JSON object at key: a retry writes the same thing.
func writeJSON(ctx context.Context, s Store, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return s.PutBytes(ctx, key, data, nil)
}

// CopyMetadata is the user metadata a copy of obj carries.
func CopyMetadata(lastModified time.Time, etag string) map[string]string {
	return map[string]string{
		MetaSourceLastModified: lastModified.UTC().Format(time.RFC3339Nano),
		MetaSourceETag:         etag,
	}
}
