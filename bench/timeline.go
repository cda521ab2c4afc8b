package main

import (
	"context"
	"fmt"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/bottomless-dr/bottomless-dr/activities"
)

// timeline splits a bottomless-dr run into what Temporal's history shows: from the start until
// the first Sync was scheduled, the Sync activities themselves (scheduled to completed), and
// the rest (between syncs, and until the workflow folded the last one's result into its
// status). Copying happens only inside the syncs; everything else is orchestration.
type timeline struct {
	Syncs            int     `json:"syncs"`
	UntilFirstSync   float64 `json:"untilFirstSync"` // seconds from workflow start to the first Sync scheduled
	InSyncs          float64 `json:"inSyncs"`        // seconds inside Sync activities, summed
	FirstSync        float64 `json:"firstSync"`      // seconds of the first Sync (it checks the target before each copy)
	AfterLastSync    float64 `json:"afterLastSync"`  // seconds from the last Sync's completion until the workflow folded it
	BetweenSyncs     float64 `json:"betweenSyncs"`   // seconds from a Sync's completion until the next was scheduled, summed
	WorkflowStartLag float64 `json:"workflowStartLag"`
	// FailedSyncs are the Sync activities that failed or timed out (retries exhausted), with
	// why: the workflow then starts another, and the time in between counts in the run.
	FailedSyncs []string `json:"failedSyncs,omitempty"`
	// ListRounds and ListRequests sum the completed Syncs' listings of the source and the
	// LIST requests they took (SyncResult.ListRounds, ListRequests).
	ListRounds   int `json:"listRounds,omitempty"`
	ListRequests int `json:"listRequests,omitempty"`
	// syncs are the completed Syncs, scheduled to completed, in order.
	syncs []span
	// foldedAt is when the workflow task after the last Sync completed: the status shows that
	// Sync's result from then on.
	foldedAt time.Time
}

// span is a stretch of time.
type span struct{ from, to time.Time }

// readTimeline reads a run's history up to seen. started is when the benchmark called
// ExecuteWorkflow and seen when its status query saw the sync complete.
func (e *env) readTimeline(ctx context.Context, run client.WorkflowRun, started, seen time.Time) (*timeline, error) {
	it := e.tc.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	t := &timeline{}
	var wfStart, lastSyncEnd time.Time
	scheduled := map[int64]time.Time{} // Sync activities by scheduled event ID
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", run.GetID(), err)
		}
		at := ev.GetEventTime().AsTime()
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			wfStart = at
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			if ev.GetActivityTaskScheduledEventAttributes().GetActivityType().GetName() == activities.SyncActivity {
				if len(scheduled) == 0 {
					t.UntilFirstSync = at.Sub(wfStart).Seconds()
				}
				if !lastSyncEnd.IsZero() && !at.After(seen) {
					t.BetweenSyncs += at.Sub(lastSyncEnd).Seconds()
				}
				scheduled[ev.GetEventId()] = at
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			from, ok := scheduled[ev.GetActivityTaskCompletedEventAttributes().GetScheduledEventId()]
			if !ok || at.After(seen) {
				continue // not a Sync, or one that completed after the run was timed
			}
			var res activities.SyncResult
			if err := converter.GetDefaultDataConverter().FromPayloads(ev.GetActivityTaskCompletedEventAttributes().GetResult(), &res); err == nil {
				t.ListRounds += res.ListRounds
				t.ListRequests += res.ListRequests
			}
			d := at.Sub(from).Seconds()
			if t.Syncs == 0 {
				t.FirstSync = d
			}
			t.Syncs++
			t.InSyncs += d
			t.syncs = append(t.syncs, span{from: from, to: at})
			lastSyncEnd = at
			t.foldedAt = time.Time{}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := ev.GetActivityTaskFailedEventAttributes()
			if _, ok := scheduled[a.GetScheduledEventId()]; ok && !at.After(seen) {
				t.FailedSyncs = append(t.FailedSyncs, a.GetFailure().GetMessage())
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
			a := ev.GetActivityTaskTimedOutEventAttributes()
			if _, ok := scheduled[a.GetScheduledEventId()]; ok && !at.After(seen) {
				t.FailedSyncs = append(t.FailedSyncs, "timed out: "+a.GetFailure().GetMessage())
			}
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			if !lastSyncEnd.IsZero() && t.foldedAt.IsZero() && !at.After(seen) {
				t.foldedAt = at
			}
		}
	}
	if !wfStart.IsZero() && !started.IsZero() {
		t.WorkflowStartLag = wfStart.Sub(started).Seconds()
	}
	if !t.foldedAt.IsZero() {
		t.AfterLastSync = t.foldedAt.Sub(lastSyncEnd).Seconds()
	}
	return t, nil
}
