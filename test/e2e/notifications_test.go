package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/config"
	"github.com/bottomless-dr/bottomless-dr/objectstore"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestNotifications: the primary's MinIO posts a bucket event notification for every new blob
// to the worker (replication.notifications_listen), which copies the blob at once, before any
// listing of the source could have shown it; the watermark still moves on listings only. On
// the real stack, with a 2 s settle window and a 1 s poll interval:
//   - under a steady write load the worker takes the notifications (/metrics), every blob is
//     in the target at the watermark and written there once, data reaches the target well
//     within the settle window, and the Syncs learnt of blobs from notifications before any
//     listing could show them (structural: see arrivals);
//   - notifications repeated (the test posts each event twice more) or naming blobs that do
//     not exist, or other folders, change nothing: each blob is written once, no other key;
//   - notifications lost (the bucket's notification removed) change only speed: every blob
//     still arrives, once, none learnt of or copied before a listing showed it.
func TestNotifications(t *testing.T) {
	ctx := context.Background()
	metricsPort, err := stack.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", metricsPort)
	const settle = 2 * time.Second
	s := newStackWith(t, stack.Options{Notifications: true, RecordStoreRequests: true}, func(c *config.Config) {
		c.Replication.SettleWindow = settle
		c.Replication.PollInterval = time.Second
		c.Telemetry.MetricsListen = metricsAddr
	})
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	tc := temporalClient(t, s)
	putBlobs(t, s.MinIO["primary"].S3(), "0001/initial", 50)
	run := startReplicate(t, s, tc, db)
	waitCaughtUp(t, tc, run.GetID(), 2*time.Minute)
	received := func() float64 { return metricValue(metricsText(t, metricsAddr), "bdr_notifications_received_total") }

	t.Run("sooner", func(t *testing.T) {
		before := received()
		folder := "0002/notified"
		written := steadyLoad(t, tc, run.GetID(), s.MinIO["primary"].S3(), folder)
		if got := received() - before; got < float64(written) {
			t.Errorf("the worker took %v notifications of blobs created, want at least the %d written", got, written)
		}
		checkNotifiedPhase(t, s, src, dst, folder, written)
		a := arrivals(t, s, src, dst, folder)
		t.Logf("with notifications: %s", a)
		// A Sync looks a source blob up alone only for a hint (early.go's listedAlone), and a
		// listing whose answer was passed on before the blob's write cannot show it: a look-up
		// that began before any listing that could show the blob had ended was a notification's, and
		// came first. Under this load the Syncs list the folder every few tens of
		// milliseconds (follow), so a listing often ends between a write and its hint: some,
		// not all. The lost run below finds none, by construction.
		if a.hintedFirst == 0 {
			t.Errorf("no blob's notification reached a Sync before a listing could show the blob: %s", a)
		}
		// From a listing, a copy waits for the settle window (2 s) or, as an early copy, for
		// the next listing (up to a poll interval, 1 s); from a notification for neither.
		// Not timing-flaky: the median is tens of milliseconds, the bound half a second
		// away, and both clocks are this machine's (both MinIOs stamp LastModified).
		if m := median(a.lags); m >= settle/2 {
			t.Errorf("median time from a blob's write to its copy %s, want well below the settle window %s", m, settle)
		}
	})

	t.Run("repeated", func(t *testing.T) {
		folder := "0003/repeated"
		stopRepeating := repeatNotifications(t, s, src, folder)
		written := steadyLoad(t, tc, run.GetID(), s.MinIO["primary"].S3(), folder)
		stopRepeating()
		waitCaughtUpAfter(t, tc, run.GetID(), time.Now(), time.Minute)
		checkNotifiedPhase(t, s, src, dst, folder, written)
		for _, k := range []string{rootPath + "/" + folder + "/no-such-blob", rootPath + "-other/x", "elsewhere/x"} {
			if _, err := dst.Head(ctx, k); err == nil {
				t.Errorf("%s is in the target: only the hint named it", k)
			}
		}
	})

	t.Run("lost", func(t *testing.T) {
		if err := s.MinIO["primary"].NotifyOff(ctx, bucket); err != nil {
			t.Fatal(err)
		}
		before := received()
		folder := "0004/lost"
		written := steadyLoad(t, tc, run.GetID(), s.MinIO["primary"].S3(), folder)
		if got := received() - before; got != 0 {
			t.Errorf("the worker took %v notifications after the bucket's was removed", got)
		}
		checkNotifiedPhase(t, s, src, dst, folder, written)
		a := arrivals(t, s, src, dst, folder)
		t.Logf("without notifications: %s", a)
		if a.lookedUp != 0 || a.hintedFirst != 0 || a.copiedFirst != 0 {
			t.Errorf("with no notifications, blobs were learnt of or copied before a listing showed them: %s", a)
		}
	})

	st, err := queryStatus(ctx, tc, run.GetID())
	if err != nil {
		t.Fatal(err)
	}
	if !st.LastErrorAt.IsZero() {
		t.Errorf("a step failed at %s: %s", st.LastErrorAt, st.LastError)
	}
}

