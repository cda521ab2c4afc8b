package standin

import (
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
)

// Users, roles, groups and grants in SingleStore's model: privileges are granted to users or
// roles, roles to groups, groups to users. The stand-in keeps this model as its own state and
// projects each user's effective privileges into go-mysql-server's user table, which then
// authenticates logins and checks every statement.

type grantRec struct {
	Privs       []string `json:"privs"`
	DB          string   `json:"db"`
	Table       string   `json:"table"`
	GrantOption bool     `json:"grant_option,omitempty"`
}

type userRec struct {
	User   string     `json:"user"`
	Host   string     `json:"host"`
	Hash   string     `json:"hash"` // mysql_native_password: "*" + hex(SHA1(SHA1(pw))), "" for none
	Grants []grantRec `json:"grants"`
	Groups []string   `json:"groups"`
}

type roleRec struct {
	Name   string     `json:"name"`
	Grants []grantRec `json:"grants"`
}

type groupRec struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

type securityState struct {
	Users  []*userRec  `json:"users"`
	Roles  []*roleRec  `json:"roles"`
	Groups []*groupRec `json:"groups"`
}

// singleStoreOnly are privileges SingleStore has and go-mysql-server does not; they are kept
// and shown but grant nothing here.
var singleStoreOnly = []string{"USAGE", "CLUSTER", "SHOW METADATA", "BACKUP", "CREATE DATABASE",
	"DROP DATABASE", "CREATE PIPELINE", "DROP PIPELINE", "ALTER PIPELINE", "START PIPELINE",
	"SHOW PIPELINE", "ALTER TOPOLOGY", "CREATE LINK", "DROP LINK", "INBOUND", "OUTBOUND"}

func knownPrivilege(name string) bool {
	if name == "ALL" || slices.Contains(singleStoreOnly, name) {
		return true
	}
	_, ok := sql.PrivilegeTypeFromString(name)
	return ok
}

// allPrivileges is what ALL grants: every static privilege but GRANT OPTION.
func allPrivileges() []sql.PrivilegeType {
	var out []sql.PrivilegeType
	for _, name := range []string{"SELECT", "INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "RELOAD",
		"SHUTDOWN", "PROCESS", "FILE", "REFERENCES", "INDEX", "ALTER", "SHOW DATABASES", "SUPER",
		"CREATE TEMPORARY TABLES", "LOCK TABLES", "EXECUTE", "REPLICATION SLAVE", "REPLICATION CLIENT",
		"CREATE VIEW", "SHOW VIEW", "CREATE ROUTINE", "ALTER ROUTINE", "CREATE USER", "EVENT", "TRIGGER",
		"CREATE TABLESPACE", "CREATE ROLE", "DROP ROLE"} {
		if p, ok := sql.PrivilegeTypeFromString(name); ok {
			out = append(out, p)
		}
	}
	return out
}

func nativeHash(pw string) string {
	if pw == "" {
		return ""
	}
	s1 := sha1.Sum([]byte(pw))
	s2 := sha1.Sum(s1[:])
	return "*" + strings.ToUpper(hex.EncodeToString(s2[:]))
}

func (st *securityState) user(a account) *userRec {
	for _, u := range st.Users {
		if u.User == a.User && u.Host == a.Host {
			return u
		}
	}
	return nil
}

func (st *securityState) role(name string) *roleRec {
	for _, r := range st.Roles {
		if r.Name == name {
			return r
		}
	}
	return nil
}

func (st *securityState) group(name string) *groupRec {
	for _, g := range st.Groups {
		if g.Name == name {
			return g
		}
	}
	return nil
}

