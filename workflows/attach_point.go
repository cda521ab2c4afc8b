package workflows

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// The point a replicated copy is attached at, for an unplanned failover and for a drill: at
// latest, at a recorded milestone, or at a time.

// checkAtShape checks that at (nil: latest) names a milestone or a time, not both.
func checkAtShape(at *FailoverAt) error {
	if at == nil {
		return nil
	}
	switch hasName, hasTime := at.Milestone != "", !at.Time.IsZero(); {
	case hasName && hasTime:
		return errors.New("at: milestone and time are exclusive; give one")
	case !hasName && !hasTime:
		return errors.New("at: give a milestone or a time, or leave at out to attach at latest")
	}
	return nil
}

// checkAttachAt checks that the copy of db in region to can be attached at at (nil: latest): a
// milestone recorded in to's bucket, or a time inside the retention window, and not past what
// the copy holds. Errors are invalid input naming the field.
func checkAttachAt(at *FailoverAt, st activities.CopyState, retention time.Duration, now time.Time, db, to string) error {
	if at == nil {
		return nil
	}
	latest := st.Watermark.Add(-attachMargin).Truncate(time.Second)
	if at.Milestone != "" {
		var names []string
		for _, m := range st.Milestones {
			names = append(names, m.Name)
			if m.Name != at.Milestone {
				continue
			}
			if m.Time.Add(attachMargin).After(st.Watermark) {
				return invalidInput(fmt.Sprintf("at.milestone: %q was made at %s, after what %s holds (replicated up to %s)",
					m.Name, utc(m.Time), to, utc(st.Watermark)))
			}
			return nil
		}
		slices.Sort(names)
		return invalidInput(fmt.Sprintf("at.milestone: no milestone %q of %s is recorded in %s's bucket (recorded: %s)",
			at.Milestone, db, to, orNone(names)))
	}
	if oldest := now.Add(-retention); at.Time.Before(oldest) {
		return invalidInput(fmt.Sprintf("at.time: %s is outside the retention window (failover.retention %s: nothing before %s)",
			utc(at.Time), retention, utc(oldest)))
	}
	if at.Time.After(latest) {
		return invalidInput(fmt.Sprintf("at.time: %s is after what %s holds (replicated up to %s); the latest time to attach at is %s",
			utc(at.Time), to, utc(st.Watermark), utc(latest)))
	}
	return nil
}

// attachPoint is an ATTACH's AT clause and the source time it stands for.
type attachPoint struct {
	milestone string
	time      time.Time
	words     string    // "latest", "milestone <name>" or "time <UTC>"
	stands    time.Time // the newest source write the attached database holds at most
}

// attachPointOf turns at (checked by checkAttachAt; nil: latest) into the attach point.
func attachPointOf(at *FailoverAt, st activities.CopyState) attachPoint {
	switch {
	case at != nil && at.Milestone != "":
		p := attachPoint{milestone: at.Milestone, words: "milestone " + at.Milestone, stands: st.Watermark}
		for _, m := range st.Milestones {
			if m.Name == at.Milestone {
				p.stands = m.Time
			}
		}
		return p
	case at != nil:
		t := at.Time.UTC().Truncate(time.Second)
		return attachPoint{time: t, words: "time " + utc(t), stands: t.Add(time.Second - time.Nanosecond)} // AT TIME takes its whole second
	}
	return attachPoint{words: "latest", stands: st.Watermark}
}
