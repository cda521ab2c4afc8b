package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// deleteDelay is the tests' replication.delete_delay (and failover.retention, which it must
// not be below): long enough to see a delete wait, short enough for a test.
const deleteDelay = 2 * time.Second

// TestReplicationWithSourceDeletes: a database's garbage collection deletes blobs at the
// source all day. On the real stack:
//   - during the initial sync, blobs the Sync listed are deleted before their copy: they are
//     counted as vanished, the Sync does not fail, and the target ends a prefix of the source;
//   - during steady replication (a writer keeps writing), deleted blobs are recorded as
//     pending by the anti-entropy pass and deleted from the target only after delete_delay,
//     counted from when the test deleted them, by the store's own request log;
//   - blobs a recorded milestone may need stay past their delay, held, until its record goes;
//   - bdr status and /metrics show the counts, and no sync ever failed;
//   - the Syncs never list the target because blobs below the watermark were deleted.
func TestReplicationWithSourceDeletes(t *testing.T) {
	ctx := context.Background()
	metricsPort, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	s := newStackWith(t, stack.Options{RecordStoreRequests: true}, func(c *config.Config) {
		c.Failover.Retention = deleteDelay
		c.Replication.DeleteDelay = config.Delay(deleteDelay)
		c.Replication.AntiEntropyInterval = 0 // the test asks for each pass (the verify update)
		c.Telemetry.MetricsListen = metricsAddr
	})
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	tc := temporalClient(t, s)

	// The initial sync: hold its first copies at the target, delete the newest blobs it
	// listed from the source, let it go on.
	putBlobs(t, s.MinIO["primary"].S3(), "0001/initial", 600)
	listed := sourceInWriteOrder(t, src)
	// All eligible at the Sync's first listing (older than the settle window by the store's
	// clock), so that it lists the newest blobs before they are deleted. A listing's StoreTime
	// is a lower bound of the store's clock, at most a second behind (the Date header's
	// resolution): one past settle window + 1 s here is past the settle window there.
	waitFor(t, time.Minute, "the blobs to settle", func() (bool, error) {
		l, err := src.List(ctx, rootPath+"/")
		return err == nil && l.StoreTime.After(newestWrite(l).Add(s.Config.Replication.SettleWindow+time.Second)), err
	})
	hold := s.HoldRequests(t, "secondary", func(r stack.StoreRequest) bool {
		return r.Method == "PUT" && strings.HasPrefix(r.Key, rootPath+"/")
	})
	run := startReplicate(t, s, tc, db)
	waitCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	// Every copier of the Sync (replication.concurrency) held in its PUT: no other copy has
	// begun, and none begins before the release. 200 of the others are deleted: their GETs
	// will find nothing.
	if err := hold.Wait(waitCtx, s.Config.Replication.Concurrency); err != nil {
		t.Fatal(err)
	}
	inFlight := map[string]bool{}
	for _, r := range hold.Held() {
		inFlight[r.Key] = true
	}
	var vanishing []string
	for i := len(listed) - 1; i >= 0 && len(vanishing) < 200; i-- {
		if !inFlight[listed[i]] {
			vanishing = append(vanishing, listed[i])
		}
	}
	deleteBlobs(t, src, vanishing)
	hold.Release()
	st := waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)
	if st.VanishedObjects != int64(len(vanishing)) {
		t.Errorf("status vanishedObjects %d, want the %d blobs deleted before their copy", st.VanishedObjects, len(vanishing))
	}
	if n := checkAllAtWatermark(t, src, dst); n != len(listed)-len(vanishing) {
		t.Errorf("the target holds %d of the source's blobs at its watermark, want %d", n, len(listed)-len(vanishing))
	}

	// Steady replication: a writer keeps writing while the source deletes old blobs.
	stopWriting := writeSteadily(t, s.MinIO["primary"].S3(), "0002/steady")
	steadyFrom := s.StoreRequestCount("secondary")
	gcd := listed[:100]
	deletedAt := time.Now()
	deleteBlobs(t, src, gcd)
	first := verifyNow(t, tc, run.GetID())
	if d := first.Deletes; d == nil || d.Pending != len(gcd) || d.Deleted != 0 {
		t.Fatalf("first pass after the deletes: %s, want %d pending and none deleted", mustJSON(first.Deletes), len(gcd))
	}
	assertInTarget(t, dst, gcd, true)
	verifyUntil(t, tc, run.GetID(), "the deletes to reach the target", func(d *replication.DeleteReport) bool {
		return d.DeletedTotal == int64(len(gcd))
	})
	assertInTarget(t, dst, gcd, false)
	assertDeletedAfter(t, s.StoreRequests("secondary"), gcd, deletedAt.Add(deleteDelay))

	// A milestone made after these blobs were written and before they are deleted may need
	// them: they stay past their delay, held, until its record is removed.
	milestone := replication.Milestone{Database: db, Name: "before-upgrade", Region: "primary", Time: time.Now().UTC()}
	if err := replication.WriteMilestone(ctx, dst, milestone); err != nil {
		t.Fatal(err)
	}
	needed := listed[100:150]
	deleteBlobs(t, src, needed)
	// Until none is pending: past their delay, the milestone alone keeps them.
	held := verifyUntil(t, tc, run.GetID(), "the blobs' delay to pass", func(d *replication.DeleteReport) bool {
		return d.Pending == 0
	})
	if d := held.Deletes; d == nil || d.Held != len(needed) || d.Deleted != 0 || !slices.Equal(d.HeldBy, []string{milestone.Name}) {
		t.Fatalf("pass past the delay with a milestone: %s, want %d held by %s and none deleted", mustJSON(held.Deletes), len(needed), milestone.Name)
	}
	assertInTarget(t, dst, needed, true)
	out, err := s.Bdr(ctx, "status", db)
	if err != nil || !strings.Contains(string(out), "held for milestones before-upgrade") || !strings.Contains(string(out), "vanished before their copy") {
		t.Errorf("bdr status does not show the deletes (err %v):\n%s", err, out)
	}
	if err := dst.Delete(ctx, replication.MilestonePrefix(db)+milestone.Name+".json"); err != nil {
		t.Fatal(err)
	}
	released := verifyNow(t, tc, run.GetID())
	if d := released.Deletes; d == nil || d.Deleted != len(needed) || d.Held != 0 {
		t.Fatalf("pass after the milestone's record went: %s, want %d deleted", mustJSON(released.Deletes), len(needed))
	}
	assertInTarget(t, dst, needed, false)

	written := stopWriting()
	st = waitCaughtUp(t, tc, run.GetID(), time.Minute)
	// Garbage collection changed the blobs below the watermark at every turn: the Syncs
	// looked for late blobs only among blobs they had not seen (replication/belowset.go),
	// never by listing the target.
	if l := stack.Listings(s.StoreRequestsSince("secondary", steadyFrom), workflows.ReplicateName+"/Sync", rootPath+"/"); len(l) > 0 {
		t.Errorf("the Syncs listed the target %d times while the source deleted blobs below the watermark", len(l))
	}
	want := len(listed) - len(vanishing) - len(gcd) - len(needed) + written
	if n := checkAllAtWatermark(t, src, dst); n != want {
		t.Errorf("the target holds %d of the source's blobs at its watermark, want %d", n, want)
	}
	if !st.LastErrorAt.IsZero() {
		t.Errorf("a step failed at %s: %s", st.LastErrorAt, st.LastError)
	}
	// Every listing while the writer ran showed blobs younger than the settle window: they
	// were copied early (replication.early_copies), and the prefix checks above still hold.
	if st.EarlyObjects == 0 {
		t.Error("no early copies under a steady write load")
	}
	// Early copies are not copied again when their blob is eligible.
	if n := checkCopiedOnce(t, s.StoreRequests("secondary"), workflows.ReplicateName+"/Sync", rootPath+"/0002/steady/", 0); n != written {
		t.Errorf("%d of the %d blobs written steadily were copied", n, written)
	}
	metrics := metricsText(t, metricsAddr)
	if got := metricValue(metrics, "bdr_replication_vanished_objects_total"); got != float64(len(vanishing)) {
		t.Errorf("/metrics counts %v blobs vanished, want %d", got, len(vanishing))
	}
	if got := metricValue(metrics, "bdr_replication_deleted_objects_total"); got != float64(len(gcd)+len(needed)) {
		t.Errorf("/metrics counts %v blobs deleted from the target, want %d", got, len(gcd)+len(needed))
	}
	for _, want := range []string{"bdr_replication_deletes_pending_objects{", "bdr_replication_deletes_held_objects{"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s:\n%s", want, metrics)
		}
	}
}

