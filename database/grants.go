package database

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// A SHOW GRANTS line is never executed as printed: it is parsed into a grant, every part is
// validated, and the statement is rebuilt from the parts.

// grant is one parsed GRANT line: privileges on a level to a user or a role.
type grant struct {
	Transferable bool
	Privileges   []string // upper case, one space between words, "ALL PRIVILEGES" as printed
	Level        level
	User, Host   string // the grantee, when it is a user
	Role         string // the grantee, when it is a role
	GrantOption  bool
}

// level is *.*, db.* or db.table; "*" stands for any.
type level struct{ DB, Table string }

func (l level) String() string { return l.DB + "." + l.Table }

func (l level) sql() string {
	q := func(s string) string {
		if s == "*" {
			return s
		}
		return quoteIdent(s)
	}
	return q(l.DB) + "." + q(l.Table)
}

// reservedInPrivileges reports whether word can never be part of a privilege name: it would
// move the rest of a rebuilt statement (GRANT SELECT ON … TO …).
func reservedInPrivileges(word string) bool {
	switch word {
	case "ON", "TO", "FROM", "WITH", "GRANT", "IDENTIFIED", "REQUIRE", "ROLE", "GROUP", "AS":
		return true
	}
	return false
}

// passwordClause matches IDENTIFIED BY [PASSWORD] '…' (older servers print a hash in SHOW
// GRANTS); ReadSecurity removes it so that no hash is kept in a snapshot.
var passwordClause = regexp.MustCompile(`(?is)\s+IDENTIFIED\s+(?:WITH\s+\S+\s+)?(?:BY|AS)\s+(?:PASSWORD\s+)?(?:'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")`)

func stripPassword(line string) string { return passwordClause.ReplaceAllString(line, "") }

func checkPrivilege(op, field, p string) error {
	if !privilegePattern.MatchString(p) || len(p) > 64 {
		return invalidf(op, field, "invalid privilege %q", p)
	}
	for _, w := range strings.Fields(p) {
		if reservedInPrivileges(w) {
			return invalidf(op, field, "invalid privilege %q", p)
		}
	}
	return nil
}

func checkLevel(op, field string, l level) error {
	switch {
	case l.DB == "*" && l.Table == "*":
		return nil
	case l.DB == "*":
		return invalidf(op, field, "invalid level %q", l.String())
	}
	if !identPattern.MatchString(l.DB) {
		return invalidf(op, field, "invalid level %q: invalid database name %q", l.String(), l.DB)
	}
	if l.Table != "*" && !identPattern.MatchString(l.Table) {
		return invalidf(op, field, "invalid level %q: invalid table name %q", l.String(), l.Table)
	}
	return nil
}

// validate checks every part of g; field names the line ("users[0].grants[1]").
func (g grant) validate(op, field string) error {
	if len(g.Privileges) == 0 {
		return invalidf(op, field, "no privileges")
	}
	for _, p := range g.Privileges {
		if err := checkPrivilege(op, field, p); err != nil {
			return err
		}
	}
	if err := checkLevel(op, field, g.Level); err != nil {
		return err
	}
	if g.Role != "" {
		return checkPrincipal(op, field, "role", g.Role)
	}
	if err := checkPrincipal(op, field, "user", g.User); err != nil {
		return err
	}
	return checkHost(op, field, g.Host)
}

// statement rebuilds g as SQL from its validated parts, granting privs (g's own when nil).
func (g grant) statement(privs []string) string {
	if privs == nil {
		privs = g.Privileges
	}
	var b strings.Builder
	b.WriteString("GRANT ")
	if g.Transferable {
		b.WriteString("TRANSFERABLE ")
	}
	b.WriteString(strings.Join(privs, ", ") + " ON " + g.Level.sql() + " TO ")
	if g.Role != "" {
		b.WriteString("ROLE " + quoteString(g.Role))
	} else {
		b.WriteString(account(g.User, g.Host))
	}
	if g.GrantOption {
		b.WriteString(" WITH GRANT OPTION")
	}
	return b.String()
}

// privilegeSet is the privileges of g with ALL PRIVILEGES written ALL and USAGE (no
// privilege at all) left out.
func (g grant) privilegeSet() map[string]bool {
	set := map[string]bool{}
	for _, p := range g.Privileges {
		switch p {
		case "USAGE":
		case "ALL PRIVILEGES":
			set["ALL"] = true
		default:
			set[p] = true
		}
	}
	return set
}

// grantToken is one token of a GRANT line.
type grantToken struct {
	kind byte // 'w' word, 's' 'string' or "string", 'i' `identifier`, 'p' punctuation
	text string
}

func (t grantToken) is(word string) bool { return t.kind == 'w' && strings.EqualFold(t.text, word) }

