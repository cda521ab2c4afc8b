package replication_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"pgregory.net/rapid"

	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
)

// TestSyncHintsChangeOnlySpeed: a following call is given hints (SyncInput.Hints) for some of
// the blobs written while it runs: some dropped, some sent twice, some for keys that are not
// blobs of the folder (outside it, a storage lock, one that does not exist). Whatever the
// hints, the watermark record is a prefix of the source at every write and lists as Ahead
// every copy beyond it (syncEnv's checks), every blob is copied exactly once, and the call
// ends with everything in. A blob hinted while the call follows is in the target before the
// next listing, before it is eligible: that is what hints are for.
func TestSyncHintsChangeOnlySpeed(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		ctx := context.Background()
		e := newSyncEnv(time.Millisecond, 0)
		e.src.clockStep = time.Millisecond
		e.src.headResolution = time.Second // a HEAD's Last-Modified, listings' milliseconds
		policy := replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: rapid.IntRange(1, 8).Draw(t, "batchMaxObjects"),
			BatchMaxBytes: 1 << 30, Exclude: storageLocks}
		rounds := rapid.IntRange(1, 5).Draw(t, "rounds")
		perRound := rapid.IntRange(1, 4).Draw(t, "perRound")
		hints := make(chan string, 64)
		var mu sync.Mutex
		landed := map[string]time.Time{} // store clock at each data blob's first PUT
		e.dst.beforePut = chainPut(e.dst.beforePut, func(key string) {
			mu.Lock()
			defer mu.Unlock()
			if _, ok := landed[key]; !ok && strings.HasPrefix(key, testRoot+"/") {
				landed[key] = e.clock.Now()
			}
		})
		hinted := map[string]time.Time{} // hinted blob -> its LastModified
		written := 0
		e.onListing(func(n int) {
			var sent []string
			if n <= rounds {
				for i := range perRound {
					o := e.src.Put(fmt.Sprintf("%s/sid/blob_%02d_%d", testRoot, n, i), []byte(fmt.Sprint(n, i)))
					written++
					switch rapid.IntRange(0, 2).Draw(t, "hint") {
					case 0: // dropped
					case 1:
						hints <- o.Key
						sent = append(sent, o.Key)
					case 2:
						hints <- o.Key
						hints <- o.Key
						sent = append(sent, o.Key)
					}
					if len(sent) > 0 && sent[len(sent)-1] == o.Key {
						hinted[o.Key] = o.LastModified
					}
				}
				hints <- "elsewhere/blob"
				hints <- testRoot + "/sid/storage_locks/9_9"
				hints <- testRoot + "/sid/never_written"
			}
			// Hinted blobs land before the clock moves on to the next listing, the call's
			// first included (it reads hints while it lists, firstListing).
			deadline := time.Now().Add(10 * time.Second)
			for _, k := range sent {
				for {
					mu.Lock()
					_, ok := landed[k]
					mu.Unlock()
					if ok {
						break
					}
					if time.Now().After(deadline) {
						t.Fatalf("hinted blob %s not copied within 10 s", k)
					}
					time.Sleep(time.Millisecond)
				}
			}
			e.clock.Advance(1999 * time.Millisecond)
		})
		e.src.Put(testRoot+"/sid/storage_locks/1_1", []byte("lock"))
		// Not yet eligible at the first listing: the call follows until it is.
		e.src.Put(testRoot+"/sid/blob_00_0", []byte("first"))
		written++
		e.clock.Advance(1999 * time.Millisecond)
		in := followInput(policy, rapid.IntRange(1, 6).Draw(t, "concurrency"))
		in.Hints = hints
		got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		if err != nil {
			t.Fatalf("Sync: %v", err)
		}
		wm := e.checkTarget(t, time.Time{})
		if !got.CaughtUp || got.PendingObjects != 0 || got.CopiedObjects != int64(written) {
			t.Fatalf("caught up %v, pending %d, copied %d of %d", got.CaughtUp, got.PendingObjects, got.CopiedObjects, written)
		}
		if rec, _, err := replication.ReadWatermark(ctx, e.dst, testDB); err != nil || rec.CopiedObjects != int64(written) {
			t.Fatalf("the record counts %d copies (err %v), want %d", rec.CopiedObjects, err, written)
		}
		for k, o := range e.src.Snapshot(testRoot + "/sid/blob") {
			if o.LastModified.After(wm) {
				t.Fatalf("%s at %s beyond the watermark %s", k, o.LastModified, wm)
			}
		}
		for k, n := range e.dst.Puts(testRoot + "/") {
			if n != 1 {
				t.Fatalf("%s copied %d times", k, n)
			}
		}
		for k, lm := range hinted {
			if at := landed[k]; !at.Before(lm.Add(policy.SettleWindow)) {
				t.Fatalf("hinted %s (written %s) landed at %s, not before it was eligible", k, lm, at)
			}
		}
		if got.EarlyObjects < int64(len(hinted)) {
			t.Fatalf("%d early copies, %d blobs hinted", got.EarlyObjects, len(hinted))
		}
		if _, ok := e.dst.Get(testRoot + "/sid/storage_locks/1_1"); ok {
			t.Fatal("a hinted lock was copied")
		}
	})
}