// steadyLoad writes blobs under folder steadily (writeSteadily) for 6 s, then waits for
// replication to catch up; it returns how many it wrote.
func steadyLoad(t *testing.T, tc client.Client, id string, src *s3.Client, folder string) int {
	t.Helper()
	stop := writeSteadily(t, src, folder)
	time.Sleep(6 * time.Second)
	written := stop()
	waitCaughtUpAfter(t, tc, id, time.Now(), time.Minute)
	return written
}

// checkNotifiedPhase checks what one phase wrote under folder: every blob in the target at the
// watermark, and each written into the target once, by the Syncs.
func checkNotifiedPhase(t *testing.T, s *stack.Stack, src, dst *objectstore.Client, folder string, written int) {
	t.Helper()
	l, err := src.List(context.Background(), rootPath+"/")
	if err != nil {
		t.Fatal(err)
	}
	if n := checkAllAtWatermark(t, src, dst); n != len(l.Objects) {
		t.Errorf("the target holds %d of the source's %d blobs at its watermark", n, len(l.Objects))
	}
	if n := checkCopiedOnce(t, s.StoreRequests("secondary"), workflows.ReplicateName+"/Sync", rootPath+"/"+folder+"/", 0); n != written {
		t.Errorf("%d of the %d blobs written under %s were copied", n, written, folder)
	}
}

// arrival is how the blobs of one folder reached the target (arrivals).
type arrival struct {
	blobs int
	// lags are the blobs' times from write to copy: target LastModified - source
	// LastModified (both MinIOs run on this machine's clock).
	lags []time.Duration
	// lookedUp counts the blobs a Sync looked up alone in the source (a listing with the
	// blob's key as its prefix: it does for a hint only), and hintedFirst those whose look-up
	// began before any listing of a folder that could show them had ended.
	lookedUp, hintedFirst int
	// copiedFirst counts the blobs whose copy (its source GET) began before any listing that
	// could show them had ended: possible only from a hint.
	copiedFirst int
}

func (a arrival) String() string {
	return fmt.Sprintf("%d blobs, write to copy median %s, max %s; %d looked up for a hint, %d of those before a listing could show them; %d copied before",
		a.blobs, median(a.lags), slices.Max(a.lags), a.lookedUp, a.hintedFirst, a.copiedFirst)
}

