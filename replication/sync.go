package replication

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// SyncInput says what one Sync call copies. It names no credentials: the stores are given.
type SyncInput struct {
	Database, From, To string
	RootPath           string
	// SourceBucket and TargetBucket name the buckets, for the record's Source and Target.
	SourceBucket, TargetBucket string
	Policy                     Policy
	Concurrency                int
	// Watermark is the caller's last known watermark; the target's own record wins if newer.
	Watermark time.Time
	// Drain ignores the settle window: copy everything that exists now.
	Drain bool
	// VerifyExisting checks each target blob first and skips one that is already in (same
	// size and source ETag): used when resuming after a crash, so nothing is copied twice.
	VerifyExisting bool
	// Wait delays the call's start by that long: the previous call's NextEligibleIn, when the
	// caller has nothing to do until the next blob is eligible, or a poll interval when it
	// knows of none. Cancelling ctx ends it, and so does a hint (Hints): the call's first
	// listing shows its blob and copies it early.
	Wait time.Duration
	// Budget bounds how long one call keeps starting copies; what is done is checkpointed.
	Budget time.Duration
	// CheckpointEvery bounds how often the watermark record is written while copying; the
	// record is written too whenever everything listed so far is in.
	CheckpointEvery time.Duration
	// Follow keeps a caught-up call going for up to that long after it began copying (within
	// Budget): while the next blob it listed beyond what it copies becomes eligible within
	// PollInterval, it waits for that, lists again and copies what became eligible, each
	// listing overlapping the copies of the one before. Under a steady write load a blob then
	// waits for one listing to start instead of a listing, a batch, a checkpoint and a round
	// trip through the workflow. The call returns when the next blob is further away, an
	// upload in progress holds the cutoff, or Follow is over. Ignored with Drain.
	//
	// With Hints the call is the only reader of hints: between two calls a hint waits for the
	// next (activities.Hints holds it), so a blob written then reached the target only after
	// that gap (the last copies and checkpoint, the workflow's round trip, the next call's
	// start): the bench found most of the slowest 1% written there. A longer Follow makes
	// that gap rarer (activities: hintFollow).
	Follow       time.Duration
	PollInterval time.Duration
	// Hints, if set, names keys that may be new in the source (bucket notifications): the
	// call copies such a blob at once, before it is eligible, and the window skips it then
	// (early.go). Read while the call follows; what a hint says changes nothing but speed.
	Hints <-chan string
	// HintedListingGap is, while Hints flow, the shortest time from one follow listing's start
	// to the next. The hints bring the data early; the listings then only move the watermark,
	// which the record shows only as often as it is written (CheckpointEvery), so listing
	// back to back moved little that anyone sees, at the cost of the source's CPU, which the
	// copies share. On the bench's steady load (200 blobs/s, a folder growing to 6,000 blobs,
	// 2 cores; separate runs, so roughly), 250 ms took the listings in 30 s from 214 to 120-141
	// and the data-in-target p99 with notifications from 0.35 s to 0.17-0.20 s, the
	// watermark's p99 still under the settle window + 1 s. Zero: back to back.
	HintedListingGap time.Duration
	// Below, if set, is the worker's memory of the source blobs each replication's record
	// vouched for at its watermark (belowset.go): with it, a call that finds them changed
	// (garbage collection deleted some) looks for late blobs only among the new ones.
	Below *BelowCache
	// Alive, if set, says whether the caller may still write: the Sync activity returns an
	// error once Temporal has not acknowledged a heartbeat for the heartbeat timeout (the
	// activity may already run again elsewhere). It is called before every copy starts, at
	// every checkpoint and every guardEvery, so it must be cheap; once it fails, no copy
	// starts and no record is written.
	Alive func() error
}

// SyncResult is the state after one Sync call.
type SyncResult struct {
	Watermark      Watermark `json:"watermark"`
	CopiedObjects  int64     `json:"copiedObjects"` // by this call
	CopiedBytes    int64     `json:"copiedBytes"`
	SkippedObjects int64     `json:"skippedObjects"` // already in the target
	// VanishedObjects counts listed blobs this call did not copy because the source no longer
	// held them as listed when their copy began: deleted (a database's garbage collection)
	// or overwritten since the listing. Not an error: a blob that is gone is no longer part
	// of the source's history, and an overwritten one is listed again with its new time.
	VanishedObjects int64 `json:"vanishedObjects,omitempty"`
	// EarlyObjects counts the copies, among CopiedObjects, started from hints before their
	// blob was eligible (early.go).
	EarlyObjects   int64     `json:"earlyObjects,omitempty"`
	PendingObjects int64     `json:"pendingObjects"` // source blobs newer than the watermark
	PendingBytes   int64     `json:"pendingBytes"`
	TotalObjects   int64     `json:"totalObjects"` // source blobs, excluded ones left out
	TotalBytes     int64     `json:"totalBytes"`
	NewestWrite    time.Time `json:"newestWrite"` // newest LastModified in the source
	StoreTime      time.Time `json:"storeTime"`   // the source's clock at the listing
	HeldBy         string    `json:"heldBy,omitempty"`
	// HeldSince is when the upload holding the watermark back began (zero: none holds it).
	HeldSince time.Time `json:"heldSince,omitzero"`
	CaughtUp  bool      `json:"caughtUp"` // everything eligible at the listing is in
	// LateObjects counts the source blobs that showed up at or before a watermark already
	// past them (DESIGN 5a.6): missing from the target, and never to be copied by the
	// incremental path, which plans beyond the watermark. LateKeys are the first few.
	// VerifyWanted asks the caller for an anti-entropy pass (Verify), which copies them.
	LateObjects  int64    `json:"lateObjects,omitempty"`
	LateKeys     []string `json:"lateKeys,omitempty"`
	VerifyWanted bool     `json:"verifyWanted,omitempty"`
	// NextEligibleIn is how long after the call returned, by the store's clock, the oldest
	// source blob it listed beyond the watermark becomes eligible: from a millisecond up to
	// maxNextEligible, zero when it listed none or an upload in progress holds the cutoff
	// (then nothing listed tells when there is more to copy).
	NextEligibleIn time.Duration `json:"nextEligibleIn,omitempty"`
	// ListRounds is how many listings of the source the call made, ListRequests the LIST
	// requests they took (blobs and uploads; S3 bills them by the thousand), and Elapsed how
	// long the call ran: the listing's cost per round and per second.
	ListRounds   int           `json:"listRounds,omitempty"`
	ListRequests int           `json:"listRequests,omitempty"`
	Elapsed      time.Duration `json:"elapsed,omitempty"`
}

