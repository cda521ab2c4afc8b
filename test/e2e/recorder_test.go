package e2e

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestStoreRequestRecorder is the self-test of the store request recorder
// (stack.Options.RecordStoreRequests) and of the operation tag the worker puts in every store
// request's User-Agent: while replication runs, the primary's store receives the reads of
// Replicate's activities (listings through the SDK, blob GETs through the copy path) and the
// secondary's their writes, every one of them named "Replicate/<activity>"; the tests' own
// writes, made past the recorder, are not recorded, while bdr's are, without a name. A drill
// test counts on both to prove that TestFailover sends nothing to the primary's store.
func TestStoreRequestRecorder(t *testing.T) {
	ctx := context.Background()
	// With the fault layer too, whose store proxies then forward to the recorders: the Host
	// the worker signs for is the fault proxy's, which the recorder keeps for MinIO to check.
	s := newStackWith(t, stack.Options{RecordStoreRequests: true, Faults: true}, nil)
	if _, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{
		Bucket: bucket, Prefix: rootPath + "/0001", Writers: 2, Duration: time.Second,
		Size: func(r *rand.Rand) int { return 1<<10 + r.IntN(4<<10) }}); err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)
	waitCaughtUp(t, tc, run.GetID(), time.Minute)

	syncGets, syncPuts := 0, 0
	for _, region := range []string{"primary", "secondary"} {
		reqs := s.StoreRequests(region)
		if len(reqs) == 0 {
			t.Fatalf("no request to the %s store recorded", region)
		}
		kinds := map[string]int{}
		for _, r := range reqs {
			kinds[r.Method+" "+r.Query+" ["+r.Operation+"]"]++
			if !strings.HasPrefix(r.Operation, workflows.ReplicateName+"/") {
				t.Errorf("%s store: request not named after a Replicate activity: %v (User-Agent %q)", region, r, r.UserAgent)
			}
			if r.Operation != workflows.ReplicateName+"/Sync" || !strings.HasPrefix(r.Key, rootPath+"/0001/") {
				continue
			}
			switch {
			case region == "primary" && r.Method == http.MethodGet && r.Query == "":
				syncGets++
			case region == "primary" && r.Method == http.MethodPut:
				t.Errorf("primary store: replication wrote to its source: %v", r)
			case region == "secondary" && r.Method == http.MethodPut:
				syncPuts++
			}
		}
		t.Logf("%s store: %d requests: %v", region, len(reqs), kinds)
	}
	// Every blob is read from the primary and written to the secondary by Sync; the workload's
	// own PUTs went to MinIO directly, so none of the primary's requests is theirs.
	if syncGets == 0 || syncPuts == 0 {
		t.Errorf("Sync's blob copies recorded: %d GETs from the primary, %d PUTs to the secondary; want both", syncGets, syncPuts)
	}

	// bdr reaches the stores through the recorders too, and names no operation: a request
	// without one is not the worker's.
	mark := s.StoreRequestCount("primary")
	if out, err := s.Bdr(ctx, "config", "check"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	untagged := 0
	for _, r := range s.StoreRequestsSince("primary", mark) {
		if r.Operation == "" {
			untagged++
		}
	}
	if untagged == 0 {
		t.Errorf("bdr config check: no request without an operation recorded at the primary's store")
	}
}