// arrivals tells how the blobs under folder reached the target, from both buckets and the
// requests the primary's store recorder saw. A listing whose answer had been passed on
// (StoreRequest.Done) before a blob's LastModified (a lower bound of its write's commit)
// cannot show it, and whatever a Sync does from a listing it does after the answer: what it
// did to a blob before any listing that may show it (lists) had ended, it did from a hint.
// Every listing of the source counts, whatever operation made it.
func arrivals(t *testing.T, s *stack.Stack, src, dst *objectstore.Client, folder string) arrival {
	t.Helper()
	ctx := context.Background()
	prefix := rootPath + "/" + folder + "/"
	sl, err := src.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	tl, err := dst.List(ctx, prefix)
	if err != nil {
		t.Fatal(err)
	}
	landed := map[string]time.Time{}
	for _, o := range tl.Objects {
		landed[o.Key] = o.LastModified
	}
	var listings []stack.StoreRequest
	first := map[string]time.Time{} // method+key: when a Sync first sent it
	syncOp := workflows.ReplicateName + "/Sync"
	for _, r := range s.StoreRequests("primary") {
		switch {
		case r.Method == "GET" && r.Key == "" && strings.Contains(r.Query, "list-type") && r.Operation == syncOp &&
			strings.HasPrefix(r.Prefix, prefix) && !strings.HasSuffix(r.Prefix, "/"):
			// A blob looked up alone, for a hint (replication's listedAlone).
			if _, ok := first["LOOKUP "+r.Prefix]; !ok {
				first["LOOKUP "+r.Prefix] = r.At
			}
		case r.Method == "GET" && r.Key == "" && strings.Contains(r.Query, "list-type"):
			if r.Done.IsZero() {
				t.Fatalf("a listing still in flight: %s", r)
			}
			listings = append(listings, r)
		case r.Method == "GET" && r.Operation == syncOp && strings.HasPrefix(r.Key, prefix):
			if _, ok := first[r.Method+" "+r.Key]; !ok {
				first[r.Method+" "+r.Key] = r.At
			}
		}
	}
	// before reports whether no listing that may show o had ended by at.
	before := func(o objectstore.Object, at time.Time) bool {
		for _, l := range listings {
			// Done is taken once the proxy has passed the answer on: the client may have read
			// it and sent its next request a moment before. The slack counts such a listing
			// as showing the blob (fewer blobs counted, never more).
			if lists(l, o.Key) && !l.Done.Before(o.LastModified) && l.Done.Before(at.Add(listingSlack)) {
				return false
			}
		}
		return true
	}
	a := arrival{blobs: len(sl.Objects)}
	for _, o := range sl.Objects {
		at, ok := landed[o.Key]
		if !ok {
			t.Errorf("%s is not in the target", o.Key)
			continue
		}
		a.lags = append(a.lags, at.Sub(o.LastModified))
		if lookup, ok := first["LOOKUP "+o.Key]; ok {
			a.lookedUp++
			if before(o, lookup) {
				a.hintedFirst++
			}
		}
		if get, ok := first["GET "+o.Key]; !ok {
			t.Errorf("no Sync read %s from the source", o.Key)
		} else if before(o, get) {
			a.copiedFirst++
		}
	}
	if len(a.lags) == 0 {
		t.Fatalf("no blob under %s", prefix)
	}
	return a
}

// lists reports whether listing l may show key: under its prefix and, with a delimiter, not
// below one (a deeper key shows as a common prefix only).
func lists(l stack.StoreRequest, key string) bool {
	rest, ok := strings.CutPrefix(key, l.Prefix)
	return ok && (l.Delimiter == "" || !strings.Contains(rest, l.Delimiter))
}

// listingSlack is how much later than a copy's start a listing's Done may be and still count
// as having started the copy.
const listingSlack = 20 * time.Millisecond

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// repeatNotifications posts, until the returned function is called, each ObjectCreated event
// of the blobs under folder twice more to the worker (as a retrying sender would), and events
// naming blobs that do not exist, in the folder and outside it.
func repeatNotifications(t *testing.T, s *stack.Stack, src *objectstore.Client, folder string) (stop func()) {
	t.Helper()
	done := make(chan struct{})
	ended := make(chan struct{})
	post := func(keys ...string) {
		var recs []string
		for _, k := range keys {
			recs = append(recs, fmt.Sprintf(`{"eventName":"s3:ObjectCreated:Put","s3":{"bucket":{"name":%q},"object":{"key":%q,"size":6}}}`,
				bucket, url.QueryEscape(k)))
		}
		resp, err := http.Post("http://"+s.NotificationsAddr+"/notifications", "application/json",
			strings.NewReader(`{"Records":[`+strings.Join(recs, ",")+`]}`))
		if err != nil {
			t.Errorf("post a notification: %v", err)
			return
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("post a notification: %s", resp.Status)
		}
	}
	go func() {
		defer close(ended)
		seen := map[string]bool{}
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			l, err := src.List(context.Background(), rootPath+"/"+folder+"/")
			if err != nil {
				continue
			}
			for _, o := range l.Objects {
				if !seen[o.Key] {
					seen[o.Key] = true
					post(o.Key, o.Key)
				}
			}
			post(rootPath+"/"+folder+"/no-such-blob", rootPath+"-other/x", "elsewhere/x")
		}
	}()
	var once sync.Once
	stop = func() { once.Do(func() { close(done); <-ended }) }
	t.Cleanup(stop)
	return stop
}