// maxNextEligible bounds SyncResult.NextEligibleIn: a blob listed with a LastModified far
// ahead of the store's clock must not stop replication for long.
const maxNextEligible = time.Minute

// Progress is reported while a Sync call copies, each time the watermark record moves. It is
// the Sync activity's heartbeat: counts only, no keys and no credentials. The record's totals
// and the source count let a reader show a call's progress before it returns.
type Progress struct {
	Watermark       time.Time `json:"watermark"`
	CopiedObjects   int64     `json:"copiedObjects"` // by this call
	CopiedBytes     int64     `json:"copiedBytes"`
	SkippedObjects  int64     `json:"skippedObjects"`
	VanishedObjects int64     `json:"vanishedObjects,omitempty"`
	Eligible        int       `json:"eligible"`
	// RecordCopiedObjects and RecordCopiedBytes are the record's totals: every copy since
	// replication began, this call's included.
	RecordCopiedObjects int64 `json:"recordCopiedObjects,omitempty"`
	RecordCopiedBytes   int64 `json:"recordCopiedBytes,omitempty"`
	// TotalObjects is the number of source blobs the last listing found, exclusions left out.
	TotalObjects int64 `json:"totalObjects,omitempty"`
}

// Sync copies the eligible source blobs beyond the watermark to the target in write order,
// in parallel inside a bounded window, and moves the target's watermark record as the
// completed prefix grows. It is idempotent and resumable: a second call after a crash starts
// from the target's watermark, and with VerifyExisting skips blobs already copied. It writes
// nothing into a target that CheckTarget refuses (a *RefusedError).
func Sync(ctx context.Context, src, dst Store, copier Copier, in SyncInput, progress func(Progress)) (SyncResult, error) {
	// A hint ends the wait only for a call that copies early: for another the hinted blob is
	// not eligible any sooner, and listing at once would only turn calls over.
	waitHints := in.Hints
	if !in.copiesEarly() {
		waitHints = nil
	}
	if err := waitOrHint(ctx, in.Wait, waitHints); err != nil {
		return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
	}
	began := time.Now()
	// After the wait: a failover may have fenced the target meanwhile.
	if err := CheckTarget(ctx, dst, in.Database, in.To); err != nil {
		return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
	}
	// The record and its ETag: every checkpoint is a write conditional on that ETag (the
	// fencing token, DESIGN 5a.4), so a fence or a seal in between stops this call.
	stored, etag, _, err := readWatermarkETag(ctx, dst, in.Database)
	if err != nil {
		return SyncResult{}, err
	}
	source, target := in.endpoints()
	if err := CheckRecordSource(stored, source, target); err != nil {
		return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
	}
	state := stored
	state.Database, state.From, state.To = in.Database, in.From, in.To
	state.Source, state.Target = &source, &target
	state.Time = later(stored.Time, in.Watermark)
	prefix := in.RootPath + "/"
	policy := in.Policy
	if in.Drain {
		policy.SettleWindow = 0
	}
	exclude := compileGlobs(in.Policy.Exclude)
	s := &syncer{in: in, src: src, dst: dst, copier: copier, progress: progress, prefix: prefix, policy: policy,
		state: state, base: state, etag: etag, generation: stored.Generation, exclude: exclude,
		// A record without its endpoints (or none at all) is written at the first checkpoint.
		rewrite:     stored.Source == nil || stored.Target == nil,
		carriedKeys: keySet(stored.Ahead), earlySlots: make(chan struct{}, max(1, in.Concurrency))}
	s.changed = sync.NewCond(&s.mu)
	// Early copies end before the call does, whatever ends it.
	defer s.earlyWG.Wait()
	first, err := s.firstListing(ctx)
	if err != nil {
		return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
	}
	var existing map[string]objectstore.Object
	aheadKeys := stored.Ahead
	if in.VerifyExisting {
		inRecord := keySet(stored.Ahead)
		// One listing of the target instead of a HEAD per blob: on a fresh target (every
		// run's first sync) a HEAD per blob doubled the requests of the initial sync.
		since, err := recordTime(ctx, dst, in.Database)
		if err != nil {
			return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
		}
		tl, err := dst.ListParallel(ctx, prefix)
		if err != nil {
			return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
		}
		existing = make(map[string]objectstore.Object, len(tl.Objects))
		for _, o := range tl.Objects {
			existing[o.Key] = o
			// Written after the record by a call that ended without its last checkpoint (a
			// crash): possibly beyond the watermark and in no record's Ahead. This call's
			// records list them until its watermark passes them, as sealing needs.
			if !o.LastModified.Before(since) && !inRecord[o.Key] {
				aheadKeys = append(aheadKeys, o.Key)
			}
		}
	}
	if in.Policy.Strict && in.VerifyExisting {
		// A strict call that stopped early may have left staged copies; they are copied
		// again if still needed, so they can go.
		if err := clearPrefix(ctx, dst, StagingPrefix(in.Database)); err != nil {
			return SyncResult{}, fmt.Errorf("sync %s: clear staging: %w", in.Database, err)
		}
	}
	// The blobs at or before the record's watermark, as this listing shows them: any change
	// since the record was written is a late blob (or a deletion) to look for.
	below := digestUpTo(first.listing, state.Time, exclude)
	storedBelow := below // the record's own watermark is almost always state.Time
	if !stored.Time.Equal(state.Time) {
		storedBelow = digestUpTo(first.listing, stored.Time, exclude)
	}
	var found late
	if stored.Below != nil && *stored.Below != storedBelow {
		var known func(objectstore.Object) bool
		if set, ok := in.Below.matching(belowCacheKey(in), stored.Time, stored.Below); ok && stored.Time.Equal(state.Time) {
			known = set.holds
		}
		if found, err = lookForLate(ctx, dst, prefix, first.listing, state.Time, exclude, nil, known); err != nil {
			return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
		}
	}
	var windowDigest Digest
	for _, o := range first.plan.Eligible {
		windowDigest.add(o)
	}
	carried, err := resolveUnlisted(ctx, dst, carryAhead(aheadKeys, first.listing), !in.VerifyExisting)
	if err != nil {
		return SyncResult{}, fmt.Errorf("sync %s: %w", in.Database, err)
	}
	s.mu.Lock()
	s.existing, s.below, s.windowDigest, s.late = existing, below, windowDigest, found
	s.window = NewWindow(first.plan.Eligible, state.Time, first.plan.Cutoff, max(1, in.Policy.BatchMaxObjects))
	s.carried, s.carriedKeys, s.last, s.checked = carried, carriedKeySet(carried), first, first.listing
	s.listRounds, s.listRequests, s.windowPending = 1, first.requests, countKeys(nil, first.plan.Eligible)
	s.distrustEarly(first.plan.Eligible)
	s.mu.Unlock()
	copyErr := s.run(ctx)
	// Checkpoint what is in even after an error, so a retry does not copy it again.
	if err := s.checkpoint(context.WithoutCancel(ctx)); err != nil && copyErr == nil {
		copyErr = err
	}
	// The result describes the last listing: the one the watermark was planned from.
	last := s.last
	if in.Below != nil {
		in.Below.remember(belowCacheKey(in), s.belowSet(), s.state.Time, s.state.Below)
	}

	res := SyncResult{
		Watermark: s.state, CopiedObjects: s.copied, CopiedBytes: s.copiedBytes, SkippedObjects: s.skipped,
		VanishedObjects: s.vanished, EarlyObjects: s.earlyCopied,
		TotalObjects: last.plan.TotalObjects, TotalBytes: last.plan.TotalBytes, NewestWrite: last.plan.NewestWrite,
		StoreTime: last.plan.StoreTime, CaughtUp: copyErr == nil && s.window.Complete(),
		LateObjects: s.late.count, LateKeys: s.late.keys, VerifyWanted: s.late.count > 0,
		ListRounds: s.listRounds, ListRequests: s.listRequests, Elapsed: time.Since(began),
	}
	// The keys in flight stay in the bucket's record; the result goes into workflow history,
	// which must stay small.
	res.Watermark.Ahead = nil
	res.PendingObjects, res.PendingBytes = Pending(last.listing, s.state.Time, in.Policy.Exclude)
	if last.plan.HeldBy != nil {
		res.HeldBy = fmt.Sprintf("%s (multipart upload started %s)", last.plan.HeldBy.Key, last.plan.HeldBy.Initiated.UTC().Format(time.RFC3339))
		res.HeldSince = last.plan.HeldBy.Initiated
	} else {
		res.NextEligibleIn = nextEligibleIn(last.listing, s.state.Time, policy, time.Since(last.listedAt))
	}
	return res, copyErr
}

