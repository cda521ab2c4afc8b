package monitor

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
)

// The writers of the e2e tests insert (writer, seq) into table t with seq = 0, 1, 2, … and
// count a row acknowledged when its INSERT returns. A writer has at most one INSERT in flight,
// so at most one row past its acknowledged ones may have committed without the client
// hearing of it.

// Rows is what a database holds of t: per writer, the seqs present, ascending.
type Rows map[int][]int

// ReadRows reads t(writer, seq) of database over conn.
func ReadRows(ctx context.Context, conn *sql.DB, database string) (Rows, error) {
	rows, err := conn.QueryContext(ctx, "SELECT writer, seq FROM "+database+".t ORDER BY writer, seq")
	if err != nil {
		return nil, fmt.Errorf("read rows of %s: %w", database, err)
	}
	defer rows.Close()
	got := Rows{}
	for rows.Next() {
		var w, seq int
		if err := rows.Scan(&w, &seq); err != nil {
			return nil, fmt.Errorf("read rows of %s: %w", database, err)
		}
		got[w] = append(got[w], seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read rows of %s: %w", database, err)
	}
	return got, nil
}

// NoneLost checks a planned switchover's promise: every writer's rows are exactly 0..n-1 with
// acked[w] <= n <= acked[w]+1, acked[w] being how many rows writer w had acknowledged. Writers
// are the indexes of acked; a row of any other writer is an error.
func NoneLost(got Rows, acked []int) error {
	return check(got, acked, true)
}

// ExactPrefix checks an unplanned failover's promise: every writer's rows are exactly 0..n-1
// (no hole) with n <= acked[w]+1; rows may be missing from the end, none from the middle.
func ExactPrefix(got Rows, acked []int) error {
	return check(got, acked, false)
}

func check(got Rows, acked []int, planned bool) error {
	writers := make([]int, 0, len(got))
	for w := range got {
		writers = append(writers, w)
	}
	sort.Ints(writers)
	for _, w := range writers {
		if w < 0 || w >= len(acked) {
			return fmt.Errorf("writer %d has %d rows but is not one of the %d writers", w, len(got[w]), len(acked))
		}
	}
	for w, a := range acked {
		seqs := got[w]
		for i, seq := range seqs {
			if seq != i {
				return fmt.Errorf("writer %d has row %d but not row %d: a hole, not a prefix", w, seq, i)
			}
		}
		n := len(seqs)
		if planned && n < a {
			return fmt.Errorf("writer %d: %d rows present, %d acknowledged: acknowledged rows were lost", w, n, a)
		}
		if n > a+1 {
			return fmt.Errorf("writer %d: %d rows present, only %d acknowledged (and one in flight)", w, n, a)
		}
	}
	return nil
}
