package database

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
)

// ApplyReport says what ApplySecurity did. Entries read "role reader", "group readers",
// "user 'app'@'%'".
type ApplyReport struct {
	Created  []string `json:"created"`  // principals that did not exist and were created
	Existing []string `json:"existing"` // principals that existed and were left as they were
	Locked   []string `json:"locked"`   // users created without a known password ('u'@'h'): nobody can log in as them until an operator sets one
	Granted  int      `json:"granted"`  // GRANT statements run (privileges, roles to groups, groups to users)
}

// plannedUser and plannedRole are a Security's users and roles with every name validated and
// every grant line parsed.
type plannedUser struct {
	User
	grants []grant
}

type plannedRole struct {
	Role
	grants []grant
}

// planGrants parses and validates the SHOW GRANTS lines of one grantee (field names it in
// errors); every grant must be to that grantee (owned), or the snapshot was tampered with.
func planGrants(op, field string, lines []string, grantee string, owned func(grant) bool) ([]grant, error) {
	var grants []grant
	for j, line := range lines {
		gf := fmt.Sprintf("%s.grants[%d]", field, j)
		g, err := parseGrant(line)
		if err != nil {
			return nil, invalidf(op, gf, "%v", err)
		}
		if err := g.validate(op, gf); err != nil {
			return nil, err
		}
		if !owned(g) {
			return nil, invalidf(op, gf, "grants to another grantee than %s", grantee)
		}
		grants = append(grants, g)
	}
	return grants, nil
}

// plan validates s completely, so that ApplySecurity fails before it changes anything.
func plan(s Security) ([]plannedUser, []plannedRole, error) {
	const op = "apply security"
	var users []plannedUser
	for i, u := range s.Users {
		field := fmt.Sprintf("users[%d]", i)
		if err := checkPrincipal(op, field+".name", "user", u.Name); err != nil {
			return nil, nil, err
		}
		if err := checkHost(op, field+".host", u.Host); err != nil {
			return nil, nil, err
		}
		grants, err := planGrants(op, field, u.Grants, account(u.Name, u.Host), func(g grant) bool {
			return g.Role == "" && g.User == u.Name && g.Host == u.Host
		})
		if err != nil {
			return nil, nil, err
		}
		p := plannedUser{User: u, grants: grants}
		for j, gname := range u.Groups {
			if err := checkPrincipal(op, fmt.Sprintf("%s.groups[%d]", field, j), "group", gname); err != nil {
				return nil, nil, err
			}
		}
		users = append(users, p)
	}
	var roles []plannedRole
	for i, r := range s.Roles {
		field := fmt.Sprintf("roles[%d]", i)
		if err := checkPrincipal(op, field+".name", "role", r.Name); err != nil {
			return nil, nil, err
		}
		grants, err := planGrants(op, field, r.Grants, "role "+quoteString(r.Name), func(g grant) bool { return g.Role == r.Name })
		if err != nil {
			return nil, nil, err
		}
		roles = append(roles, plannedRole{Role: r, grants: grants})
	}
	for i, g := range s.Groups {
		field := fmt.Sprintf("groups[%d]", i)
		if err := checkPrincipal(op, field+".name", "group", g.Name); err != nil {
			return nil, nil, err
		}
		for j, r := range g.Roles {
			if err := checkPrincipal(op, fmt.Sprintf("%s.roles[%d]", field, j), "role", r); err != nil {
				return nil, nil, err
			}
		}
	}
	return users, roles, nil
}

