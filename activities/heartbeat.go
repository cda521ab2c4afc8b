package activities

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// HeartbeatWatch tells an activity whether Temporal still hears it: it records, per activity
// attempt (task token), when the frontend last acknowledged a heartbeat, by watching the
// worker client's RecordActivityTaskHeartbeat calls. It is safe for concurrent use.
//
// Why it is needed: activity.RecordHeartbeat returns nothing, and the SDK batches beats. The
// SDK (v1.50) cancels the activity's context when a beat is answered "cancelled" or "not
// found", or fails with a retryable gRPC error; but a worker whose beats do not go out at all
// (no beat sent for a throttle window, a connection stuck in reconnecting, an error it does
// not classify) keeps running while the server times the attempt out and starts another.
// For a Sync that is a second writer into the target. With the watch, a Sync stops starting
// copies and writing its record once no beat has been acknowledged for the heartbeat
// timeout: by then the server may have given the work to another attempt.
//
// worker/main.go installs it on the worker's Temporal client (UnaryClientInterceptor) and
// hands it to the Replicator (WithHeartbeatWatch).
type HeartbeatWatch struct {
	now func() time.Time // time.Now; a test's clock

	mu    sync.Mutex
	acked map[string]time.Time // by task token, for the attempts being watched
}

// NewHeartbeatWatch returns a watch that watches nothing yet.
func NewHeartbeatWatch() *HeartbeatWatch {
	return &HeartbeatWatch{now: time.Now, acked: map[string]time.Time{}}
}

// heartbeatMethod is the frontend's RecordActivityTaskHeartbeat, as gRPC names it.
const heartbeatMethod = "/temporal.api.workflowservice.v1.WorkflowService/RecordActivityTaskHeartbeat"

// UnaryClientInterceptor returns the gRPC interceptor that feeds the watch: every answered
// RecordActivityTaskHeartbeat of a watched attempt counts as an acknowledgement (a "cancel
// requested" answer too: the SDK cancels the activity's context for that).
func (w *HeartbeatWatch) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		err := invoker(ctx, method, req, reply, cc, opts...)
		if err == nil && method == heartbeatMethod {
			if r, ok := req.(*workflowservice.RecordActivityTaskHeartbeatRequest); ok {
				w.ack(r.GetTaskToken())
			}
		}
		return err
	}
}

// ack records an acknowledged heartbeat of the attempt with token, if it is watched.
func (w *HeartbeatWatch) ack(token []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.acked[string(token)]; ok {
		w.acked[string(token)] = w.now()
	}
}

// watch starts watching the attempt with token, whose heartbeat timeout is timeout, counting
// its start as an acknowledgement. alive returns an error once no heartbeat has been
// acknowledged for timeout; stop ends the watch. A zero timeout (none set) watches nothing.
func (w *HeartbeatWatch) watch(token []byte, timeout time.Duration) (alive func() error, stop func()) {
	if w == nil || timeout <= 0 || len(token) == 0 {
		return func() error { return nil }, func() {}
	}
	key := string(token)
	w.mu.Lock()
	w.acked[key] = w.now()
	w.mu.Unlock()
	alive = func() error {
		w.mu.Lock()
		last := w.acked[key]
		w.mu.Unlock()
		if since := w.now().Sub(last); since > timeout {
			return fmt.Errorf("temporal has acknowledged no heartbeat for %s (heartbeat timeout %s): this attempt may already run elsewhere",
				since.Round(time.Millisecond), timeout)
		}
		return nil
	}
	stop = func() {
		w.mu.Lock()
		delete(w.acked, key)
		w.mu.Unlock()
	}
	return alive, stop
}
