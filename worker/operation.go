package main

import (
	"context"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/interceptor"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
)

// operationInterceptor names every activity's store requests after the workflow and the
// activity that make them ("Replicate/Sync", "TestFailover/…"): it gives each activity a
// context carrying objectstore.WithOperation, which ends the User-Agent of every request made
// with it. Why: operators read the User-Agent in S3 server access logs, CloudTrail and MinIO's
// audit log to tell which bdr operation touched a bucket, and the e2e tests read it to prove
// that a drill sends nothing to the primary's store while replication, on the same worker,
// reads it all the time. objectstore does not import Temporal, so the naming happens here.
// An activity that starts goroutines passes them its context, and with it the name.
type operationInterceptor struct {
	interceptor.WorkerInterceptorBase
}

func (*operationInterceptor) InterceptActivity(ctx context.Context, next interceptor.ActivityInboundInterceptor) interceptor.ActivityInboundInterceptor {
	i := &operationActivityInterceptor{}
	i.Next = next
	return i
}

type operationActivityInterceptor struct {
	interceptor.ActivityInboundInterceptorBase
}

func (i *operationActivityInterceptor) ExecuteActivity(ctx context.Context, in *interceptor.ExecuteActivityInput) (any, error) {
	info := activity.GetInfo(ctx)
	return i.Next.ExecuteActivity(objectstore.WithOperation(ctx, info.WorkflowType.Name+"/"+info.ActivityType.Name), in)
}
