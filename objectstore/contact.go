package objectstore

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Contact is what a client knows of whether its store is alive: when the store last answered,
// and, if no request has reached it since, when one first failed to. A store that died did
// so between the two, and nothing was written to it after SilentSince: an unplanned failover
// bounds the writes it loses with it (its RPO) without asking the dead store.
type Contact struct {
	// AnsweredAt is when the store last answered any request, an error status included.
	AnsweredAt time.Time `json:"answeredAt,omitzero"`
	// SilentSince is when a request first failed to reach the store after AnsweredAt (no
	// connection, reset, no response): zero while the store answers.
	SilentSince time.Time `json:"silentSince,omitzero"`
}

// contactLog records every attempt's outcome. It is safe for concurrent use.
type contactLog struct {
	mu       sync.Mutex
	answered time.Time // local time, with its monotonic reading
	silent   time.Time
}

// observe records an attempt that got a response (answered) or failed to reach the store,
// at local time at.
func (l *contactLog) observe(answered bool, at time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case answered:
		if at.After(l.answered) {
			l.answered, l.silent = at, time.Time{}
		}
	case l.silent.IsZero() && !at.Before(l.answered):
		l.silent = at
	}
}

// times returns the local times of the last answer and of the first silence after it.
func (l *contactLog) times() (answered, silent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.answered, l.silent
}

// addMiddleware records the outcome of every attempt the SDK makes. It runs inside the retry
// loop, so the first failed attempt counts, not the operation that gives up seconds later.
// A request whose own context ended says nothing about the store.
func (l *contactLog) addMiddleware(stack *middleware.Stack) error {
	return stack.Deserialize.Add(middleware.DeserializeMiddlewareFunc("bdr-contact",
		func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			at := time.Now()
			// The SDK sets a raw response even when none came: a failure to send is what
			// tells that the store did not answer.
			var notSent *smithyhttp.RequestSendError
			switch {
			case !errors.As(err, &notSent):
				l.observe(true, at)
			case ctx.Err() == nil:
				l.observe(false, at)
			}
			return out, md, err
		}), middleware.After)
}

// Contact returns when the store last answered and when it was first silent since, by the
// store's clock, so that they compare with LastModified values. Each errs on its safe side:
// AnsweredAt is never later than the store's time of the answer (storeClock's lower bound)
// and SilentSince never earlier than its time of the failure (its upper bound), so the
// store's death lies between them. Zero times were never seen.
func (c *Client) Contact() Contact {
	answered, silent := c.contact.times()
	var res Contact
	if !answered.IsZero() {
		res.AnsweredAt = answered.UTC().Round(0)
		if st, ok := c.clock.at(answered); ok {
			res.AnsweredAt = st.UTC()
		}
	}
	if !silent.IsZero() {
		res.SilentSince = silent.UTC().Round(0)
		if st, ok := c.clock.atMost(silent); ok {
			res.SilentSince = st.UTC()
		}
	}
	return res
}