// TestSyncEarlyCopiesAreNotRepeated: blobs copied early by one call (young at its first
// listing, or new at its second) are not copied again by the next ones, neither early (still young at their
// listing) nor when it is eligible: the record lists it as Ahead, and the target holds it.
func TestSyncEarlyCopiesAreNotRepeated(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.PollInterval = time.Second
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(1500 * time.Millisecond) // a is eligible in 0.5 s: the call follows
	var b objectstore.Object
	e.onListing(func(n int) {
		if n == 1 {
			b = e.src.Put(testRoot+"/b", []byte("b")) // new at the second listing
			e.clock.Advance(600 * time.Millisecond)
		}
	})
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got.EarlyObjects != 2 {
		t.Fatalf("the first call made %d early copies, want a's and b's", got.EarlyObjects)
	}
	in.Watermark = e.checkTarget(t, time.Time{})
	for _, step := range []time.Duration{100 * time.Millisecond, 3 * time.Second} {
		e.clock.Advance(step)
		got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		if err != nil {
			t.Fatal(err)
		}
		in.Watermark = e.checkTarget(t, in.Watermark)
		if got.EarlyObjects != 0 {
			t.Fatalf("b copied early again")
		}
	}
	if in.Watermark.Before(b.LastModified) {
		t.Fatalf("watermark %s did not pass b (%s)", in.Watermark, b.LastModified)
	}
	for _, k := range []string{"a", "b"} {
		if puts := e.dst.Puts(testRoot + "/" + k); puts[testRoot+"/"+k] != 1 {
			t.Fatalf("%s copied %d times", k, puts[testRoot+"/"+k])
		}
	}
}

// TestSyncOverwrittenKeysAreNotReplacedEarly: a key the source overwrites (its metadata, say)
// keeps its older version in the target until the newer one is eligible: copied early, the
// newer version would replace the one the watermark's prefix holds, and sealing at that
// watermark would then move the key aside and leave it missing. The call's first listing
// cannot tell an overwrite from a new key (v2 is young there): the target refuses that copy.
// A hint after the second listing names v3, an overwrite of a key that listing showed.
func TestSyncOverwrittenKeysAreNotReplacedEarly(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.PollInterval = time.Second
	e.src.Put(testRoot+"/meta", []byte("v1"))
	e.clock.Advance(5 * time.Second)
	first, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	if err != nil || first.CopiedObjects != 1 {
		t.Fatalf("replicating v1: copied %d, %v", first.CopiedObjects, err)
	}
	in.Watermark = first.Watermark.Time
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(time.Second)
	e.src.Put(testRoot+"/meta", []byte("v2"))
	e.clock.Advance(500 * time.Millisecond)
	hints := make(chan string, 4)
	in.Hints = hints
	e.onListing(func(n int) {
		switch n {
		case 1:
			e.clock.Advance(600 * time.Millisecond)
		case 2:
			e.src.Put(testRoot+"/meta", []byte("v3"))
			hints <- testRoot + "/meta"
		}
	})
	copier := &memCopier{src: e.src, dst: e.dst}
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	if err != nil {
		t.Fatal(err)
	}
	w := e.checkTarget(t, time.Time{})
	if got.EarlyObjects != 1 {
		t.Fatalf("%d early copies, want a's only", got.EarlyObjects)
	}
	if copier.RefusedNew() != 1 {
		t.Fatalf("%d early copies refused, want v2's", copier.RefusedNew())
	}
	if _, err := replication.Seal(ctx, e.dst, testDB, testRoot, "s1"); err != nil {
		t.Fatal(err)
	}
	meta, ok := e.dst.Get(testRoot + "/meta")
	if !ok || string(meta.Data) != "v1" {
		t.Fatalf("sealed at %s, the target holds meta %q (present %v), want v1", w, meta.Data, ok)
	}
}

