package standin

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// The statements the stand-in runs itself instead of go-mysql-server: SingleStore's syntax for
// bottomless databases, milestones and security. parseStatement returns nil for anything else.

type account struct{ User, Host string }

func (a account) String() string { return quoteString(a.User) + "@" + quoteString(a.Host) }

type createDatabaseStmt struct {
	Name        string
	IfNotExists bool
	Location    string
	Config      *string // nil when the clause is absent
	Credentials *string
}

type attachStmt struct {
	Name        string
	As          string // the name to attach under; Name when there is no AS
	Location    string
	Config      *string
	Credentials *string
	AtMilestone string
	AtTime      time.Time // zero when absent
}

type detachStmt struct {
	Name  string
	Force bool
}

type dropDatabaseStmt struct {
	Name     string
	IfExists bool
}

type createMilestoneStmt struct {
	Name string // empty: named by the server
	For  string // empty: the current database
}

type createUserStmt struct {
	Account     account
	Password    *string
	IfNotExists bool
}

type dropUserStmt struct {
	Account  account
	IfExists bool
}

// principalStmt is CREATE/DROP ROLE or GROUP.
type principalStmt struct {
	Drop  bool
	Kind  string // "ROLE" or "GROUP"
	Name  string
	Guard bool // IF NOT EXISTS / IF EXISTS
}

type privLevel struct{ DB, Table string } // "*" for any

func (l privLevel) String() string {
	q := func(s string) string {
		if s == "*" {
			return s
		}
		return "`" + s + "`"
	}
	return q(l.DB) + "." + q(l.Table)
}

type grantPrivStmt struct {
	Revoke      bool
	Privs       []string // canonical upper-case names, sorted
	Level       privLevel
	User        *account // exactly one of User and Role is set
	Role        string
	GrantOption bool
}

type grantRoleStmt struct {
	Revoke bool
	Role   string
	Group  string
}

type grantGroupStmt struct {
	Revoke bool
	Group  string
	User   account
}

type showStmt struct {
	What     string   // USERS, ROLES, GROUPS, GRANTS
	ForUser  *account // GRANTS FOR u, GROUPS FOR USER u, ROLES FOR USER u
	ForRole  string   // GRANTS FOR ROLE r, GROUPS FOR ROLE r
	ForGroup string   // ROLES FOR GROUP g, USERS FOR GROUP g
}

// parser walks the token list of one statement.
type parser struct {
	toks []token
	i    int
}

func (p *parser) peek() token {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return token{kind: tokPunct, text: "end of statement", pos: -1}
}

func (p *parser) done() bool { return p.i >= len(p.toks) }

func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

// accept consumes the keyword sequence kws if it is next.
func (p *parser) accept(kws ...string) bool {
	for j, kw := range kws {
		if p.i+j >= len(p.toks) || !p.toks[p.i+j].is(kw) {
			return false
		}
	}
	p.i += len(kws)
	return true
}

func (p *parser) acceptPunct(s string) bool {
	if t := p.peek(); t.kind == tokPunct && t.text == s {
		p.i++
		return true
	}
	return false
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("syntax error near %q: %s", p.peek().String(), fmt.Sprintf(format, args...))
}

func (p *parser) expect(kws ...string) error {
	if !p.accept(kws...) {
		return p.errorf("expected %s", strings.Join(kws, " "))
	}
	return nil
}

func (p *parser) end() error {
	if !p.done() {
		return p.errorf("unexpected text after the statement")
	}
	return nil
}

// ident reads a bare or `quoted` identifier.
func (p *parser) ident(what string) (string, error) {
	t := p.peek()
	if t.kind != tokWord && t.kind != tokQuoted {
		return "", p.errorf("expected %s", what)
	}
	p.i++
	return t.text, nil
}

// name reads a principal or milestone name: quoted string, `identifier` or bare word.
func (p *parser) name(what string) (string, error) {
	t := p.peek()
	if t.kind != tokWord && t.kind != tokQuoted && t.kind != tokString {
		return "", p.errorf("expected %s", what)
	}
	p.i++
	return t.text, nil
}

func (p *parser) str(what string) (string, error) {
	t := p.peek()
	if t.kind != tokString {
		return "", p.errorf("expected %s as a quoted string", what)
	}
	p.i++
	return t.text, nil
}

func (p *parser) dbName() (string, error) {
	n, err := p.ident("database name")
	if err != nil {
		return "", err
	}
	return n, checkDBName(n)
}

