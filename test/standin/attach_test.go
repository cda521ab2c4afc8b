package standin_test

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// storageID returns the one storage id folder under bucket/prefix/.
func storageIDs(t *testing.T, bucket, prefix string) []string {
	t.Helper()
	seen := map[string]bool{}
	var out []string
	for _, k := range listKeys(t, bucket, prefix+"/") {
		sid, _, _ := strings.Cut(strings.TrimPrefix(k, prefix+"/"), "/")
		if !seen[sid] {
			seen[sid] = true
			out = append(out, sid)
		}
	}
	return out
}

func attachErr(db *sql.DB, stmt string) string {
	_, err := db.Exec(stmt)
	if err == nil {
		return ""
	}
	return err.Error()
}

// TestAttachFailsOnMissingLog: with log 5 of 20 gone (and no snapshot to skip it) ATTACH
// fails and names the missing key; nothing is attached.
func TestAttachFailsOnMissingLog(t *testing.T) {
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{})
	db := p.root(t)
	mustExec(t, db, "CREATE DATABASE g "+onS3(bucket+"/g"))
	mustExec(t, db, "CREATE TABLE g.t (id INT PRIMARY KEY)")
	for i := 1; i <= 19; i++ {
		mustExec(t, db, "INSERT INTO g.t VALUES (?)", i)
	}
	// FORCE releases the lock without the final snapshot, so the logs are all there is.
	mustExec(t, db, "DETACH DATABASE g FORCE")
	sids := storageIDs(t, bucket, "g")
	require.Len(t, sids, 1)
	logs := keysWith(listKeys(t, bucket, "g/"+sids[0]+"/log/"), "/log/")
	require.Len(t, logs, 20)
	missing := fmt.Sprintf("%s/g/%s/log/%020d", bucket, sids[0], 5)
	deleteKey(t, bucket, strings.TrimPrefix(missing, bucket+"/"))

	msg := attachErr(db, "ATTACH DATABASE g "+onS3(bucket+"/g"))
	require.Contains(t, msg, missing)
	require.Contains(t, msg, "missing")
	require.Equal(t, 0, count(t, db, "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'g'"))

	// A milestone before the gap still attaches: the gap is not below it.
	putKey(t, bucket, fmt.Sprintf("g/%s/milestones/early.json", sids[0]),
		`{"name":"early","database":"g","seq":4,"time":"2020-01-01T00:00:00Z"}`)
	mustExec(t, db, `ATTACH DATABASE g AS g_early `+onS3(bucket+"/g")+` AT MILESTONE "early"`)
	require.Equal(t, 3, count(t, db, "SELECT COUNT(*) FROM g_early.t"))
}

// TestAttachRefusesStorageLock: a location whose storage id holds a lock cannot be attached
// elsewhere; the error names the lock. After the owner detaches it can.
func TestAttachRefusesStorageLock(t *testing.T) {
	bucket := newBucket(t)
	owner := startStandin(t, standinOpts{})
	other := startStandin(t, standinOpts{})
	dbA, dbB := owner.root(t), other.root(t)
	mustExec(t, dbA, "CREATE DATABASE l "+onS3(bucket+"/l"))
	mustExec(t, dbA, "CREATE TABLE l.t (id INT PRIMARY KEY, v TEXT)")
	mustExec(t, dbA, "INSERT INTO l.t VALUES (1, 'a'), (2, 'b')")

	locks := keysWith(listKeys(t, bucket, "l/"), "/storage_locks/")
	require.Len(t, locks, 1)
	msg := attachErr(dbB, "ATTACH DATABASE l "+onS3(bucket+"/l"))
	require.Contains(t, msg, bucket+"/"+locks[0])
	require.Contains(t, msg, "storage lock")

	mustExec(t, dbA, "DETACH DATABASE l")
	require.Empty(t, keysWith(listKeys(t, bucket, "l/"), "/storage_locks/"))

	// A lock put there by hand (another cluster) is refused the same way.
	sid := storageIDs(t, bucket, "l")[0]
	handLock := fmt.Sprintf("l/%s/storage_locks/7_7", sid)
	putKey(t, bucket, handLock, `{"owner":"elsewhere:3306"}`)
	require.Contains(t, attachErr(dbB, "ATTACH DATABASE l "+onS3(bucket+"/l")), bucket+"/"+handLock)
	deleteKey(t, bucket, handLock)

	mustExec(t, dbB, "ATTACH DATABASE l "+onS3(bucket+"/l"))
	require.Equal(t, []string{"a", "b"}, column(t, dbB, "SELECT v FROM l.t ORDER BY id"))
	// Attached at latest under its own name, it continues the same storage id.
	require.Equal(t, []string{sid}, storageIDs(t, bucket, "l"))
	require.Len(t, keysWith(listKeys(t, bucket, "l/"), "/storage_locks/"), 1)
}
