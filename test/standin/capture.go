package standin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"unsafe"

	"github.com/dolthub/go-mysql-server/sql"
)

// Capturing what a statement changed. go-mysql-server's memory tables keep each stored row as
// its own slice and replace (never modify) a row on UPDATE, so a row whose backing array is
// known from the previous scan is unchanged; only new rows are encoded. The diff therefore
// observes the committed state itself, whatever path wrote it (INSERT … SELECT across
// databases, cascades, REPLACE, ALTER), at the cost of one pointer walk per table per write.

type liveRow struct {
	row sql.Row // held so that its backing array cannot be reused while it is a key
	enc string
}

type liveTable struct {
	name    string
	ddl     string
	autoInc uint64
	rows    map[*any]liveRow
}

func rowKey(r sql.Row) *any { return unsafe.SliceData(r) }

var autoIncClause = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// showCreateTable returns the table's DDL without its AUTO_INCREMENT counter, which is
// carried separately so that an insert is not mistaken for a schema change.
func (s *Server) showCreateTable(ctx *sql.Context, db, table string) (string, error) {
	rows, err := s.query(ctx, fmt.Sprintf("SHOW CREATE TABLE `%s`.`%s`", db, table))
	if err != nil {
		return "", fmt.Errorf("show create table %s.%s: %w", db, table, err)
	}
	if len(rows) != 1 || len(rows[0]) < 2 {
		return "", fmt.Errorf("show create table %s.%s: unexpected result", db, table)
	}
	ddl, ok := rows[0][1].(string)
	if !ok {
		return "", fmt.Errorf("show create table %s.%s: unexpected result type %T", db, table, rows[0][1])
	}
	return autoIncClause.ReplaceAllString(ddl, ""), nil
}

// scanTable reads a table's committed rows, reusing the encodings in prev for rows it has
// already seen (prev may be nil).
func scanTable(ctx *sql.Context, tbl sql.Table, prev *liveTable) (map[*any]liveRow, error) {
	sch := tbl.Schema()
	out := map[*any]liveRow{}
	parts, err := tbl.Partitions(ctx)
	if err != nil {
		return nil, err
	}
	defer parts.Close(ctx)
	for {
		p, err := parts.Next(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		iter, err := tbl.PartitionRows(ctx, p)
		if err != nil {
			return nil, err
		}
		for {
			r, err := iter.Next(ctx)
			if err != nil {
				if errors.Is(err, io.EOF) {
					break
				}
				_ = iter.Close(ctx)
				return nil, err
			}
			k := rowKey(r)
			if prev != nil {
				if known, ok := prev.rows[k]; ok {
					out[k] = known
					continue
				}
			}
			enc, err := encodeRow(ctx, sch, r)
			if err != nil {
				_ = iter.Close(ctx)
				return nil, fmt.Errorf("table %s: %w", tbl.Name(), err)
			}
			out[k] = liveRow{row: r, enc: enc}
		}
		if err := iter.Close(ctx); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func sortedEncodings(rows map[*any]liveRow) []json.RawMessage {
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r.enc)
	}
	sort.Strings(out)
	raw := make([]json.RawMessage, len(out))
	for i, s := range out {
		raw[i] = json.RawMessage(s)
	}
	return raw
}

// capture compares the committed state of db with its baseline and returns the changes and
// the new baseline. checkDDL re-reads every table's DDL (after statements that may change a
// schema); otherwise only new tables are asked for theirs.
func (s *Server) capture(ctx *sql.Context, b *bottomlessDB, checkDDL bool) ([]tableChange, map[string]*liveTable, error) {
	gdb, err := s.pro.Database(ctx, b.name)
	if err != nil {
		return nil, nil, fmt.Errorf("capture %s: %w", b.name, err)
	}
	names, err := gdb.GetTableNames(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("capture %s: %w", b.name, err)
	}
	sort.Strings(names)
	next := map[string]*liveTable{}
	var changes []tableChange
	for _, name := range names {
		tbl, ok, err := gdb.GetTableInsensitive(ctx, name)
		if err != nil || !ok {
			return nil, nil, fmt.Errorf("capture %s.%s: table not readable: %v", b.name, name, err)
		}
		key := strings.ToLower(name)
		prev := b.live[key]
		cur := &liveTable{name: tbl.Name()}
		if prev != nil && !checkDDL && prev.name == cur.name {
			cur.ddl = prev.ddl
		} else if cur.ddl, err = s.showCreateTable(ctx, b.name, tbl.Name()); err != nil {
			return nil, nil, err
		}
		if ai, ok := tbl.(sql.AutoIncrementGetter); ok {
			if cur.autoInc, err = ai.PeekNextAutoIncrementValue(ctx); err != nil {
				return nil, nil, fmt.Errorf("capture %s.%s: %w", b.name, name, err)
			}
		}
		schemaChanged := prev == nil || prev.ddl != cur.ddl || prev.name != cur.name
		reuse := prev
		if schemaChanged {
			reuse = nil // old encodings follow the old schema
		}
		if cur.rows, err = scanTable(ctx, tbl, reuse); err != nil {
			return nil, nil, fmt.Errorf("capture %s.%s: %w", b.name, name, err)
		}
		next[key] = cur
		if schemaChanged {
			if prev != nil && prev.name != cur.name {
				changes = append(changes, tableChange{Table: prev.name, Op: "drop"})
			}
			changes = append(changes, tableChange{Table: cur.name, Op: "create", DDL: cur.ddl,
				AutoInc: cur.autoInc, Inserted: sortedEncodings(cur.rows)})
			continue
		}
		if c, changed := diffRows(prev, cur); changed {
			changes = append(changes, c)
		}
	}
	for key, prev := range b.live {
		if _, ok := next[key]; !ok {
			changes = append(changes, tableChange{Table: prev.name, Op: "drop"})
		}
	}
	return changes, next, nil
}

// diffRows returns the rows change between two scans of a table with the same schema. A row
// that only moved to a new backing array cancels out against its old self.
func diffRows(prev, cur *liveTable) (tableChange, bool) {
	c := tableChange{Table: cur.name, Op: "rows"}
	removed := map[string]int{}
	for k, r := range prev.rows {
		if _, ok := cur.rows[k]; !ok {
			removed[r.enc]++
		}
	}
	var added []string
	for k, r := range cur.rows {
		if _, ok := prev.rows[k]; ok {
			continue
		}
		if removed[r.enc] > 0 {
			removed[r.enc]--
			continue
		}
		added = append(added, r.enc)
	}
	var deleted []string
	for enc, n := range removed {
		for ; n > 0; n-- {
			deleted = append(deleted, enc)
		}
	}
	sort.Strings(deleted)
	sort.Strings(added)
	for _, d := range deleted {
		c.Deleted = append(c.Deleted, json.RawMessage(d))
	}
	for _, a := range added {
		c.Inserted = append(c.Inserted, json.RawMessage(a))
	}
	if cur.autoInc != prev.autoInc {
		c.AutoInc = cur.autoInc
	}
	return c, len(deleted) > 0 || len(added) > 0 || c.AutoInc != 0
}
