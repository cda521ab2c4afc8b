package database

import (
	"context"
	"fmt"
	"time"
)

// Milestone is one row of information_schema.MV_MILESTONES.
type Milestone struct {
	Name     string    `json:"name"`
	Time     time.Time `json:"time"` // UTC
	Database string    `json:"database"`
	Location string    `json:"location"` // "bucket/path" as the cluster reports it
}

// CreateMilestone runs CREATE MILESTONE "name" FOR db. The cluster uploads what is not yet
// in the bucket first. Running it again with the same name moves the milestone to now (as
// SingleStore does), so a retry is harmless.
func (c *Client) CreateMilestone(ctx context.Context, db, name string) error {
	const op = "create milestone"
	if err := checkDatabase(op, "database", db); err != nil {
		return err
	}
	if err := checkMilestone(op, "name", name); err != nil {
		return err
	}
	return c.exec(ctx, fmt.Sprintf("create milestone %s for %s", name, db),
		"CREATE MILESTONE "+quoteDouble(name)+" FOR "+quoteIdent(db))
}

// Milestones lists the milestones of db from information_schema.MV_MILESTONES, oldest first.
// SingleStore lists milestones of attached databases only, so a detached database has none
// here: callers that need history keep their own record.
func (c *Client) Milestones(ctx context.Context, db string) ([]Milestone, error) {
	const op = "milestones"
	if err := checkDatabase(op, "database", db); err != nil {
		return nil, err
	}
	// The literal is built, not a placeholder: a placeholder makes the driver prepare the
	// statement (or interpolate it, depending on the DSN), and the stand-in answers
	// MV_MILESTONES to text queries only. db has matched identPattern and is quoted anyway.
	q := "SELECT MILESTONE_NAME, MILESTONE_TIME, DATABASE_NAME, DATABASE_LOCATION FROM information_schema.MV_MILESTONES" +
		" WHERE DATABASE_NAME = " + quoteString(db) + " ORDER BY MILESTONE_TIME, MILESTONE_NAME"
	_, rows, err := c.rowsAsStrings(ctx, op+" of "+db, q)
	if err != nil {
		return nil, err
	}
	out := make([]Milestone, 0, len(rows))
	for _, r := range rows {
		t, err := parseDBTime(r[1])
		if err != nil {
			return nil, fmt.Errorf("%s of %s: milestone %s: %w", op, db, r[0], err)
		}
		out = append(out, Milestone{Name: r[0], Time: t, Database: r[2], Location: r[3]})
	}
	return out, nil
}

// parseDBTime reads a DATETIME as the driver returns it without parseTime (text, UTC), or
// with parseTime (RFC 3339 after conversion to text).
func parseDBTime(s string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("unreadable time %q", s)
}
