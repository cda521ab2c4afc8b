// Package activities holds the Temporal activities of bottomless-dr: thin, idempotent wrappers
// over objectstore, replication and database, as structs with injected clients. Activities do
// the I/O; they never decide what happens next (the workflows do). Credentials live only in
// the injected clients: never in inputs, results or heartbeats.
package activities

import "time"

// ErrInvalidInput is the application error type of input that can never succeed (an unknown
// database, a region that is not configured); workflows do not retry it.
const ErrInvalidInput = "InvalidInput"

// SyncHeartbeatTimeout is how long a Sync may go without a heartbeat before Temporal retries it
// elsewhere: it bounds how long a dead worker holds replication up. Sync beats every second.
const SyncHeartbeatTimeout = 5 * time.Second

// HeartbeatThrottle is the worker's MaxHeartbeatThrottleInterval: activities beat every second,
// and the SDK otherwise sends a beat only every 0.8 x the heartbeat timeout (4 s for Sync).
// Cancellation reaches an activity only in the answer to a beat, so a pause, and the
// unplanned failover that stops replication, would wait up to that long for the sync in
// flight to stop.
const HeartbeatThrottle = time.Second