// sleep waits for d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error { return waitOrHint(ctx, d, nil) }

// waitOrHint waits for d, or until a hint arrives (never, with hints nil), or ctx ends. The
// hint itself is not needed again: the listing that follows shows its blob, young, and copies
// it early (hintListed).
func waitOrHint(ctx context.Context, d time.Duration, hints <-chan string) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	case <-hints:
	}
	return nil
}

// nextEligibleIn returns how long from now the oldest blob of l beyond w becomes eligible,
// elapsed after the listing began (the store's clock is the listing's StoreTime plus the time
// elapsed here: both clocks run at the same rate over seconds). It is zero if l holds none.
func nextEligibleIn(l objectstore.Listing, w time.Time, p Policy, elapsed time.Duration) time.Duration {
	next, ok := NextEligible(l, w, p)
	if !ok {
		return 0
	}
	return min(max(next.Sub(l.StoreTime.Add(elapsed)), time.Millisecond), maxNextEligible)
}

type syncer struct {
	in       SyncInput
	src, dst Store
	copier   Copier
	progress func(Progress)
	prefix   string
	policy   Policy // in.Policy, with no settle window when draining

	base           Watermark                     // the record when the call started
	generation     int64                         // the record's generation when the call started
	rewrite        bool                          // the record lacks its endpoints: write it; mu
	exclude        []*regexp.Regexp              // in.Policy.Exclude
	below          Digest                        // source blobs at or before the window's start, the window's excepted; mu
	windowDigest   Digest                        // every blob of the window, vanished ones left out; mu
	doneDigest     Digest                        // the window's first digested blobs; mu
	digested       int                           // how many of the window's blobs doneDigest holds; mu
	late           late                          // blobs found at or before a watermark already past them; mu
	etag           string                        // the record's ETag as last read or written; checkpointMu
	existing       map[string]objectstore.Object // the target's blobs at the start, with VerifyExisting
	checkpointMu   sync.Mutex
	mu             sync.Mutex
	changed        *sync.Cond
	window         *Window
	carried        []carriedKey // the record's Ahead when the call began
	carriedKeys    map[string]bool
	early          map[string]*earlyCopy // copies started from hints, by key; mu
	earlyWG        sync.WaitGroup
	earlySlots     chan struct{}  // bounds the early copies in flight
	earlyCopied    int64          // early copies that landed; mu
	windowPending  map[string]int // keys of the window's blobs not in yet: no early copy of them; mu
	listRounds     int            // listings of the source; mu
	listRequests   int            // the LIST requests they took; mu
	state          Watermark
	copied         int64
	copiedBytes    int64
	skipped        int64
	vanished       int64        // listed blobs gone from the source when their copy began; mu
	vanishedAt     map[int]bool // their places in the window, left out of the digests; mu
	inflightBytes  int64
	stage          []uint8 // order: strict only
	copiersDone    bool
	lastCheckpoint time.Time
	last           round // the newest listing, the one the window's cutoff comes from
	// checked is the newest listing whose blobs at or before the cutoff checkBelow compared
	// with what the call knew (last, or a later one the window was not extended with): the
	// set of blobs the record's Below digests, at or before its watermark.
	checked       objectstore.Listing
	following     bool      // a follow goroutine may still extend the window
	stopFollowing bool      // the dispatcher is done: extend the window no more
	recording     bool      // a checkpoint is writing the record: no copy starts; mu
	lastHint      time.Time // when the call last looked at a hint for its folder; mu
}

