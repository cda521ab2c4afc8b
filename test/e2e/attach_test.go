package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"go.temporal.io/sdk/client"

	"github.com/bottomless-dr/bottomless-dr/replication"
	"github.com/bottomless-dr/bottomless-dr/test/stack"
	"github.com/bottomless-dr/bottomless-dr/workflows"
)

// onS3 is the location clause of CREATE/ATTACH DATABASE for a region's bucket, with that
// region's credentials, as an operator would type it.
func onS3(m *stack.MinIO) string { return onS3At(m, rootPath) }

// onS3At is the ON S3 clause of a database whose folder is root in the test bucket.
func onS3At(m *stack.MinIO, root string) string {
	cfg, _ := json.Marshal(map[string]string{"region": "us-east-1", "endpoint_url": m.Endpoint, "s3_force_path_style": "true"})
	creds, _ := json.Marshal(map[string]string{"aws_access_key_id": m.AccessKey, "aws_secret_access_key": m.SecretKey})
	return fmt.Sprintf(`ON S3 "%s/%s" CONFIG '%s' CREDENTIALS '%s'`, bucket, root, cfg, creds)
}

func openDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	conn, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// rowsPerWriter reads (writer, seq) rows and checks that each writer's rows are exactly
// 0..n-1: a gap would mean the attached database is not a prefix of what was committed.
func rowsPerWriter(t *testing.T, conn *sql.DB, database string) map[int]int {
	t.Helper()
	rows, err := conn.Query("SELECT writer, seq FROM " + database + ".t ORDER BY writer, seq")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	next := map[int]int{}
	for rows.Next() {
		var w, seq int
		if err := rows.Scan(&w, &seq); err != nil {
			t.Fatal(err)
		}
		if seq != next[w] {
			t.Fatalf("%s: writer %d has row %d but not row %d: the attached database has a hole", database, w, seq, next[w])
		}
		next[w]++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return next
}

// TestReplicatedDatabaseAttachesInTheSecondary is what replication is for: SQL writers commit
// rows into a bottomless database in the primary region; its folder replicates; the secondary
// region's database server ATTACHes the replicated folder. Mid-load, after a pause and a seal,
// an attached copy holds a gap-free prefix of the committed rows (the stand-in fails loudly on
// a missing log); after a drain, the attached database holds every acknowledged row.
func TestReplicatedDatabaseAttachesInTheSecondary(t *testing.T) {
	ctx := context.Background()
	s := stack.New(t, stack.Options{Standins: true, Configure: fastConfig})
	if err := s.StartWorker(ctx); err != nil {
		t.Fatal(err)
	}
	primary, secondary := openDB(t, s.Standin["primary"].DSN("")), openDB(t, s.Standin["secondary"].DSN(""))
	if _, err := primary.Exec("CREATE DATABASE " + db + " " + onS3(s.MinIO["primary"])); err != nil {
		t.Fatal(err)
	}
	if _, err := primary.Exec("CREATE TABLE " + db + ".t (writer INT NOT NULL, seq INT NOT NULL, PRIMARY KEY (writer, seq))"); err != nil {
		t.Fatal(err)
	}
	tc := temporalClient(t, s)
	run := startReplicate(t, s, tc, db)

	const writers = 4
	acked := make([]int, writers) // rows acknowledged per writer
	var mu sync.Mutex
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; ; seq++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := primary.Exec(fmt.Sprintf("INSERT INTO %s.t (writer, seq) VALUES (%d, %d)", db, w, seq)); err != nil {
					t.Errorf("writer %d row %d: %v", w, seq, err)
					return
				}
				mu.Lock()
				acked[w] = seq + 1
				mu.Unlock()
			}
		}()
	}
	time.Sleep(6 * time.Second)

	// Mid-load: pause, seal, attach a copy under another name in the secondary.
	updateWorkflow(t, ctx, tc, run.GetID(), workflows.UpdatePause, workflows.PauseRequest{}, nil)
	dst := store(t, s.MinIO["secondary"])
	sealed, err := replication.Seal(ctx, dst, db, rootPath, "mid-load")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	ackedAtSeal := append([]int(nil), acked...)
	mu.Unlock()
	if _, err := secondary.Exec("ATTACH DATABASE " + db + " AS " + db + "_mid " + onS3(s.MinIO["secondary"])); err != nil {
		t.Fatalf("attach the sealed prefix in the secondary: %v", err)
	}
	mid := rowsPerWriter(t, secondary, db+"_mid")
	total := 0
	for w := range writers {
		if mid[w] > ackedAtSeal[w] {
			t.Errorf("writer %d: %d rows attached, only %d acknowledged", w, mid[w], ackedAtSeal[w])
		}
		total += mid[w]
	}
	if total == 0 {
		t.Fatal("the mid-load attach holds no rows: nothing was replicated")
	}
	t.Logf("mid-load: sealed at %s (%d blobs moved aside), attached %d rows, gap-free", sealed.Watermark.Format(time.RFC3339Nano), len(sealed.MovedKeys), total)
	if _, err := secondary.Exec("DETACH DATABASE " + db + "_mid"); err != nil {
		t.Fatal(err)
	}
	updateWorkflow(t, ctx, tc, run.GetID(), workflows.UpdateResume, workflows.ResumeRequest{}, nil)

	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	if t.Failed() {
		return
	}
	// Everything committed reaches the secondary: drain, then attach the database itself.
	var drained workflows.DrainResult
	updateWorkflow(t, ctx, tc, run.GetID(), workflows.UpdateDrain, workflows.DrainRequest{}, &drained)
	if _, err := secondary.Exec("ATTACH DATABASE " + db + " " + onS3(s.MinIO["secondary"])); err != nil {
		t.Fatalf("attach in the secondary after drain: %v", err)
	}
	got := rowsPerWriter(t, secondary, db)
	for w := range writers {
		if got[w] != acked[w] {
			t.Errorf("writer %d: %d rows in the secondary, %d acknowledged in the primary", w, got[w], acked[w])
		}
	}
	t.Logf("after drain: %v rows per writer in the secondary, all acknowledged rows", got)
}

func updateWorkflow(t *testing.T, ctx context.Context, tc client.Client, id, name string, arg, result any) {
	t.Helper()
	h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: name,
		Args: []any{arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Get(ctx, result); err != nil {
		t.Fatal(err)
	}
}
