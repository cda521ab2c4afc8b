package standin

import (
	"fmt"
	"regexp"
)

// Every name that comes from SQL and ends up in a key, a file or a generated statement is
// checked against one of these patterns first, so that no input can escape its place.
var (
	dbNamePattern        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,63}$`)
	tableNamePattern     = dbNamePattern
	principalPattern     = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$`)
	hostPattern          = regexp.MustCompile(`^[A-Za-z0-9_.%:-]{1,255}$`)
	milestoneNamePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.:-]{0,127}$`)
	bucketPattern        = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	pathSegmentPattern   = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.=-]{0,127}$`)
)

func checkName(kind string, re *regexp.Regexp, name string) error {
	if !re.MatchString(name) {
		return fmt.Errorf("invalid %s name %q: must match %s", kind, name, re.String())
	}
	return nil
}

func checkDBName(name string) error { return checkName("database", dbNamePattern, name) }

func checkAccount(a account) error {
	if err := checkName("user", principalPattern, a.User); err != nil {
		return err
	}
	return checkName("host", hostPattern, a.Host)
}