// round is one listing of the source and what it made eligible.
type round struct {
	listing  objectstore.Listing
	plan     Plan
	listedAt time.Time // local time when the listing began
	requests int       // LIST requests, the uploads' included
}

// listRound lists the source under prefix and plans what is eligible beyond from.
//
// Uploads are listed first: an upload completed between the two requests then shows in the
// listing. Listed the other way round, it would be in neither and its LastModified (its
// start, possibly long ago) could fall behind the watermark: never copied. For the same
// reason the cutoff is taken from the store's time of the uploads listing, not the later one
// of the blobs: an upload begun between the two requests is in neither listing, and would
// complete with a LastModified (its start) below a cutoff taken at the second. Begun after
// the first request, it starts after the cutoff (NewPlanAt). The whole folder
// is listed every round, so its speed bounds the lag: parallel requests list 12,000 blobs in
// 8 folders about 1.5 times faster (BenchmarkListing in objectstore).
func listRound(ctx context.Context, src Store, prefix string, from time.Time, p Policy) (round, error) {
	uploads, err := src.ListUploads(ctx, prefix)
	if err != nil {
		return round{}, err
	}
	listedAt := time.Now()
	listing, err := src.ListParallel(ctx, prefix)
	if err != nil {
		return round{}, err
	}
	return round{listing: listing, plan: NewPlanAt(listing, uploads.Uploads, uploads.StoreTime, from, p), listedAt: listedAt,
		requests: uploads.Requests + listing.Requests}, nil
}

// firstListing lists the source for the call's first round. Hints are read meanwhile, so
// that a blob a notification names is copied at once rather than after the listing, which
// takes seconds in a folder of 100,000 blobs (early.go: before the window exists, a blob
// beyond the record's watermark may be copied early; distrustEarly settles what the listing
// then shows of the same keys). Not in a resumed call, which learns what the target holds
// only after this listing.
func (s *syncer) firstListing(ctx context.Context) (round, error) {
	if s.in.Hints == nil || s.in.Follow <= 0 || !s.earlyAllowed() || s.in.VerifyExisting {
		return listRound(ctx, s.src, s.prefix, s.state.Time, s.policy)
	}
	hctx, stop := context.WithCancel(ctx)
	var hinting sync.WaitGroup
	hinting.Add(1)
	go s.consumeHints(hctx, ctx, s.in.Hints, &hinting)
	r, err := listRound(ctx, s.src, s.prefix, s.state.Time, s.policy)
	stop()
	hinting.Wait()
	return r, err
}

func (s *syncer) run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	// Wake the dispatcher when copying stops early (a failed copy or a cancelled call).
	stop := context.AfterFunc(ctx, func() {
		s.mu.Lock()
		s.changed.Broadcast()
		s.mu.Unlock()
	})
	defer stop()
	deadline := time.Now().Add(s.in.Budget)
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range max(1, s.in.Concurrency) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := s.copyOne(ctx, i); err != nil {
					cancel(err)
				}
			}
		}()
	}
	promoted := make(chan error, 1)
	if s.in.Policy.Strict {
		s.stage = make([]uint8, s.window.Len())
		go func() { promoted <- s.promote(ctx) }()
	} else {
		promoted <- nil
	}
	s.lastCheckpoint = time.Now()
	guarded := make(chan struct{})
	gctx, stopGuard := context.WithCancel(ctx)
	go func() {
		defer close(guarded)
		if err := s.guard(gctx); err != nil {
			cancel(err)
		}
	}()
	followed := make(chan struct{})
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	var hinting sync.WaitGroup
	if s.in.Follow > 0 && s.earlyAllowed() {
		if s.in.Hints != nil {
			hinting.Add(1)
			go s.consumeHints(fctx, ctx, s.in.Hints, &hinting)
		}
	}
	if s.in.Follow > 0 && !s.in.Drain {
		until := time.Now().Add(s.in.Follow)
		if s.in.Budget > 0 && deadline.Before(until) {
			until = deadline
		}
		s.following = true
		go func() {
			defer close(followed)
			err := s.follow(fctx, ctx, until)
			s.mu.Lock()
			s.following = false
			s.changed.Broadcast()
			s.mu.Unlock()
			if err != nil {
				cancel(err)
			}
		}()
	} else {
		close(followed)
	}
	for i := 0; ; i++ {
		if !s.waitForItem(ctx, i) {
			break
		}
		if ctx.Err() != nil || (s.in.Budget > 0 && time.Now().After(deadline)) {
			break
		}
		if !s.waitForRoom(ctx, i) {
			break
		}
		if err := s.alive(); err != nil {
			cancel(err)
			break
		}
		jobs <- i
	}
	// Nothing more starts: a listing still running would only add blobs no one copies.
	s.mu.Lock()
	s.stopFollowing = true
	s.changed.Broadcast()
	s.mu.Unlock()
	stopFollow()
	<-followed
	hinting.Wait()
	// Early copies in flight end before the last checkpoint, which lists them as Ahead.
	s.earlyWG.Wait()
	stopGuard()
	<-guarded
	close(jobs)
	wg.Wait()
	s.mu.Lock()
	s.copiersDone = true
	s.changed.Broadcast()
	s.mu.Unlock()
	if err := <-promoted; err != nil {
		cancel(err)
	}
	return context.Cause(ctx)
}

// waitForItem blocks until the window holds blob i, or no listing can add it any more.
func (s *syncer) waitForItem(ctx context.Context, i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ctx.Err() == nil && i >= s.window.Len() && s.following {
		s.changed.Wait()
	}
	return ctx.Err() == nil && i < s.window.Len()
}

