package replication

import (
	"context"
	"fmt"
	"time"
)

// Primary records which region serves a database (DESIGN 5.8). It is written to every region's
// bucket by a failover, so that the next failover, and an operator, know the current primary
// even if Temporal's history is lost.
type Primary struct {
	Database string    `json:"database"`
	Region   string    `json:"region"`
	Since    time.Time `json:"since"`
	By       string    `json:"by,omitempty"` // the workflow that made it so
}

// PrimaryKey is where a bucket records the current primary of db.
func PrimaryKey(db string) string { return StateRoot + "/" + db + "/primary.json" }

// ReadPrimary reads the recorded primary of db; found is false when none was ever recorded.
func ReadPrimary(ctx context.Context, s Store, db string) (p Primary, found bool, err error) {
	found, err = readJSON(ctx, s, PrimaryKey(db), &p)
	if err != nil {
		return Primary{}, false, fmt.Errorf("read primary of %s: %w", db, err)
	}
	return p, found, nil
}

// WritePrimary records p; a whole-object write under a fixed key, so a retry writes the same.
func WritePrimary(ctx context.Context, s Store, p Primary) error {
	if err := writeJSON(ctx, s, PrimaryKey(p.Database), p); err != nil {
		return fmt.Errorf("record primary of %s: %w", p.Database, err)
	}
	return nil
}
