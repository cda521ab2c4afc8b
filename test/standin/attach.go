package standin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/sql"
)

// listStorage reads the meta.json of every storage id under the location. Folders without
// one are not databases (or not finished being created) and are skipped.
func listStorage(ctx context.Context, st *blobStore) ([]metaFile, error) {
	dirs, err := st.Dirs(ctx, "")
	if err != nil {
		return nil, err
	}
	var out []metaFile
	for _, d := range dirs {
		var m metaFile
		err := getJSON(ctx, st, metaKey(d), &m)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m.StorageID != d {
			return nil, fmt.Errorf("%s names storage id %q", st.Display(metaKey(d)), m.StorageID)
		}
		out = append(out, m)
	}
	return out, nil
}

// pickStorage chooses the storage id an ATTACH of name continues from: the newest generation
// that carries name, else the newest of all. maxGen is the highest generation present.
func pickStorage(metas []metaFile, name string) (pick metaFile, maxGen int, found bool) {
	for _, m := range metas {
		maxGen = max(maxGen, m.Generation)
	}
	for _, byName := range []bool{true, false} {
		for _, m := range metas {
			if byName && !strings.EqualFold(m.Database, name) {
				continue
			}
			if !found || m.Generation > pick.Generation {
				pick, found = m, true
			}
		}
		if found {
			return pick, maxGen, true
		}
	}
	return pick, maxGen, false
}

// attachPoint is where an attach stops: the latest log, a milestone or a time.
type attachPoint struct {
	milestone string
	at        time.Time
}

func (p attachPoint) latest() bool { return p.milestone == "" && p.at.IsZero() }

// history is a database rebuilt from the bucket, not yet loaded.
type history struct {
	model      *dbModel
	seq        uint64
	commitTime time.Time
	snapSeq    uint64
	milestones map[string]milestoneFile
}

func afterTime(t, at time.Time) bool { return t.UTC().Truncate(time.Second).After(at) }

