package activities

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// drain returns what ch holds now.
func drain(ch <-chan string) []string {
	var out []string
	for {
		select {
		case k := <-ch:
			out = append(out, k)
		default:
			return out
		}
	}
}

func TestHintsRouteByBucketAndPrefix(t *testing.T) {
	h := NewHints()
	a, stopA := h.Subscribe("b1", "db/")
	defer stopA()
	b, stopB := h.Subscribe("b1", "")
	defer stopB()
	c, stopC := h.Subscribe("b2", "db/")
	defer stopC()
	h.Publish("b1", "db/1")
	h.Publish("b1", "other/2")
	h.Publish("b2", "db/3")
	h.Publish("b3", "db/4")
	h.Publish("b1", "dbx/5") // "db/" is the folder, not a name prefix
	for _, tc := range []struct {
		name string
		ch   <-chan string
		want []string
	}{
		{"b1 db/", a, []string{"db/1"}},
		{"b1 all", b, []string{"db/1", "other/2", "dbx/5"}},
		{"b2 db/", c, []string{"db/3"}},
	} {
		if got := drain(tc.ch); fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHintsUnsubscribe(t *testing.T) {
	h := NewHints()
	ch, stop := h.Subscribe("b", "")
	h.Publish("b", "k1")
	if got := drain(ch); fmt.Sprint(got) != "[k1]" {
		t.Errorf("subscribed: got %v, want [k1]", got)
	}
	stop()
	stop() // twice is fine
	h.Publish("b", "k2")
	if got := drain(ch); len(got) != 0 {
		t.Errorf("after unsubscribing got %v, want nothing", got)
	}
	if n := h.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}

// TestHintsHeldBetweenSubscriptions: a hint published while no subscription takes it, and
// one left unread when a subscription ends, reach the bucket's next subscription under their
// prefix, once; those older than HintKeep, those of buckets never subscribed to and those
// beyond HintBuffer do not.
func TestHintsHeldBetweenSubscriptions(t *testing.T) {
	h := NewHints()
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	h.Publish("b", "db/never-subscribed") // no subscription to b yet: not held
	_, stop := h.Subscribe("b", "db/")
	h.Publish("b", "db/unread")
	stop()
	h.Publish("b", "db/in-the-gap")
	h.Publish("b", "other/1") // held for a subscription to other/
	h.Publish("x", "db/1")    // bucket x was never subscribed to
	ch, stop := h.Subscribe("b", "db/")
	if got := drain(ch); fmt.Sprint(got) != "[db/unread db/in-the-gap]" {
		t.Errorf("next subscription got %v, want [db/unread db/in-the-gap]", got)
	}
	stop()
	ch, stop = h.Subscribe("b", "db/")
	if got := drain(ch); len(got) != 0 {
		t.Errorf("a held hint was given twice: %v", got)
	}
	stop()
	ch, stop = h.Subscribe("b", "other/")
	if got := drain(ch); fmt.Sprint(got) != "[other/1]" {
		t.Errorf("other/ got %v, want [other/1]", got)
	}
	stop()
	if _, ok := h.held["x"]; ok {
		t.Error("hints of a bucket never subscribed to are held")
	}

	h.Publish("b", "db/old")
	now = now.Add(HintKeep + time.Millisecond)
	h.Publish("b", "db/new")
	ch, stop = h.Subscribe("b", "db/")
	if got := drain(ch); fmt.Sprint(got) != "[db/new]" {
		t.Errorf("after HintKeep got %v, want [db/new]", got)
	}
	stop()

	for i := range HintBuffer + 10 {
		h.Publish("b", fmt.Sprint("db/", i))
	}
	ch, stop = h.Subscribe("b", "db/")
	defer stop()
	got := drain(ch)
	if len(got) != HintBuffer || got[0] != "db/10" {
		t.Errorf("held %d hints, want the newest %d (from db/10)", len(got), HintBuffer)
	}
}

// TestHintsNeverReadExpire: hints a subscriber never reads are held again when it ends as of
// when they were first held, so that subscriptions one after another that never read them
// (Syncs that make no early copies) do not keep them for ever.
func TestHintsNeverReadExpire(t *testing.T) {
	h := NewHints()
	now := time.Unix(1000, 0)
	h.now = func() time.Time { return now }
	_, stop := h.Subscribe("b", "db/")
	stop()
	h.Publish("b", "db/k") // held at 1000
	for range 4 {
		now = now.Add(3 * time.Second)
		_, stop := h.Subscribe("b", "db/") // handed the hint, never reads it
		stop()
	}
	ch, stop := h.Subscribe("b", "db/") // at 1012: more than HintKeep after it was held
	defer stop()
	if got := drain(ch); len(got) != 0 {
		t.Errorf("a hint never read was held past HintKeep: %v", got)
	}
}

// TestHintsLongKeysAreDropped: a key longer than S3 allows is neither given nor held.
func TestHintsLongKeysAreDropped(t *testing.T) {
	h := NewHints()
	long := "db/" + strings.Repeat("x", maxKeyBytes)
	ch, stop := h.Subscribe("b", "db/")
	h.Publish("b", long)
	stop()
	h.Publish("b", long)
	if got := drain(ch); len(got) != 0 {
		t.Errorf("a %d-byte key was given", len(long))
	}
	if n := len(h.held["b"]); n != 0 {
		t.Errorf("%d long keys held", n)
	}
}

func TestHintsPublishNeverBlocks(t *testing.T) {
	h := NewHints()
	ch, stop := h.Subscribe("b", "")
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range HintBuffer + 100 {
			h.Publish("b", fmt.Sprint(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Publish blocked on a full subscriber")
	}
	if got := len(drain(ch)); got != HintBuffer {
		t.Errorf("subscriber holds %d hints, want the first %d (the rest dropped)", got, HintBuffer)
	}
}

func TestHintsConcurrent(t *testing.T) {
	h := NewHints()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for j := range 200 {
				ch, stop := h.Subscribe("b", "")
				if j%2 == 0 {
					drain(ch)
				}
				stop()
			}
		}()
		go func() {
			defer wg.Done()
			for j := range 2000 {
				h.Publish("b", fmt.Sprint(i, j))
			}
		}()
	}
	wg.Wait()
	if n := h.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left", n)
	}
}
