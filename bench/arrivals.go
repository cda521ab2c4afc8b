package main

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
)

// arrivalPoll is how often the steady-lag runs list a target for the load's blobs. A blob's
// arrival is when the first listing that showed it was answered: later than the copy by up to
// arrivalPoll plus one listing, the same for every contender.
//
// Why poll instead of reading the target's LastModified: MinIO's bucket replication keeps the
// source's LastModified on its replicas, so the target's LastModified cannot tell when a
// MinIO copy arrived; measured this way, bottomless-dr and MinIO are measured alike.
const arrivalPoll = 50 * time.Millisecond

// pollArrivals lists the blobs that workload.Run writes under bucket/prefix (writers
// sequences prefix/wNN/SEQ) every arrivalPoll until stop is called, and notes when each key
// first showed. Each writer's folder is listed by a goroutine of its own, from just before
// its lowest sequence number not seen yet: a listing returns the few blobs that came since
// the previous one, not the whole folder, however long the load runs, while a copy that
// arrives out of order (MinIO replicates without order) is still seen.
func pollArrivals(ctx context.Context, c *s3.Client, bucket, prefix string, writers int) (seen func() map[string]time.Time, stop func()) {
	var mu sync.Mutex
	got := map[string]time.Time{}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(arrivalPoll)
			defer tick.Stop()
			next := 0 // the writer's lowest sequence number not seen yet
			for {
				startAfter := ""
				if next > 0 {
					startAfter = workload.Key(prefix, w, next-1)
				}
				keys, err := listAfter(ctx, c, bucket, fmt.Sprintf("%s/w%02d/", prefix, w), startAfter)
				at := time.Now()
				if err == nil {
					mu.Lock()
					for _, k := range keys {
						if _, ok := got[k]; !ok {
							got[k] = at
						}
					}
					for {
						if _, ok := got[workload.Key(prefix, w, next)]; !ok {
							break
						}
						next++
					}
					mu.Unlock()
				}
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
			}
		}()
	}
	seen = func() map[string]time.Time {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(got)
	}
	return seen, func() { cancel(); wg.Wait() }
}

// listAfter returns the keys under prefix that sort after startAfter ("" for all).
func listAfter(ctx context.Context, c *s3.Client, bucket, prefix, startAfter string) ([]string, error) {
	in := &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix)}
	if startAfter != "" {
		in.StartAfter = aws.String(startAfter)
	}
	var keys []string
	for {
		out, err := c.ListObjectsV2(ctx, in)
		if err != nil {
			return keys, fmt.Errorf("list %s/%s: %w", bucket, prefix, err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys, nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// waitArrived waits until every blob of source has been seen, or timeout passes. It returns
// how many had not been seen.
func waitArrived(ctx context.Context, source objectstore.Listing, seen func() map[string]time.Time, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for {
		got, missing := seen(), 0
		for _, o := range source.Objects {
			if _, ok := got[o.Key]; !ok {
				missing++
			}
		}
		if missing == 0 || time.Now().After(deadline) {
			return missing, nil
		}
		select {
		case <-ctx.Done():
			return missing, ctx.Err()
		case <-time.After(arrivalPoll):
		}
	}
}

// arrivalLags returns, per source blob, the seconds from its source LastModified until it
// was first seen in the target (both stores run on this machine's clock). A blob never seen
// counts as seen at gaveUp, when the wait for it ended: its lag is at least that, and
// leaving it out would flatter the contender that lost it. missing is how many those were.
func arrivalLags(source objectstore.Listing, seen map[string]time.Time, gaveUp time.Time) (lags []float64, missing int) {
	for _, o := range source.Objects {
		t, ok := seen[o.Key]
		if !ok {
			missing++
			t = gaveUp
		}
		lags = append(lags, max(0, t.Sub(o.LastModified).Seconds()))
	}
	return lags, missing
}