func (p *parser) account() (account, error) {
	var a account
	u, err := p.name("user name")
	if err != nil {
		return a, err
	}
	a.User, a.Host = u, "%"
	if p.acceptPunct("@") {
		if p.acceptPunct("%") {
			a.Host = "%"
		} else if a.Host, err = p.name("host"); err != nil {
			return a, err
		}
	}
	return a, checkAccount(a)
}

func (p *parser) principal(kind string) (string, error) {
	n, err := p.name(strings.ToLower(kind) + " name")
	if err != nil {
		return "", err
	}
	return n, checkName(strings.ToLower(kind), principalPattern, n)
}

// parseStatement parses query if it is one the stand-in runs itself. It returns (nil, nil)
// for statements that go to go-mysql-server unchanged.
func parseStatement(query string) (any, error) {
	toks, err := lex(query)
	if err != nil {
		// Not ours to judge: go-mysql-server reports its own syntax errors.
		return nil, nil
	}
	p := &parser{toks: toks}
	switch {
	case p.accept("CREATE", "DATABASE"), p.accept("CREATE", "SCHEMA"):
		if !hasKeywords(toks, "ON", "S3") {
			return nil, nil // a local database: go-mysql-server makes it
		}
		return p.createDatabase()
	case p.accept("ATTACH", "DATABASE"):
		return p.attach()
	case p.accept("DETACH", "DATABASE"):
		return p.detach()
	case p.accept("DROP", "DATABASE"), p.accept("DROP", "SCHEMA"):
		return p.dropDatabase()
	case p.accept("CREATE", "MILESTONE"):
		return p.createMilestone()
	case p.accept("CREATE", "USER"):
		return p.createUser()
	case p.accept("DROP", "USER"):
		return p.dropUser()
	case p.accept("CREATE", "ROLE"):
		return p.principalStmt(false, "ROLE")
	case p.accept("CREATE", "GROUP"):
		return p.principalStmt(false, "GROUP")
	case p.accept("DROP", "ROLE"):
		return p.principalStmt(true, "ROLE")
	case p.accept("DROP", "GROUP"):
		return p.principalStmt(true, "GROUP")
	case p.accept("GRANT"):
		return p.grant(false)
	case p.accept("REVOKE"):
		return p.grant(true)
	case p.accept("SHOW"):
		return p.show()
	case p.accept("ALTER", "USER"), p.accept("RENAME", "USER"), p.accept("SET", "PASSWORD"):
		// go-mysql-server would change its own user table behind the stand-in's back.
		return nil, fmt.Errorf("%s is not supported by the stand-in", strings.ToUpper(toks[0].text+" "+toks[1].text))
	}
	return nil, nil
}

func hasKeywords(toks []token, a, b string) bool {
	for i := 0; i+1 < len(toks); i++ {
		if toks[i].is(a) && toks[i+1].is(b) {
			return true
		}
	}
	return false
}

// s3Clauses reads ON S3 "loc" followed by CONFIG, CREDENTIALS and (for ATTACH) AT clauses in
// any order, each at most once.
func (p *parser) s3Clauses(loc *string, cfg, creds **string, at func() error) error {
	if err := p.expect("ON", "S3"); err != nil {
		return err
	}
	var err error
	if *loc, err = p.str("the S3 location \"bucket/path\""); err != nil {
		return err
	}
	for !p.done() {
		switch {
		case p.accept("CONFIG"):
			if *cfg != nil {
				return p.errorf("CONFIG given twice")
			}
			s, err := p.str("CONFIG JSON")
			if err != nil {
				return err
			}
			*cfg = &s
		case p.accept("CREDENTIALS"):
			if *creds != nil {
				return p.errorf("CREDENTIALS given twice")
			}
			s, err := p.str("CREDENTIALS JSON")
			if err != nil {
				return err
			}
			*creds = &s
		case at != nil && p.peek().is("AT"):
			if err := at(); err != nil {
				return err
			}
		default:
			return p.errorf("expected CONFIG, CREDENTIALS or the end of the statement")
		}
	}
	return nil
}

func (p *parser) createDatabase() (any, error) {
	s := &createDatabaseStmt{}
	s.IfNotExists = p.accept("IF", "NOT", "EXISTS")
	var err error
	if s.Name, err = p.dbName(); err != nil {
		return nil, err
	}
	return s, p.s3Clauses(&s.Location, &s.Config, &s.Credentials, nil)
}

