package activities

import "context"

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

// Reporter hands workflow outcomes to the worker's metrics: workflows cannot do I/O, and the
// metrics live in the worker process.
type Reporter struct {
	Failovers FailoverRecorder // nil: metrics are off
}

// RecordFailover records a failover's outcome.
func (r *Reporter) RecordFailover(ctx context.Context, out FailoverOutcome) error {
	if r.Failovers != nil {
		r.Failovers.RecordFailover(ctx, out)
	}
	return nil
}
