package standin

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"

	sqle "github.com/dolthub/go-mysql-server"
	"github.com/dolthub/go-mysql-server/memory"
	"github.com/dolthub/go-mysql-server/server"
	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/dolthub/vitess/go/mysql"
)

// Config is what the stand-in's flags set.
type Config struct {
	Listen        string // host:port; port 0 picks a free one
	StateDir      string // users, roles, groups, grants and attached databases
	RootUser      string
	RootPassword  string
	SnapshotEvery uint64 // a snapshot after every N logs; 0 disables periodic snapshots
	Log           *slog.Logger
}

func (c *Config) validate() error {
	if c.Listen == "" {
		return errors.New("listen address: required")
	}
	if c.StateDir == "" {
		return errors.New("state dir: required")
	}
	if err := checkName("root user", principalPattern, c.RootUser); err != nil {
		return err
	}
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	return nil
}

// Server is one stand-in database server. Statements run one at a time under mu.
type Server struct {
	cfg      Config
	log      *slog.Logger
	pro      *memory.DbProvider
	engine   *sqle.Engine
	mysqlDb  *mysql_db.MySQLDb
	srv      *server.Server
	sm       *server.SessionManager
	addr     string
	instance string

	mu         sync.Mutex
	sec        *securityState
	dbs        map[string]*bottomlessDB // by lower-case name
	unattached []attachedDB             // remembered but not re-attached at start
}

// New starts listening and re-attaches the databases recorded in the state dir. Serve then
// accepts connections.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state dir: %w", err)
	}
	id := make([]byte, 8)
	if _, err := rand.Read(id); err != nil {
		return nil, err
	}
	// Statements carry CREDENTIALS and passwords: nothing the server logs may echo them.
	redactLogrus()
	log := slog.New(redactingHandler{cfg.Log.Handler()})
	s := &Server{cfg: cfg, log: log, instance: hex.EncodeToString(id), dbs: map[string]*bottomlessDB{}}
	st, err := s.loadState()
	if err != nil {
		return nil, err
	}
	s.sec = &st.Security

	s.pro = memory.NewDBProvider()
	s.pro.WithOption(memory.NativeIndexProvider(true))
	s.engine = sqle.NewDefault(s.pro)
	s.mysqlDb = s.engine.Analyzer.Catalog.MySQLDb
	s.project()

	captureSM := func(e *sqle.Engine, sm *server.SessionManager, h mysql.Handler) (*sqle.Engine, *server.SessionManager, mysql.Handler) {
		s.sm = sm
		return e, sm, h
	}
	wrap := func(h mysql.Handler) (mysql.Handler, error) { return &handler{s: s, inner: h}, nil }
	srv, err := server.NewServerWithHandler(server.Config{Protocol: "tcp", Address: cfg.Listen,
		Options: []server.Option{captureSM}}, s.engine, sql.NewContext, memory.NewSessionBuilder(s.pro), nil, wrap)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	s.srv = srv
	s.addr = srv.Listener.Addr().String()

	for _, a := range st.Databases {
		if err := s.reattach(ctx, a); err != nil {
			s.log.Error("could not attach a remembered database again; ATTACH it by hand",
				"database", a.Name, "err", err)
			s.unattached = append(s.unattached, a)
		}
	}
	return s, nil
}

func (s *Server) reattach(ctx context.Context, a attachedDB) error {
	loc, err := parseLocation(a.Target.Location)
	if err != nil {
		return err
	}
	if a.Target.Credentials == nil {
		return fmt.Errorf("no credentials recorded")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, err := s.attach(ctx, attachOptions{source: a.Name, name: a.Name, target: a.Target, loc: loc, resume: &a})
	if err != nil {
		return err
	}
	s.dbs[strings.ToLower(a.Name)] = b
	return s.saveState()
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.addr }

// Serve accepts connections until Close.
func (s *Server) Serve() error { return s.srv.Start() }

// Close stops accepting and closes connections. Attached databases stay attached: they are
// in the state dir and every acknowledged write is already in their buckets.
func (s *Server) Close() error { return s.srv.Close() }

// internalCtx is a root session for the server's own reads and DDL.
func (s *Server) internalCtx(ctx context.Context, db string) *sql.Context {
	base := sql.NewBaseSessionWithClientServer(s.addr, sql.Client{User: s.cfg.RootUser, Address: "localhost"}, 0)
	c := sql.NewContext(ctx, sql.WithSession(memory.NewSession(base, s.pro)))
	if db != "" {
		c.SetCurrentDatabase(db)
	}
	return c
}

func (s *Server) query(ctx *sql.Context, q string) ([]sql.Row, error) {
	_, iter, _, err := s.engine.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	return sql.RowIterToRows(ctx, iter)
}
