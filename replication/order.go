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
	// Strict keeps the target a prefix of the source at every instant (order: strict): blobs
	// are copied in parallel into a staging area and moved into place one by one, in order.
	// Otherwise (order: sealed) they are copied into place in parallel, and a target is made
	// a prefix by sealing it before anything attaches.
	Strict bool
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
// the settle window, one second earlier again because listings and the Date header may be
// truncated to the second, and before the start of any multipart upload still in progress
// (a completed upload may appear with a LastModified in the past).
func NewPlan(l objectstore.Listing, uploads []objectstore.Upload, w time.Time, p Policy) Plan {
	plan := Plan{StoreTime: l.StoreTime, Cutoff: Cutoff(l.StoreTime, p.SettleWindow)}
	exclude := compileGlobs(p.Exclude)
	for i := range uploads {
		u := &uploads[i]
		if excluded(exclude, u.Key) {
			continue
		}
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

// Cutoff returns the newest LastModified that is settled at store time now.
//
// Both ends are whole seconds: now is truncated (the Date header has one-second resolution),
// and so is now minus the settle window, because at one-second LastModified resolution a blob
// listed at second S may have been written as late as S+0.999. A settle window that is not a
// whole number of seconds therefore counts as the next whole second.
func Cutoff(now time.Time, settle time.Duration) time.Time {
	return now.Truncate(time.Second).Add(-settle).Truncate(time.Second).Add(-time.Nanosecond)
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
