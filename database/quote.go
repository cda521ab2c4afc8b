package database

import "strings"

// Quoting is the second line of defence: every name is validated first, and is quoted and
// escaped anyway, so that a pattern loosened by mistake still cannot end a literal.

// quoteIdent renders name as a backtick-quoted identifier.
func quoteIdent(name string) string {
	return "`" + strings.ReplaceAll(name, "`", "``") + "`"
}

// The escapers of single- and double-quoted literals. The delimiting quote is doubled rather
// than backslash-escaped: a doubled quote means one quote whether or not the server runs
// with NO_BACKSLASH_ESCAPES, so no input can end the literal in either mode.
var (
	singleEscaper = strings.NewReplacer(`\`, `\\`, `'`, `''`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`)
	doubleEscaper = strings.NewReplacer(`\`, `\\`, `"`, `""`, "\x00", `\0`, "\n", `\n`, "\r", `\r`, "\x1a", `\Z`)
)

// quoteString renders s as a single-quoted string literal.
func quoteString(s string) string { return "'" + singleEscaper.Replace(s) + "'" }

// quoteDouble renders s as a double-quoted string literal, the form SingleStore's
// documentation uses for S3 locations and milestone names.
func quoteDouble(s string) string { return `"` + doubleEscaper.Replace(s) + `"` }

// account renders 'user'@'host'.
func account(user, host string) string { return quoteString(user) + "@" + quoteString(host) }
