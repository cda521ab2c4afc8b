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
