// Package replication decides what to copy and when, without Temporal: which source blobs are
// eligible and in what order (DESIGN 5.1), how far the watermark may move (5.2), how a target
// is sealed to its watermark before anything attaches (5.3), and where our own state lives in
// the bucket (5.8). The rules that tests check are pure functions (Plan, Window); the few
// functions that touch a store take the Store interface.
package replication
