package standin

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
)

// bottomlessDB is one attached database kept in a bucket. It is used only under Server.mu.
type bottomlessDB struct {
	name       string
	target     s3Target
	store      *blobStore
	meta       metaFile
	seq        uint64    // last log in the bucket
	commitTime time.Time // of log seq
	snapSeq    uint64    // last snapshot written or loaded
	lock       string    // key of the storage lock this server holds
	live       map[string]*liveTable
	milestones map[string]milestoneFile
}

func (b *bottomlessDB) sid() string { return b.meta.StorageID }

func putJSON(ctx context.Context, st *blobStore, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return st.Put(ctx, key, data)
}

func getJSON(ctx context.Context, st *blobStore, key string, v any) error {
	data, err := st.Get(ctx, key)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("decode %s: %w", st.Display(key), err)
	}
	return nil
}

// commit uploads what the last statement changed in b as its next log, then moves the
// baseline. When the upload fails the baseline stays, so the next log carries these changes
// too: nothing the engine holds is ever skipped in the bucket.
func (s *Server) commit(ctx context.Context, sctx *sql.Context, b *bottomlessDB, statement string, checkDDL bool) error {
	changes, next, err := s.capture(sctx, b, checkDDL)
	if err != nil {
		return err
	}
	if len(changes) == 0 {
		b.live = next
		return nil
	}
	if len(statement) > 4096 {
		statement = statement[:4096] + "…"
	}
	l := &logFile{Seq: b.seq + 1, CommitTime: time.Now().UTC(), Database: b.name, Statement: statement, Changes: changes}
	if err := putJSON(ctx, b.store, logKey(b.sid(), l.Seq), l); err != nil {
		return fmt.Errorf("commit %s: %w", b.name, err)
	}
	b.seq, b.commitTime, b.live = l.Seq, l.CommitTime, next
	if s.cfg.SnapshotEvery > 0 && b.seq%s.cfg.SnapshotEvery == 0 {
		if err := s.snapshot(ctx, b); err != nil {
			// The log is in; a missing snapshot only makes the next attach replay more.
			s.log.Warn("periodic snapshot failed", "database", b.name, "err", err)
		}
	}
	return nil
}

// snapshot writes the whole database at its current log, unless that snapshot exists.
func (s *Server) snapshot(ctx context.Context, b *bottomlessDB) error {
	if b.snapSeq == b.seq && b.seq > 0 {
		return nil
	}
	snap := &snapshotFile{Seq: b.seq, CommitTime: b.commitTime, Database: b.name}
	names := make([]string, 0, len(b.live))
	for k := range b.live {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		t := b.live[k]
		snap.Tables = append(snap.Tables, tableSnapshot{Name: t.name, DDL: t.ddl, AutoInc: t.autoInc, Rows: sortedEncodings(t.rows)})
	}
	if err := putJSON(ctx, b.store, snapshotKey(b.sid(), b.seq), snap); err != nil {
		return fmt.Errorf("snapshot %s: %w", b.name, err)
	}
	b.snapSeq = b.seq
	return nil
}

// milestone snapshots the database and records name at its current log.
func (s *Server) milestone(ctx context.Context, b *bottomlessDB, name string) error {
	if err := s.snapshot(ctx, b); err != nil {
		return err
	}
	m := milestoneFile{Name: name, Database: b.name, Seq: b.seq, Time: time.Now().UTC()}
	if err := putJSON(ctx, b.store, milestoneKey(b.sid(), name), m); err != nil {
		return fmt.Errorf("milestone %s for %s: %w", name, b.name, err)
	}
	b.milestones[name] = m
	return nil
}

// acquireLock writes this server's storage lock into b's storage id.
func (s *Server) acquireLock(ctx context.Context, b *bottomlessDB) error {
	now := time.Now().UTC()
	key := lockKey(b.sid(), b.meta.Generation, now)
	lf := lockFile{Owner: s.addr, Instance: s.instance, Database: b.name, Acquired: now}
	if err := putJSON(ctx, b.store, key, lf); err != nil {
		return fmt.Errorf("storage lock: %w", err)
	}
	b.lock = key
	return nil
}

func (s *Server) releaseLock(ctx context.Context, b *bottomlessDB) error {
	if b.lock == "" {
		return nil
	}
	if err := b.store.Delete(ctx, b.lock); err != nil {
		return fmt.Errorf("release storage lock: %w", err)
	}
	b.lock = ""
	return nil
}

// checkLocks fails when a storage lock is held on sid by anyone but a dead process that
// listened on this server's own address (see the package comment), whose locks it removes.
func (s *Server) checkLocks(ctx context.Context, st *blobStore, sid string, mine string) error {
	keys, err := st.List(ctx, lockPrefix(sid))
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k == mine {
			continue
		}
		var lf lockFile
		if err := getJSON(ctx, st, k, &lf); err == nil && lf.Owner == s.addr && lf.Instance != s.instance {
			s.log.Warn("removing storage lock of a previous process on this address", "lock", st.Display(k))
			if err := st.Delete(ctx, k); err != nil {
				return err
			}
			continue
		}
		return fmt.Errorf("storage lock %s is held (owner %s since %s); detach the database there or remove the lock",
			st.Display(k), lf.Owner, lf.Acquired.Format(time.RFC3339))
	}
	return nil
}
