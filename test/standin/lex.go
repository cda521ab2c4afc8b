package standin

import (
	"fmt"
	"strings"
)

// tokKind is the class of a lexical token of the statements the stand-in parses itself.
type tokKind int

const (
	tokWord   tokKind = iota // keyword or bare identifier or number
	tokQuoted                // `identifier`
	tokString                // 'text' or "text": SingleStore quotes locations with either
	tokPunct                 // one of @ . , * ( ) = % ;
)

type token struct {
	kind tokKind
	text string // unquoted and unescaped
	pos  int    // byte offset in the statement, for error messages
}

// is reports whether t is the keyword kw (case-insensitive); quoted text never is.
func (t token) is(kw string) bool {
	return t.kind == tokWord && strings.EqualFold(t.text, kw)
}

func (t token) String() string {
	switch t.kind {
	case tokQuoted:
		return "`" + t.text + "`"
	case tokString:
		return "'" + t.text + "'"
	default:
		return t.text
	}
}

// lex splits a statement into tokens. It skips comments and understands MySQL's string
// escapes (backslash and doubled quotes), which is all the intercepted statements need.
func lex(s string) ([]token, error) {
	var toks []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '#' || (c == '-' && strings.HasPrefix(s[i:], "-- ")):
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && strings.HasPrefix(s[i:], "/*"):
			end := strings.Index(s[i+2:], "*/")
			if end < 0 {
				return nil, fmt.Errorf("unterminated comment at offset %d", i)
			}
			i += end + 4
		case c == '\'' || c == '"':
			text, n, err := lexQuoted(s[i:], c)
			if err != nil {
				return nil, fmt.Errorf("%w at offset %d", err, i)
			}
			toks = append(toks, token{kind: tokString, text: text, pos: i})
			i += n
		case c == '`':
			end := strings.IndexByte(s[i+1:], '`')
			if end < 0 {
				return nil, fmt.Errorf("unterminated `identifier` at offset %d", i)
			}
			toks = append(toks, token{kind: tokQuoted, text: s[i+1 : i+1+end], pos: i})
			i += end + 2
		case isWordByte(c):
			j := i
			for j < len(s) && isWordByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokWord, text: s[i:j], pos: i})
			i = j
		case strings.IndexByte("@.,*()=%;", c) >= 0:
			toks = append(toks, token{kind: tokPunct, text: string(c), pos: i})
			i++
		default:
			return nil, fmt.Errorf("unexpected character %q at offset %d", c, i)
		}
	}
	// A trailing semicolon ends the statement; it is not part of it.
	for len(toks) > 0 && toks[len(toks)-1].kind == tokPunct && toks[len(toks)-1].text == ";" {
		toks = toks[:len(toks)-1]
	}
	return toks, nil
}

func isWordByte(c byte) bool {
	return c == '_' || c == '$' ||
		('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9') || c >= 0x80
}

// lexQuoted reads a quoted string starting at s[0] == q and returns its text and length.
func lexQuoted(s string, q byte) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			case 't':
				b.WriteByte('\t')
			case 'r':
				b.WriteByte('\r')
			case '0':
				b.WriteByte(0)
			default:
				b.WriteByte(s[i])
			}
		case c == q && i+1 < len(s) && s[i+1] == q:
			b.WriteByte(q)
			i++
		case c == q:
			return b.String(), i + 1, nil
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, fmt.Errorf("unterminated string")
}
