// Package mysqlstmt recognizes the MySQL and MariaDB statements that the
// MySQL checks (package mysqllint) and the crash recovery of the MySQL
// driver (Driver.StatementEffect) need to understand: what kind of
// statement it is, which tables it names, and, for ALTER TABLE, CREATE
// INDEX and DROP INDEX, what each clause does.
//
// It is not a full parser. It was written instead of linking one because
// vitess's parser, the only maintained Go MySQL parser with detailed ALTER
// TABLE support that is not larger still (TiDB's), added 14 MB to the
// binary and about 5 ms of package initialisation to every fleetgate
// process, on every database (docs/checks.md, "MySQL and MariaDB").
// Statements whose kind no consumer reads (SELECT, INSERT, SET, GRANT, ...)
// are recognized by their first word and not read further. A statement
// this package cannot recognize gets an *Error with the position of the
// token it stopped at, which its callers treat as vitess's parse errors
// were treated; the differential tests compare it with vitess over a
// corpus.
package mysqlstmt

import (
	"strings"
)

// tokKind is the lexical class of a token.
type tokKind uint8

const (
	tWord   tokKind = iota // keyword or bare identifier
	tQuoted                // `identifier`
	tString                // '...' or "..."
	tNumber
	tVar   // @x, @@x
	tPunct // any other single character
)

type token struct {
	kind tokKind
	off  int    // byte offset of the token in the statement
	end  int    // byte offset just past it
	text string // as written, without quotes for tQuoted (unescaped)
	up   string // upper-cased text of a tWord, for keyword comparison
	gap  bool   // whitespace or a comment separated it from the token before
}

func (t token) is(kw string) bool { return t.kind == tWord && t.up == kw }
func (t token) punct(c byte) bool { return t.kind == tPunct && len(t.text) == 1 && t.text[0] == c }
func (t token) ident() bool       { return t.kind == tWord || t.kind == tQuoted }
func isWordByte(c byte) bool      { return c == '_' || c == '$' || c >= 0x80 || isAlnum(c) }
func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'
}
func isDigit(c byte) bool             { return c >= '0' && c <= '9' }
func unterminated(what string) string { return "unterminated " + what }

// lex splits sql into tokens. Comments are dropped, except the executable
// comments /*! ... */ and MariaDB's /*M! ... */, whose contents the server
// runs and which are therefore tokens like any other (the version number
// after the ! is dropped). The error is for an unterminated string,
// identifier or comment, at its start.
func lex(sql string, toks []token) ([]token, *Error) {
	lx := lexer{sql: sql}
	for {
		t, ok, err := lx.next()
		if err != nil || !ok {
			return toks, err
		}
		if t.kind == tWord && len(toks) > 0 && toks[len(toks)-1].punct('.') {
			// After a dot a word is a name, never a keyword (t.where).
			t.kind = tQuoted
		}
		toks = append(toks, t)
	}
}

// lexer reads the tokens of a statement one at a time.
type lexer struct {
	sql    string
	i      int
	gap    bool
	inExec bool // inside /*! ... */
}

// next returns the next token; false at the end of the text.
func (lx *lexer) next() (token, bool, *Error) {
	sql, i := lx.sql, lx.i
	gap, inExec := lx.gap, lx.inExec
	defer func() { lx.gap, lx.inExec = gap, inExec }()
	for i < len(sql) {
		c := sql[i]
		switch {
		case isSpace(c):
			i++
			gap = true
			continue
		case c == '#' || c == '-' && strings.HasPrefix(sql[i:], "--") && (i+2 == len(sql) || isSpace(sql[i+2]) || sql[i+2] < ' '):
			for i < len(sql) && sql[i] != '\n' {
				i++
			}
			gap = true
			continue
		case c == '*' && inExec && strings.HasPrefix(sql[i:], "*/"):
			inExec = false
			i += 2
			gap = true
			continue
		case c == '/' && strings.HasPrefix(sql[i:], "/*"):
			if !inExec && (strings.HasPrefix(sql[i:], "/*!") || strings.HasPrefix(sql[i:], "/*M!")) {
				i += strings.IndexByte(sql[i:], '!') + 1
				for i < len(sql) && isDigit(sql[i]) {
					i++
				}
				inExec = true
				gap = true
				continue
			}
			end := strings.Index(sql[i+2:], "*/")
			if end < 0 {
				return token{}, false, &Error{Off: i, Near: sql[i:min(len(sql), i+2)], Msg: unterminated("comment")}
			}
			i += 2 + end + 2
			gap = true
			continue
		}
		t := token{off: i, gap: gap}
		gap = false
		switch {
		case c == '\'' || c == '"' || c == '`':
			text, n, ok := quoted(sql[i:], c)
			if !ok {
				what := "string"
				if c == '`' {
					what = "identifier"
				}
				return token{}, false, &Error{Off: i, Near: sql[i:min(len(sql), i+1)], Msg: unterminated(what)}
			}
			t.kind, t.text, t.end = tString, text, i+n
			if c == '`' {
				t.kind = tQuoted
			}
		case c == '@':
			j := i + 1
			if j < len(sql) && sql[j] == '@' {
				j++
			}
			for j < len(sql) && (isWordByte(sql[j]) || sql[j] == '.') {
				j++
			}
			t.kind, t.text, t.end = tVar, sql[i:j], j
		case isDigit(c) || c == '.' && i+1 < len(sql) && isDigit(sql[i+1]):
			j := i
			for j < len(sql) && (isWordByte(sql[j]) || sql[j] == '.') {
				j++
			}
			t.kind, t.text, t.end = tNumber, sql[i:j], j
			if !isNumber(t.text) {
				// MySQL identifiers may start with a digit (1st_try).
				t.kind, t.up = tWord, strings.ToUpper(t.text)
			}
		case isWordByte(c):
			j := i
			for j < len(sql) && isWordByte(sql[j]) {
				j++
			}
			t.kind, t.text, t.up, t.end = tWord, sql[i:j], strings.ToUpper(sql[i:j]), j
		default:
			t.kind, t.text, t.end = tPunct, sql[i:i+1], i+1
		}
		lx.i = t.end
		return t, true, nil
	}
	lx.i = i
	return token{}, false, nil
}

// quoted reads the quoted string or identifier at the start of s, quoted
// by q: a doubled quote stands for itself, and in strings (not in
// identifiers) a backslash escapes the next character. It returns the
// unquoted text and the length of the quoted form.
func quoted(s string, q byte) (string, int, bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && q != '`':
			if i+1 == len(s) {
				return "", 0, false
			}
			i++
			b.WriteByte(unescape(s[i]))
		case c == q:
			if i+1 < len(s) && s[i+1] == q {
				b.WriteByte(q)
				i++
				continue
			}
			return b.String(), i + 1, true
		default:
			b.WriteByte(c)
		}
	}
	return "", 0, false
}

func unescape(c byte) byte {
	switch c {
	case 'n':
		return '\n'
	case 't':
		return '\t'
	case 'r':
		return '\r'
	case '0':
		return 0
	case 'b':
		return '\b'
	case 'Z':
		return 26
	}
	return c
}

// isNumber reports whether a run of word characters and dots that starts
// with a digit is a number (12, 1.5, 1e5, 0x1F, 0b101) rather than an
// identifier that starts with digits.
func isNumber(s string) bool {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "0x") || strings.HasPrefix(l, "0b") {
		return true
	}
	return strings.TrimLeft(strings.Replace(l, "e", "", 1), "0123456789.") == ""
}
