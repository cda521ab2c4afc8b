// Package e2e holds the end-to-end and fault tests of bottomless-dr: a real Temporal dev
// server, real MinIO servers as the regions' stores, and the real worker and bdr binaries,
// all started by test/stack. Nothing is mocked here.
package e2e
