package activities

import (
	"strings"
	"sync"
	"time"
)

// HintBuffer is the capacity of a subscriber's channel: hints beyond it are dropped. It
// bounds too the hints a bucket holds for its next subscription.
const HintBuffer = 4096

// HintKeep is how long a hint that no subscription read is held for the next one. A Sync
// subscribes for its call only, and calls follow one another with a gap (the workflow's
// round trip, a call's last checkpoint): a blob written in that gap, or named after its call
// stopped reading, was copied only once a listing showed it, which set the tail of the time
// data takes to reach the target. Past a few poll intervals a listing has shown it anyway.
const HintKeep = 10 * time.Second

// Hints is an in-process bus of hints: keys that may be new in a bucket, published by
// whatever learns of writes (bucket notifications, worker/notifications.go) and read by the
// Syncs that copy from that bucket (replication.SyncInput.Hints). A hint changes nothing but
// speed (replication/early.go): Publish never blocks, and drops a hint whose subscriber's
// channel is full. A hint no subscriber takes, and one left unread when its subscription
// ends, is held for the next subscription to the bucket, HintKeep from when it was first
// held. It is safe for concurrent use; the zero value is not usable, use NewHints.
type Hints struct {
	mu   sync.Mutex
	next uint64
	subs map[string]map[uint64]*hintSub // by bucket
	held map[string][]heldHint          // by bucket, oldest first
	// known are the buckets ever subscribed to: only theirs are held, so that notifications
	// of other buckets (anyone may name any bucket) hold nothing.
	known map[string]bool
	now   func() time.Time
}

type hintSub struct {
	prefix string
	ch     chan string
	began  time.Time            // when the subscription began
	handed map[string]time.Time // hints held for it, by key: when each was first held
}

// heldHint is a hint no subscription has read, and when it was held.
type heldHint struct {
	key string
	at  time.Time
}

// NewHints returns an empty bus.
func NewHints() *Hints {
	return &Hints{subs: map[string]map[uint64]*hintSub{}, held: map[string][]heldHint{},
		known: map[string]bool{}, now: time.Now}
}

// Publish offers key of bucket to every subscriber of that bucket whose prefix it has, or
// holds it when none takes it. It never blocks: a subscriber whose channel is full misses
// the hint.
func (h *Hints) Publish(bucket, key string) {
	if len(key) > maxKeyBytes {
		return // no such key in S3: a sender's mistake, not to be held
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	taken := false
	for _, s := range h.subs[bucket] {
		if !strings.HasPrefix(key, s.prefix) {
			continue
		}
		select {
		case s.ch <- key:
			taken = true
		default: // full: the listing finds the blob anyway
		}
	}
	if !taken && h.known[bucket] {
		h.hold(bucket, key, h.now())
	}
}

// maxKeyBytes is S3's longest key: what the bus holds is at most HintBuffer of them a bucket.
const maxKeyBytes = 1024

// hold keeps key, first held at at, for the bucket's next subscription, dropping the oldest
// beyond HintBuffer and those older than HintKeep. h.mu is held.
func (h *Hints) hold(bucket, key string, at time.Time) {
	if h.expired(at) {
		return
	}
	held := h.fresh(bucket)
	if len(held) >= HintBuffer {
		held = held[len(held)-HintBuffer+1:]
	}
	h.held[bucket] = append(held, heldHint{key: key, at: at})
}

// fresh returns the bucket's held hints younger than HintKeep, and forgets the others. h.mu
// is held.
func (h *Hints) fresh(bucket string) []heldHint {
	held := h.held[bucket]
	i := 0
	for i < len(held) && h.expired(held[i].at) {
		i++
	}
	if i == len(held) {
		delete(h.held, bucket)
		return nil
	}
	return held[i:]
}

// expired reports whether a hint held at at is older than HintKeep. h.mu is held.
func (h *Hints) expired(at time.Time) bool { return at.Before(h.now().Add(-HintKeep)) }

// Subscribe returns a channel of the keys published for bucket under prefix from now on,
// and first those the bucket holds under prefix, buffered (HintBuffer), and a function that
// ends the subscription. The channel is never closed: the subscriber stops reading when it is
// done. Ending the subscription holds what the channel still has for the next one, so call
// it once the subscriber has stopped reading. Calling the function twice is fine.
func (h *Hints) Subscribe(bucket, prefix string) (<-chan string, func()) {
	s := &hintSub{prefix: prefix, ch: make(chan string, HintBuffer), began: h.now(), handed: map[string]time.Time{}}
	h.mu.Lock()
	id := h.next
	h.next++
	if h.subs[bucket] == nil {
		h.subs[bucket] = map[uint64]*hintSub{}
	}
	h.subs[bucket][id] = s
	h.known[bucket] = true
	var left []heldHint
	for _, hh := range h.fresh(bucket) {
		if strings.HasPrefix(hh.key, prefix) {
			s.ch <- hh.key // at most HintBuffer are held: never blocks
			s.handed[hh.key] = hh.at
		} else {
			left = append(left, hh)
		}
	}
	if len(left) > 0 {
		h.held[bucket] = left
	} else {
		delete(h.held, bucket)
	}
	h.mu.Unlock()
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			delete(h.subs[bucket], id)
			if len(h.subs[bucket]) == 0 {
				delete(h.subs, bucket)
			}
			// Held again as of when each was first held (one published during the
			// subscription as of its start, a little early), so that hints a subscriber
			// never reads (a Sync that makes no early copies) expire all the same.
			for {
				select {
				case key := <-s.ch:
					at, ok := s.handed[key]
					if !ok {
						at = s.began
					}
					h.hold(bucket, key, at)
				default:
					return
				}
			}
		})
	}
}

// subscribers returns how many subscriptions are open (tests).
func (h *Hints) subscribers() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}