// follow lists the source again and again while the call is caught up (SyncInput.Follow) and
// extends the window with what each listing makes eligible, until until or the dispatcher
// stops. A listing starts as soon as the one before has ended, so that it overlaps the copies
// of the blobs that one found, unless more than a batch (Policy.BatchMaxObjects) of them is
// still to start: a backlog is copied before more is listed. It waits too until the next blob
// the previous listing showed beyond the window's cutoff is eligible by the store's clock.
//
// Why order holds: a listing plans from the window's cutoff exactly as a new call would from
// a watermark there (uploads listed first, then blobs, the same settle and upload rules), and
// every blob at or before that cutoff is either in the target or still in the window, which
// keeps the watermark before it. So the window's watermark keeps its guarantee.
//
// While hints flow (one for the folder looked at since the last listing began), a listing starts
// HintedListingGap after the one before at the soonest. A worker set up for notifications
// that receives none lists back to back, as without them.
func (s *syncer) follow(ctx, copyCtx context.Context, until time.Time) error {
	backlog := max(1, s.in.Policy.BatchMaxObjects)
	s.mu.Lock()
	first := s.last
	s.mu.Unlock()
	if first.plan.HeldBy == nil { // as for every listing this follows (below)
		s.hintListed(copyCtx, round{}, first)
	}
	for {
		s.mu.Lock()
		for ctx.Err() == nil && !s.stopFollowing && s.window.Unstarted() > backlog {
			s.changed.Wait()
		}
		last, cutoff, stop := s.last, s.window.Cutoff(), s.stopFollowing
		hinted := s.lastHint.After(last.listedAt)
		s.mu.Unlock()
		if stop || ctx.Err() != nil || last.plan.HeldBy != nil {
			return nil
		}
		wait := nextEligibleIn(last.listing, cutoff, s.policy, time.Since(last.listedAt))
		if wait <= 0 || wait >= s.in.PollInterval || time.Now().Add(wait).After(until) {
			return nil
		}
		if hinted { // after the checks: the gap alone ends no call
			wait = max(wait, s.in.HintedListingGap-time.Since(last.listedAt))
		}
		if sleep(ctx, wait) != nil {
			return nil
		}
		next, err := listRound(ctx, s.src, s.prefix, cutoff, s.policy)
		if err != nil {
			return s.followError(ctx, err)
		}
		s.mu.Lock()
		s.listRounds++
		s.listRequests += next.requests
		s.mu.Unlock()
		if err := s.checkBelow(ctx, next, cutoff); err != nil {
			return s.followError(ctx, err)
		}
		s.mu.Lock()
		if s.stopFollowing {
			s.mu.Unlock()
			return nil
		}
		prev := s.last
		s.window.Extend(next.plan.Eligible, next.plan.Cutoff)
		s.windowPending = countKeys(s.windowPending, next.plan.Eligible)
		for _, o := range next.plan.Eligible {
			s.windowDigest.add(o)
		}
		if s.stage != nil {
			s.stage = append(s.stage, make([]uint8, len(next.plan.Eligible))...)
		}
		s.last = next
		s.changed.Broadcast()
		s.mu.Unlock()
		s.hintListed(copyCtx, prev, next)
		// With nothing new to copy the cutoff moved the watermark: record it.
		if err := s.maybeCheckpoint(ctx); err != nil {
			return s.followError(ctx, err)
		}
	}
}

// followError returns the error of a follow listing, none when the call is over anyway.
func (s *syncer) followError(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("sync %s: %w", s.in.Database, err)
}

// waitForRoom blocks until blob i may start: within the window and the bytes in flight.
func (s *syncer) waitForRoom(ctx context.Context, i int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	size := s.window.Item(i).Size
	for ctx.Err() == nil && (s.recording || !(s.window.CanStart(i) && (s.inflightBytes == 0 || s.inflightBytes+size <= s.in.Policy.BatchMaxBytes))) {
		s.changed.Wait()
	}
	if ctx.Err() != nil {
		return false
	}
	s.inflightBytes += size
	s.window.Start(i)
	return true
}

// Where a blob of the window stands in order: strict.
const (
	notCopied uint8 = iota
	staged          // in the staging area, to be moved into place
	inPlace         // at its own key
)

func (s *syncer) copyOne(ctx context.Context, i int) error {
	s.mu.Lock() // the window grows while following
	obj := s.window.Item(i)
	s.mu.Unlock()
	outcome, err := s.transfer(ctx, obj)
	s.mu.Lock()
	s.inflightBytes -= obj.Size
	if err == nil {
		if s.windowPending[obj.Key]--; s.windowPending[obj.Key] <= 0 {
			delete(s.windowPending, obj.Key)
		}
		switch {
		case !s.in.Policy.Strict:
			s.window.Done(i)
		case outcome == copied:
			s.stage[i] = staged
		default: // nothing to move into place
			s.stage[i] = inPlace
		}
		switch outcome {
		case skipped:
			s.skipped++
		case early:
		case vanished:
			// Gone from the source: the next listing will not show it, so neither must the
			// digests it is compared with, or it would look for late blobs for nothing.
			s.vanished++
			s.windowDigest.remove(obj)
			if s.vanishedAt == nil {
				s.vanishedAt = map[int]bool{}
			}
			s.vanishedAt[i] = true
		default:
			s.copied++
			s.copiedBytes += obj.Size
		}
	}
	s.changed.Broadcast()
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.maybeCheckpoint(ctx)
}

// maybeCheckpoint writes the record when CheckpointEvery has passed since the last one, or
// when everything listed so far is in: a listing's blobs count as replicated as soon as they
// are, not when the next copy after CheckpointEvery ends.
func (s *syncer) maybeCheckpoint(ctx context.Context) error {
	s.mu.Lock()
	due := time.Since(s.lastCheckpoint) >= s.in.CheckpointEvery || s.window.Complete()
	s.mu.Unlock()
	if due {
		return s.checkpoint(ctx)
	}
	return nil
}

