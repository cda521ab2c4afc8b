package replication

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Milestone is a restore point recorded in the bucket (DESIGN 5.8): SingleStore lists
// milestones only for attached databases, so a failover that must attach at one reads this.
type Milestone struct {
	Database  string    `json:"database"`
	Name      string    `json:"name"`
	Region    string    `json:"region"` // where it was created
	Time      time.Time `json:"time"`   // the milestone's time as the database reports it
	CreatedBy string    `json:"createdBy,omitempty"`
}

// MilestonePrefix is where a database's milestones are recorded.
func MilestonePrefix(db string) string { return StateRoot + "/" + db + "/milestones/" }

// WriteMilestone records m; recording the same milestone again overwrites it (as SingleStore
// moves a milestone whose name is reused).
func WriteMilestone(ctx context.Context, s Store, m Milestone) error {
	if err := writeJSON(ctx, s, MilestonePrefix(m.Database)+m.Name+".json", m); err != nil {
		return fmt.Errorf("record milestone %s of %s: %w", m.Name, m.Database, err)
	}
	return nil
}

// ListMilestones returns the milestones recorded for db, oldest first.
func ListMilestones(ctx context.Context, s Store, db string) ([]Milestone, error) {
	l, err := s.List(ctx, MilestonePrefix(db))
	if err != nil {
		return nil, fmt.Errorf("list milestones of %s: %w", db, err)
	}
	var out []Milestone
	for _, o := range l.Objects {
		if !strings.HasSuffix(o.Key, ".json") {
			continue
		}
		var m Milestone
		found, err := readJSON(ctx, s, o.Key, &m)
		if err != nil {
			return nil, fmt.Errorf("list milestones of %s: %w", db, err)
		}
		if found { // deleted since the listing otherwise
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(a, b Milestone) int { return a.Time.Compare(b.Time) })
	return out, nil
}