// ApplySecurity makes this cluster hold the users, roles, groups and grants of s, typically a
// snapshot ReadSecurity took in another region. It only adds: principals that do not exist
// are created, missing privileges and memberships are granted, and nothing is revoked, dropped
// or changed (an existing user keeps its password). It is idempotent: a second run with the
// same s creates and grants nothing.
//
// Every name and grant line is validated before anything runs; a grant line is parsed and
// rebuilt from its validated parts, never executed as given. Passwords cannot be read out of
// SingleStore, so a new user's password comes from passwords(user, host); when that reports
// false (or passwords is nil, or returns ""), the user is created with a random password
// nobody knows and is listed in Locked. The user this Client logs in with is skipped: it
// exists on both sides. On a server error ApplySecurity stops and returns what it did so far.
func (c *Client) ApplySecurity(ctx context.Context, s Security, passwords func(user, host string) (string, bool)) (ApplyReport, error) {
	const op = "apply security"
	rep := ApplyReport{Created: []string{}, Existing: []string{}, Locked: []string{}}
	users, roles, err := plan(s)
	if err != nil {
		return rep, err
	}
	cur, err := c.ReadSecurity(ctx)
	if err != nil {
		return rep, fmt.Errorf("%s: %w", op, err)
	}
	curRoles := map[string]Role{}
	for _, r := range cur.Roles {
		curRoles[r.Name] = r
	}
	curGroups := map[string]Group{}
	for _, g := range cur.Groups {
		curGroups[g.Name] = g
	}
	curUsers := map[[2]string]User{}
	for _, u := range cur.Users {
		curUsers[[2]string{u.Name, u.Host}] = u
	}

	// Roles and groups first: grants and memberships refer to them.
	for _, r := range roles {
		what := "role " + r.Name
		if _, ok := curRoles[r.Name]; ok {
			rep.Existing = append(rep.Existing, what)
			continue
		}
		if err := c.exec(ctx, op+": create "+what, "CREATE ROLE "+quoteString(r.Name)); err != nil {
			return rep, err
		}
		rep.Created = append(rep.Created, what)
	}
	for _, g := range s.Groups {
		what := "group " + g.Name
		if _, ok := curGroups[g.Name]; ok {
			rep.Existing = append(rep.Existing, what)
			continue
		}
		if err := c.exec(ctx, op+": create "+what, "CREATE GROUP "+quoteString(g.Name)); err != nil {
			return rep, err
		}
		rep.Created = append(rep.Created, what)
	}
	for _, r := range roles {
		have := parseGrantsLenient(curRoles[r.Name].Grants)
		for _, g := range r.grants {
			n, err := c.grantMissing(ctx, op, g, &have)
			rep.Granted += n
			if err != nil {
				return rep, err
			}
		}
	}
	for _, g := range s.Groups {
		for _, r := range g.Roles {
			if slices.Contains(curGroups[g.Name].Roles, r) {
				continue
			}
			if err := c.exec(ctx, op+": grant role "+r+" to group "+g.Name,
				"GRANT ROLE "+quoteString(r)+" TO "+quoteString(g.Name)); err != nil {
				return rep, err
			}
			rep.Granted++
		}
	}

	for _, u := range users {
		if u.Name == c.user {
			continue
		}
		acct := account(u.Name, u.Host)
		what := "user " + acct
		existing, ok := curUsers[[2]string{u.Name, u.Host}]
		if ok {
			rep.Existing = append(rep.Existing, what)
		} else {
			pw, known := lookupPassword(passwords, u.Name, u.Host)
			if !known || pw == "" {
				if pw, err = unusablePassword(); err != nil {
					return rep, fmt.Errorf("%s: %s: %w", op, what, err)
				}
				rep.Locked = append(rep.Locked, acct)
			} else if err := checkSecret(op, "password of "+acct, pw, true); err != nil {
				return rep, err
			}
			if err := c.exec(ctx, op+": create "+what, "CREATE USER "+acct+" IDENTIFIED BY "+quoteString(pw), pw); err != nil {
				return rep, err
			}
			rep.Created = append(rep.Created, what)
		}
		have := parseGrantsLenient(existing.Grants)
		for _, g := range u.grants {
			n, err := c.grantMissing(ctx, op, g, &have)
			rep.Granted += n
			if err != nil {
				return rep, err
			}
		}
		for _, gname := range u.Groups {
			if slices.Contains(existing.Groups, gname) {
				continue
			}
			if err := c.exec(ctx, op+": grant group "+gname+" to "+acct,
				"GRANT GROUP "+quoteString(gname)+" TO "+acct); err != nil {
				return rep, err
			}
			rep.Granted++
		}
	}
	return rep, nil
}

// grantMissing grants what of g is not in have yet (and adds it to have). It returns the
// number of GRANT statements run: 0 or 1.
func (c *Client) grantMissing(ctx context.Context, op string, g grant, have *[]grant) (int, error) {
	privs, option := missing(g, *have)
	if len(privs) == 0 && !option {
		return 0, nil
	}
	if len(privs) == 0 {
		privs = g.Privileges // only WITH GRANT OPTION is missing: grant again with it
		if len(g.privilegeSet()) == 0 {
			return 0, nil // USAGE only: nothing to grant
		}
	}
	if err := c.exec(ctx, op+": grant on "+g.Level.String(), g.statement(privs)); err != nil {
		return 0, err
	}
	*have = append(*have, g)
	return 1, nil
}

// parseGrantsLenient parses the target's own grant lines; one it cannot read counts as
// absent, so at worst a privilege is granted again, which changes nothing.
func parseGrantsLenient(lines []string) []grant {
	var out []grant
	for _, l := range lines {
		if g, err := parseGrant(l); err == nil {
			out = append(out, g)
		}
	}
	return out
}

// unusablePassword returns a random password that is never stored or shown: the account
// exists, with its grants, but nobody can log in until an operator sets a password.
func unusablePassword() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// SecurityPlan is what applying a snapshot would do in a cluster that holds none of it.
type SecurityPlan struct {
	Users  int      `json:"users"`
	Roles  int      `json:"roles"`
	Groups int      `json:"groups"`
	Grants int      `json:"grants"`
	Locked []string `json:"locked,omitempty"` // users that would come up without a known password ('u'@'h')
}

// PlanSecurity checks, running nothing, that ApplySecurity would take s: every name and grant
// line parses and validates, as ApplySecurity checks them before it changes anything. It
// lists the users that would be created locked: those passwords (nil: none known) has no
// password for. A drill runs it on the snapshot a failover would apply.
func PlanSecurity(s Security, passwords func(user, host string) (string, bool)) (SecurityPlan, error) {
	users, roles, err := plan(s)
	if err != nil {
		return SecurityPlan{}, err
	}
	p := SecurityPlan{Users: len(users), Roles: len(roles), Groups: len(s.Groups), Locked: []string{}}
	for _, u := range users {
		p.Grants += len(u.grants) + len(u.Groups)
		if pw, ok := lookupPassword(passwords, u.Name, u.Host); !ok || pw == "" {
			p.Locked = append(p.Locked, account(u.Name, u.Host))
		}
	}
	for _, r := range roles {
		p.Grants += len(r.grants)
	}
	for _, g := range s.Groups {
		p.Grants += len(g.Roles)
	}
	return p, nil
}

func lookupPassword(passwords func(user, host string) (string, bool), user, host string) (string, bool) {
	if passwords == nil {
		return "", false
	}
	return passwords(user, host)
}
