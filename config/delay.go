package config

import (
	"math"
	"time"
)

// Delay is replication.delete_delay: how long after a blob disappears from the source
// bucket the target deletes its copy. It is a non-negative duration or NeverDelete
// ("never" in bdr.yaml and in BDR_REPLICATION_DELETE_DELAY): the target deletes nothing.
type Delay time.Duration

// NeverDelete is the Delay "never": the target never deletes a blob. No duration decodes to
// it: a negative duration in bdr.yaml or the environment is an error.
const NeverDelete Delay = -1

// Never reports whether d is NeverDelete.
func (d Delay) Never() bool { return d == NeverDelete }

// Duration returns d as a time.Duration. NeverDelete returns the longest duration there is,
// so that a caller comparing an age against it without asking Never first still deletes
// nothing.
func (d Delay) Duration() time.Duration {
	if d.Never() {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// String returns "never" for NeverDelete and the duration as bdr.yaml spells it ("168h",
// "1h30m") otherwise; Load reads either back.
func (d Delay) String() string {
	if d.Never() {
		return "never"
	}
	return formatDuration(time.Duration(d))
}
