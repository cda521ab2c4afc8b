package database

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// Security is a snapshot of a cluster's users, roles, groups and grants: cluster state that
// SingleStore does not keep in the bucket, so a failover must carry it across. It is
// JSON-serialisable and holds no password or password hash.
type Security struct {
	Users   []User    `json:"users"`
	Roles   []Role    `json:"roles"`
	Groups  []Group   `json:"groups"`
	TakenAt time.Time `json:"takenAt"`
}

// User is one user: its own privilege grants (the GRANT statements as SHOW GRANTS prints
// them, any password clause removed) and the groups it belongs to.
type User struct {
	Name   string   `json:"name"`
	Host   string   `json:"host"`
	Grants []string `json:"grants"`
	Groups []string `json:"groups"`
}

// Role is a named set of privilege grants.
type Role struct {
	Name   string   `json:"name"`
	Grants []string `json:"grants"`
}

// Group is a named set of roles; users get privileges through their groups' roles.
type Group struct {
	Name  string   `json:"name"`
	Roles []string `json:"roles"`
}

// ReadSecurity reads every user (with its grants and groups), role (with its grants) and
// group (with its roles) through SHOW USERS / ROLES / GROUPS / GRANTS FOR …. Columns are
// found by name. The user this Client logs in with is left out: it is the cluster's
// administrator, which every cluster has of its own. A name that does not match this package's patterns is an error: it could
// not be applied elsewhere. The result is sorted by name, so two snapshots of the same state
// are equal but for TakenAt.
func (c *Client) ReadSecurity(ctx context.Context) (Security, error) {
	const op = "read security"
	s := Security{Users: []User{}, Roles: []Role{}, Groups: []Group{}}

	cols, rows, err := c.rowsAsStrings(ctx, op+": show users", "SHOW USERS")
	if err != nil {
		return s, err
	}
	ui, err := column(cols, "User")
	if err != nil {
		return s, fmt.Errorf("%s: show users: %w", op, err)
	}
	deleted := slices.IndexFunc(cols, func(c string) bool { return strings.EqualFold(c, "Is deleted") })
	for _, r := range rows {
		if deleted >= 0 && truthy(r[deleted]) {
			continue
		}
		name, host, err := parseAccount(r[ui])
		if err != nil {
			return s, fmt.Errorf("%s: show users: %w", op, err)
		}
		if name == c.user {
			continue
		}
		field := fmt.Sprintf("users[%s]", r[ui])
		if err := checkPrincipal(op, field, "user", name); err != nil {
			return s, err
		}
		if err := checkHost(op, field, host); err != nil {
			return s, err
		}
		u := User{Name: name, Host: host}
		if u.Grants, err = c.grantLines(ctx, op, "SHOW GRANTS FOR "+account(name, host)); err != nil {
			return s, err
		}
		if u.Groups, err = c.names(ctx, op, "SHOW GROUPS FOR USER "+account(name, host), "Groups"); err != nil {
			return s, err
		}
		s.Users = append(s.Users, u)
	}

	roles, err := c.names(ctx, op, "SHOW ROLES", "Roles", "Role")
	if err != nil {
		return s, err
	}
	for _, name := range roles {
		if err := checkPrincipal(op, "roles["+name+"]", "role", name); err != nil {
			return s, err
		}
		r := Role{Name: name}
		if r.Grants, err = c.grantLines(ctx, op, "SHOW GRANTS FOR ROLE "+quoteString(name)); err != nil {
			return s, err
		}
		s.Roles = append(s.Roles, r)
	}

	groups, err := c.names(ctx, op, "SHOW GROUPS", "Groups", "Group")
	if err != nil {
		return s, err
	}
	for _, name := range groups {
		if err := checkPrincipal(op, "groups["+name+"]", "group", name); err != nil {
			return s, err
		}
		g := Group{Name: name}
		if g.Roles, err = c.names(ctx, op, "SHOW ROLES FOR GROUP "+quoteString(name), "Roles", "Role"); err != nil {
			return s, err
		}
		s.Groups = append(s.Groups, g)
	}

	sort.Slice(s.Users, func(i, j int) bool {
		if s.Users[i].Name != s.Users[j].Name {
			return s.Users[i].Name < s.Users[j].Name
		}
		return s.Users[i].Host < s.Users[j].Host
	})
	sort.Slice(s.Roles, func(i, j int) bool { return s.Roles[i].Name < s.Roles[j].Name })
	sort.Slice(s.Groups, func(i, j int) bool { return s.Groups[i].Name < s.Groups[j].Name })
	s.TakenAt = time.Now().UTC()
	return s, nil
}

// names runs a SHOW that lists names in one column and returns them sorted.
func (c *Client) names(ctx context.Context, op, query string, colNames ...string) ([]string, error) {
	cols, rows, err := c.rowsAsStrings(ctx, op+": "+query, query)
	if err != nil {
		return nil, err
	}
	i, err := column(cols, colNames...)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", op, query, err)
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, r[i])
	}
	sort.Strings(out)
	return out, nil
}

// grantLines runs SHOW GRANTS FOR … and returns its lines with any password clause removed.
// The column is titled after the grantee ("Grants for app@%"), so it is found by position.
func (c *Client) grantLines(ctx context.Context, op, query string) ([]string, error) {
	cols, rows, err := c.rowsAsStrings(ctx, op+": "+query, query)
	if err != nil {
		return nil, err
	}
	if len(cols) != 1 {
		return nil, fmt.Errorf("%s: %s: want one column, got %s", op, query, strings.Join(cols, ", "))
	}
	out := make([]string, 0, len(rows))
	for _, r := range rows {
		out = append(out, stripPassword(r[0]))
	}
	return out, nil
}

// parseAccount reads 'user'@'host' (quotes optional, host "%" when absent).
func parseAccount(s string) (user, host string, err error) {
	toks, err := lexGrant(s)
	if err != nil {
		return "", "", fmt.Errorf("account %q: %w", s, err)
	}
	isName := func(t grantToken) bool { return t.kind == 's' || t.kind == 'i' || t.kind == 'w' }
	switch {
	case len(toks) == 1 && isName(toks[0]):
		return toks[0].text, "%", nil
	case len(toks) == 3 && isName(toks[0]) && toks[1].text == "@" && (isName(toks[2]) || toks[2].text == "%"):
		return toks[0].text, toks[2].text, nil
	}
	return "", "", fmt.Errorf("account %q: want 'user'@'host'", s)
}

func truthy(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "yes", "true", "y":
		return true
	}
	return false
}
