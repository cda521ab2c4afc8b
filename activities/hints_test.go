package activities

import (
	"fmt"
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
	stop()
	stop() // twice is fine
	h.Publish("b", "k2")
	if got := drain(ch); fmt.Sprint(got) != "[k1]" {
		t.Errorf("after unsubscribing got %v, want [k1]", got)
	}
	if n := h.subscribers(); n != 0 {
		t.Errorf("%d subscriptions left", n)
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
