package standin

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/sqltypes"
	querypb "github.com/dolthub/vitess/go/vt/proto/query"
	"github.com/dolthub/vitess/go/vt/sqlparser"
)

// handler wraps go-mysql-server's mysql.Handler: it runs the stand-in's own statements, and
// holds back the answer to every other write until the change is in the bucket.
type handler struct {
	s     *Server
	inner mysql.Handler
}

var _ mysql.Handler = (*handler)(nil)

func (h *handler) NewConnection(c *mysql.Conn)    { h.inner.NewConnection(c) }
func (h *handler) ConnectionClosed(c *mysql.Conn) { h.inner.ConnectionClosed(c) }
func (h *handler) ConnectionAborted(c *mysql.Conn, reason string) error {
	return h.inner.ConnectionAborted(c, reason)
}
func (h *handler) ComInitDB(c *mysql.Conn, schemaName string) error {
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.inner.ComInitDB(c, schemaName)
}
func (h *handler) WarningCount(c *mysql.Conn) uint16      { return h.inner.WarningCount(c) }
func (h *handler) ComResetConnection(c *mysql.Conn) error { return h.inner.ComResetConnection(c) }
func (h *handler) ParserOptionsForConnection(c *mysql.Conn) (sqlparser.ParserOptions, error) {
	return h.inner.ParserOptionsForConnection(c)
}

func (h *handler) ComQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) error {
	return h.run(ctx, c, query, false, callback, func(cb mysql.ResultSpoolFn) error {
		return h.inner.ComQuery(ctx, c, query, cb)
	})
}

// ComMultiQuery runs the first statement of query and returns the rest, as vitess expects.
func (h *handler) ComMultiQuery(ctx context.Context, c *mysql.Conn, query string, callback mysql.ResultSpoolFn) (string, error) {
	first, rest, err := sqlparser.SplitStatement(query)
	if err != nil {
		return "", sqlError(fmt.Errorf("split statements: %w", err))
	}
	rest = strings.TrimSpace(rest)
	var remainder string
	err = h.run(ctx, c, first, rest != "", callback, func(cb mysql.ResultSpoolFn) error {
		var err error
		remainder, err = h.inner.ComMultiQuery(ctx, c, query, cb)
		return err
	})
	if remainder == "" {
		remainder = rest
	}
	return remainder, err
}

func (h *handler) ComPrepare(ctx context.Context, c *mysql.Conn, query string, prepare *mysql.PrepareData) ([]*querypb.Field, error) {
	if stmt, err := parseStatement(query); stmt != nil || err != nil || mvMilestonesRef.MatchString(query) {
		return nil, sqlError(errors.New("this statement cannot be prepared on the stand-in; send it as text"))
	}
	h.s.mu.Lock()
	defer h.s.mu.Unlock()
	return h.inner.ComPrepare(ctx, c, query, prepare)
}

func (h *handler) ComStmtExecute(ctx context.Context, c *mysql.Conn, prepare *mysql.PrepareData, callback func(*sqltypes.Result) error) error {
	return h.run(ctx, c, prepare.PrepareStmt, false,
		func(r *sqltypes.Result, _ bool) error { return callback(r) },
		func(cb mysql.ResultSpoolFn) error {
			return h.inner.ComStmtExecute(ctx, c, prepare, func(r *sqltypes.Result) error { return cb(r, false) })
		})
}

// stmtKind says what a statement may change, from its first keyword.
type stmtKind int

const (
	kindRead   stmtKind = iota // changes no table
	kindData                   // changes rows only
	kindSchema                 // may change schemas too (or we cannot tell)
)

func classify(query string) stmtKind {
	toks, err := lex(query)
	if err != nil {
		return kindSchema
	}
	for _, t := range toks {
		if t.kind == tokPunct && t.text == "(" {
			continue
		}
		if t.kind != tokWord {
			return kindSchema
		}
		switch strings.ToUpper(t.text) {
		case "SELECT", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "SET", "USE", "BEGIN", "START", "COMMIT",
			"ROLLBACK", "SAVEPOINT", "RELEASE", "HELP", "DO", "VALUES", "TABLE":
			return kindRead
		case "INSERT", "UPDATE", "DELETE", "REPLACE", "LOAD":
			return kindData
		}
		return kindSchema
	}
	return kindRead
}

