// Package database is the client of one region's SingleStore cluster (go-sql-driver/mysql).
// Its one job: SingleStore's disaster-recovery operations (milestones, attach and detach of
// bottomless databases, users/roles/groups/grants, health) as validated, quoted SQL.
//
// Every name that goes into a statement is checked against a strict pattern before any SQL
// is built, and a bad one returns an error that names the field and satisfies IsInvalid;
// nothing is executed then. Identifiers are backtick-quoted and literals quoted and escaped
// even after validation, and the CONFIG and CREDENTIALS JSON of ATTACH is built with
// encoding/json, never pasted. Secrets (S3 credentials, the DSN's password, user passwords)
// never appear in a returned error: a server message that echoes them is redacted.
//
// The package does not import Temporal and does not log.
package database