func lexGrant(s string) ([]grantToken, error) {
	var toks []grantToken
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'' || c == '"' || c == '`':
			var b strings.Builder
			j := i + 1
			closed := false
			for ; j < len(s); j++ {
				if s[j] == '\\' && c != '`' && j+1 < len(s) {
					j++
					b.WriteByte(s[j])
					continue
				}
				if s[j] == c {
					if j+1 < len(s) && s[j+1] == c {
						b.WriteByte(c)
						j++
						continue
					}
					closed = true
					break
				}
				b.WriteByte(s[j])
			}
			if !closed {
				return nil, fmt.Errorf("unterminated quote at offset %d", i)
			}
			kind := byte('s')
			if c == '`' {
				kind = 'i'
			}
			toks = append(toks, grantToken{kind, b.String()})
			i = j + 1
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, grantToken{'w', s[i:j]})
			i = j
		case strings.IndexByte(",.*@%", c) >= 0:
			toks = append(toks, grantToken{'p', string(c)})
			i++
		default:
			return nil, fmt.Errorf("unexpected %q at offset %d", c, i)
		}
	}
	return toks, nil
}

// parseGrant parses one line as SHOW GRANTS prints it:
//
//	GRANT [TRANSFERABLE] priv[, priv…] ON level TO {'user'@'host' | ROLE 'role'}
//	  [IDENTIFIED BY PASSWORD '…'] [REQUIRE …] [WITH GRANT OPTION]
//
// A password clause is skipped (it is never re-applied); REQUIRE is refused, since dropping
// it silently would weaken the user.
func parseGrant(line string) (grant, error) {
	var g grant
	toks, err := lexGrant(strings.TrimSuffix(strings.TrimSpace(line), ";"))
	if err != nil {
		return g, err
	}
	i := 0
	peek := func() grantToken {
		if i < len(toks) {
			return toks[i]
		}
		return grantToken{'p', "end of line"}
	}
	if !peek().is("GRANT") {
		return g, fmt.Errorf("does not start with GRANT")
	}
	i++
	if peek().is("TRANSFERABLE") {
		g.Transferable = true
		i++
	}
	// Privileges: words, comma-separated, up to ON.
	var words []string
	for {
		t := peek()
		switch {
		case t.kind == 'w' && t.is("ON") && len(words) > 0:
			g.Privileges = append(g.Privileges, strings.ToUpper(strings.Join(words, " ")))
			words = nil
		case t.kind == 'w':
			words = append(words, t.text)
			i++
			continue
		case t.kind == 'p' && t.text == "," && len(words) > 0:
			g.Privileges = append(g.Privileges, strings.ToUpper(strings.Join(words, " ")))
			words = nil
			i++
			continue
		default:
			return g, fmt.Errorf("expected a privilege list followed by ON, found %q", t.text)
		}
		break
	}
	i++ // ON
	part := func() (string, error) {
		t := peek()
		i++
		switch {
		case t.kind == 'p' && t.text == "*":
			return "*", nil
		case t.kind == 'w' || t.kind == 'i':
			return t.text, nil
		}
		return "", fmt.Errorf("expected a database or table name, found %q", t.text)
	}
	if g.Level.DB, err = part(); err != nil {
		return g, err
	}
	if t := peek(); t.kind != 'p' || t.text != "." {
		return g, fmt.Errorf("expected a qualified level (*.*, db.* or db.table)")
	}
	i++
	if g.Level.Table, err = part(); err != nil {
		return g, err
	}
	if !peek().is("TO") {
		return g, fmt.Errorf("expected TO, found %q", peek().text)
	}
	i++
	name := func() (string, error) {
		t := peek()
		i++
		if t.kind == 's' || t.kind == 'i' || t.kind == 'w' {
			return t.text, nil
		}
		return "", fmt.Errorf("expected a name, found %q", t.text)
	}
	if peek().is("ROLE") {
		i++
		if g.Role, err = name(); err != nil {
			return g, err
		}
	} else {
		if g.User, err = name(); err != nil {
			return g, err
		}
		g.Host = "%"
		if t := peek(); t.kind == 'p' && t.text == "@" {
			i++
			if t := peek(); t.kind == 'p' && t.text == "%" {
				i++
			} else if g.Host, err = name(); err != nil {
				return g, err
			}
		}
	}
	for i < len(toks) {
		switch {
		case peek().is("IDENTIFIED"):
			i++
			for i < len(toks) && toks[i].kind != 's' {
				i++ // BY, PASSWORD, WITH plugin, AS
			}
			i++ // the password or hash: skipped, never kept
		case peek().is("WITH") && i+2 < len(toks) && toks[i+1].is("GRANT") && toks[i+2].is("OPTION"):
			g.GrantOption = true
			i += 3
		default:
			return g, fmt.Errorf("unsupported clause at %q", peek().text)
		}
	}
	return g, nil
}

// missing returns the privileges of want not already held at its level in have, and whether
// the grant option is missing there.
func missing(want grant, have []grant) (privs []string, grantOption bool) {
	held := map[string]bool{}
	heldOption := false
	for _, h := range have {
		if h.Level != want.Level {
			continue
		}
		for p := range h.privilegeSet() {
			held[p] = true
		}
		heldOption = heldOption || h.GrantOption
	}
	for _, p := range want.Privileges {
		key := p
		if p == "ALL PRIVILEGES" {
			key = "ALL"
		}
		if p == "USAGE" || held[key] || (held["ALL"] && key != "ALL") {
			continue
		}
		if !slices.Contains(privs, p) {
			privs = append(privs, p)
		}
	}
	return privs, want.GrantOption && !heldOption
}
