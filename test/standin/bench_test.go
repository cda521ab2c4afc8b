package standin_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/stretchr/testify/require"
)

// BenchmarkSingleRowInsertCommit measures autocommitted single-row INSERTs: each is one log
// PUT to MinIO before the client is answered.
func BenchmarkSingleRowInsertCommit(b *testing.B) {
	bucket := newBucketB(b)
	p := startStandin(b, standinOpts{})
	db := p.root(b)
	mustExec(b, db, "CREATE DATABASE bench "+onS3(bucket+"/bench"))
	mustExec(b, db, "CREATE TABLE bench.t (id INT PRIMARY KEY, v VARCHAR(40))")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := db.Exec("INSERT INTO bench.t VALUES (?, 'some value')", i); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "commits/s")
}

// BenchmarkAttach10kLogsNoSnapshots measures ATTACH replaying 10,000 log blobs.
func BenchmarkAttach10kLogsNoSnapshots(b *testing.B) { benchmarkAttach(b, 0) }

// BenchmarkAttach10kLogsSnapshots measures ATTACH of the same history with a snapshot every
// 1,000 logs: it reads the last snapshot instead of the logs.
func BenchmarkAttach10kLogsSnapshots(b *testing.B) { benchmarkAttach(b, 1000) }

func benchmarkAttach(b *testing.B, snapshotEvery int) {
	const logs = 10000
	bucket := newBucketB(b)
	writeHistory(b, bucket, "hist/00000001-0000000000000001", logs, snapshotEvery)
	p := startStandin(b, standinOpts{})
	db := p.root(b)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mustExec(b, db, "ATTACH DATABASE bench "+onS3(bucket+"/hist"))
		b.StopTimer()
		require.Equal(b, logs-1, count(b, db, "SELECT COUNT(*) FROM bench.t"))
		mustExec(b, db, "DETACH DATABASE bench FORCE") // no final snapshot: the history stays as built
		b.StartTimer()
	}
}

func newBucketB(b *testing.B) string {
	name := fmt.Sprintf("bench-%d", time.Now().UnixNano())
	require.NoError(b, minio.MakeBucket(context.Background(), name))
	return name
}

const benchDDL = "CREATE TABLE `t` (\\n  `id` int NOT NULL,\\n  `v` varchar(40),\\n  PRIMARY KEY (`id`)\\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_bin"

// writeHistory puts a storage id in the documented layout (see the package comment): log 1
// creates table t, log n>1 inserts row n-1; with snapshotEvery > 0, a snapshot after every
// that many logs.
func writeHistory(b *testing.B, bucket, prefix string, logs, snapshotEvery int) {
	ts := time.Now().UTC().Add(-time.Hour).Format(time.RFC3339Nano)
	blobs := map[string]string{
		prefix + "/meta.json": fmt.Sprintf(`{"storage_id":"%s","generation":1,"database":"bench","base_seq":0,"created":"%s"}`,
			prefix[strings.LastIndex(prefix, "/")+1:], ts),
	}
	row := func(id int) string { return fmt.Sprintf(`["%d","value %d"]`, id, id) }
	for n := 1; n <= logs; n++ {
		change := fmt.Sprintf(`{"table":"t","op":"create","ddl":"%s"}`, benchDDL)
		if n > 1 {
			change = fmt.Sprintf(`{"table":"t","op":"rows","inserted":[%s]}`, row(n-1))
		}
		blobs[fmt.Sprintf("%s/log/%020d", prefix, n)] = fmt.Sprintf(
			`{"seq":%d,"commit_time":"%s","database":"bench","changes":[%s]}`, n, ts, change)
		if snapshotEvery > 0 && n%snapshotEvery == 0 {
			rows := make([]string, 0, n-1)
			for id := 1; id < n; id++ {
				rows = append(rows, row(id))
			}
			blobs[fmt.Sprintf("%s/snapshots/%020d", prefix, n)] = fmt.Sprintf(
				`{"seq":%d,"commit_time":"%s","database":"bench","tables":[{"name":"t","ddl":"%s","rows":[%s]}]}`,
				n, ts, benchDDL, strings.Join(rows, ","))
		}
	}
	c := minio.S3()
	work := make(chan [2]string)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := 0; w < 32; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for kv := range work {
				_, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket),
					Key: aws.String(kv[0]), Body: strings.NewReader(kv[1])})
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
			}
		}()
	}
	for k, v := range blobs {
		work <- [2]string{k, v}
	}
	close(work)
	wg.Wait()
	require.NoError(b, firstErr)
}