func (p *parser) attach() (any, error) {
	s := &attachStmt{}
	var err error
	if s.Name, err = p.dbName(); err != nil {
		return nil, err
	}
	s.As = s.Name
	if p.accept("AS") {
		if s.As, err = p.dbName(); err != nil {
			return nil, err
		}
	}
	if !p.peek().is("ON") {
		return nil, p.errorf("the stand-in attaches only ON S3 \"bucket/path\"")
	}
	at := func() error {
		if s.AtMilestone != "" || !s.AtTime.IsZero() {
			return p.errorf("AT MILESTONE and AT TIME are exclusive and may appear once")
		}
		switch {
		case p.accept("AT", "MILESTONE"):
			n, err := p.str("milestone name")
			if err != nil {
				return err
			}
			s.AtMilestone = n
			return checkName("milestone", milestoneNamePattern, n)
		case p.accept("AT", "TIME"):
			ts, err := p.str("time 'YYYY-MM-DD HH:MM:SS'")
			if err != nil {
				return err
			}
			t, err := time.Parse(time.DateTime, ts)
			if err != nil {
				return fmt.Errorf("AT TIME %q: want 'YYYY-MM-DD HH:MM:SS' (UTC)", ts)
			}
			s.AtTime = t.UTC()
			return nil
		}
		return p.errorf("expected AT MILESTONE or AT TIME")
	}
	if err := p.s3Clauses(&s.Location, &s.Config, &s.Credentials, at); err != nil {
		return nil, err
	}
	if s.Credentials == nil {
		return nil, fmt.Errorf("ATTACH DATABASE %s: CREDENTIALS '{...}' is required", s.Name)
	}
	return s, nil
}

func (p *parser) detach() (any, error) {
	s := &detachStmt{}
	var err error
	if s.Name, err = p.dbName(); err != nil {
		return nil, err
	}
	s.Force = p.accept("FORCE")
	return s, p.end()
}

func (p *parser) dropDatabase() (any, error) {
	s := &dropDatabaseStmt{}
	s.IfExists = p.accept("IF", "EXISTS")
	var err error
	if s.Name, err = p.dbName(); err != nil {
		return nil, err
	}
	return s, p.end()
}

func (p *parser) createMilestone() (any, error) {
	s := &createMilestoneStmt{}
	if t := p.peek(); t.kind == tokString {
		p.i++
		s.Name = t.text
		if err := checkName("milestone", milestoneNamePattern, s.Name); err != nil {
			return nil, err
		}
	}
	if p.accept("FOR") {
		var err error
		if s.For, err = p.dbName(); err != nil {
			return nil, err
		}
	}
	return s, p.end()
}

func (p *parser) createUser() (any, error) {
	s := &createUserStmt{}
	s.IfNotExists = p.accept("IF", "NOT", "EXISTS")
	var err error
	if s.Account, err = p.account(); err != nil {
		return nil, err
	}
	if p.accept("IDENTIFIED", "BY") {
		pw, err := p.str("password")
		if err != nil {
			return nil, err
		}
		s.Password = &pw
	}
	return s, p.end()
}

func (p *parser) dropUser() (any, error) {
	s := &dropUserStmt{}
	s.IfExists = p.accept("IF", "EXISTS")
	var err error
	if s.Account, err = p.account(); err != nil {
		return nil, err
	}
	return s, p.end()
}

func (p *parser) principalStmt(drop bool, kind string) (any, error) {
	s := &principalStmt{Drop: drop, Kind: kind}
	if drop {
		s.Guard = p.accept("IF", "EXISTS")
	} else {
		s.Guard = p.accept("IF", "NOT", "EXISTS")
	}
	var err error
	if s.Name, err = p.principal(kind); err != nil {
		return nil, err
	}
	return s, p.end()
}

