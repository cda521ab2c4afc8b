package replication

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
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
	// SealFrom, once a fence or a seal has rewritten the record, is the store time of the last
	// record before that rewrite (its LastModified): a blob written to the target since then
	// may be beyond Time, and a later seal inspects it. Without it, a seal retried after a
	// fence would take the fence's rewrite as the last checkpoint and miss the blobs a Sync
	// wrote between its last checkpoint and the fence. It is kept by every later write.
	SealFrom time.Time `json:"sealFrom,omitzero"`
	// Source and Target say which folder the record replicates from and to. A Sync or Verify
	// of another pair refuses the record (CheckRecordSource): its watermark says nothing of
	// that source's blobs. Records written before they existed have neither; the first Sync
	// that accepts such a record rewrites it with them.
	Source *Endpoint `json:"source,omitempty"`
	Target *Endpoint `json:"target,omitempty"`
	// Below is the Digest of the source blobs at or before Time, as the listings the record
	// was planned from showed them (excluded ones left out): a later listing whose blobs at
	// or before Time digest otherwise has late blobs to report (or deletions). Nil in records
	// written before it existed.
	Below *Digest `json:"below,omitempty"`
}

// Endpoint is one side of a replication: a database's folder in one region's bucket.
type Endpoint struct {
	Region   string `json:"region"`
	Bucket   string `json:"bucket"`
	RootPath string `json:"rootPath"`
}

func (e Endpoint) String() string { return e.Region + ":" + e.Bucket + "/" + e.RootPath }

// CheckRecordSource returns a *RefusedError (RefusedSource) when the target's record w was
// written by a replication other than source -> target. A record that names no endpoints
// (written before they existed) is checked by its From and To regions, when it has them; a
// record with neither (one a fence created) is accepted.
func CheckRecordSource(w Watermark, source, target Endpoint) error {
	refuse := func(detail string) error {
		return &RefusedError{Database: w.Database, Region: target.Region, Reason: RefusedSource,
			Detail: detail + "; move " + WatermarkKey(w.Database) + " aside if the target is to be replicated from scratch"}
	}
	switch {
	case w.Source != nil && *w.Source != source:
		return refuse(fmt.Sprintf("the watermark record's source is %s, not %s", w.Source, source))
	case w.Target != nil && *w.Target != target:
		return refuse(fmt.Sprintf("the watermark record's target is %s, not %s", w.Target, target))
	case w.Source == nil && w.From != "" && w.From != source.Region:
		return refuse(fmt.Sprintf("the watermark record replicates from %s, not %s", w.From, source.Region))
	case w.Target == nil && w.To != "" && w.To != target.Region:
		return refuse(fmt.Sprintf("the watermark record replicates to %s, not %s", w.To, target.Region))
	}
	return nil
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

// readWatermarkETag reads the target's watermark record and its ETag ("" when there is none),
// for a conditional write after it.
func readWatermarkETag(ctx context.Context, s Store, db string) (w Watermark, etag string, found bool, err error) {
	data, etag, err := s.GetBytesETag(ctx, WatermarkKey(db))
	if errors.Is(err, os.ErrNotExist) {
		return Watermark{}, "", false, nil
	}
	if err != nil {
		return Watermark{}, "", false, fmt.Errorf("read watermark of %s: %w", db, err)
	}
	if err := json.Unmarshal(data, &w); err != nil {
		return Watermark{}, "", false, fmt.Errorf("read watermark of %s: %s is not valid JSON: %w", db, WatermarkKey(db), err)
	}
	return w, etag, true, nil
}

// marshalRecord is how every record is written, so that a record read back can be compared
// byte for byte with one written.
func marshalRecord(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }

// maxBumpAttempts bounds how often bumpGeneration retries when a Sync writes the record
// between its read and its write: each retry follows a checkpoint that has landed.
const maxBumpAttempts = 20

// bumpGeneration raises the generation of db's watermark record in s by one past the one it
// holds, or to atLeast if that is higher, and returns the generation it wrote; with atLeast > 0
// and a record already there, it writes nothing. It creates the record if there is none. Only
// the generation (and SealFrom, set to sealFrom if the record has none) changes: the
// watermark stays. The write is conditional on the record read, so a Sync checkpointing
// meanwhile cannot undo the bump: it fails its own conditional write instead, and stops.
func bumpGeneration(ctx context.Context, s Store, db string, atLeast int64, sealFrom time.Time) (int64, error) {
	for range maxBumpAttempts {
		w, etag, found, err := readWatermarkETag(ctx, s, db)
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
		if w.SealFrom.IsZero() {
			w.SealFrom = sealFrom
		}
		data, err := marshalRecord(w)
		if err != nil {
			return 0, err
		}
		_, err = s.PutBytesIf(ctx, WatermarkKey(db), data, nil, etag)
		if errors.Is(err, objectstore.ErrPreconditionFailed) {
			continue // a checkpoint landed in between: bump that one
		}
		if err != nil {
			return 0, fmt.Errorf("bump the generation of %s: %w", db, err)
		}
		return w.Generation, nil
	}
	return 0, fmt.Errorf("bump the generation of %s: the record kept changing (%d attempts)", db, maxBumpAttempts)
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
	data, err := marshalRecord(v)
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