// promote moves staged blobs into place strictly in write order (order: strict), so the
// target never holds a blob without every blob before it. It returns when the copiers are
// done and every blob they copied is in place, or on the first error.
func (s *syncer) promote(ctx context.Context) error {
	for next := 0; ; next++ {
		s.mu.Lock()
		for ctx.Err() == nil && (next >= len(s.stage) || s.stage[next] == notCopied) && !s.copiersDone {
			s.changed.Wait()
		}
		state := notCopied
		if next < len(s.stage) {
			state = s.stage[next]
		}
		s.mu.Unlock()
		if ctx.Err() != nil || state == notCopied {
			return nil
		}
		if state == staged {
			s.mu.Lock()
			item := s.window.Item(next)
			s.mu.Unlock()
			key := item.Key
			stagingKey := StagingPrefix(s.in.Database) + key
			if err := s.dst.CopyWithin(ctx, stagingKey, key, item.Size, nil); err != nil {
				return fmt.Errorf("sync %s: move into place: %w", s.in.Database, err)
			}
			if err := s.dst.Delete(ctx, stagingKey); err != nil {
				return fmt.Errorf("sync %s: %w", s.in.Database, err)
			}
		}
		s.mu.Lock()
		s.window.Done(next)
		s.changed.Broadcast()
		s.mu.Unlock()
		if err := s.maybeCheckpoint(ctx); err != nil {
			return err
		}
	}
}

// alreadyIn reports whether the target held obj when the call began: same size and the same
// content, by ETag (a single-part copy's ETag is its MD5, as the source's) or, for a copy with
// an ETag of its own (multipart), by the source ETag it records.
func (s *syncer) alreadyIn(ctx context.Context, obj objectstore.Object) (bool, error) {
	got, ok := s.existing[obj.Key]
	if !ok || got.Size != obj.Size {
		return false, nil
	}
	if got.ETag == obj.ETag {
		return true, nil
	}
	info, err := s.dst.Head(ctx, obj.Key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("sync %s: %w", s.in.Database, err)
	}
	return info.Size == obj.Size && info.Metadata[MetaSourceETag] == obj.ETag, nil
}

// What transfer did with a blob.
type outcome uint8

const (
	copied   outcome = iota
	skipped          // already in the target
	vanished         // gone from the source as listed (SyncResult.VanishedObjects)
	early            // in the target already: an early copy (early.go), counted as it landed
)

// transfer copies obj unless VerifyExisting finds it already in the target. In order: strict
// it copies to the staging area; promote moves it into place.
//
// A blob the source no longer holds as listed is vanished, not a failure: the prefix the
// watermark promises is of the blobs the source holds, and a database's garbage collection
// deletes old blobs all day, some between a listing and their copy. Failing the call made the
// next one list the whole target again. The copy never wrote the blob, and the digest of the
// blobs below the watermark (Watermark.Below) no longer counts it at the next listing, which
// looks for late blobs once and records the new digest.
func (s *syncer) transfer(ctx context.Context, obj objectstore.Object) (outcome, error) {
	// A copy handed over just before a check failed (a fence, a lost caller) does not start.
	if ctx.Err() != nil {
		return copied, context.Cause(ctx)
	}
	if in, err := s.earlyIn(ctx, obj); err != nil || in {
		return early, err
	}
	if s.in.VerifyExisting {
		in, err := s.alreadyIn(ctx, obj)
		if err != nil {
			return copied, err
		}
		if in {
			return skipped, nil
		}
	} else if in, err := s.carriedIn(ctx, obj); err != nil || in {
		return skipped, err
	}
	dstKey := obj.Key
	if s.in.Policy.Strict {
		dstKey = StagingPrefix(s.in.Database) + obj.Key
	}
	err := s.copier.Copy(ctx, obj, dstKey, CopyMetadata(obj.LastModified, obj.ETag))
	if err == nil {
		return copied, nil
	}
	if gone, herr := goneFromSource(ctx, s.src, obj, err); herr != nil {
		return copied, fmt.Errorf("sync %s: %w", s.in.Database, herr)
	} else if gone {
		return vanished, nil
	}
	return copied, fmt.Errorf("sync %s: %w", s.in.Database, err)
}

// goneFromSource reports whether copyErr, a failed copy of obj, failed because the source no
// longer holds obj as listed: deleted, or overwritten with another version. The copy's error
// alone could come from the target's side, so the source is asked (one HEAD, for a rare case).
func goneFromSource(ctx context.Context, src Store, obj objectstore.Object, copyErr error) (bool, error) {
	if ctx.Err() != nil || !(errors.Is(copyErr, os.ErrNotExist) || errors.Is(copyErr, objectstore.ErrSourceChanged)) {
		return false, nil
	}
	info, err := src.Head(ctx, obj.Key)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%w (and the source did not answer whether %s is still there: %w)", copyErr, obj.Key, err)
	}
	return info.ETag != obj.ETag, nil
}

