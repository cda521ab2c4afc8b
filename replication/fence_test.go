package replication_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/replication"
)

// twoRegions is the buckets of regions a and b on one clock, each holding db's folder.
type twoRegions struct {
	clock *fakeClock
	a, b  *memStore
}

func newTwoRegions() *twoRegions {
	clock := newFakeClock(base)
	clock.SetTick(time.Millisecond)
	return &twoRegions{clock: clock, a: newMemStore(clock, time.Millisecond), b: newMemStore(clock, time.Millisecond)}
}

// sync runs one Sync of everything from -> to and returns its error.
func (r *twoRegions) sync(from, to string) error {
	src, dst := r.a, r.b
	if from == "b" {
		src, dst = r.b, r.a
	}
	r.clock.Advance(time.Minute)
	in := replication.SyncInput{Database: testDB, From: from, To: to, RootPath: testRoot,
		Policy: replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 10, BatchMaxBytes: 1 << 20}, Concurrency: 2}
	_, err := replication.Sync(context.Background(), src, dst, &memCopier{src: src, dst: dst}, in, nil)
	return err
}

// verify runs the anti-entropy pass from -> to and returns its error.
func (r *twoRegions) verify(from, to string) error {
	src, dst := r.a, r.b
	if from == "b" {
		src, dst = r.b, r.a
	}
	_, err := replication.Verify(context.Background(), src, dst, &memCopier{src: src, dst: dst}, testDB,
		replication.Endpoint{Region: from, RootPath: testRoot}, replication.Endpoint{Region: to, RootPath: testRoot}, nil, nil)
	return err
}

// recordPrimary writes region as the primary in both buckets, as a failover's last step does.
func (r *twoRegions) recordPrimary(t *testing.T, region, by string) {
	t.Helper()
	p := replication.Primary{Database: testDB, Region: region, Since: r.clock.Advance(time.Second), By: by}
	require.NoError(t, replication.WritePrimary(context.Background(), r.a, p))
	require.NoError(t, replication.WritePrimary(context.Background(), r.b, p))
}

func requireRefused(t *testing.T, err error, reason string) {
	t.Helper()
	var refused *replication.RefusedError
	require.True(t, errors.As(err, &refused), "want a RefusedError, got %v", err)
	require.Equal(t, reason, refused.Reason, "%v", err)
}

// TestNothingReplicatesIntoThePrimary walks a database through its life: first start, a
// failover to b, reverse replication, a switchback to a, forward replication again. At every
// step the replication into the serving region, and into a region being promoted, is refused
// by Sync and by Verify, and the legitimate one is allowed.
func TestNothingReplicatesIntoThePrimary(t *testing.T) {
	ctx := context.Background()
	r := newTwoRegions()
	for i := range 5 {
		r.a.Put(fmt.Sprintf("%s/f/%02d", testRoot, i), []byte{byte(i)})
	}

	// First start a -> b records a as the primary in both buckets; a second call keeps it.
	p, err := replication.EnsurePrimary(ctx, []replication.Store{r.a, r.b}, testDB, "a", "replicate/x", r.clock.Now())
	require.NoError(t, err)
	require.Equal(t, "a", p.Region)
	again, err := replication.EnsurePrimary(ctx, []replication.Store{r.a, r.b}, testDB, "b", "replicate/reversed", r.clock.Now())
	require.NoError(t, err)
	require.Equal(t, "a", again.Region, "a reversed start must not overwrite the record")
	require.NoError(t, r.sync("a", "b"))
	require.NoError(t, r.verify("a", "b"))
	// A reversed start on that deployment is refused: a is the primary.
	requireRefused(t, r.sync("b", "a"), replication.RefusedPrimary)
	requireRefused(t, r.verify("b", "a"), replication.RefusedPrimary)

	// Failover to b: the fence is written before the seal. From then on, a replication
	// resumed between "stop replication" and "record primary" is refused.
	f, err := replication.WriteFence(ctx, r.b, testDB, "b", "failover/x", r.clock.Now())
	require.NoError(t, err)
	require.Positive(t, f.Generation)
	f2, err := replication.WriteFence(ctx, r.b, testDB, "b", "failover/x", r.clock.Now())
	require.NoError(t, err)
	require.Equal(t, f.Generation, f2.Generation, "a repeated fence is the same fence")
	before := r.b.Snapshot(testRoot + "/")
	r.a.Put(testRoot+"/f/late", []byte("written just before the failover"))
	requireRefused(t, r.sync("a", "b"), replication.RefusedFenced)
	requireRefused(t, r.verify("a", "b"), replication.RefusedFenced)
	require.Equal(t, before, r.b.Snapshot(testRoot+"/"), "a refused sync wrote into the fenced folder")
	r.recordPrimary(t, "b", "failover/x")
	requireRefused(t, r.sync("a", "b"), replication.RefusedPrimary)

	// Reverse replication b -> a writes into a, whose record names b: allowed.
	r.b.Put(testRoot+"/f/new-primary", []byte("written in b"))
	require.NoError(t, r.sync("b", "a"))
	require.NoError(t, r.verify("b", "a"))
	_, ok := r.a.Get(testRoot + "/f/new-primary")
	require.True(t, ok)

	// Switchback to a: fence a, record a everywhere. Forward replication into b is allowed
	// again (b's record names a and is newer than b's old fence); into a it is refused.
	_, err = replication.WriteFence(ctx, r.a, testDB, "a", "failback/x", r.clock.Now())
	require.NoError(t, err)
	requireRefused(t, r.sync("b", "a"), replication.RefusedFenced)
	r.recordPrimary(t, "a", "failback/x")
	requireRefused(t, r.sync("b", "a"), replication.RefusedPrimary)
	require.NoError(t, r.sync("a", "b"))
	require.NoError(t, r.verify("a", "b"))
}

// TestFenceOnAFreshTarget: a fence on a bucket with no primary record (a failover before any
// record existed) is in force until one is written; LiftFence ends it for a failover that gave
// up.
func TestFenceOnAFreshTarget(t *testing.T) {
	ctx := context.Background()
	r := newTwoRegions()
	r.a.Put(testRoot+"/f/0", []byte("x"))
	_, err := replication.WriteFence(ctx, r.b, testDB, "b", "failover/x", r.clock.Now())
	require.NoError(t, err)
	requireRefused(t, r.sync("a", "b"), replication.RefusedFenced)
	require.NoError(t, replication.LiftFence(ctx, r.b, testDB))
	require.NoError(t, r.sync("a", "b"))
}

// TestEnsurePrimaryCompletesAPartialRecord: a record found in one bucket only is copied to the
// other, never replaced by the caller's region.
func TestEnsurePrimaryCompletesAPartialRecord(t *testing.T) {
	ctx := context.Background()
	r := newTwoRegions()
	want := replication.Primary{Database: testDB, Region: "b", Since: base, By: "failover/x"}
	require.NoError(t, replication.WritePrimary(ctx, r.b, want))
	got, err := replication.EnsurePrimary(ctx, []replication.Store{r.a, r.b}, testDB, "a", "replicate/x", r.clock.Now())
	require.NoError(t, err)
	require.Equal(t, "b", got.Region)
	inA, found, err := replication.ReadPrimary(ctx, r.a, testDB)
	require.NoError(t, err)
	require.True(t, found)
	require.Equal(t, "b", inA.Region)
}
