package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math/rand/v2"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"golang.org/x/sync/errgroup"
)

// noise returns n pseudo-random (incompressible) bytes: the shared body of every blob.
func noise(n int64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{'b', 'd', 'r'})
	_, _ = r.Read(b) // ChaCha8.Read never fails
	return b
}

// content is one blob's bytes without holding them: a 16-byte header unique to the blob,
// then the shared noise. Blobs therefore differ (distinct ETags) while the benchmark holds a
// single buffer however many blobs are in flight.
type content struct {
	id    [16]byte
	noise []byte
	size  int64
}

func newContent(set string, i int, noise []byte, size int64) *io.SectionReader {
	c := content{noise: noise, size: size}
	copy(c.id[:8], set)
	binary.BigEndian.PutUint64(c.id[8:], uint64(i))
	return io.NewSectionReader(c, 0, size)
}

// ReadAt implements io.ReaderAt.
func (c content) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off < c.size {
		var m int
		if off < int64(len(c.id)) {
			m = copy(p[n:], c.id[off:])
		} else {
			m = copy(p[n:], c.noise[off:c.size])
		}
		n += m
		off += int64(m)
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// putAll PUTs count blobs of d into bucket with workers goroutines, as fast as the store takes
// them. It serves both the seeding and the raw ceiling.
func putAll(ctx context.Context, c *s3.Client, bucket string, d dataset, body []byte, workers int) error {
	return eachBlob(ctx, d, workers, func(ctx context.Context, i int) error {
		key := d.key(i)
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
			Body: newContent(d.name, i, body, d.size), ContentLength: aws.Int64(d.size)})
		if err != nil {
			return fmt.Errorf("put %s/%s: %w", bucket, key, err)
		}
		return nil
	})
}

// eachBlob calls fn for every blob of d, workers at a time, and stops at the first error.
func eachBlob(ctx context.Context, d dataset, workers int, fn func(ctx context.Context, i int) error) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(workers)
	for i := 0; i < d.count; i++ {
		if gctx.Err() != nil {
			break
		}
		g.Go(func() error { return fn(gctx, i) })
	}
	return g.Wait()
}

// seed writes d into the source bucket. Large blobs go two at a time: the seeding is not timed
// and need not crowd the disk.
func (e *env) seed(ctx context.Context, d dataset) error {
	workers := e.o.concurrency
	if d.size > 64<<20 {
		workers = 2
	}
	start := time.Now()
	if err := putAll(ctx, e.srcS3, e.bucket, d, e.noise(d.size), workers); err != nil {
		return fmt.Errorf("seed %s: %w", d.name, err)
	}
	logf("seeded %s in %.1fs", d.name, time.Since(start).Seconds())
	return nil
}

// runRaw is the ceiling: the same blobs PUT from memory straight into the target, with the
// same parallelism and no reads.
func (e *env) runRaw(ctx context.Context, d dataset) (time.Duration, error) {
	body := e.noise(d.size) // generated before the clock starts
	start := time.Now()
	if err := putAll(ctx, e.dstS3, e.targetBucket(contenderRaw), d, body, e.o.concurrency); err != nil {
		return 0, fmt.Errorf("raw ceiling: %w", err)
	}
	return time.Since(start), nil
}

// runPlainCopy is the copy floor of this machine: each blob of d streamed from a GET in the
// source straight into a PUT in the target, with the same parallelism, clients and keys as
// the raw ceiling and nothing else (no ordering, no watermark, no checks, one PUT even for a
// large blob). Every byte crosses loopback twice, as in any copy between two stores, where
// the ceiling sends it once: what the plain copy reaches of the ceiling is what a copy can.
func (e *env) runPlainCopy(ctx context.Context, d dataset) (time.Duration, error) {
	bucket := e.targetBucket(contenderPlainCopy)
	start := time.Now()
	err := eachBlob(ctx, d, e.o.concurrency, func(ctx context.Context, i int) error {
		return plainCopy(ctx, e.srcS3, e.dstS3, e.bucket, bucket, d.key(i))
	})
	if err != nil {
		return 0, fmt.Errorf("plain copy: %w", err)
	}
	return time.Since(start), nil
}

// plainCopy streams one blob from a GET into a PUT of the same key.
func plainCopy(ctx context.Context, src, dst *s3.Client, srcBucket, dstBucket, key string) error {
	got, err := src.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(srcBucket), Key: aws.String(key)})
	if err != nil {
		return fmt.Errorf("get %s/%s: %w", srcBucket, key, err)
	}
	defer got.Body.Close()
	_, err = dst.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(dstBucket), Key: aws.String(key),
		Body: got.Body, ContentLength: got.ContentLength})
	if err != nil {
		return fmt.Errorf("put %s/%s: %w", dstBucket, key, err)
	}
	return nil
}

// noise returns the shared blob body for a size, generated once.
func (e *env) noise(size int64) []byte {
	e.noiseMu.Lock()
	defer e.noiseMu.Unlock()
	if int64(len(e.noiseBuf)) < size {
		e.noiseBuf = noise(size)
	}
	return e.noiseBuf
}

// warmUp PUTs a few hundred small blobs into both stores, not timed.
func (e *env) warmUp(ctx context.Context) error {
	d := dataset{name: "warmup", root: "warmup", count: 500, size: 64 << 10}
	if err := putAll(ctx, e.srcS3, e.bucket, d, e.noise(d.size), e.o.concurrency); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	if err := putAll(ctx, e.dstS3, targetBuckets["warmup"], d, e.noise(d.size), e.o.concurrency); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	return nil
}
