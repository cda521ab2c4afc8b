package replication

import (
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// Policy is what the planner needs of the configuration.
type Policy struct {
	SettleWindow    time.Duration
	BatchMaxObjects int
	BatchMaxBytes   int64
	Exclude         []string // globs; '*' matches any run of characters, '/' included
	// Quiescent says the source takes no more writes (its database is detached, which uploads
	// everything first): every listed blob is settled, so the cutoff is the newest one listed,
	// unless an upload in progress holds it back. A planned switchover's drain uses it.
	Quiescent bool
	// Strict keeps the target a prefix of the source at every instant (order: strict): blobs
	// are copied in parallel into a staging area and moved into place one by one, in order.
	// Otherwise (order: sealed) they are copied into place in parallel, and a target is made
	// a prefix by sealing it before anything attaches.
	Strict bool
	// NoEarlyCopies copies only eligible blobs: no copy starts from a hint (early.go).
	NoEarlyCopies bool
}

// Plan is the next stretch of work: the eligible blobs beyond the watermark, in write order.
type Plan struct {
	// Eligible are the blobs to copy, in (LastModified, key) order.
	Eligible []objectstore.Object
	// Cutoff is the newest LastModified that is settled: once every eligible blob is in the
	// target, the watermark may move to Cutoff.
	Cutoff time.Time
	// HeldBy is the in-progress multipart upload that holds Cutoff back, if any.
	HeldBy *objectstore.Upload
	// Source totals, for status: every non-excluded blob, and the newest write seen.
	TotalObjects, TotalBytes int64
	NewestWrite              time.Time
	StoreTime                time.Time
}

// Less orders blobs by write order: LastModified, then key (DESIGN 5.1). Blobs listed with the
// same LastModified have no order the store can show, and the watermark never separates them.
func Less(a, b objectstore.Object) bool {
	if !a.LastModified.Equal(b.LastModified) {
		return a.LastModified.Before(b.LastModified)
	}
	return a.Key < b.Key
}

// NewPlan computes the eligible blobs of a source listing beyond watermark w.
//
// A blob is eligible when its LastModified is at or before the cutoff: the store's clock minus
// the settle window, earlier again by up to one step of the listing's LastModified resolution
// (see Cutoff), and before the start of any multipart upload still in progress (a completed
// upload may appear with a LastModified in the past).
func NewPlan(l objectstore.Listing, uploads []objectstore.Upload, w time.Time, p Policy) Plan {
	return NewPlanAt(l, uploads, l.StoreTime, w, p)
}

// NewPlanAt is NewPlan for uploads listed at store time uploadsAt, before the listing l: the
// cutoff is taken at the earlier of the two times. Only an upload begun before uploadsAt is
// known to the plan; one begun later starts after that time, so a cutoff before it cannot
// pass it, whatever LastModified its blob shows when it completes.
func NewPlanAt(l objectstore.Listing, uploads []objectstore.Upload, uploadsAt, w time.Time, p Policy) Plan {
	now := l.StoreTime
	if !uploadsAt.IsZero() && uploadsAt.Before(now) {
		now = uploadsAt
	}
	plan := Plan{StoreTime: l.StoreTime, Cutoff: Cutoff(now, p.SettleWindow, l.Resolution)}
	exclude := compileGlobs(p.Exclude)
	if p.Quiescent {
		for _, o := range l.Objects {
			if !excluded(exclude, o.Key) && o.LastModified.After(plan.Cutoff) {
				plan.Cutoff = o.LastModified
			}
		}
	}
	for i := range uploads {
		u := &uploads[i]
		if excluded(exclude, u.Key) {
			continue
		}
		// Whole seconds whatever the resolution: what LastModified the completed blob will
		// show is up to the store, and the start of the upload's second is never after it.
		if held := u.Initiated.Truncate(time.Second).Add(-time.Nanosecond); held.Before(plan.Cutoff) {
			plan.Cutoff, plan.HeldBy = held, u
		}
	}
	for _, o := range l.Objects {
		if excluded(exclude, o.Key) {
			continue
		}
		plan.TotalObjects++
		plan.TotalBytes += o.Size
		if o.LastModified.After(plan.NewestWrite) {
			plan.NewestWrite = o.LastModified
		}
		if o.LastModified.After(w) && !o.LastModified.After(plan.Cutoff) {
			plan.Eligible = append(plan.Eligible, o)
		}
	}
	slices.SortFunc(plan.Eligible, func(a, b objectstore.Object) int {
		switch {
		case Less(a, b):
			return -1
		case Less(b, a):
			return 1
		}
		return 0
	})
	if plan.Cutoff.Before(w) {
		plan.Cutoff = w // the watermark never moves back
	}
	return plan
}

// Cutoff returns the newest LastModified that is settled at store time now, for a listing
// whose LastModified values are whole multiples of res (objectstore.Listing.Resolution; zero
// or more than a second counts as a second).
//
// A blob's LastModified is the start of its PUT rounded down to the store's resolution, of
// which res is a multiple, so a blob listed at L may have begun as late as just before L+res.
// Hence now, and now minus the settle window, are both rounded down to res: with Y that
// result and the cutoff Y - 1ns, a blob at or before the cutoff has L <= Y - res, so it began
// before Y <= now - settle, more than the settle window before now.
// At one second (AWS S3) a settle window that is not a whole number of seconds counts as the
// next whole second; at MinIO's milliseconds the cutoff is within two milliseconds of
// now - settle.
func Cutoff(now time.Time, settle, res time.Duration) time.Time {
	res = step(res)
	return now.Truncate(res).Add(-settle).Truncate(res).Add(-time.Nanosecond)
}

// EligibleAt returns the earliest store time at which Cutoff reaches a blob written at
// lastModified: the inverse of Cutoff, for telling how long to wait for the next blob.
func EligibleAt(lastModified time.Time, settle, res time.Duration) time.Time {
	res = step(res)
	// Cutoff(now) >= lm exactly when now rounded down to res is at least lm + 1ns rounded up
	// to res, plus the settle window rounded up to res.
	settle = (settle + res - 1) / res * res
	return roundUp(lastModified.Add(time.Nanosecond), res).Add(settle)
}

// step returns res as a usable resolution: one second when unknown or coarser.
func step(res time.Duration) time.Duration {
	if res <= 0 || res > time.Second {
		return time.Second
	}
	return res
}

// roundUp returns t rounded up to a multiple of d (since the zero time, as Truncate).
func roundUp(t time.Time, d time.Duration) time.Time {
	if r := t.Truncate(d); !r.Equal(t) {
		return r.Add(d)
	}
	return t
}

// NextEligible returns when, by the store's clock, the oldest blob of l written after w (and
// not excluded) becomes eligible under policy p, and false if l holds none.
func NextEligible(l objectstore.Listing, w time.Time, p Policy) (time.Time, bool) {
	exclude := compileGlobs(p.Exclude)
	var oldest time.Time
	for _, o := range l.Objects {
		if o.LastModified.After(w) && (oldest.IsZero() || o.LastModified.Before(oldest)) && !excluded(exclude, o.Key) {
			oldest = o.LastModified
		}
	}
	if oldest.IsZero() {
		return time.Time{}, false
	}
	return EligibleAt(oldest, p.SettleWindow, l.Resolution), true
}

// Pending counts the blobs of a listing written after w (not yet known to be in the target).
func Pending(l objectstore.Listing, w time.Time, excludes []string) (objects, bytes int64) {
	exclude := compileGlobs(excludes)
	for _, o := range l.Objects {
		if o.LastModified.After(w) && !excluded(exclude, o.Key) {
			objects++
			bytes += o.Size
		}
	}
	return objects, bytes
}

// Excluded reports whether key matches one of the globs.
func Excluded(globs []string, key string) bool { return excluded(compileGlobs(globs), key) }

func excluded(res []*regexp.Regexp, key string) bool {
	for _, re := range res {
		if re.MatchString(key) {
			return true
		}
	}
	return false
}

func compileGlobs(globs []string) []*regexp.Regexp {
	res := make([]*regexp.Regexp, 0, len(globs))
	for _, g := range globs {
		parts := strings.Split(g, "*")
		for i := range parts {
			parts[i] = regexp.QuoteMeta(parts[i])
		}
		res = append(res, regexp.MustCompile("^"+strings.Join(parts, ".*")+"$"))
	}
	return res
}
