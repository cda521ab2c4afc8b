package standin_test

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestKill9KeepsAcknowledgedRowsGoDriver writes rows from four connections, kills the
// stand-in with SIGKILL while writes are in flight, and attaches the database in a fresh
// process with an empty state dir: every row whose INSERT was acknowledged is there.
func TestKill9KeepsAcknowledgedRowsGoDriver(t *testing.T) {
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{snapshotEvery: 300})
	db := p.root(t)
	mustExec(t, db, "CREATE DATABASE shop "+onS3(bucket+"/dbs/shop"))
	mustExec(t, db, "CREATE TABLE shop.orders (id INT PRIMARY KEY, item VARCHAR(40), qty INT)")

	var (
		mu    sync.Mutex
		acked []int
		next  atomic.Int64
		wg    sync.WaitGroup
	)
	killed := make(chan struct{})
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				id := int(next.Add(1))
				if _, err := db.Exec("INSERT INTO shop.orders VALUES (?, ?, ?)", id, fmt.Sprintf("item-%d", id), id%7); err != nil {
					return // the server is gone
				}
				mu.Lock()
				acked = append(acked, id)
				n := len(acked)
				mu.Unlock()
				if n == 1000 {
					p.Kill9() // with the other writers mid-statement
					close(killed)
				}
			}
		}()
	}
	wg.Wait()
	<-killed
	require.GreaterOrEqual(t, len(acked), 1000)

	// A new process on the same address with an empty state dir: the dead owner's lock is
	// recognised as stale (nobody else can listen there) and the attach goes ahead.
	q := startStandin(t, standinOpts{listen: p.Addr})
	db2 := q.root(t)
	mustExec(t, db2, "ATTACH DATABASE shop "+onS3(bucket+"/dbs/shop"))
	present := map[int]bool{}
	rows, err := db2.Query("SELECT id, item FROM shop.orders")
	require.NoError(t, err)
	for rows.Next() {
		var id int
		var item string
		require.NoError(t, rows.Scan(&id, &item))
		require.Equal(t, fmt.Sprintf("item-%d", id), item)
		present[id] = true
	}
	require.NoError(t, rows.Err())
	for _, id := range acked {
		require.True(t, present[id], "acknowledged row %d lost", id)
	}
	t.Logf("%d acknowledged, %d present after kill -9 and attach", len(acked), len(present))

	// Writes continue in the same storage id.
	mustExec(t, db2, "INSERT INTO shop.orders VALUES (1000000, 'after', 1)")
	require.Equal(t, len(present)+1, count(t, db2, "SELECT COUNT(*) FROM shop.orders"))
}

// mariadb runs the mariadb command-line client with sql on stdin and returns its output.
func mariadb(t *testing.T, addr, sql string) (string, error) {
	t.Helper()
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "mariadb", "--protocol=TCP", "-h", host, "-P", port, "-u", "root",
		"-p"+rootPassword, "--skip-ssl", "--batch", "--skip-column-names")
	cmd.Stdin = strings.NewReader(sql)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestKill9KeepsAcknowledgedRowsMariaDBClient does the same through the mariadb client.
func TestKill9KeepsAcknowledgedRowsMariaDBClient(t *testing.T) {
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Fatalf("the mariadb client is required (apt-get install mariadb-client): %v", err)
	}
	bucket := newBucket(t)
	p := startStandin(t, standinOpts{})
	var script strings.Builder
	fmt.Fprintf(&script, "CREATE DATABASE cli %s;\nUSE cli;\nCREATE TABLE t (id INT PRIMARY KEY, name TEXT);\n", onS3(bucket+"/cli"))
	for i := 1; i <= 1000; i++ {
		fmt.Fprintf(&script, "INSERT INTO t VALUES (%d, 'name %d');\n", i, i)
	}
	out, err := mariadb(t, p.Addr, script.String())
	require.NoError(t, err, out)
	p.Kill9()

	q := startStandin(t, standinOpts{listen: p.Addr})
	out, err = mariadb(t, q.Addr, fmt.Sprintf("ATTACH DATABASE cli %s;\nSELECT COUNT(*), SUM(id) FROM cli.t;\n", onS3(bucket+"/cli")))
	require.NoError(t, err, out)
	require.Equal(t, "1000\t500500", strings.TrimSpace(out))
}
