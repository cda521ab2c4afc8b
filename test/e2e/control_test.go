package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/bottomless-dr/bottomless-dr/test/workload"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// TestControlThroughTemporalCLIAndBdr drives replication the ways operators do: started by
// `bdr replicate start`, paused, resumed and drained through the real `temporal workflow
// update execute` and through `bdr`, with `bdr status --json` reporting the state.
func TestControlThroughTemporalCLIAndBdr(t *testing.T) {
	ctx := context.Background()
	s := newStack(t, nil)
	src, dst := store(t, s.MinIO["primary"]), store(t, s.MinIO["secondary"])
	out, err := s.Bdr(ctx, "replicate", "start", db, "--from", "primary", "--to", "secondary")
	if err != nil {
		t.Fatal(err)
	}
	id := workflows.ReplicateID(db, "primary", "secondary")
	if !strings.Contains(string(out), id) {
		t.Errorf("bdr replicate start printed %q, want the workflow ID %s", out, id)
	}
	if _, err := s.Bdr(ctx, "replicate", "start", db); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Errorf("second start: %v, want an 'already running' error", err)
	}
	write := func(seqWriter int) {
		if _, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
			Prefix: rootPath + "/0001", Writers: 1, PerWriter: 20, Seed: uint64(seqWriter)}); err != nil {
			t.Fatal(err)
		}
	}
	status := func() workflows.Status {
		t.Helper()
		out, err := s.Bdr(ctx, "status", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var all []workflows.Status
		if err := json.Unmarshal(out, &all); err != nil || len(all) != 1 {
			t.Fatalf("bdr status --json: %v: %s", err, out)
		}
		return all[0]
	}
	write(1)
	waitFor(t, time.Minute, "replication to catch up", func() (bool, error) {
		st := status()
		return st.InitialSync.Complete && st.PendingObjects == 0 && st.CopiedObjects == 20, nil
	})

	// Pause through the temporal CLI: new blobs stay in the source only.
	if out, err := s.Temporal.CLI(ctx, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdatePause, "--input", "{}"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if st := status(); st.State != workflows.StatePaused {
		t.Fatalf("after pause: state %q", st.State)
	}
	// The search attributes make it findable as an operator would look in the UI.
	waitFor(t, 30*time.Second, "the workflow to be listed as paused by its search attributes", func() (bool, error) {
		out, err := s.Temporal.CLI(ctx, "workflow", "list", "--query", "BdrDatabase = '"+db+"' AND BdrState = 'paused'")
		return err == nil && strings.Contains(string(out), id), err
	})
	before, _ := listKeys(ctx, dst, rootPath+"/")
	if _, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
		Prefix: rootPath + "/0002", Writers: 1, PerWriter: 10}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // settle window and several polls
	after, _ := listKeys(ctx, dst, rootPath+"/")
	if len(after) != len(before) {
		t.Errorf("paused replication copied %d blobs", len(after)-len(before))
	}

	// Resume through the temporal CLI, pause and resume again through bdr.
	if out, err := s.Temporal.CLI(ctx, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateResume, "--input", "{}"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the blobs written while paused to replicate", func() (bool, error) {
		keys, err := listKeys(ctx, dst, rootPath+"/0002/")
		return len(keys) == 10, err
	})
	if _, err := s.Bdr(ctx, "replicate", "pause", db); err != nil {
		t.Fatal(err)
	}
	if st := status(); st.State != workflows.StatePaused {
		t.Fatalf("after bdr pause: state %q", st.State)
	}
	if _, err := s.Bdr(ctx, "replicate", "resume", db); err != nil {
		t.Fatal(err)
	}

	// Drain through bdr: everything written so far is in, then replication is paused.
	if _, err := workload.Run(ctx, s.MinIO["primary"].S3(), workload.Options{Bucket: bucket,
		Prefix: rootPath + "/0003", Writers: 2, PerWriter: 10}); err != nil {
		t.Fatal(err)
	}
	out, err = s.Bdr(ctx, "--json", "replicate", "drain", db)
	if err != nil {
		t.Fatal(err)
	}
	var drained workflows.DrainResult
	if err := json.Unmarshal(out, &drained); err != nil {
		t.Fatalf("bdr replicate drain --json: %v: %s", err, out)
	}
	if drained.Status.State != workflows.StatePaused {
		t.Errorf("after drain: state %q, want paused", drained.Status.State)
	}
	n, err := checkPrefix(ctx, src, dst, drained.Watermark.Time)
	if err != nil {
		t.Fatal(err)
	}
	if n != 50 {
		t.Errorf("after drain the watermark covers %d blobs, want all 50 written", n)
	}

	// Drain through the temporal CLI as well: it returns the watermark.
	out, err = s.Temporal.CLI(ctx, "workflow", "update", "execute", "--workflow-id", id, "--name", workflows.UpdateDrain, "--input", "{}", "--output", "json")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(string(out), drained.Watermark.Time.Format("2006-01-02T15:04")) {
		t.Errorf("temporal drain output does not carry the watermark: %s", out)
	}

	// Anti-entropy: a blob lost from the target behind our back is found and copied again.
	lost := workload.Key(rootPath+"/0001", 0, 3)
	if err := dst.Delete(ctx, lost); err != nil {
		t.Fatal(err)
	}
	out, err = s.Bdr(ctx, "--json", "replicate", "verify", db)
	if err != nil {
		t.Fatal(err)
	}
	var verified workflows.Verified
	if err := json.Unmarshal(out, &verified); err != nil {
		t.Fatalf("bdr replicate verify --json: %v: %s", err, out)
	}
	if verified.Checked != 50 || verified.Missing != 1 || verified.Repaired != 1 || len(verified.RepairedKeys) != 1 || verified.RepairedKeys[0] != lost {
		t.Errorf("verify report %+v, want 50 checked and %s missing and repaired", verified, lost)
	}
	if _, err := dst.Head(ctx, lost); err != nil {
		t.Errorf("the lost blob is still missing after verify: %v", err)
	}
	if st := status(); st.LastVerify == nil || st.LastVerify.Repaired != 1 {
		t.Errorf("status does not show the last verify: %+v", st.LastVerify)
	}
	assertNoSecrets(t, s, historyJSON(t, s, id), "Replicate history")
}
