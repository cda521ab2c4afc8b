package objectstore

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// clockWindow is how long a Date header counts towards the store's clock. The bound a sample
// gives assumes that the store's clock and ours run at the same rate since it was taken;
// within a minute, a drift of even 100 ppm moves them apart by 6 ms, far inside the settle
// window, and a clock stepped by NTP is forgotten after a minute.
const clockWindow = 60 * time.Second

// storeClock estimates the store's clock more finely than the one-second Date header allows.
//
// Why it is safe: the store stamped a response's Date (truncated to the second) before we
// received the response, so with offset = store clock - local clock,
//
//	Date <= store time at stamping = local time at stamping + offset <= local receive time + offset
//
// and Date - receive time is a lower bound of the offset. Every response gives one; the largest
// is the tightest, and with a few requests per second it comes within a few milliseconds of the
// true offset (a response stamped just after the store's second ticked over loses almost
// nothing to truncation). Local time plus that bound is then never later than the store's
// true time. Elapsed local time is read from the monotonic clock, so a step of the local wall
// clock changes nothing.
//
// It keeps the best sample of the current half-window and of the previous one, so the
// estimate rests only on samples at most clockWindow old. It is safe for concurrent use.
type storeClock struct {
	window time.Duration

	mu     sync.Mutex
	since  time.Time   // local start of the current half-window
	cur    clockSample // the best lower-bound sample since then
	prev   clockSample // the best lower-bound sample of the half-window before
	curUp  clockSample // the best upper-bound sample since then
	prevUp clockSample // the best upper-bound sample of the half-window before
}

// clockSample is one Date header, the local instant its request was sent and the one its
// response arrived.
type clockSample struct {
	date time.Time // the store's Date header
	sent time.Time // local time with its monotonic reading; zero when unknown
	recv time.Time // local time with its monotonic reading
}

func (s clockSample) valid() bool { return !s.recv.IsZero() }

// at returns the lower bound the sample gives on the store's time at local instant t.
func (s clockSample) at(t time.Time) time.Time { return s.date.Add(t.Sub(s.recv)) }

// before returns the upper bound the sample gives on the store's time at local instant t: the
// store stamped the response after the request was sent, and before its clock reached the
// second after Date. It is false without the send time.
func (s clockSample) before(t time.Time) (time.Time, bool) {
	if s.sent.IsZero() {
		return time.Time{}, false
	}
	return s.date.Add(time.Second).Add(t.Sub(s.sent)), true
}

// tighter reports whether s gives an earlier upper bound than o.
func (s clockSample) tighter(o clockSample) bool {
	sb, ok := s.before(s.recv)
	if !ok {
		return false
	}
	ob, ok := o.before(s.recv)
	return !ok || sb.Before(ob)
}

func newStoreClock(window time.Duration) *storeClock { return &storeClock{window: window} }

// observeRequest records a response's Date header, for a request sent at local time sent
// (zero if unknown) and answered at local time recv.
func (c *storeClock) observeRequest(date, sent, recv time.Time) {
	if date.IsZero() {
		return
	}
	s := clockSample{date: date, sent: sent, recv: recv}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.cur.valid() || recv.Sub(c.since) >= c.window/2 {
		// A new half-window: the current bests become the previous ones, which age out.
		c.prev, c.cur, c.prevUp, c.curUp, c.since = c.cur, s, c.curUp, s, recv
		return
	}
	if s.at(recv).After(c.cur.at(recv)) {
		c.cur = s
	}
	if s.tighter(c.curUp) {
		c.curUp = s
	}
}

// at returns the latest lower bound on the store's time at local instant t that the samples
// of the last window give, and false if there is none.
func (c *storeClock) at(t time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	lower := func(s clockSample, t time.Time) (time.Time, bool) { return s.at(t), true }
	return c.tightest(t, [2]clockSample{c.cur, c.prev}, lower, time.Time.After)
}

// atMost returns the earliest upper bound on the store's time at local instant t that the
// samples of the last window give, and false if there is none. Date counts whole seconds, so
// it takes many responses for it to come close; until then it errs late.
func (c *storeClock) atMost(t time.Time) (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tightest(t, [2]clockSample{c.curUp, c.prevUp}, clockSample.before, time.Time.Before)
}

// tightest returns the tightest of the bounds that the samples taken within a window of t
// give at t: bound gives a sample's bound (false if it has none), tighter compares two.
func (c *storeClock) tightest(t time.Time, samples [2]clockSample, bound func(clockSample, time.Time) (time.Time, bool), tighter func(a, b time.Time) bool) (time.Time, bool) {
	var best time.Time
	for _, s := range samples {
		if !s.valid() || t.Sub(s.recv) > c.window || s.recv.Sub(t) > c.window {
			continue
		}
		if b, ok := bound(s, t); ok && (best.IsZero() || tighter(b, best)) {
			best = b
		}
	}
	return best, !best.IsZero()
}

// storeTime returns the store's time at local instant before, for a request sent after it
// whose response carried date: the clock's lower bound at that instant, and never earlier
// than date (what the store's clock said then, to the second; the bound before any
// response has been seen).
func (c *storeClock) storeTime(before, date time.Time) time.Time {
	t, ok := c.at(before)
	if !ok || t.Before(date) {
		return date
	}
	return t.UTC()
}

// addMiddleware records the Date header of every response the SDK receives, errors included
// (a 404 carries the store's clock as well). It runs inside the retry loop, once per attempt,
// and reads the local time as soon as the response headers are in.
func (c *storeClock) addMiddleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("bdr-store-clock",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			sent := time.Now()
			out, md, err := next.HandleDeserialize(ctx, in)
			recv := time.Now()
			if resp, ok := out.RawResponse.(*smithyhttp.Response); ok {
				c.observeRequest(parseDate(resp.Header), sent, recv)
			}
			return out, md, err
		}), middleware.After)
}

// parseDate returns the Date header, zero if it is absent or malformed.
func parseDate(h http.Header) time.Time {
	t, err := http.ParseTime(h.Get("Date"))
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}