func connAccount(c *mysql.Conn) account {
	if u, ok := c.UserData.(sql.MysqlConnectionUser); ok {
		return account{User: u.User, Host: u.Host}
	}
	return account{User: c.User, Host: "%"}
}

type spooled struct {
	r    *sqltypes.Result
	more bool
}

// run executes one statement. gms runs it in go-mysql-server with the given callback.
func (h *handler) run(ctx context.Context, c *mysql.Conn, query string, more bool, callback mysql.ResultSpoolFn, gms func(mysql.ResultSpoolFn) error) error {
	s := h.s
	s.mu.Lock()
	defer s.mu.Unlock()
	stmt, err := parseStatement(query)
	if err != nil {
		return sqlError(err)
	}
	if d, ok := stmt.(*dropDatabaseStmt); ok && s.dbs[strings.ToLower(d.Name)] == nil {
		stmt = nil // a local database: go-mysql-server drops it
	}
	me := connAccount(c)
	if stmt != nil {
		res, err := s.exec(ctx, c, query, stmt, me)
		if err != nil {
			s.log.Info("statement failed", "user", me.User, "err", err)
			return sqlError(err)
		}
		return callback(res, more)
	}
	if mvMilestonesRef.MatchString(query) {
		res, err := s.milestonesView(ctx, query, me)
		if err != nil {
			return sqlError(err)
		}
		return callback(res, more)
	}
	kind := classify(query)
	if kind == kindRead || len(s.dbs) == 0 {
		return gms(callback)
	}
	// A write: hold the answer until what it changed is in the bucket.
	var held []spooled
	gerr := gms(func(r *sqltypes.Result, m bool) error {
		held = append(held, spooled{r.Copy(), m})
		return nil
	})
	cerr := s.commitAll(ctx, query, kind == kindSchema)
	if gerr != nil {
		return gerr
	}
	if cerr != nil {
		s.log.Error("write not durable", "err", cerr)
		return sqlError(fmt.Errorf("the statement ran but its log could not be uploaded (it will be retried with the next write): %w", cerr))
	}
	for _, r := range held {
		if err := callback(r.r, r.more); err != nil {
			return err
		}
	}
	return nil
}

