package replication_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestDivergenceRecoveredBranchAndMoveAside: A (the region coming back) holds a prefix B
// received, a blob B received but sealed aside at the failover, a tail B never received, a
// blob under a key B's new database wrote with other content, and a storage lock. B holds the
// prefix, the sealed blob and its own writes. The recovered branch in B is A's folder exactly
// (only the tail crossed regions); moving the diverged blobs aside leaves A's folder a prefix
// of B's, and keeps every moved blob under the diverged prefix.
func TestDivergenceRecoveredBranchAndMoveAside(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(base)
	a, b := newMemStore(clock, time.Millisecond), newMemStore(clock, time.Millisecond)
	copier := &memCopier{src: a, dst: b}
	key := func(name string) string { return testRoot + "/sid/" + name }
	var prefix []objectstore.Object
	for _, name := range []string{"log/1", "log/2", "log/3"} {
		o := a.Put(key(name), []byte("a "+name))
		prefix = append(prefix, o)
		require.NoError(t, copier.Copy(ctx, o, o.Key, replication.CopyMetadata(o.LastModified, o.ETag)))
	}
	sealedOne := a.Put(key("log/4"), []byte("a log/4"))
	require.NoError(t, copier.Copy(ctx, sealedOne, replication.SealedPrefix(testDB, "failover-1")+sealedOne.Key, nil))
	a.Put(key("log/5"), []byte("a log/5: the tail"))
	a.Put(key("log/6"), []byte("a log/6: written while cut off"))
	a.Put(key("storage_locks/1_1"), []byte("lock"))
	b.Put(key("log/6"), []byte("b log/6: the new primary's own")) // same key, other content
	b.Put(key("log/7"), []byte("b log/7"))

	d, err := replication.FindDivergence(ctx, a, b, testDB, testRoot, []string{"*/storage_locks/*"})
	require.NoError(t, err)
	assert.Len(t, d.Objects, 6, "A's folder without its lock")
	assert.Equal(t, []string{key("log/5"), key("log/6")}, keysOf(d.Tail()))
	assert.Equal(t, []string{key("log/4"), key("log/5"), key("log/6")}, keysOf(d.Diverged()))
	assert.False(t, d.Held[key("log/4")].InRoot, "held sealed aside")

	branchRoot := replication.BranchRoot(testRoot, "recovered", "20261207000000")
	p, err := replication.BuildRecovered(ctx, b, copier, d, testRoot, branchRoot, 4, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, replication.RecoveredProgress{Within: 4, Crossed: 2, CrossedBytes: int64(len("a log/5: the tail") + len("a log/6: written while cut off"))}, p)
	branch := b.Snapshot(branchRoot + "/")
	require.Len(t, branch, 6)
	for _, o := range d.Objects {
		got, ok := branch[branchRoot+strings.TrimPrefix(o.Key, testRoot)]
		want, _ := a.Get(o.Key)
		require.True(t, ok, o.Key)
		assert.True(t, bytes.Equal(want.Data, got.Data), "%s in the recovered branch is not A's", o.Key)
	}
	again, err := replication.BuildRecovered(ctx, b, copier, d, testRoot, branchRoot, 4, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, int64(6), again.Present, "a resumed build copies nothing again")
	assert.Zero(t, again.Crossed+again.Within)

	moved, err := replication.MoveAside(ctx, a, testDB, "20261207000000", d.Diverged(), 4)
	require.NoError(t, err)
	assert.Equal(t, int64(3), moved)
	left := a.Snapshot(testRoot + "/")
	delete(left, key("storage_locks/1_1"))
	assert.Equal(t, keysOf(prefix), sortedKeys(left), "A's folder is the prefix B holds")
	aside := a.Snapshot(replication.DivergedPrefix(testDB, "20261207000000"))
	assert.Len(t, aside, 3)

	after, err := replication.FindDivergence(ctx, a, b, testDB, testRoot, []string{"*/storage_locks/*"})
	require.NoError(t, err)
	assert.Empty(t, after.Diverged(), "nothing diverges any more")
}

func keysOf(objs []objectstore.Object) []string {
	out := make([]string, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.Key)
	}
	slices.Sort(out)
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