func (p *parser) grant(revoke bool) (any, error) {
	to := "TO"
	if revoke {
		to = "FROM"
	}
	switch {
	case p.accept("ROLE"):
		s := &grantRoleStmt{Revoke: revoke}
		var err error
		if s.Role, err = p.principal("ROLE"); err != nil {
			return nil, err
		}
		if err := p.expect(to); err != nil {
			return nil, err
		}
		p.accept("GROUP") // optional noise word
		if s.Group, err = p.principal("GROUP"); err != nil {
			return nil, err
		}
		return s, p.end()
	case p.accept("GROUP"):
		s := &grantGroupStmt{Revoke: revoke}
		var err error
		if s.Group, err = p.principal("GROUP"); err != nil {
			return nil, err
		}
		if err := p.expect(to); err != nil {
			return nil, err
		}
		p.accept("USER")
		if s.User, err = p.account(); err != nil {
			return nil, err
		}
		return s, p.end()
	}
	s := &grantPrivStmt{Revoke: revoke}
	privs, err := p.privileges()
	if err != nil {
		return nil, err
	}
	s.Privs = privs
	if err := p.expect("ON"); err != nil {
		return nil, err
	}
	if s.Level, err = p.level(); err != nil {
		return nil, err
	}
	if err := p.expect(to); err != nil {
		return nil, err
	}
	if p.accept("ROLE") {
		if s.Role, err = p.principal("ROLE"); err != nil {
			return nil, err
		}
	} else {
		a, err := p.account()
		if err != nil {
			return nil, err
		}
		s.User = &a
	}
	if p.acceptPunct(",") {
		return nil, p.errorf("the stand-in grants to one user or role per statement")
	}
	if !revoke && p.accept("WITH", "GRANT", "OPTION") {
		s.GrantOption = true
	}
	return s, p.end()
}

// privileges reads a comma-separated list of (possibly multi-word) privilege names up to ON.
func (p *parser) privileges() ([]string, error) {
	var out []string
	var words []string
	flush := func() error {
		if len(words) == 0 {
			return p.errorf("expected a privilege name")
		}
		name := strings.ToUpper(strings.Join(words, " "))
		if name == "ALL PRIVILEGES" {
			name = "ALL"
		}
		if !knownPrivilege(name) {
			return fmt.Errorf("unknown privilege %q", name)
		}
		out = append(out, name)
		words = nil
		return nil
	}
	for {
		t := p.peek()
		switch {
		case t.is("ON") && len(words) > 0:
			if err := flush(); err != nil {
				return nil, err
			}
			sort.Strings(out)
			return dedupe(out), nil
		case t.kind == tokWord:
			words = append(words, t.text)
			p.i++
		case t.kind == tokPunct && t.text == ",":
			if err := flush(); err != nil {
				return nil, err
			}
			p.i++
		default:
			return nil, p.errorf("expected a privilege list followed by ON")
		}
	}
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// level reads *.*, db.* or db.table.
func (p *parser) level() (privLevel, error) {
	var l privLevel
	part := func() (string, error) {
		if p.acceptPunct("*") {
			return "*", nil
		}
		return p.ident("database or table name")
	}
	var err error
	if l.DB, err = part(); err != nil {
		return l, err
	}
	if !p.acceptPunct(".") {
		return l, p.errorf("the stand-in needs a qualified level: *.*, db.* or db.table")
	}
	if l.Table, err = part(); err != nil {
		return l, err
	}
	if l.DB == "*" && l.Table != "*" {
		return l, p.errorf("*.table is not a level")
	}
	if l.DB != "*" {
		if err := checkDBName(l.DB); err != nil {
			return l, err
		}
	}
	if l.Table != "*" {
		if err := checkName("table", tableNamePattern, l.Table); err != nil {
			return l, err
		}
	}
	return l, nil
}

func (p *parser) show() (any, error) {
	s := &showStmt{}
	var err error
	switch {
	case p.accept("USERS"):
		s.What = "USERS"
		if p.accept("FOR", "GROUP") {
			if s.ForGroup, err = p.principal("GROUP"); err != nil {
				return nil, err
			}
		}
	case p.accept("ROLES"):
		s.What = "ROLES"
		switch {
		case p.accept("FOR", "GROUP"):
			s.ForGroup, err = p.principal("GROUP")
		case p.accept("FOR", "USER"):
			var a account
			a, err = p.account()
			s.ForUser = &a
		}
	case p.accept("GROUPS"):
		s.What = "GROUPS"
		switch {
		case p.accept("FOR", "USER"):
			var a account
			a, err = p.account()
			s.ForUser = &a
		case p.accept("FOR", "ROLE"):
			s.ForRole, err = p.principal("ROLE")
		}
	case p.accept("GRANTS"):
		s.What = "GRANTS"
		switch {
		case p.accept("FOR", "ROLE"):
			s.ForRole, err = p.principal("ROLE")
		case p.accept("FOR", "CURRENT_USER"):
			if p.acceptPunct("(") && !p.acceptPunct(")") {
				return nil, p.errorf("expected )")
			}
		case p.accept("FOR"):
			var a account
			a, err = p.account()
			s.ForUser = &a
		}
	default:
		return nil, nil // every other SHOW is go-mysql-server's
	}
	if err != nil {
		return nil, err
	}
	return s, p.end()
}

// quoteString renders s as a single-quoted SQL string literal.
func quoteString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}
