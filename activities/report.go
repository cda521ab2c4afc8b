package activities

import (
	"context"
	"time"
)

// FailoverOutcome is what a failover measured, for metrics.
type FailoverOutcome struct {
	Database   string  `json:"database"`
	From       string  `json:"from"`
	To         string  `json:"to"`
	Mode       string  `json:"mode"`
	Succeeded  bool    `json:"succeeded"`
	RPOSeconds float64 `json:"rpoSeconds"`
	RTOSeconds float64 `json:"rtoSeconds"`
}

// FailoverRecorder receives every failover's outcome, for metrics.
type FailoverRecorder interface {
	RecordFailover(ctx context.Context, out FailoverOutcome)
}

// DrillOutcome is what a drill measured, for metrics.
type DrillOutcome struct {
	Database      string    `json:"database"`
	To            string    `json:"to"`
	Passed        bool      `json:"passed"`
	FinishedAt    time.Time `json:"finishedAt"`
	RPOSeconds    float64   `json:"rpoSeconds"`
	RPOKnown      bool      `json:"rpoKnown"`
	AttachSeconds float64   `json:"attachSeconds"`
}

// DrillRecorder receives every drill's outcome, for metrics.
type DrillRecorder interface {
	RecordDrill(ctx context.Context, out DrillOutcome)
}

// Reporter hands workflow outcomes to the worker's metrics: workflows cannot do I/O, and the
// metrics live in the worker process.
type Reporter struct {
	Failovers FailoverRecorder // nil: metrics are off
	Drills    DrillRecorder    // nil: metrics are off
}

// RecordFailover records a failover's outcome.
func (r *Reporter) RecordFailover(ctx context.Context, out FailoverOutcome) error {
	if r.Failovers != nil {
		r.Failovers.RecordFailover(ctx, out)
	}
	return nil
}

// RecordDrillOutcome records a drill's outcome.
func (r *Reporter) RecordDrillOutcome(ctx context.Context, out DrillOutcome) error {
	if r.Drills != nil {
		r.Drills.RecordDrill(ctx, out)
	}
	return nil
}
