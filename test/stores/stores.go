// Package stores opens objectstore clients over the test stack's MinIO servers with their root
// credentials, so that tests and the invariant monitor look at a bucket independently of the
// code under test. It is apart from test/stack because objectstore's own tests start MinIO
// with test/stack, which therefore must not import objectstore.
package stores

import (
	"fmt"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
)

// Client returns a client over one of m's buckets, straight to the server (never through the
// fault layer).
func Client(m *stack.MinIO, bucket string) (*objectstore.Client, error) {
	return ClientAt(m, m.Endpoint, bucket)
}

// ClientAt is Client through another endpoint (http://host:port), e.g. a fault proxy.
func ClientAt(m *stack.MinIO, endpoint, bucket string) (*objectstore.Client, error) {
	c, err := objectstore.New(objectstore.Options{Endpoint: endpoint, Bucket: bucket, PathStyle: true,
		AccessKeyID: m.AccessKey, SecretAccessKey: m.SecretKey})
	if err != nil {
		return nil, fmt.Errorf("stores: objectstore client for %s: %w", endpoint, err)
	}
	return c, nil
}
