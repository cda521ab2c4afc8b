package replication_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestSyncStrictKeepsTargetAPrefixAtEveryInstant: with order: strict, parallel copies that
// finish in any order never leave a blob at its own key in the target without every blob
// written before it; staging is empty afterwards and the watermark covers everything.
func TestSyncStrictKeepsTargetAPrefixAtEveryInstant(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	var order []objectstore.Object
	for i := range 120 {
		order = append(order, e.src.Put(fmt.Sprintf("%s/sid/w%d/%04d", testRoot, i%4, i), []byte(fmt.Sprintf("blob %d", i))))
	}
	slices.SortFunc(order, func(a, b objectstore.Object) int {
		if replication.Less(a, b) {
			return -1
		}
		return 1
	})
	e.clock.Advance(time.Minute)
	var violations []string
	check := func(key string) {
		if !strings.HasPrefix(key, testRoot+"/") {
			return
		}
		present := e.dst.Snapshot(testRoot + "/")
		missing := -1
		for i, o := range order {
			_, in := present[o.Key]
			switch {
			case !in && missing < 0:
				missing = i
			case in && missing >= 0:
				violations = append(violations, fmt.Sprintf("%s is in the target without %s", o.Key, order[missing].Key))
				return
			}
		}
	}
	e.dst.afterPut = check
	e.dst.afterCopyWithin = check
	copier := &memCopier{src: e.src, dst: e.dst, delay: func(key string) time.Duration {
		return time.Duration(len(key)*7919%13) * 100 * time.Microsecond
	}}
	in := syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 16, BatchMaxBytes: 1 << 20,
		Exclude: storageLocks, Strict: true}, 8)
	res, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.True(t, res.CaughtUp)
	require.Empty(t, violations)
	require.Empty(t, e.dst.Snapshot(replication.StagingPrefix(testDB)), "staging left behind")
	require.Len(t, e.dst.Snapshot(testRoot+"/"), len(order))
	e.checkTarget(t, time.Time{})
	e.checkNoViolations(t)
}

// TestSyncStrictResumeCleansStaging: a strict sync that failed leaves staged blobs; the resumed
// call removes them, copies nothing twice into place, and finishes.
func TestSyncStrictResumeCleansStaging(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, time.Millisecond)
	for i := range 40 {
		e.src.Put(fmt.Sprintf("%s/sid/%04d", testRoot, i), []byte(fmt.Sprintf("blob %d", i)))
	}
	e.clock.Advance(time.Minute)
	in := syncInput(replication.Policy{SettleWindow: time.Second, BatchMaxObjects: 8, BatchMaxBytes: 1 << 20,
		Exclude: storageLocks, Strict: true}, 4)
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst, failOn: 20}, in, nil)
	require.Error(t, err)
	in.VerifyExisting = true
	res, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.True(t, res.CaughtUp)
	require.Empty(t, e.dst.Snapshot(replication.StagingPrefix(testDB)), "staging left behind")
	require.Len(t, e.dst.Snapshot(testRoot+"/"), 40)
	e.checkTarget(t, time.Time{})
}
