package activities

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
)

// TestHeartbeatWatch: an attempt is alive while the frontend acknowledges its heartbeats
// within the heartbeat timeout, and not once none has been acknowledged for longer: failed
// calls, other attempts' beats and other methods do not count.
func TestHeartbeatWatch(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := NewHeartbeatWatch()
	w.now = func() time.Time { return now }
	intercept := w.UnaryClientInterceptor()
	answer := error(nil)
	invoker := func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return answer }
	beat := func(token string) {
		_ = intercept(context.Background(), heartbeatMethod,
			&workflowservice.RecordActivityTaskHeartbeatRequest{TaskToken: []byte(token)}, nil, nil, invoker)
	}

	alive, stop := w.watch([]byte("mine"), 5*time.Second)
	defer stop()
	require.NoError(t, alive())
	now = now.Add(4 * time.Second)
	beat("mine")
	now = now.Add(4 * time.Second)
	require.NoError(t, alive(), "acknowledged 4s ago")

	answer = errors.New("unavailable")
	beat("mine") // not acknowledged
	beat("other")
	_ = intercept(context.Background(), "/temporal.api.workflowservice.v1.WorkflowService/PollActivityTaskQueue",
		&workflowservice.RecordActivityTaskHeartbeatRequest{TaskToken: []byte("mine")}, nil, nil, func(context.Context, string, any, any, *grpc.ClientConn, ...grpc.CallOption) error { return nil })
	now = now.Add(2 * time.Second)
	require.Error(t, alive(), "no beat acknowledged for 6s, timeout 5s")

	answer = nil
	beat("mine")
	require.NoError(t, alive())

	// Without a watch or a heartbeat timeout, nothing is watched.
	var none *HeartbeatWatch
	a, s := none.watch([]byte("x"), time.Second)
	s()
	require.NoError(t, a())
}
