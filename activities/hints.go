package activities

import (
	"strings"
	"sync"
)

// HintBuffer is the capacity of a subscriber's channel: hints beyond it are dropped.
const HintBuffer = 4096

// Hints is an in-process bus of hints: keys that may be new in a bucket, published by
// whatever learns of writes (bucket notifications, worker/notifications.go) and read by the
// Syncs that copy from that bucket (replication.SyncInput.Hints). A hint changes nothing but
// speed (replication/early.go): Publish never blocks, and drops a hint whose subscriber's
// channel is full. It is safe for concurrent use; the zero value is not usable, use NewHints.
type Hints struct {
	mu   sync.RWMutex
	next uint64
	subs map[string]map[uint64]*hintSub // by bucket
}

type hintSub struct {
	prefix string
	ch     chan string
}

// NewHints returns an empty bus.
func NewHints() *Hints { return &Hints{subs: map[string]map[uint64]*hintSub{}} }

// Publish offers key of bucket to every subscriber of that bucket whose prefix it has. It
// never blocks: a subscriber whose channel is full misses the hint.
func (h *Hints) Publish(bucket, key string) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	for _, s := range h.subs[bucket] {
		if !strings.HasPrefix(key, s.prefix) {
			continue
		}
		select {
		case s.ch <- key:
		default: // full: the listing finds the blob anyway
		}
	}
}

// Subscribe returns a channel of the keys published for bucket under prefix from now on,
// buffered (HintBuffer), and a function that ends the subscription. The channel is never
// closed: the subscriber stops reading when it is done. Calling the function twice is fine.
func (h *Hints) Subscribe(bucket, prefix string) (<-chan string, func()) {
	s := &hintSub{prefix: prefix, ch: make(chan string, HintBuffer)}
	h.mu.Lock()
	id := h.next
	h.next++
	if h.subs[bucket] == nil {
		h.subs[bucket] = map[uint64]*hintSub{}
	}
	h.subs[bucket][id] = s
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
		})
	}
}

// subscribers returns how many subscriptions are open (tests).
func (h *Hints) subscribers() int {
	h.mu.RLock()
	defer h.mu.RUnlock()
	n := 0
	for _, m := range h.subs {
		n += len(m)
	}
	return n
}
