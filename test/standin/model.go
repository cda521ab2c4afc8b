package standin

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"
)

// dbModel is a database as the bucket describes it: what ATTACH rebuilds from a snapshot and
// the logs after it before anything is loaded into go-mysql-server. Rows are their encodings.
type dbModel struct {
	tables map[string]*tableModel // by lower-case name, as MySQL table names are matched
}

type tableModel struct {
	name    string
	ddl     string
	autoInc uint64
	rows    []string         // encodings; "" marks a deleted slot
	index   map[string][]int // encoding -> slots holding it
}

func newTableModel(name, ddl string, autoInc uint64, rows []json.RawMessage) *tableModel {
	t := &tableModel{name: name, ddl: ddl, autoInc: autoInc, index: map[string][]int{}}
	for _, r := range rows {
		t.insert(string(r))
	}
	return t
}

func (t *tableModel) insert(enc string) {
	t.index[enc] = append(t.index[enc], len(t.rows))
	t.rows = append(t.rows, enc)
}

func (t *tableModel) delete(enc string) bool {
	slots := t.index[enc]
	if len(slots) == 0 {
		return false
	}
	t.rows[slots[len(slots)-1]] = ""
	if len(slots) == 1 {
		delete(t.index, enc)
	} else {
		t.index[enc] = slots[:len(slots)-1]
	}
	return true
}

func (t *tableModel) liveRows() []string {
	out := make([]string, 0, len(t.rows))
	for _, r := range t.rows {
		if r != "" {
			out = append(out, r)
		}
	}
	return out
}

func modelFromSnapshot(s *snapshotFile) *dbModel {
	m := &dbModel{tables: map[string]*tableModel{}}
	if s == nil {
		return m
	}
	for _, t := range s.Tables {
		m.tables[strings.ToLower(t.Name)] = newTableModel(t.Name, t.DDL, t.AutoInc, t.Rows)
	}
	return m
}

// apply replays one log. A row that a log deletes must exist: if it does not, the history is
// not a prefix of what the writer saw, and attaching would silently diverge.
func (m *dbModel) apply(l *logFile) error {
	for _, c := range l.Changes {
		key := strings.ToLower(c.Table)
		switch c.Op {
		case "drop":
			delete(m.tables, key)
		case "create":
			m.tables[key] = newTableModel(c.Table, c.DDL, c.AutoInc, c.Inserted)
		case "rows":
			t := m.tables[key]
			if t == nil {
				return fmt.Errorf("log %d changes table %s, which does not exist at that point", l.Seq, c.Table)
			}
			for _, d := range c.Deleted {
				if !t.delete(string(d)) {
					return fmt.Errorf("log %d deletes a row of %s that is not there: %s", l.Seq, c.Table, d)
				}
			}
			for _, r := range c.Inserted {
				t.insert(string(r))
			}
			if c.AutoInc != 0 {
				t.autoInc = c.AutoInc
			}
		default:
			return fmt.Errorf("log %d: unknown change %q on table %s", l.Seq, c.Op, c.Table)
		}
	}
	return nil
}

// sortedTables returns the tables in name order, for deterministic snapshots and loading.
func (m *dbModel) sortedTables() []*tableModel {
	out := make([]*tableModel, 0, len(m.tables))
	for _, t := range m.tables {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

func (m *dbModel) snapshot(db string, seq uint64, commit time.Time) *snapshotFile {
	s := &snapshotFile{Database: db, Seq: seq, CommitTime: commit}
	for _, t := range m.sortedTables() {
		ts := tableSnapshot{Name: t.name, DDL: t.ddl, AutoInc: t.autoInc, Rows: []json.RawMessage{}}
		for _, r := range t.liveRows() {
			ts.Rows = append(ts.Rows, json.RawMessage(r))
		}
		s.Tables = append(s.Tables, ts)
	}
	return s
}