// TestSyncWaitEndsOnAHint: a call asked to wait first (the previous call's NextEligibleIn, or
// a poll interval) starts at once when a hint arrives, and copies the hinted blob early: the
// call's first listing shows it young.
func TestSyncWaitEndsOnAHint(t *testing.T) {
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(3 * time.Second)
	b := e.src.Put(testRoot+"/b", []byte("b"))
	hints := make(chan string, 1)
	hints <- b.Key
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.PollInterval, in.Wait, in.Hints = time.Second, time.Hour, hints
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	got, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	if err != nil {
		t.Fatalf("Sync: %v (it waited for its Wait, not for the hint)", err)
	}
	if got.EarlyObjects != 1 {
		t.Fatalf("%d early copies, want b's", got.EarlyObjects)
	}
	e.checkTarget(t, time.Time{})
}

// TestSyncWaitIgnoresHintsWithoutEarlyCopies: a call that makes no early copies (early copies
// off, order: strict) is not started by a hint: the hinted blob would be no sooner eligible,
// and the call would only list at once and end. It leaves the hint unread.
func TestSyncWaitIgnoresHintsWithoutEarlyCopies(t *testing.T) {
	for _, p := range []replication.Policy{{NoEarlyCopies: true}, {Strict: true}} {
		e := newSyncEnv(time.Millisecond, 0)
		b := e.src.Put(testRoot+"/b", []byte("b"))
		hints := make(chan string, 1)
		hints <- b.Key
		p.SettleWindow, p.BatchMaxObjects, p.BatchMaxBytes = 2*time.Second, 4, 1<<20
		in := followInput(p, 2)
		in.PollInterval, in.Wait, in.Hints = time.Second, time.Hour, hints
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
		cancel()
		require.ErrorIs(t, err, context.DeadlineExceeded, "%+v: the call waited its Wait", p)
		require.Len(t, hints, 1, "%+v: the hint was left unread", p)
	}
}

// TestCarriedAheadKeysTheSourceDeletedAreDropped: an early copy whose blob the source deletes
// before the watermark reaches it (a short-lived blob) stays in the target beyond the
// watermark, and the records list it as Ahead while the watermark has not passed the time its
// copy carries; once the watermark passes that time it is a deleted blob like any other (the
// deletes pass's), and the records stop listing it. A carried key the target does not hold
// has nothing to seal, and is dropped at once, unless the call before failed (its copy may
// still land).
func TestCarriedAheadKeysTheSourceDeletedAreDropped(t *testing.T) {
	ctx := context.Background()
	e, in, short, got := syncOneEarlyCopy(t, "short")
	ahead := func() []string {
		rec, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
		require.NoError(t, err)
		return rec.Ahead
	}
	require.Equal(t, []string{short.Key}, ahead())
	require.NoError(t, e.src.Delete(ctx, short.Key))

	in.Watermark = got.Watermark.Time
	_, err := replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.Equal(t, []string{short.Key}, ahead(), "the watermark has not passed the copy's time: sealing needs the key")

	e.src.Put(testRoot+"/b", []byte("b"))
	e.clock.Advance(3 * time.Second)
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.True(t, got.Watermark.Time.After(short.LastModified))
	require.Empty(t, ahead(), "past the watermark")

	// A carried key whose copy never landed: nothing to seal.
	e.src.Put(testRoot+"/c", []byte("c"))
	e.clock.Advance(500 * time.Millisecond)
	gone := e.src.Put(testRoot+"/gone", []byte("gone"))
	e.clock.Advance(500 * time.Millisecond)
	got, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.Contains(t, ahead(), gone.Key)
	require.NoError(t, e.src.Delete(ctx, gone.Key))
	require.NoError(t, e.dst.Delete(ctx, gone.Key))
	// After a failure (a resumed call) the failed call's copy may still be on its way.
	in.VerifyExisting = true
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.Contains(t, ahead(), gone.Key, "kept after a failure")
	in.VerifyExisting = false
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.NotContains(t, ahead(), gone.Key)
	e.checkTarget(t, time.Time{})
}