// putBlobs writes n small blobs under rootPath/folder (n a multiple of 10), 10 at a time.
func putBlobs(t *testing.T, c *s3.Client, folder string, n int) {
	t.Helper()
	res, err := workload.Run(context.Background(), c, workload.Options{Bucket: bucket, Prefix: rootPath + "/" + folder,
		Writers: 10, PerWriter: n / 10, Size: smallBlob})
	if err != nil || res.Objects != n {
		t.Fatalf("wrote %d of %d blobs: %v", res.Objects, n, err)
	}
}

// sourceInWriteOrder returns the keys under rootPath in write order, (LastModified, key), as
// replication copies them.
func sourceInWriteOrder(t *testing.T, c *objectstore.Client) []string {
	t.Helper()
	l, err := c.List(context.Background(), rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	objs := slices.Clone(l.Objects)
	slices.SortFunc(objs, func(a, b objectstore.Object) int {
		if c := a.LastModified.Compare(b.LastModified); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	keys := make([]string, len(objs))
	for i, o := range objs {
		keys[i] = o.Key
	}
	return keys
}

// newestWrite returns the newest LastModified of l.
func newestWrite(l objectstore.Listing) time.Time {
	var newest time.Time
	for _, o := range l.Objects {
		if o.LastModified.After(newest) {
			newest = o.LastModified
		}
	}
	return newest
}

// deleteBlobs deletes keys from c, as a database's garbage collection would.
func deleteBlobs(t *testing.T, c *objectstore.Client, keys []string) {
	t.Helper()
	for _, k := range keys {
		if err := c.Delete(context.Background(), k); err != nil {
			t.Fatal(err)
		}
	}
}

// writeSteadily writes a blob under rootPath/folder every 20 ms until the returned function is
// called, which returns how many it wrote.
func writeSteadily(t *testing.T, c *s3.Client, folder string) (stop func() int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan workload.Result, 1)
	go func() {
		res, err := workload.Run(ctx, c, workload.Options{Bucket: bucket, Prefix: rootPath + "/" + folder,
			Writers: 1, Rate: 50, Size: smallBlob})
		if err != nil {
			t.Errorf("steady writer: %v", err)
		}
		done <- res
	}()
	var once sync.Once
	n := 0
	stop = func() int {
		once.Do(func() { cancel(); n = (<-done).Objects })
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}

// verifyNow runs the replication's anti-entropy pass (the verify update) and returns its
// report.
func verifyNow(t *testing.T, tc client.Client, id string) workflows.Verified {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var v workflows.Verified
	updateWorkflow(t, ctx, tc, id, workflows.UpdateVerify, workflows.VerifyRequest{}, &v)
	return v
}

// verifyUntil runs passes until done holds for one's deletes, for a minute at most, and
// returns that pass's report.
func verifyUntil(t *testing.T, tc client.Client, id, what string, done func(*replication.DeleteReport) bool) workflows.Verified {
	t.Helper()
	var last workflows.Verified
	waitFor(t, time.Minute, what, func() (bool, error) {
		last = verifyNow(t, tc, id)
		return last.Deletes != nil && done(last.Deletes), fmt.Errorf("last pass: %s", mustJSON(last.Deletes))
	})
	return last
}

// assertInTarget checks that each of keys is in c, or that none is.
func assertInTarget(t *testing.T, c *objectstore.Client, keys []string, want bool) {
	t.Helper()
	l, err := c.List(context.Background(), rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]bool{}
	for _, o := range l.Objects {
		in[o.Key] = true
	}
	for _, k := range keys {
		if in[k] != want {
			t.Fatalf("%s in the target: %v, want %v", k, in[k], want)
		}
	}
}

// assertDeletedAfter checks that the store received a DELETE of each of keys, and none before
// notBefore.
func assertDeletedAfter(t *testing.T, reqs []stack.StoreRequest, keys []string, notBefore time.Time) {
	t.Helper()
	want := map[string]bool{}
	for _, k := range keys {
		want[k] = true
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if r.Method != "DELETE" || !want[r.Key] {
			continue
		}
		seen[r.Key] = true
		if r.At.Before(notBefore) {
			t.Errorf("%s deleted from the target at %s, before its delay was over (%s)", r.Key, r.At.Format(time.StampMilli), notBefore.Format(time.StampMilli))
		}
	}
	if len(seen) != len(keys) {
		t.Errorf("the target's store saw DELETEs of %d of the %d blobs", len(seen), len(keys))
	}
}