// commitAll uploads the changes of the last statement to every bottomless database it touched.
func (s *Server) commitAll(ctx context.Context, query string, checkDDL bool) error {
	names := make([]string, 0, len(s.dbs))
	for k := range s.dbs {
		names = append(names, k)
	}
	sort.Strings(names)
	var errs []error
	for _, k := range names {
		if err := s.commit(ctx, s.internalCtx(ctx, ""), s.dbs[k], query, checkDDL); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// exec runs one of the stand-in's own statements.
func (s *Server) exec(ctx context.Context, c *mysql.Conn, query string, stmt any, me account) (*sqltypes.Result, error) {
	if sh, ok := stmt.(*showStmt); ok && sh.What == "GRANTS" && sh.ForRole == "" && (sh.ForUser == nil || *sh.ForUser == me) {
		// Anyone may see their own grants.
		rs, err := s.show(sh, me)
		if err != nil {
			return nil, err
		}
		return rs.result(), nil
	}
	if !s.isAdmin(me) {
		// Only the statement's kind: its text may hold a password.
		words := strings.Fields(strings.ToUpper(query))
		return nil, accessDenied(strings.Join(words[:min(2, len(words))], " "))
	}
	switch q := stmt.(type) {
	case *createDatabaseStmt:
		return s.execCreate(ctx, q)
	case *attachStmt:
		return s.execAttach(ctx, q)
	case *detachStmt:
		return s.execDetach(ctx, q.Name, q.Force, false)
	case *dropDatabaseStmt:
		return s.execDetach(ctx, q.Name, true, true)
	case *createMilestoneStmt:
		return s.execMilestone(ctx, c, query, q)
	default:
		rs, changed, err := s.execSecurity(stmt, me)
		if err != nil {
			return nil, err
		}
		if rs != nil {
			return rs.result(), nil
		}
		if changed {
			s.project()
			if err := s.saveState(); err != nil {
				return nil, err
			}
		}
		return okResult(0), nil
	}
}

func (s *Server) execCreate(ctx context.Context, q *createDatabaseStmt) (*sqltypes.Result, error) {
	target, loc, err := parseS3Target(q.Location, q.Config, q.Credentials)
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", q.Name, err)
	}
	if s.dbs[strings.ToLower(q.Name)] != nil || s.pro.HasDatabase(s.internalCtx(ctx, ""), q.Name) {
		if q.IfNotExists {
			return okResult(0), nil
		}
		return nil, mysql.NewSQLError(mysql.ERDbCreateExists, mysql.SSUnknownSQLState,
			"Can't create database '%s'; database exists", q.Name)
	}
	b, err := s.create(ctx, q.Name, target, loc)
	if err != nil {
		return nil, fmt.Errorf("create database %s: %w", q.Name, err)
	}
	s.dbs[strings.ToLower(q.Name)] = b
	if err := s.saveState(); err != nil {
		return nil, err
	}
	return okResult(1), nil
}

func (s *Server) execAttach(ctx context.Context, q *attachStmt) (*sqltypes.Result, error) {
	target, loc, err := parseS3Target(q.Location, q.Config, q.Credentials)
	if err != nil {
		return nil, fmt.Errorf("attach database %s: %w", q.Name, err)
	}
	b, err := s.attach(ctx, attachOptions{source: q.Name, name: q.As, target: target, loc: loc,
		point: attachPoint{milestone: q.AtMilestone, at: q.AtTime}})
	if err != nil {
		return nil, fmt.Errorf("attach database %s: %w", q.Name, err)
	}
	s.dbs[strings.ToLower(q.As)] = b
	if err := s.saveState(); err != nil {
		return nil, err
	}
	return okResult(1), nil
}

// execDetach detaches (or with drop, drops) a bottomless database. Without force it first
// uploads anything pending, snapshots and records a milestone.
func (s *Server) execDetach(ctx context.Context, name string, force, drop bool) (*sqltypes.Result, error) {
	verb := "detach"
	if drop {
		verb = "drop"
	}
	key := strings.ToLower(name)
	b := s.dbs[key]
	if b == nil {
		for i, p := range s.unattached {
			if strings.EqualFold(p.Name, name) {
				s.unattached = append(s.unattached[:i], s.unattached[i+1:]...)
				return okResult(0), s.saveState()
			}
		}
		if s.pro.HasDatabase(s.internalCtx(ctx, ""), name) {
			return nil, fmt.Errorf("%s database %s: not a bottomless database", verb, name)
		}
		return nil, unknownDatabase(name)
	}
	if !force {
		if err := s.commit(ctx, s.internalCtx(ctx, ""), b, "DETACH DATABASE "+name, true); err != nil {
			return nil, fmt.Errorf("%s database %s: %w", verb, name, err)
		}
		ms := "detach_" + time.Now().UTC().Format("20060102150405")
		if err := s.milestone(ctx, b, ms); err != nil {
			return nil, fmt.Errorf("%s database %s: %w", verb, name, err)
		}
	}
	if err := s.releaseLock(ctx, b); err != nil {
		return nil, fmt.Errorf("%s database %s: %w", verb, name, err)
	}
	if err := s.pro.DropDatabase(s.internalCtx(ctx, ""), b.name); err != nil {
		return nil, fmt.Errorf("%s database %s: %w", verb, name, err)
	}
	delete(s.dbs, key)
	s.log.Info(verb+"ed", "database", name, "storage_id", b.sid(), "seq", b.seq, "force", force)
	if err := s.saveState(); err != nil {
		return nil, err
	}
	return okResult(0), nil
}

func (s *Server) execMilestone(ctx context.Context, c *mysql.Conn, query string, q *createMilestoneStmt) (*sqltypes.Result, error) {
	name := q.For
	if name == "" {
		sctx, err := s.sm.NewContextWithQuery(ctx, c, query)
		if err != nil {
			return nil, err
		}
		name = sctx.GetCurrentDatabase()
		if name == "" {
			return nil, errors.New("create milestone: no database selected; use FOR <db>")
		}
	}
	b := s.dbs[strings.ToLower(name)]
	if b == nil {
		return nil, fmt.Errorf("create milestone: %s is not an attached bottomless database", name)
	}
	ms := q.Name
	if ms == "" {
		ms = "milestone_" + time.Now().UTC().Format("20060102150405")
	}
	if err := s.commit(ctx, s.internalCtx(ctx, ""), b, query, true); err != nil {
		return nil, fmt.Errorf("create milestone %s for %s: %w", ms, name, err)
	}
	if err := s.milestone(ctx, b, ms); err != nil {
		return nil, err
	}
	return okResult(0), nil
}
