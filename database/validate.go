package database

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// The patterns every name is checked against before it is put into a statement. They are
// stricter than SingleStore's own rules on purpose: a name that passes cannot end a quoted
// identifier or literal, start a comment or hold a second statement.
var (
	identPattern     = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	milestonePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}$`)
	principalPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`) // users, roles, groups
	hostPattern      = regexp.MustCompile(`^[A-Za-z0-9_.%:-]{1,255}$`)
	privilegePattern = regexp.MustCompile(`^[A-Z][A-Z_]*( [A-Z][A-Z_]*){0,3}$`)
	bucketPattern    = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	pathPattern      = regexp.MustCompile(`^[A-Za-z0-9._/-]{1,512}$`)
	regionPattern    = regexp.MustCompile(`^[a-z0-9-]{1,32}$`)
	ipLikeBucket     = regexp.MustCompile(`^\d+\.\d+\.\d+\.\d+$`)
)

// ErrInvalid is what every validation error matches with errors.Is: the input can never
// succeed, so retrying is pointless.
var ErrInvalid = errors.New("invalid input")

// IsInvalid reports whether err comes from input validation (nothing was executed).
func IsInvalid(err error) bool { return errors.Is(err, ErrInvalid) }

// invalidError is a validation error. Its message names the operation and the field and does
// not end in ErrInvalid's text, which it matches through Is.
type invalidError struct{ msg string }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == ErrInvalid }

// invalidf builds an error for field of op: "attach: as: invalid database name \"x y\"".
func invalidf(op, field, format string, args ...any) error {
	return &invalidError{msg: op + ": " + field + ": " + fmt.Sprintf(format, args...)}
}

func checkIdent(op, field, kind, name string) error {
	if !identPattern.MatchString(name) {
		return invalidf(op, field, "invalid %s name %q", kind, name)
	}
	return nil
}

func checkDatabase(op, field, name string) error { return checkIdent(op, field, "database", name) }

func checkMilestone(op, field, name string) error {
	if !milestonePattern.MatchString(name) {
		return invalidf(op, field, "invalid milestone name %q", name)
	}
	return nil
}

func checkPrincipal(op, field, kind, name string) error {
	if !principalPattern.MatchString(name) {
		return invalidf(op, field, "invalid %s name %q", kind, name)
	}
	return nil
}

func checkHost(op, field, host string) error {
	if !hostPattern.MatchString(host) {
		return invalidf(op, field, "invalid host %q", host)
	}
	return nil
}

// checkBucket applies S3's bucket naming rules (3-63 characters, lower case, digits, dots
// and hyphens, no "..", not an IP address).
func checkBucket(op, field, b string) error {
	if !bucketPattern.MatchString(b) || strings.Contains(b, "..") || ipLikeBucket.MatchString(b) {
		return invalidf(op, field, "invalid bucket name %q", b)
	}
	return nil
}

// checkPath accepts a relative folder inside a bucket: no "..", no empty segment.
func checkPath(op, field, p string) error {
	if !pathPattern.MatchString(p) || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return invalidf(op, field, "invalid path %q", p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return invalidf(op, field, "invalid path %q: empty, . or .. segment", p)
		}
	}
	return nil
}

func checkRegion(op, field, r string) error {
	if r != "" && !regionPattern.MatchString(r) {
		return invalidf(op, field, "invalid region %q", r)
	}
	return nil
}

// checkEndpoint accepts an empty endpoint (AWS) or an http(s) URL without user info, query
// or fragment.
func checkEndpoint(op, field, e string) error {
	if e == "" {
		return nil
	}
	u, err := url.Parse(e)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(e, "'\"\\` \t\r\n") {
		return invalidf(op, field, "invalid endpoint URL %q: want http(s)://host[:port][/path]", e)
	}
	return nil
}

// checkSecret refuses an empty secret or one with control characters, without echoing it.
func checkSecret(op, field, s string, required bool) error {
	if s == "" {
		if required {
			return invalidf(op, field, "required")
		}
		return nil
	}
	if strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return invalidf(op, field, "contains control characters")
	}
	return nil
}
