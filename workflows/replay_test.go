package workflows

import (
	"testing"

	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// TestReplicateReplaysRecordedHistory replays a history recorded from a real run (initial
// sync, pause, resume, drain, resume, cancel through the temporal CLI). A change to Replicate
// that would break workflows already running fails here: put it behind workflow.GetVersion.
func TestReplicateReplaysRecordedHistory(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(Replicate, workflow.RegisterOptions{Name: ReplicateName})
	if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/replicate_pause_resume_drain.json"); err != nil {
		t.Fatal(err)
	}
}

// TestDrillReplaysRecordedHistory replays a drill recorded from a real run (make demo: a drill
// kept with keepFor, listed, then ended by the finish update through bdr). A drill may wait
// for days with its branch attached: a change that would break one in flight fails here.
func TestDrillReplaysRecordedHistory(t *testing.T) {
	replayer := worker.NewWorkflowReplayer()
	replayer.RegisterWorkflowWithOptions(TestFailover, workflow.RegisterOptions{Name: TestFailoverName})
	if err := replayer.ReplayWorkflowHistoryFromJSONFile(nil, "testdata/drill_kept_finished.json"); err != nil {
		t.Fatal(err)
	}
}
