package standin

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Keys below <path>/, as documented in the package comment.

func metaKey(sid string) string            { return sid + "/meta.json" }
func logPrefix(sid string) string          { return sid + "/log/" }
func snapshotPrefix(sid string) string     { return sid + "/snapshots/" }
func milestonePrefix(sid string) string    { return sid + "/milestones/" }
func lockPrefix(sid string) string         { return sid + "/storage_locks/" }
func logKey(sid string, seq uint64) string { return fmt.Sprintf("%s%020d", logPrefix(sid), seq) }
func snapshotKey(sid string, seq uint64) string {
	return fmt.Sprintf("%s%020d", snapshotPrefix(sid), seq)
}
func milestoneKey(sid, name string) string { return milestonePrefix(sid) + name + ".json" }
func lockKey(sid string, gen int, now time.Time) string {
	return fmt.Sprintf("%s%d_%d", lockPrefix(sid), gen, now.UnixNano())
}

// seqFromKey reads the sequence number at the end of a log or snapshot key.
func seqFromKey(prefix, key string) (uint64, bool) {
	rest, ok := strings.CutPrefix(key, prefix)
	if !ok || len(rest) != 20 {
		return 0, false
	}
	n, err := strconv.ParseUint(rest, 10, 64)
	return n, err == nil
}

func newStorageID(gen int) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return fmt.Sprintf("%08d-%s", gen, hex.EncodeToString(b))
}

// metaFile is <storage-id>/meta.json.
type metaFile struct {
	StorageID  string     `json:"storage_id"`
	Generation int        `json:"generation"`
	Database   string     `json:"database"`
	BaseSeq    uint64     `json:"base_seq"` // logs start at base_seq+1; a snapshot at base_seq exists when > 0
	Created    time.Time  `json:"created"`
	Parent     *parentRef `json:"parent,omitempty"`
}

type parentRef struct {
	StorageID string `json:"storage_id"`
	Seq       uint64 `json:"seq"`
}

// logFile is one log blob: the row changes of one committed statement.
type logFile struct {
	Seq        uint64        `json:"seq"`
	CommitTime time.Time     `json:"commit_time"`
	Database   string        `json:"database"`
	Statement  string        `json:"statement,omitempty"`
	Changes    []tableChange `json:"changes"`
}

// tableChange is what one statement did to one table. Op "rows": Deleted then Inserted.
// Op "create": the table is (re)created with DDL and holds exactly Inserted. Op "drop".
type tableChange struct {
	Table    string            `json:"table"`
	Op       string            `json:"op"`
	DDL      string            `json:"ddl,omitempty"`
	AutoInc  uint64            `json:"auto_increment,omitempty"`
	Deleted  []json.RawMessage `json:"deleted,omitempty"`
	Inserted []json.RawMessage `json:"inserted,omitempty"`
}

// snapshotFile is the whole database after log Seq.
type snapshotFile struct {
	Seq        uint64          `json:"seq"`
	CommitTime time.Time       `json:"commit_time"`
	Database   string          `json:"database"`
	Tables     []tableSnapshot `json:"tables"`
}

type tableSnapshot struct {
	Name    string            `json:"name"`
	DDL     string            `json:"ddl"`
	AutoInc uint64            `json:"auto_increment,omitempty"`
	Rows    []json.RawMessage `json:"rows"`
}

// milestoneFile is a named point in a storage id's history.
type milestoneFile struct {
	Name     string    `json:"name"`
	Database string    `json:"database"`
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
}

// lockFile is the content of a storage lock.
type lockFile struct {
	Owner    string    `json:"owner"`    // the server's listen address
	Instance string    `json:"instance"` // random per process
	Database string    `json:"database"`
	Acquired time.Time `json:"acquired"`
}
