// Package standin is the stand-in bottomless database used by the end-to-end tests and the
// demo: a MySQL-protocol server (go-mysql-server, in-memory tables) that accepts SingleStore's
// disaster-recovery SQL and keeps all of a database's state in an S3 bucket, in SingleStore's
// shape, so that replication, failover and attach can be exercised without SingleStore.
//
// It is a test component, never the product's target. Statements the MySQL parser does not
// know (SingleStore syntax) are intercepted by a mysql.Handler wrapper before go-mysql-server
// sees them; everything else is real SQL run by go-mysql-server. Statements run one at a time
// (the in-memory engine is not safe for concurrent writers), and every statement that changes a
// bottomless database is uploaded as that database's next log blob before the client is
// answered.
//
// # Bucket layout
//
// A database created or attached ON S3 "<bucket>/<path>" lives under one storage id:
//
//	<path>/<storage-id>/meta.json                    identity, written last at creation
//	<path>/<storage-id>/log/<seq:020d>               one committed statement's row changes
//	<path>/<storage-id>/snapshots/<seq:020d>         the whole database after log <seq>
//	<path>/<storage-id>/milestones/<name>.json       a named point: log seq and time
//	<path>/<storage-id>/storage_locks/<gen>_<nanos>  held while a server has it attached
//
// The storage id is "<generation:08d>-<16 hex>". meta.json holds {"storage_id", "generation",
// "database", "base_seq", "created", "parent"}. An attach looks at every storage id under
// <path>/ that has a meta.json and picks the highest generation whose "database" is the name
// being attached, or the highest generation of all when none carries that name. A new
// storage id (generation = highest + 1) is made by CREATE DATABASE, and by an ATTACH that is
// AT MILESTONE / AT TIME or AS another name: its first blob is a snapshot at base_seq (the
// point it was attached at) and its logs continue from base_seq+1, so the history it came from
// is never written again. ATTACH at latest under the same name continues the same storage id.
//
// Log blobs are JSON ({"seq", "commit_time", "database", "statement", "changes"}): per table
// the rows deleted and the rows inserted (an UPDATE is both), "create" with the table's DDL
// and all its rows after a schema change, or "drop". Rows are arrays of cells, each null, a
// string (the value's SQL text) or {"b64": …} for non-UTF-8 bytes. commit_time is UTC; AT
// TIME includes every log whose commit time, truncated to the second, is <= the given time.
// Snapshots ({"seq", "commit_time", "tables"}) are written every --snapshot-every logs, at
// every milestone and at DETACH. Logs are uploaded strictly in sequence: log N+1 is never
// started before log N is in.
//
// ATTACH rebuilds from the newest readable snapshot at or before the target point plus every
// log after it in sequence; a missing log below the target is an error naming its key. ATTACH
// refuses a storage id holding a storage lock and names the lock's key, except a lock whose
// recorded owner is this server's own listen address with another process instance: only one
// process can listen on an address, so that owner is dead (kill -9, then restart in place).
// DETACH writes a snapshot, records a milestone "detach_<yyyymmddhhmmss>" and deletes the
// lock; DETACH FORCE only deletes the lock. DROP DATABASE deletes the lock and keeps the
// blobs, like SingleStore's retention.
//
// Users, roles, groups and grants are the server's own state (state.json under --state-dir),
// as in SingleStore they belong to the cluster and not to the bucket; so is the list of
// attached databases, which a restarted server attaches again.
package standin
