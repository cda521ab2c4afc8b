package replication

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
)

// DrillPrefix is where a target's bucket records the reports of its database's drills.
func DrillPrefix(db string) string { return StateRoot + "/" + db + "/drills/" }

// DrillKey is where the report of drill id (its <yyyymmddhhmmss>) is recorded.
func DrillKey(db, id string) string { return DrillPrefix(db) + id + ".json" }

// WriteDrill records a drill's report. The report's shape belongs to the workflows package;
// here it is an opaque JSON object. A drill records its report as it starts (so that a live
// branch is listed) and again as it ends: the later write replaces the earlier.
func WriteDrill(ctx context.Context, s Store, db, id string, report any) error {
	if err := writeJSON(ctx, s, DrillKey(db, id), report); err != nil {
		return fmt.Errorf("record drill %s of %s: %w", id, db, err)
	}
	return nil
}

// ReadDrill reads the report of drill id into report; found is false when there is none.
func ReadDrill(ctx context.Context, s Store, db, id string, report any) (found bool, err error) {
	found, err = readJSON(ctx, s, DrillKey(db, id), report)
	if err != nil {
		return false, fmt.Errorf("read drill %s of %s: %w", id, db, err)
	}
	return found, nil
}

// ListDrills returns the recorded reports of db's drills as JSON, oldest first (their ids are
// UTC times, so the keys sort by time).
func ListDrills(ctx context.Context, s Store, db string) ([]json.RawMessage, error) {
	out, err := listRecords(ctx, s, DrillPrefix(db))
	if err != nil {
		return nil, fmt.Errorf("list drills of %s: %w", db, err)
	}
	return out, nil
}

// ListRecovered returns the records of db's recovered branches as JSON, oldest first.
func ListRecovered(ctx context.Context, s Store, db string) ([]json.RawMessage, error) {
	out, err := listRecords(ctx, s, RecoveredPrefix(db))
	if err != nil {
		return nil, fmt.Errorf("list recovered branches of %s: %w", db, err)
	}
	return out, nil
}

// listRecords reads every JSON record under prefix, in key order.
func listRecords(ctx context.Context, s Store, prefix string) ([]json.RawMessage, error) {
	l, err := s.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(l.Objects))
	for _, o := range l.Objects {
		if strings.HasSuffix(o.Key, ".json") {
			keys = append(keys, o.Key)
		}
	}
	slices.Sort(keys)
	out := make([]json.RawMessage, 0, len(keys))
	for _, key := range keys {
		var raw json.RawMessage
		found, err := readJSON(ctx, s, key, &raw)
		if err != nil {
			return nil, err
		}
		if found { // deleted since the listing otherwise
			out = append(out, raw)
		}
	}
	return out, nil
}