// checkpoint writes the watermark record if the completed prefix moved it. Checkpoints are
// serialised so that a slower write can never put an older watermark over a newer one.
func (s *syncer) checkpoint(ctx context.Context) error {
	s.checkpointMu.Lock()
	defer s.checkpointMu.Unlock()
	s.mu.Lock()
	next := s.state
	next.Time = s.window.Watermark()
	next.Key = s.window.LastKey()
	next.Ahead = s.ahead(next.Time)
	next.CopiedObjects = s.base.CopiedObjects + s.copied
	next.CopiedBytes = s.base.CopiedBytes + s.copiedBytes
	s.lastCheckpoint = time.Now()
	p := Progress{Watermark: next.Time, CopiedObjects: s.copied, CopiedBytes: s.copiedBytes,
		SkippedObjects: s.skipped, VanishedObjects: s.vanished, Eligible: s.window.Len(), RecordCopiedObjects: next.CopiedObjects,
		RecordCopiedBytes: next.CopiedBytes, TotalObjects: s.last.plan.TotalObjects}
	below := s.digestUpTo(next.Time)
	next.Below = &below
	// Written even if the watermark did not move when the record lacks fields, or the digest
	// changed (a late blob found, or a deletion): else the next call looks again.
	rewrite := s.rewrite || s.state.Below == nil || *s.state.Below != below
	// The totals count too: early copies land without moving the watermark.
	unchanged := !next.Time.After(s.state.Time) && slices.Equal(next.Ahead, s.state.Ahead) && !rewrite &&
		next.CopiedObjects == s.state.CopiedObjects
	// No copy starts from here until the record has landed: one that started after Ahead was
	// taken and landed before the record would be beyond the watermark, missing from Ahead,
	// and older than the record, where sealing does not look (beyondRecord).
	s.recording = !unchanged
	s.mu.Unlock()
	if unchanged {
		// Nothing to write: check the token all the same, so that copies stop starting.
		return s.checkRecord(ctx)
	}
	defer func() {
		s.mu.Lock()
		s.recording = false
		s.changed.Broadcast()
		s.mu.Unlock()
	}()
	if err := s.alive(); err != nil {
		return err
	}
	next.WrittenAt = time.Now().UTC()
	data, err := marshalRecord(next)
	if err != nil {
		return err
	}
	// Conditional on the record this call read or last wrote: if a fence or a seal (or
	// another call) wrote it meanwhile, nothing is written. The store never abandons the PUT
	// half-way (Store.PutBytes): an older record cannot land after this one.
	etag, err := s.dst.PutBytesIf(ctx, WatermarkKey(s.in.Database), data, nil, s.etag)
	if errors.Is(err, objectstore.ErrPreconditionFailed) {
		etag, err = s.recordChanged(ctx, data)
	}
	if err != nil {
		return fmt.Errorf("sync %s: checkpoint: %w", s.in.Database, err)
	}
	s.etag = etag
	s.mu.Lock()
	s.state = next
	s.rewrite = false
	s.mu.Unlock()
	if s.progress != nil {
		s.progress(p)
	}
	return nil
}

// carriedKey is a key the record listed as Ahead when the call began, with its LastModified
// in the source listing or, for a key the source no longer shows, the one its copy in the
// target carries (known false if neither tells).
type carriedKey struct {
	key          string
	lastModified time.Time
	known        bool
}

// maxUnlistedCarried bounds the carried keys the source no longer shows that one call asks
// the target about (a HEAD each); the rest wait for the next call.
const maxUnlistedCarried = 256

// resolveUnlisted asks the target about the carried keys the source listing did not show (a
// blob deleted after its copy began, early or in a window). One whose copy carries its source
// time keeps that time, so that the records stop listing it once the watermark passes it
// (from then on it is a blob the source deleted, the deletes pass's to remove). One the
// target lacks has nothing to seal when the call before ended cleanly (settled): its copies
// all ended before it returned. After a failure a copy of the call that failed may still be
// on its way (a write outlives a cancelled call until the store answers, see objectstore's
// land), so the key stays. A key it cannot tell about stays.
func resolveUnlisted(ctx context.Context, dst Store, carried []carriedKey, settled bool) ([]carriedKey, error) {
	out := carried[:0:0]
	asked := 0
	for _, c := range carried {
		if c.known || asked == maxUnlistedCarried {
			out = append(out, c)
			continue
		}
		asked++
		info, err := dst.Head(ctx, c.key)
		switch {
		case errors.Is(err, os.ErrNotExist) && settled:
			continue
		case errors.Is(err, os.ErrNotExist):
			out = append(out, c)
			continue
		case err != nil:
			return nil, fmt.Errorf("carried key %s: %w", c.key, err)
		}
		if t, ok, err := copiedSourceTime(c.key, info); err == nil && ok {
			c.lastModified, c.known = t, true
		}
		out = append(out, c)
	}
	return out, nil
}

func carryAhead(keys []string, l objectstore.Listing) []carriedKey {
	if len(keys) == 0 {
		return nil
	}
	lm := make(map[string]time.Time, len(l.Objects))
	for _, o := range l.Objects {
		lm[o.Key] = o.LastModified
	}
	out := make([]carriedKey, 0, len(keys))
	for _, k := range keys {
		t, ok := lm[k]
		out = append(out, carriedKey{key: k, lastModified: t, known: ok})
	}
	return out
}

// ahead returns the keys that may be in the target beyond watermark t: those this call
// started beyond it, and those the record listed when the call began that t has not passed.
// The latter are kept even when this call does not start them again (it may fail first, or
// run a smaller window), or a resumed call's record would hide what an earlier one copied
// from sealing. s.mu is held.
func (s *syncer) ahead(t time.Time) []string {
	keys := s.window.Ahead()
	if early := s.earlyAhead(t); len(early) > 0 {
		window := keySet(keys)
		for _, k := range early {
			if !window[k] {
				keys = append(keys, k)
			}
		}
	}
	if len(s.carried) == 0 {
		return keys
	}
	seen := make(map[string]bool, len(keys)+len(s.carried))
	for _, k := range keys {
		seen[k] = true
	}
	for _, c := range s.carried {
		if seen[c.key] || (c.known && !c.lastModified.After(t)) {
			continue
		}
		seen[c.key] = true
		keys = append(keys, c.key)
	}
	return keys
}

// carriedKeySet returns the keys of carried.
func carriedKeySet(carried []carriedKey) map[string]bool {
	keys := make(map[string]bool, len(carried))
	for _, c := range carried {
		keys[c.key] = true
	}
	return keys
}

// countKeys adds the keys of objs to counts (a new map if nil) and returns it.
func countKeys(counts map[string]int, objs []objectstore.Object) map[string]int {
	if counts == nil {
		counts = make(map[string]int, len(objs))
	}
	for _, o := range objs {
		counts[o.Key]++
	}
	return counts
}

// keySet returns keys as a set.
func keySet(keys []string) map[string]bool {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[k] = true
	}
	return set
}

// clearPrefix deletes every blob under prefix.
func clearPrefix(ctx context.Context, s Store, prefix string) error {
	l, err := s.List(ctx, prefix)
	if err != nil {
		return err
	}
	for _, o := range l.Objects {
		if err := s.Delete(ctx, o.Key); err != nil {
			return err
		}
	}
	return nil
}