// addGrant merges privs into the grant list at level (or removes them on revoke).
func addGrant(list []grantRec, s *grantPrivStmt) []grantRec {
	for i := range list {
		g := &list[i]
		if g.DB != s.Level.DB || g.Table != s.Level.Table {
			continue
		}
		if s.Revoke {
			if slices.Contains(s.Privs, "ALL") {
				g.Privs = nil
			} else {
				g.Privs = slices.DeleteFunc(g.Privs, func(p string) bool { return slices.Contains(s.Privs, p) })
			}
			if len(g.Privs) == 0 {
				return slices.Delete(list, i, i+1)
			}
			return list
		}
		g.Privs = append(g.Privs, s.Privs...)
		sort.Strings(g.Privs)
		g.Privs = dedupe(g.Privs)
		g.GrantOption = g.GrantOption || s.GrantOption
		return list
	}
	if s.Revoke {
		return list
	}
	return append(list, grantRec{Privs: slices.Clone(s.Privs), DB: s.Level.DB, Table: s.Level.Table, GrantOption: s.GrantOption})
}

// effectiveGrants are a user's own grants plus those of the roles of its groups.
func (st *securityState) effectiveGrants(u *userRec) []grantRec {
	out := slices.Clone(u.Grants)
	for _, gname := range u.Groups {
		g := st.group(gname)
		if g == nil {
			continue
		}
		for _, rname := range g.Roles {
			if r := st.role(rname); r != nil {
				out = append(out, r.Grants...)
			}
		}
	}
	return out
}

func privilegeSet(grants []grantRec) mysql_db.PrivilegeSet {
	ps := mysql_db.NewPrivilegeSet()
	for _, g := range grants {
		var types []sql.PrivilegeType
		for _, p := range g.Privs {
			if p == "ALL" {
				types = append(types, allPrivileges()...)
			} else if t, ok := sql.PrivilegeTypeFromString(p); ok {
				types = append(types, t)
			}
		}
		if g.GrantOption {
			types = append(types, sql.PrivilegeType_GrantOption)
		}
		switch {
		case g.DB == "*":
			ps.AddGlobalStatic(types...)
		case g.Table == "*":
			ps.AddDatabase(g.DB, types...)
		default:
			ps.AddTable(g.DB, g.Table, types...)
		}
	}
	return ps
}

// project replaces go-mysql-server's users with root and the effective users of st.
func (s *Server) project() {
	ed := s.mysqlDb.Editor()
	defer ed.Close()
	var keys []mysql_db.UserPrimaryKey
	ed.VisitUsers(func(u *mysql_db.User) { keys = append(keys, mysql_db.UserPrimaryKey{Host: u.Host, User: u.User}) })
	for _, k := range keys {
		ed.RemoveUser(k)
	}
	s.mysqlDb.AddSuperUser(ed, s.cfg.RootUser, "%", s.cfg.RootPassword)
	for _, u := range s.sec.Users {
		ed.PutUser(&mysql_db.User{
			User: u.User, Host: u.Host, PrivilegeSet: privilegeSet(s.sec.effectiveGrants(u)),
			Plugin: "mysql_native_password", AuthString: u.Hash, PasswordLastChanged: time.Unix(1, 0).UTC(),
		})
	}
}

// isAdmin reports whether the connected user may run the stand-in's own statements:
// root, or anyone with SUPER or ALL on *.*.
func (s *Server) isAdmin(a account) bool {
	if a.User == s.cfg.RootUser {
		return true
	}
	u := s.sec.user(a)
	if u == nil {
		return false
	}
	for _, g := range s.sec.effectiveGrants(u) {
		if g.DB == "*" && (slices.Contains(g.Privs, "ALL") || slices.Contains(g.Privs, "SUPER")) {
			return true
		}
	}
	return false
}

// hasAnyGrantOn reports whether a may see database db (for MV_MILESTONES).
func (s *Server) hasAnyGrantOn(a account, db string) bool {
	if s.isAdmin(a) {
		return true
	}
	u := s.sec.user(a)
	if u == nil {
		return false
	}
	for _, g := range s.sec.effectiveGrants(u) {
		if g.DB == "*" || strings.EqualFold(g.DB, db) {
			return true
		}
	}
	return false
}

