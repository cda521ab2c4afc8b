// Package workload writes into a source bucket the way a bottomless database does: several
// writers, each a numbered sequence of blobs under its own folder, each blob written only after
// the previous one is in. The end-to-end tests and the demo use it; the numbering lets a test
// prove that what replicated is gap-free per writer. InsertRows (rows.go) is the same idea one
// level up: SQL writers committing numbered rows into a database through the MySQL protocol.
package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Options shape a workload.
type Options struct {
	Bucket   string
	Prefix   string // e.g. "bottomless_db_folder/0001"; blobs go to Prefix/wNN/SEQ
	Writers  int
	Duration time.Duration // stop after this long (0: until ctx ends)
	// Rate is blobs per second per writer (0: as fast as the store takes them).
	Rate float64
	// Size returns a blob's size; default SmallAndLarge.
	Size func(r *rand.Rand) int
	// PerWriter stops each writer after that many blobs (0: no limit).
	PerWriter int
	// LockEvery writes a storage lock blob every n blobs (0: never), as the database does.
	LockEvery int
	Seed      uint64
}

// Result is what the writers wrote.
type Result struct {
	Written map[int]int // writer -> blobs written (sequence numbers 0..n-1)
	Objects int
	Bytes   int64
}

// Key returns the key of a writer's blob number seq.
func Key(prefix string, writer, seq int) string {
	return fmt.Sprintf("%s/w%02d/%08d", prefix, writer, seq)
}

// ParseKey returns the writer and sequence number of a key made by Key.
func ParseKey(prefix, key string) (writer, seq int, ok bool) {
	rest, found := strings.CutPrefix(key, prefix+"/w")
	if !found {
		return 0, 0, false
	}
	w, s, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	wi, err1 := strconv.Atoi(w)
	si, err2 := strconv.Atoi(s)
	return wi, si, err1 == nil && err2 == nil
}

// SmallAndLarge is the default size mix: mostly 1-64 KiB, some up to 1 MiB, a few 1-8 MiB.
func SmallAndLarge(r *rand.Rand) int {
	switch p := r.IntN(1000); {
	case p < 900:
		return 1<<10 + r.IntN(63<<10)
	case p < 990:
		return 64<<10 + r.IntN(960<<10)
	default:
		return 1<<20 + r.IntN(7<<20)
	}
}

// Content returns the deterministic content of a writer's blob, so any copy can be checked.
func Content(writer, seq, size int) []byte {
	b := make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(writer), uint64(seq)))
	for i := 0; i+8 <= size; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

// Run writes until the duration ends or ctx is cancelled. A write error stops that writer and
// is returned (with what was written) once all writers stopped.
func Run(ctx context.Context, c *s3.Client, opts Options) (Result, error) {
	if opts.Size == nil {
		opts.Size = SmallAndLarge
	}
	if opts.Duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, opts.Duration)
		defer cancel()
	}
	res := Result{Written: map[int]int{}}
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make([]error, opts.Writers)
	for w := 0; w < opts.Writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, objects, bytes, err := runWriter(ctx, c, opts, w)
			mu.Lock()
			res.Written[w] = n
			res.Objects += objects
			res.Bytes += bytes
			mu.Unlock()
			errs[w] = err
		}()
	}
	wg.Wait()
	return res, errors.Join(errs...)
}

func runWriter(ctx context.Context, c *s3.Client, opts Options, w int) (n, objects int, written int64, err error) {
	r := rand.New(rand.NewPCG(opts.Seed, uint64(w)))
	var tick <-chan time.Time
	if opts.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / opts.Rate))
		defer t.Stop()
		tick = t.C
	}
	for seq := 0; opts.PerWriter == 0 || seq < opts.PerWriter; seq++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return n, objects, written, nil
			case <-tick:
			}
		} else if ctx.Err() != nil {
			return n, objects, written, nil
		}
		size := opts.Size(r)
		// A write once begun is finished even when ctx ends: a PUT cut off mid-flight may
		// still land in the store, and then the count would not match the bucket.
		putCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		err := put(putCtx, c, opts.Bucket, Key(opts.Prefix, w, seq), Content(w, seq, size))
		cancel()
		if err != nil {
			return n, objects, written, err
		}
		n, objects, written = n+1, objects+1, written+int64(size)
		if opts.LockEvery > 0 && seq%opts.LockEvery == 0 {
			lock := fmt.Sprintf("%s/storage_locks/%d_%d", opts.Prefix, w, seq)
			if err := put(context.WithoutCancel(ctx), c, opts.Bucket, lock, []byte("lock")); err != nil {
				return n, objects, written, err
			}
			objects++
		}
	}
	return n, objects, written, nil
}

func put(ctx context.Context, c *s3.Client, bucket, key string, data []byte) error {
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: bytes.NewReader(data), ContentLength: aws.Int64(int64(len(data)))})
	if err != nil {
		return fmt.Errorf("workload: put %s: %w", key, err)
	}
	return nil
}
