package standin_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestAttachAtMilestoneAndTime: AT MILESTONE and AT TIME return exactly what was committed
// before that point, into new storage ids, leaving the original history as it was.
func TestAttachAtMilestoneAndTime(t *testing.T) {
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{snapshotEvery: 7}) // snapshots between the points too
	db := p.root(t)
	loc := bucket + "/pitr"
	mustExec(t, db, "CREATE DATABASE h "+onS3(loc))
	mustExec(t, db, "CREATE TABLE h.t (id INT PRIMARY KEY, v VARCHAR(20))")
	for i := 1; i <= 10; i++ {
		mustExec(t, db, "INSERT INTO h.t VALUES (?, ?)", i, fmt.Sprintf("v%d", i))
	}
	mustExec(t, db, `CREATE MILESTONE "m1" FOR h`)
	atM1 := column(t, db, "SELECT CONCAT(id, '=', v) FROM h.t ORDER BY id")

	for i := 11; i <= 20; i++ {
		mustExec(t, db, "INSERT INTO h.t VALUES (?, ?)", i, fmt.Sprintf("v%d", i))
	}
	mustExec(t, db, "UPDATE h.t SET v = 'changed' WHERE id IN (2, 12)")
	mustExec(t, db, "DELETE FROM h.t WHERE id IN (3, 13)")
	mustExec(t, db, "USE h")
	mustExec(t, db, `CREATE MILESTONE "m2"`) // for the current database
	atM2 := column(t, db, "SELECT CONCAT(id, '=', v) FROM h.t ORDER BY id")

	// A time point at second resolution: everything so far is <= at, everything after is later.
	at := time.Now().UTC().Truncate(time.Second)
	time.Sleep(time.Until(at.Add(time.Second + 50*time.Millisecond)))
	for i := 21; i <= 30; i++ {
		mustExec(t, db, "INSERT INTO h.t VALUES (?, ?)", i, fmt.Sprintf("v%d", i))
	}
	mustExec(t, db, "DELETE FROM h.t WHERE id = 1")
	latest := column(t, db, "SELECT CONCAT(id, '=', v) FROM h.t ORDER BY id")
	require.ElementsMatch(t, []string{"m1", "m2"},
		column(t, db, "SELECT MILESTONE_NAME FROM information_schema.MV_MILESTONES WHERE DATABASE_NAME = 'h'"))
	mustExec(t, db, "DETACH DATABASE h")
	sidsBefore := storageIDs(t, bucket, "pitr")
	logsBefore := keysWith(listKeys(t, bucket, "pitr/"), "/log/")

	q := startStandin(t, standinOpts{})
	db2 := q.root(t)
	mustExec(t, db2, `ATTACH DATABASE h AS h_m1 `+onS3(loc)+` AT MILESTONE "m1"`)
	require.Equal(t, atM1, column(t, db2, "SELECT CONCAT(id, '=', v) FROM h_m1.t ORDER BY id"))
	mustExec(t, db2, `ATTACH DATABASE h AS h_m2 `+onS3(loc)+` AT MILESTONE "m2"`)
	require.Equal(t, atM2, column(t, db2, "SELECT CONCAT(id, '=', v) FROM h_m2.t ORDER BY id"))
	mustExec(t, db2, fmt.Sprintf(`ATTACH DATABASE h AS h_t %s AT TIME '%s'`, onS3(loc), at.Format(time.DateTime)))
	require.Equal(t, atM2, column(t, db2, "SELECT CONCAT(id, '=', v) FROM h_t.t ORDER BY id"))
	mustExec(t, db2, "ATTACH DATABASE h "+onS3(loc))
	require.Equal(t, latest, column(t, db2, "SELECT CONCAT(id, '=', v) FROM h.t ORDER BY id"))

	// Branches write under their own storage ids; the original logs are untouched.
	mustExec(t, db2, "INSERT INTO h_m1.t VALUES (100, 'branch')")
	require.Len(t, storageIDs(t, bucket, "pitr"), len(sidsBefore)+3)
	var origLogs []string
	for _, k := range keysWith(listKeys(t, bucket, "pitr/"+sidsBefore[0]+"/"), "/log/") {
		origLogs = append(origLogs, k)
	}
	require.Equal(t, logsBefore, origLogs)

	// Cross-database INSERT … SELECT is logged as rows: it survives a detach and attach.
	mustExec(t, db2, "INSERT INTO h.t SELECT id + 1000, v FROM h_m1.t")
	mustExec(t, db2, "DETACH DATABASE h")
	mustExec(t, db2, "ATTACH DATABASE h "+onS3(loc))
	require.Equal(t, 11, count(t, db2, "SELECT COUNT(*) FROM h.t WHERE id > 1000"))

	// Failing over to a milestone under the same name continues from there, and a later
	// plain ATTACH picks that newer storage id.
	mustExec(t, db2, "DETACH DATABASE h")
	mustExec(t, db2, `ATTACH DATABASE h `+onS3(loc)+` AT MILESTONE "m1"`)
	mustExec(t, db2, "INSERT INTO h.t VALUES (500, 'after failover')")
	mustExec(t, db2, "DETACH DATABASE h")
	mustExec(t, db2, "ATTACH DATABASE h "+onS3(loc))
	require.Equal(t, append(append([]string{}, atM1...), "500=after failover"),
		column(t, db2, "SELECT CONCAT(id, '=', v) FROM h.t ORDER BY id"))
}