// TestEarlyCopyReplacedByAnOlderVersionIsCopiedAgain: a hint read while the call's first
// listing runs starts an early copy of a key's newer version (v2) before the window exists;
// the listing shows the older one (v1), which the window copies in order. Were the read of v1
// served after v2's early copy landed (a stale replica), the window's PUT would replace v2
// with v1: the early copy is then not taken as in when v2 is eligible (distrustEarly), and v2
// is copied again, so that the target holds v2 at a watermark past it.
func TestEarlyCopyReplacedByAnOlderVersionIsCopiedAgain(t *testing.T) {
	ctx := context.Background()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	v1 := e.src.Put(testRoot+"/k", []byte("v1"))
	e.clock.Advance(3 * time.Second)
	e.src.Put(testRoot+"/x", []byte("x")) // young at the first listing: the call follows
	e.clock.Advance(time.Second)
	hints := make(chan string, 4)
	var v2 objectstore.Object
	e.onListing(func(n int) {
		if n == 1 {
			v2 = e.src.Put(v1.Key, []byte("v2, newer"))
			hints <- v2.Key
			deadline := time.Now().Add(10 * time.Second)
			for o, ok := e.dst.Get(v2.Key); !ok || string(o.Data) != "v2, newer"; o, ok = e.dst.Get(v2.Key) {
				if time.Now().After(deadline) {
					t.Fatal("v2 was not copied early while the first listing ran")
				}
				time.Sleep(time.Millisecond)
			}
		}
		e.clock.Advance(1999 * time.Millisecond)
	})
	copier := &memCopier{src: e.src, dst: e.dst, staleRead: func(obj objectstore.Object) ([]byte, bool) {
		return []byte("v1"), obj.ETag == v1.ETag
	}}
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.Hints = hints
	got, err := replication.Sync(ctx, e.src, e.dst, copier, in, nil)
	require.NoError(t, err)
	require.False(t, got.Watermark.Time.Before(v2.LastModified), "the call follows until v2 is eligible")
	k, _ := e.dst.Get(v1.Key)
	require.Equal(t, "v2, newer", string(k.Data))
	e.checkTarget(t, time.Time{})
}

// TestHintOfACarriedKeyCostsNoLookUp: a hint naming a key the record lists as Ahead (an
// earlier call copied it early; the worker holds hints between calls, so the next call is
// told of it again) is dropped before its look-up, a LIST request to the source.
func TestHintOfACarriedKeyCostsNoLookUp(t *testing.T) {
	ctx := context.Background()
	e, in, young, got := syncOneEarlyCopy(t, "young")
	rec, _, err := replication.ReadWatermark(ctx, e.dst, testDB)
	require.NoError(t, err)
	require.Equal(t, []string{young.Key}, rec.Ahead)

	lookUps := 0
	hints := make(chan string, 1)
	e.src.afterList = func(kind string) {
		switch kind {
		case "list-key":
			lookUps++
		case "list": // the call's first listing reads hints meanwhile: wait until it has
			deadline := time.Now().Add(10 * time.Second)
			for len(hints) > 0 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
		}
	}
	hints <- young.Key
	in.Watermark, in.Hints = got.Watermark.Time, hints
	_, err = replication.Sync(ctx, e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.Empty(t, hints, "the call read the hint")
	require.Zero(t, lookUps, "the record's Ahead names the key: no look-up")
	require.Equal(t, 1, e.dst.Puts(testRoot + "/")[young.Key])
	e.checkTarget(t, time.Time{})
}

// syncOneEarlyCopy runs a following call over blob a, eligible, and the blob named name,
// young at the call's only listing and so copied early: the record lists it as Ahead. It
// returns the env, the call's input, the young blob and the result.
func syncOneEarlyCopy(t *testing.T, name string) (*syncEnv, replication.SyncInput, objectstore.Object, replication.SyncResult) {
	t.Helper()
	e := newSyncEnv(time.Millisecond, 0)
	e.src.clockStep = time.Millisecond
	in := followInput(replication.Policy{SettleWindow: 2 * time.Second, BatchMaxObjects: 4, BatchMaxBytes: 1 << 20}, 2)
	in.Follow, in.PollInterval = time.Second, time.Second
	e.src.Put(testRoot+"/a", []byte("a"))
	e.clock.Advance(3 * time.Second)
	young := e.src.Put(testRoot+"/"+name, []byte(name))
	got, err := replication.Sync(context.Background(), e.src, e.dst, &memCopier{src: e.src, dst: e.dst}, in, nil)
	require.NoError(t, err)
	require.EqualValues(t, 1, got.EarlyObjects)
	return e, in, young, got
}