// guardEvery is how often a Sync checks, between checkpoints, that it may still write: the
// caller is alive (SyncInput.Alive) and the watermark record is still the one it wrote (one
// HEAD). It bounds how long a call cut off from Temporal, or fenced, keeps starting copies
// while a large copy holds back its next checkpoint.
const guardEvery = time.Second

// guard checks every guardEvery until ctx ends that the call may still write.
func (s *syncer) guard(ctx context.Context) error {
	t := time.NewTicker(guardEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if err := s.alive(); err != nil {
			return err
		}
		s.checkpointMu.Lock()
		err := s.checkRecord(ctx)
		s.checkpointMu.Unlock()
		if err != nil && ctx.Err() == nil {
			return fmt.Errorf("sync %s: %w", s.in.Database, err)
		}
	}
}

// alive returns SyncInput.Alive's verdict, nil without one.
func (s *syncer) alive() error {
	if s.in.Alive == nil {
		return nil
	}
	if err := s.in.Alive(); err != nil {
		return fmt.Errorf("sync %s: stopping: %w", s.in.Database, err)
	}
	return nil
}

// checkRecord returns an error if the watermark record is no longer the one this call read or
// last wrote (see recordChanged). One HEAD. s.checkpointMu is held.
func (s *syncer) checkRecord(ctx context.Context) error {
	info, err := s.dst.Head(ctx, WatermarkKey(s.in.Database))
	switch {
	case errors.Is(err, os.ErrNotExist) && s.etag == "":
		return nil
	case err == nil && info.ETag == s.etag:
		return nil
	case err != nil && !errors.Is(err, os.ErrNotExist):
		return err
	}
	_, err = s.recordChanged(ctx, nil)
	return err
}

// recordChanged is called when the watermark record is not the one this call read or last
// wrote. If it holds exactly ours (a write whose answer was lost, then retried), it returns
// its ETag. Otherwise it returns a *RefusedError when the generation changed (a fence or a
// seal: this call must stop writing, for good), or an error saying another writer wrote it
// (a duplicate call, which a retry sorts out).
func (s *syncer) recordChanged(ctx context.Context, ours []byte) (string, error) {
	data, etag, err := s.dst.GetBytesETag(ctx, WatermarkKey(s.in.Database))
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("the watermark record %s was removed under this sync", WatermarkKey(s.in.Database))
	}
	if err != nil {
		return "", err
	}
	if ours != nil && bytes.Equal(data, ours) {
		return etag, nil
	}
	var w Watermark
	if err := json.Unmarshal(data, &w); err != nil {
		return "", fmt.Errorf("%s is not valid JSON: %w", WatermarkKey(s.in.Database), err)
	}
	if w.Generation != s.generation {
		return "", &RefusedError{Database: s.in.Database, Region: s.in.To, Reason: RefusedGeneration,
			Detail: fmt.Sprintf("the watermark record's generation went from %d to %d since this sync began: it stops writing", s.generation, w.Generation)}
	}
	return "", fmt.Errorf("the watermark record %s changed under this sync (generation %d): another sync writes it",
		WatermarkKey(s.in.Database), w.Generation)
}

// endpoints returns the source and target the call replicates between.
func (in SyncInput) endpoints() (source, target Endpoint) {
	return Endpoint{Region: in.From, Bucket: in.SourceBucket, RootPath: in.RootPath},
		Endpoint{Region: in.To, Bucket: in.TargetBucket, RootPath: in.RootPath}
}

// digestUpTo returns the Digest of the source blobs at or before t, for a t no later than the
// window's watermark: those before the window, and those of its completed prefix up to t.
// s.mu is held.
//
// It is incremental: the window's blobs are in write order (a later listing adds only blobs
// after the cutoff of the one before) and t never moves back, so the blobs at or before t
// are a prefix of them, which grows.
func (s *syncer) digestUpTo(t time.Time) Digest {
	for s.digested < s.window.InPrefix() {
		o := s.window.Item(s.digested)
		if o.LastModified.After(t) {
			break
		}
		if !s.vanishedAt[s.digested] {
			s.doneDigest.add(o)
		}
		s.digested++
	}
	return s.below.plus(s.doneDigest)
}

// belowSet returns the set of source blobs at or before the watermark that the record's Below
// digests: those of the listing checked last, the blobs that vanished before their copy left
// out, as the digest leaves them out.
func (s *syncer) belowSet() belowSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	vanished := make(map[string]string, len(s.vanishedAt)) // key: ETag
	for i := range s.vanishedAt {
		o := s.window.Item(i)
		vanished[o.Key] = o.ETag
	}
	return belowSetOf(s.checked, s.state.Time, s.exclude, func(o objectstore.Object) bool {
		etag, ok := vanished[o.Key]
		return ok && etag == o.ETag
	})
}

// checkBelow compares the blobs at or before cutoff in a follow listing with what the call
// knows is there: the blobs before the window and every blob of the window (all at or before
// its cutoff). A difference is a late blob (or a deletion): it looks for late ones among the
// blobs the listing checked before did not show (it showed every blob the call knows of;
// those it showed were looked at then, or are the window's own versions), and takes the
// listing's blobs as the new known set, so that each is reported once.
func (s *syncer) checkBelow(ctx context.Context, next round, cutoff time.Time) error {
	actual := digestUpTo(next.listing, cutoff, s.exclude)
	s.mu.Lock()
	window := s.windowDigest
	expected := s.below.plus(window)
	prev := s.checked
	s.checked = next.listing
	var skip map[string]bool
	if actual != expected {
		skip = make(map[string]bool, s.window.Len())
		for i := range s.window.Len() {
			skip[version(s.window.Item(i))] = true
		}
	}
	s.mu.Unlock()
	if actual == expected {
		return nil
	}
	// The window's blobs (those versions) are still being copied: not late, and not to be
	// looked for. Those the listing checked before showed as they are now were looked at then.
	found, err := lookForLate(ctx, s.dst, s.prefix, next.listing, cutoff, s.exclude, skip,
		func(o objectstore.Object) bool { return listedAs(prev, o) })
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.below = actual.minus(window)
	s.late.merge(found)
	s.mu.Unlock()
	return nil
}
