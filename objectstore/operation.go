package objectstore

import (
	"context"
	"net/http"

	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Every request a Client sends names the bdr operation that made it, when its context says
// (WithOperation): " bdr-op/<operation>" ends its User-Agent. Why the User-Agent: it is what
// the stores already record per request (S3 server access logs, CloudTrail's userAgent, MinIO's
// audit log), so an operator can tell which workflow and activity read or wrote a bucket, and a
// test can prove that a drill sent nothing to a region's store while replication read it.
// SigV4 does not sign the User-Agent, so the tag changes no signature.

// OperationTagPrefix starts the User-Agent token that names a request's operation.
const OperationTagPrefix = "bdr-op/"

// maxOperation bounds an operation's length in bytes: a workflow and an activity type name
// fit, and a header stays small whatever a caller passes.
const maxOperation = 128

// directUserAgent is the User-Agent of the copy path's requests (see direct), which skip the
// SDK's: a store's log then names bottomless-dr rather than Go's default client.
const directUserAgent = "bottomless-dr"

type operationKey struct{}

// WithOperation returns a copy of ctx naming op (e.g. "TestFailover/BranchCopy") as the
// operation of every request a Client makes with it. Only [A-Za-z0-9/_.-] are kept: any other
// byte becomes '-', and op is cut to 128 bytes, so that no text reaches a header unchecked. An
// op that is empty leaves ctx as it is.
func WithOperation(ctx context.Context, op string) context.Context {
	op = cleanOperation(op)
	if op == "" {
		return ctx
	}
	return context.WithValue(ctx, operationKey{}, op)
}

// Operation returns the operation ctx names (cleaned as WithOperation does), or "".
func Operation(ctx context.Context) string {
	op, _ := ctx.Value(operationKey{}).(string)
	return op
}

// cleanOperation keeps the bytes of op that are safe in a User-Agent token and replaces the
// others with '-', up to maxOperation bytes.
func cleanOperation(op string) string {
	if len(op) > maxOperation {
		op = op[:maxOperation]
	}
	b := []byte(op)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '/', c == '_', c == '.', c == '-':
		default:
			b[i] = '-'
		}
	}
	return string(b)
}

// tagUserAgent appends ctx's operation, if any, to h's User-Agent.
func tagUserAgent(ctx context.Context, h http.Header) {
	op := Operation(ctx)
	if op == "" {
		return
	}
	tag := OperationTagPrefix + op
	if ua := h.Get("User-Agent"); ua != "" {
		tag = ua + " " + tag
	}
	h.Set("User-Agent", tag)
}

// addOperationMiddleware tags the SDK's requests. It is a Build step at the end of the step:
// APIOptions are added after an operation's own middlewares, so it runs after the SDK's
// "UserAgent" middleware has written its value; and it runs once per operation, not per
// attempt (the SDK retries in Finalize, after Build), so that a retry is not tagged twice.
func addOperationMiddleware(stack *middleware.Stack) error {
	return stack.Build.Add(middleware.BuildMiddlewareFunc("bdr-operation",
		func(ctx context.Context, in middleware.BuildInput, next middleware.BuildHandler) (middleware.BuildOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				tagUserAgent(ctx, req.Header)
			}
			return next.HandleBuild(ctx, in)
		}), middleware.After)
}
