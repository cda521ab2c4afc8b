package workload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// RowOptions shape a SQL workload: writers inserting rows through the MySQL protocol, as an
// application in front of the database would.
type RowOptions struct {
	Table   string // database.table, created with RowsTable
	Writers int
	// FirstWriter is the number of the first writer: a second set of writers into the same
	// table (after a failover, say) takes new numbers, so its rows do not collide.
	FirstWriter int
	// Rate is rows per second per writer (0: as fast as the database commits).
	Rate float64
	// Written, when set, is incremented as each row is acknowledged, so that a caller can
	// report progress while the writers run.
	Written *atomic.Int64
}

// RowsTable returns the CREATE TABLE statement of the table InsertRows writes: (writer, seq)
// is the key, the convention of test/monitor's checks; note is a little payload.
func RowsTable(table string) string {
	return "CREATE TABLE " + table + " (writer INT NOT NULL, seq INT NOT NULL, note VARCHAR(64) NOT NULL, PRIMARY KEY (writer, seq))"
}

// InsertRows runs the writers until ctx ends: writer w (FirstWriter, FirstWriter+1, …)
// inserts (w, 0), (w, 1), … into opts.Table, one INSERT (one commit) at a time. It returns,
// per writer (acked[0] is FirstWriter's), how many rows were acknowledged: rows
// 0..acked[i]-1 are committed and at most one more may be. An INSERT error stops that writer
// and is returned, joined, once all writers stopped.
func InsertRows(ctx context.Context, conn *sql.DB, opts RowOptions) ([]int, error) {
	acked := make([]int, opts.Writers)
	errs := make([]error, opts.Writers)
	var wg sync.WaitGroup
	for w := range opts.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			acked[w], errs[w] = insertRows(ctx, conn, opts, opts.FirstWriter+w)
		}()
	}
	wg.Wait()
	return acked, errors.Join(errs...)
}

func insertRows(ctx context.Context, conn *sql.DB, opts RowOptions, w int) (int, error) {
	var tick <-chan time.Time
	if opts.Rate > 0 {
		t := time.NewTicker(time.Duration(float64(time.Second) / opts.Rate))
		defer t.Stop()
		tick = t.C
	}
	for seq := 0; ; seq++ {
		if tick != nil {
			select {
			case <-ctx.Done():
				return seq, nil
			case <-tick:
			}
		} else if ctx.Err() != nil {
			return seq, nil
		}
		// An INSERT once sent is waited for even when ctx ends, as in Run: cut off, it might
		// commit unheard and the acknowledged count would be wrong by more than one.
		execCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		// Values written into the statement (all ours, numbers): no prepared statement, so
		// each row is one round trip and one commit.
		_, err := conn.ExecContext(execCtx, fmt.Sprintf("INSERT INTO %s (writer, seq, note) VALUES (%d, %d, 'writer %d row %d')",
			opts.Table, w, seq, w, seq))
		cancel()
		if err != nil {
			return seq, fmt.Errorf("workload: writer %d: insert row %d into %s: %w", w, seq, opts.Table, err)
		}
		if opts.Written != nil {
			opts.Written.Add(1)
		}
	}
}
