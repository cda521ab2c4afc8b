package objectstore

import (
	"context"
	"fmt"
	"time"
)

// landTimeout bounds a write that its caller can no longer cancel (see landing), unless the
// caller's own deadline comes sooner.
const landTimeout = 30 * time.Second

// land runs write, a request that makes a blob visible in a bucket (a PUT, a server-side
// copy, the completion of a multipart upload), under landing's context. Its errors name what
// ("put key") and are normalised.
func land(ctx context.Context, what string, write func(context.Context) error) error {
	lctx, cancel, err := landing(ctx)
	if err != nil {
		return fmt.Errorf("objectstore: %s: %w", what, err)
	}
	defer cancel()
	if err := write(lctx); err != nil {
		return fmt.Errorf("objectstore: %s: %w", what, normalize(err))
	}
	return nil
}

// landing returns the context of a write that makes a blob visible, or ctx's error if ctx
// has ended: no such write starts after its caller stopped.
//
// Why a write outlives the caller's cancellation: a store finishes a PUT whose body it holds
// whole even when the client hangs up before the response. A cancelled write would then land
// after its caller returned: after a pause that promised no copy is in flight, in a target a
// failover has just sealed. So once started, a write runs until the store answers, bounded by
// landTimeout, and the caller returns after that. A streamed body still stops at once when
// ctx ends: its source read fails, and a store discards a body cut short.
//
// ctx's deadline still holds: a caller that bounds a write in time (a record written to a
// bucket that may be dead) gets its answer by then.
func landing(ctx context.Context) (context.Context, context.CancelFunc, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, context.Cause(ctx)
	}
	deadline := time.Now().Add(landTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	lctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	return lctx, cancel, nil
}