// execSecurity runs a security statement against the model. It returns a result set for SHOW
// and nil otherwise; the caller persists and projects after changes.
func (s *Server) execSecurity(stmt any, me account) (*resultSet, bool, error) {
	st := s.sec
	switch q := stmt.(type) {
	case *createUserStmt:
		if q.Account.User == s.cfg.RootUser || st.user(q.Account) != nil {
			if q.IfNotExists {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("user %s already exists", q.Account)
		}
		u := &userRec{User: q.Account.User, Host: q.Account.Host, Grants: []grantRec{}, Groups: []string{}}
		if q.Password != nil {
			u.Hash = nativeHash(*q.Password)
		}
		st.Users = append(st.Users, u)
		return nil, true, nil
	case *dropUserStmt:
		u := st.user(q.Account)
		if u == nil {
			if q.IfExists {
				return nil, false, nil
			}
			return nil, false, fmt.Errorf("user %s does not exist", q.Account)
		}
		st.Users = slices.DeleteFunc(st.Users, func(x *userRec) bool { return x == u })
		return nil, true, nil
	case *principalStmt:
		return st.principal(q)
	case *grantPrivStmt:
		if q.User != nil {
			u := st.user(*q.User)
			if u == nil {
				return nil, false, fmt.Errorf("user %s does not exist", *q.User)
			}
			u.Grants = addGrant(u.Grants, q)
		} else {
			r := st.role(q.Role)
			if r == nil {
				return nil, false, fmt.Errorf("role '%s' does not exist", q.Role)
			}
			r.Grants = addGrant(r.Grants, q)
		}
		return nil, true, nil
	case *grantRoleStmt:
		g, r := st.group(q.Group), st.role(q.Role)
		if r == nil {
			return nil, false, fmt.Errorf("role '%s' does not exist", q.Role)
		}
		if g == nil {
			return nil, false, fmt.Errorf("group '%s' does not exist", q.Group)
		}
		g.Roles = toggle(g.Roles, q.Role, q.Revoke)
		return nil, true, nil
	case *grantGroupStmt:
		u, g := st.user(q.User), st.group(q.Group)
		if u == nil {
			return nil, false, fmt.Errorf("user %s does not exist", q.User)
		}
		if g == nil {
			return nil, false, fmt.Errorf("group '%s' does not exist", q.Group)
		}
		u.Groups = toggle(u.Groups, q.Group, q.Revoke)
		return nil, true, nil
	case *showStmt:
		rs, err := s.show(q, me)
		return rs, false, err
	}
	return nil, false, fmt.Errorf("unexpected statement %T", stmt)
}

func toggle(list []string, name string, remove bool) []string {
	list = slices.DeleteFunc(list, func(x string) bool { return x == name })
	if !remove {
		list = append(list, name)
		sort.Strings(list)
	}
	return list
}

func (st *securityState) principal(q *principalStmt) (*resultSet, bool, error) {
	kind := strings.ToLower(q.Kind)
	exists := (q.Kind == "ROLE" && st.role(q.Name) != nil) || (q.Kind == "GROUP" && st.group(q.Name) != nil)
	switch {
	case !q.Drop && exists:
		if q.Guard {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s '%s' already exists", kind, q.Name)
	case q.Drop && !exists:
		if q.Guard {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("%s '%s' does not exist", kind, q.Name)
	case !q.Drop && q.Kind == "ROLE":
		st.Roles = append(st.Roles, &roleRec{Name: q.Name, Grants: []grantRec{}})
	case !q.Drop:
		st.Groups = append(st.Groups, &groupRec{Name: q.Name, Roles: []string{}})
	case q.Kind == "ROLE":
		st.Roles = slices.DeleteFunc(st.Roles, func(r *roleRec) bool { return r.Name == q.Name })
		for _, g := range st.Groups {
			g.Roles = toggle(g.Roles, q.Name, true)
		}
	default:
		st.Groups = slices.DeleteFunc(st.Groups, func(g *groupRec) bool { return g.Name == q.Name })
		for _, u := range st.Users {
			u.Groups = toggle(u.Groups, q.Name, true)
		}
	}
	return nil, true, nil
}

// grantLines renders grants as the GRANT statements that recreate them, as SHOW GRANTS does.
func grantLines(grants []grantRec, to string) []string {
	var out []string
	for _, g := range grants {
		line := fmt.Sprintf("GRANT %s ON %s TO %s", strings.Join(g.Privs, ", "), privLevel{g.DB, g.Table}, to)
		if g.GrantOption {
			line += " WITH GRANT OPTION"
		}
		out = append(out, line)
	}
	return out
}

func (s *Server) show(q *showStmt, me account) (*resultSet, error) {
	st := s.sec
	col := func(name string, vals []string) *resultSet {
		rs := &resultSet{Columns: []string{name}}
		for _, v := range vals {
			rs.Rows = append(rs.Rows, []string{v})
		}
		return rs
	}
	switch q.What {
	case "USERS":
		rs := &resultSet{Columns: []string{"User", "Type", "Connections", "Is deleted"}}
		if q.ForGroup == "" {
			rs.Rows = append(rs.Rows, []string{account{s.cfg.RootUser, "%"}.String(), "Native", "0", ""})
		}
		for _, u := range st.Users {
			if q.ForGroup != "" && !slices.Contains(u.Groups, q.ForGroup) {
				continue
			}
			rs.Rows = append(rs.Rows, []string{account{u.User, u.Host}.String(), "Native", "0", ""})
		}
		return rs, nil
	case "ROLES":
		var names []string
		switch {
		case q.ForGroup != "":
			g := st.group(q.ForGroup)
			if g == nil {
				return nil, fmt.Errorf("group '%s' does not exist", q.ForGroup)
			}
			names = g.Roles
		case q.ForUser != nil:
			u := st.user(*q.ForUser)
			if u == nil {
				return nil, fmt.Errorf("user %s does not exist", *q.ForUser)
			}
			for _, gname := range u.Groups {
				if g := st.group(gname); g != nil {
					names = append(names, g.Roles...)
				}
			}
			sort.Strings(names)
			names = dedupe(names)
		default:
			for _, r := range st.Roles {
				names = append(names, r.Name)
			}
		}
		return col("Roles", names), nil
	case "GROUPS":
		var names []string
		switch {
		case q.ForUser != nil:
			u := st.user(*q.ForUser)
			if u == nil {
				return nil, fmt.Errorf("user %s does not exist", *q.ForUser)
			}
			names = u.Groups
		case q.ForRole != "":
			for _, g := range st.Groups {
				if slices.Contains(g.Roles, q.ForRole) {
					names = append(names, g.Name)
				}
			}
		default:
			for _, g := range st.Groups {
				names = append(names, g.Name)
			}
		}
		return col("Groups", names), nil
	case "GRANTS":
		if q.ForRole != "" {
			r := st.role(q.ForRole)
			if r == nil {
				return nil, fmt.Errorf("role '%s' does not exist", q.ForRole)
			}
			return col("Grants for role "+q.ForRole, grantLines(r.Grants, "ROLE "+quoteString(r.Name))), nil
		}
		a := me
		if q.ForUser != nil {
			a = *q.ForUser
		}
		if a.User == s.cfg.RootUser {
			return col("Grants for "+a.User+"@"+a.Host,
				[]string{fmt.Sprintf("GRANT ALL PRIVILEGES ON *.* TO %s WITH GRANT OPTION", a)}), nil
		}
		u := st.user(a)
		if u == nil {
			return nil, fmt.Errorf("user %s does not exist", a)
		}
		to := account{u.User, u.Host}.String()
		lines := append([]string{"GRANT USAGE ON *.* TO " + to}, grantLines(u.Grants, to)...)
		return col("Grants for "+u.User+"@"+u.Host, lines), nil
	}
	return nil, fmt.Errorf("unexpected SHOW %s", q.What)
}