func keySeqs(keys []string, prefix string) []uint64 {
	var out []uint64
	for _, k := range keys {
		if n, ok := seqFromKey(prefix, k); ok {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// rebuild reads the newest usable snapshot at or before the point and replays the logs after
// it in sequence. A log missing below the target is an error that names its key.
func rebuild(ctx context.Context, st *blobStore, meta metaFile, pt attachPoint) (*history, error) {
	sid := meta.StorageID
	logKeys, err := st.List(ctx, logPrefix(sid))
	if err != nil {
		return nil, err
	}
	snapKeys, err := st.List(ctx, snapshotPrefix(sid))
	if err != nil {
		return nil, err
	}
	msKeys, err := st.List(ctx, milestonePrefix(sid))
	if err != nil {
		return nil, err
	}
	h := &history{milestones: map[string]milestoneFile{}}
	for _, k := range msKeys {
		var m milestoneFile
		if err := getJSON(ctx, st, k, &m); err != nil {
			return nil, err
		}
		h.milestones[m.Name] = m
	}
	logs := keySeqs(logKeys, logPrefix(sid))
	snaps := keySeqs(snapKeys, snapshotPrefix(sid))
	have := make(map[uint64]bool, len(logs))
	for _, n := range logs {
		have[n] = true
	}

	target := meta.BaseSeq
	if len(logs) > 0 {
		target = max(target, logs[len(logs)-1])
	}
	if len(snaps) > 0 {
		target = max(target, snaps[len(snaps)-1])
	}
	if pt.milestone != "" {
		m, ok := h.milestones[pt.milestone]
		if !ok {
			return nil, fmt.Errorf("milestone %q not found under %s", pt.milestone, st.Display(milestonePrefix(sid)))
		}
		target = m.Seq
	}

	// The newest snapshot that is readable, not past the target and (AT TIME) not past the time.
	var snap *snapshotFile
	for i := len(snaps) - 1; i >= 0 && snap == nil; i-- {
		if snaps[i] > target || snaps[i] < meta.BaseSeq {
			continue
		}
		var s snapshotFile
		if err := getJSON(ctx, st, snapshotKey(sid, snaps[i]), &s); err != nil {
			continue // unusable: an older snapshot and more logs will do
		}
		if !pt.at.IsZero() && s.Seq > 0 && afterTime(s.CommitTime, pt.at) {
			continue
		}
		snap = &s
	}
	if snap == nil && meta.BaseSeq > 0 {
		return nil, fmt.Errorf("no usable snapshot at or after seq %d under %s (the storage id starts there)",
			meta.BaseSeq, st.Display(snapshotPrefix(sid)))
	}
	h.model = modelFromSnapshot(snap)
	if snap != nil {
		h.seq, h.commitTime, h.snapSeq = snap.Seq, snap.CommitTime, snap.Seq
	}
	for seq := h.seq + 1; seq <= target; seq++ {
		if !have[seq] {
			later := target
			for _, n := range logs {
				if n > seq {
					later = n
					break
				}
			}
			return nil, fmt.Errorf("log %s is missing while %s exists: the history has a gap",
				st.Display(logKey(sid, seq)), st.Display(logKey(sid, later)))
		}
	}
	// Logs are fetched ahead in parallel and applied strictly in sequence.
	fctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the readers when AT TIME ends the replay early
	first := h.seq + 1
	fetched := fetchLogs(fctx, st, sid, first, target)
	for seq := first; seq <= target; seq++ {
		r := <-fetched[seq-first]
		if r.err != nil {
			return nil, r.err
		}
		l := r.log
		if l.Seq != seq {
			return nil, fmt.Errorf("%s holds seq %d", st.Display(logKey(sid, seq)), l.Seq)
		}
		if !pt.at.IsZero() && afterTime(l.CommitTime, pt.at) {
			break
		}
		if err := h.model.apply(l); err != nil {
			return nil, fmt.Errorf("replay %s: %w", st.Display(logKey(sid, seq)), err)
		}
		h.seq, h.commitTime = seq, l.CommitTime
	}
	return h, nil
}

// materialize loads a rebuilt model into a new in-memory database called name.
func (s *Server) materialize(ctx context.Context, name string, m *dbModel) (err error) {
	sctx := s.internalCtx(ctx, "")
	if s.pro.HasDatabase(sctx, name) {
		return fmt.Errorf("database %s already exists", name)
	}
	if err := s.pro.CreateDatabase(sctx, name); err != nil {
		return fmt.Errorf("create %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = s.pro.DropDatabase(sctx, name)
		}
	}()
	gdb, err := s.pro.Database(sctx, name)
	if err != nil {
		return err
	}
	for _, t := range m.sortedTables() {
		// One session per table and step: the memory engine keeps per-session copies of
		// table data, and a session reused across DDL and loads would commit a stale one.
		dctx := s.internalCtx(ctx, name)
		// Tables are created in name order; foreign keys may point forward.
		if _, err := s.query(dctx, "SET foreign_key_checks = 0"); err != nil {
			return err
		}
		if _, err := s.query(dctx, t.ddl); err != nil {
			return fmt.Errorf("create table %s.%s: %w", name, t.name, err)
		}
		lctx := s.internalCtx(ctx, name)
		tbl, ok, err := gdb.GetTableInsensitive(lctx, t.name)
		if err != nil || !ok {
			return fmt.Errorf("table %s.%s missing after create: %v", name, t.name, err)
		}
		if err := loadRows(lctx, tbl, t); err != nil {
			return fmt.Errorf("load %s.%s: %w", name, t.name, err)
		}
		if err := memory.SessionFromContext(lctx).CommitTransaction(lctx, nil); err != nil {
			return fmt.Errorf("load %s.%s: %w", name, t.name, err)
		}
	}
	return nil
}

func loadRows(ctx *sql.Context, tbl sql.Table, t *tableModel) error {
	ins, ok := tbl.(sql.InsertableTable)
	if !ok {
		return fmt.Errorf("table is not insertable")
	}
	sch := tbl.Schema()
	ed := ins.Inserter(ctx)
	ed.StatementBegin(ctx)
	for _, enc := range t.liveRows() {
		row, err := decodeRow(ctx, sch, []byte(enc))
		if err != nil {
			_ = ed.DiscardChanges(ctx, err)
			_ = ed.Close(ctx)
			return err
		}
		if err := ed.Insert(ctx, row); err != nil {
			_ = ed.DiscardChanges(ctx, err)
			_ = ed.Close(ctx)
			return fmt.Errorf("insert %s: %w", enc, err)
		}
	}
	// The counter may be past the largest row (rows deleted at the end); set it in the same
	// statement as the rows, whose inserts move it too.
	if set, ok := ed.(sql.AutoIncrementSetter); ok && t.autoInc > 0 {
		if err := set.SetAutoIncrementValue(ctx, t.autoInc); err != nil {
			return err
		}
	}
	if err := ed.StatementComplete(ctx); err != nil {
		return err
	}
	return ed.Close(ctx)
}

// attachOptions is what an ATTACH (or a restart's re-attach) asks for.
type attachOptions struct {
	source string // the database name in the bucket
	name   string // the name to attach under
	target s3Target
	loc    location
	point  attachPoint
	resume *attachedDB // set on restart: continue exactly this storage id and lock
}

// attach rebuilds a database from its bucket and attaches it. See the package comment for
// which storage id it reads and which it writes.
func (s *Server) attach(ctx context.Context, o attachOptions) (*bottomlessDB, error) {
	if s.dbs[strings.ToLower(o.name)] != nil || s.pro.HasDatabase(s.internalCtx(ctx, ""), o.name) {
		return nil, fmt.Errorf("database %s already exists", o.name)
	}
	st := newBlobStore(o.target, o.loc)
	if err := st.Check(ctx); err != nil {
		return nil, err
	}
	metas, err := listStorage(ctx, st)
	if err != nil {
		return nil, err
	}
	meta, maxGen, found := pickStorage(metas, o.source)
	ownLock := ""
	if o.resume != nil {
		found = false
		for _, m := range metas {
			if m.StorageID == o.resume.StorageID {
				meta, found = m, true
			}
		}
		ownLock = o.resume.Lock
	}
	if !found {
		return nil, fmt.Errorf("no database under %s (no <storage-id>/meta.json)", o.loc)
	}
	if err := s.checkLocks(ctx, st, meta.StorageID, ownLock); err != nil {
		return nil, err
	}
	h, err := rebuild(ctx, st, meta, o.point)
	if err != nil {
		return nil, err
	}
	if err := s.materialize(ctx, o.name, h.model); err != nil {
		return nil, err
	}
	b := &bottomlessDB{name: o.name, target: o.target, store: st, seq: h.seq, commitTime: h.commitTime,
		snapSeq: h.snapSeq, milestones: map[string]milestoneFile{}}
	fail := func(err error) (*bottomlessDB, error) {
		_ = s.releaseLock(ctx, b)
		_ = s.pro.DropDatabase(s.internalCtx(ctx, ""), o.name)
		return nil, err
	}
	fresh := !o.point.latest() || !strings.EqualFold(meta.Database, o.name)
	if o.resume != nil {
		fresh = false
	}
	if !fresh {
		b.meta, b.milestones = meta, h.milestones
		if ownLock != "" {
			_ = st.Delete(ctx, ownLock)
		}
		if err := s.acquireLock(ctx, b); err != nil {
			return fail(err)
		}
	} else {
		// A new storage id, so that the history attached from stays as it was.
		gen := maxGen + 1
		b.meta = metaFile{StorageID: newStorageID(gen), Generation: gen, Database: o.name, BaseSeq: h.seq,
			Created: time.Now().UTC(), Parent: &parentRef{StorageID: meta.StorageID, Seq: h.seq}}
		if err := putJSON(ctx, st, snapshotKey(b.sid(), h.seq), h.model.snapshot(o.name, h.seq, h.commitTime)); err != nil {
			return fail(err)
		}
		b.snapSeq = h.seq
		if err := s.acquireLock(ctx, b); err != nil {
			return fail(err)
		}
		if err := putJSON(ctx, st, metaKey(b.sid()), b.meta); err != nil {
			return fail(err)
		}
	}
	sctx := s.internalCtx(ctx, o.name)
	if _, b.live, err = s.capture(sctx, b, true); err != nil {
		return fail(err)
	}

	s.log.Info("attached", "database", o.name, "location", o.loc.String(), "storage_id", b.sid(),
		"seq", b.seq, "fresh_storage_id", fresh)
	return b, nil
}

// create makes a new empty bottomless database under a new storage id.
func (s *Server) create(ctx context.Context, name string, target s3Target, loc location) (*bottomlessDB, error) {
	st := newBlobStore(target, loc)
	if err := st.Check(ctx); err != nil {
		return nil, err
	}
	metas, err := listStorage(ctx, st)
	if err != nil {
		return nil, err
	}
	maxGen := 0
	for _, m := range metas {
		// A live owner elsewhere would lose its location to the new generation.
		if err := s.checkLocks(ctx, st, m.StorageID, ""); err != nil {
			return nil, err
		}
		maxGen = max(maxGen, m.Generation)
	}
	gen := maxGen + 1
	b := &bottomlessDB{name: name, target: target, store: st, milestones: map[string]milestoneFile{},
		live: map[string]*liveTable{},
		meta: metaFile{StorageID: newStorageID(gen), Generation: gen, Database: name, Created: time.Now().UTC()}}
	if err := s.acquireLock(ctx, b); err != nil {
		return nil, err
	}
	if err := putJSON(ctx, st, metaKey(b.sid()), b.meta); err != nil {
		_ = s.releaseLock(ctx, b)
		return nil, err
	}
	if err := s.pro.CreateDatabase(s.internalCtx(ctx, ""), name); err != nil {
		_ = s.releaseLock(ctx, b)
		return nil, fmt.Errorf("create %s: %w", name, err)
	}
	s.log.Info("created", "database", name, "location", loc.String(), "storage_id", b.sid())
	return b, nil
}

type fetchedLog struct {
	log *logFile
	err error
}

// fetchLogs starts reading logs from..to with a few workers; result i arrives on channel i.
// The workers stop early when ctx ends.
func fetchLogs(ctx context.Context, st *blobStore, sid string, from, to uint64) []chan fetchedLog {
	if to < from {
		return nil
	}
	out := make([]chan fetchedLog, to-from+1)
	for i := range out {
		out[i] = make(chan fetchedLog, 1)
	}
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range out {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for w := 0; w < 16; w++ {
		go func() {
			for i := range next {
				var l logFile
				err := getJSON(ctx, st, logKey(sid, from+uint64(i)), &l)
				out[i] <- fetchedLog{log: &l, err: err}
			}
		}()
	}
	return out
}
