package source

import (
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// MySQL and MariaDB lex differently from PostgreSQL and SQLite, and the
// differences decide where a statement ends:
//
//   - '...' and "..." are strings in which a backslash escapes the next
//     character (the default sql_mode), so 'it\'s; ok' is one string;
//     `...` is an identifier, with `` standing for a backtick.
//   - "#" starts a comment to the end of the line, and so does "--", but
//     only when followed by whitespace or a control character: "1--1" is
//     arithmetic.
//   - /* ... */ comments do not nest; /*! ... */ and MariaDB's /*M! ... */
//     are not comments at all but conditional code the server runs, so they
//     are kept in the statement as one token, semicolons and all.
//   - "$" is an identifier character, never a quote.
//   - DELIMITER x, a mysql client command on a line of its own, makes x end
//     statements instead of ';' until the next DELIMITER line, which is how
//     dumps and hand-written files define triggers and procedures. The line
//     itself is not sent anywhere.
//
// Without DELIMITER, the body of a CREATE TRIGGER, PROCEDURE, FUNCTION or
// EVENT (BEGIN ... END, with IF/CASE/LOOP/WHILE/REPEAT ... END x inside)
// stays one statement, as the server parses it when golang-migrate or
// dbmate send a whole file with multiStatements: the splitter tracks the
// nesting (split.go).

// nextMySQL scans one token by MySQL's rules; tok has the position set.
// skip is set for a plain block comment, which is not a token.
func (s *scanner) nextMySQL(tok token) (token, bool, error) {
	c := s.src[s.pos]
	var err error
	switch {
	case s.delim != "" && strings.HasPrefix(s.src[s.pos:], s.delim):
		s.pos += len(s.delim)
		tok.kind = tokSemicolon
	case tok.atLineStart && s.delimiterCommand():
		return s.delimiterLine(tok)
	case c == '#', c == '-' && s.peek(1) == '-' && s.mysqlDashComment():
		end := strings.IndexByte(s.src[s.pos:], '\n')
		if end < 0 {
			s.pos = len(s.src)
		} else {
			s.pos += end
		}
		tok.kind = tokLineComment
	case c == '/' && s.peek(1) == '*':
		conditional := s.peek(2) == '!' || s.peek(2) == 'M' && s.peek(3) == '!'
		line := s.line
		end := strings.Index(s.src[s.pos+2:], "*/")
		if end < 0 {
			return token{}, false, &Error{Line: line, Msg: "unterminated block comment"}
		}
		s.advance(s.pos + 2 + end + 2)
		if !conditional {
			return token{}, true, nil
		}
		tok.kind = tokOther
	case c == ';':
		s.pos++
		tok.kind = tokSemicolon
		if s.delim != "" {
			tok.kind = tokOther // inside a DELIMITER block ';' ends nothing
		}
	case c == '\'' || c == '"':
		tok.kind = tokOther
		err = s.quoted(c, true)
	case c == '`':
		tok.kind = tokOther
		err = s.quoted(c, false)
	case isWordStart(c) || c == '$':
		tok.kind = tokWord
		s.pos++
		for s.pos < len(s.src) && isWordByte(s.src[s.pos]) {
			if s.delim != "" && strings.HasPrefix(s.src[s.pos:], s.delim) {
				break // "END$$" is END and the delimiter
			}
			s.pos++
		}
	default:
		s.pos++
		tok.kind = tokOther
	}
	if err != nil {
		return token{}, false, err
	}
	tok.end = s.pos
	return tok, false, nil
}

// mysqlDashComment reports whether the "--" at s.pos starts a comment:
// MySQL requires whitespace or a control character after it. A fleetgate
// directive written without the space ("--fleetgate:up") still counts, as
// it does for the other databases, since fleetgate reads it and never sends
// it.
func (s *scanner) mysqlDashComment() bool {
	c := s.peek(2)
	return c <= ' ' || c == 0x7f || // peek gives 0 at the end of the text
		strings.HasPrefix(s.src[s.pos+2:], directivePrefix)
}

// delimiterCommand reports whether the line at s.pos is a DELIMITER command:
// the word, in any case, then blanks and the new delimiter.
func (s *scanner) delimiterCommand() bool {
	const kw = "DELIMITER"
	rest := s.src[s.pos:]
	return len(rest) > len(kw) && strings.EqualFold(rest[:len(kw)], kw) &&
		(rest[len(kw)] == ' ' || rest[len(kw)] == '\t')
}

// delimiterLine consumes a DELIMITER line and switches the delimiter. The
// delimiter is the first blank-separated word after the command, as the
// mysql client reads it; ";" switches back to normal splitting.
func (s *scanner) delimiterLine(tok token) (token, bool, error) {
	if s.noDelimiter != "" {
		return token{}, false, &Error{Line: s.line, Msg: s.noDelimiter}
	}
	end := strings.IndexByte(s.src[s.pos:], '\n')
	if end < 0 {
		end = len(s.src) - s.pos
	}
	line := s.src[s.pos : s.pos+end]
	fields := strings.Fields(line[len("DELIMITER"):])
	switch {
	case len(fields) == 0:
		return token{}, false, &Error{Line: s.line, Msg: "DELIMITER needs the new delimiter, as in DELIMITER $$"}
	case len(fields) > 1:
		return token{}, false, &Error{Line: s.line, Msg: fmt.Sprintf("DELIMITER takes one delimiter, not %q", strings.TrimSpace(line[len("DELIMITER"):]))}
	case strings.ContainsAny(fields[0], "'\"`\\"):
		return token{}, false, &Error{Line: s.line, Msg: fmt.Sprintf("DELIMITER %s: a delimiter may not contain quotes or backslashes", fields[0])}
	}
	s.delim = fields[0]
	if s.delim == ";" {
		s.delim = ""
	}
	s.pos += end
	tok.kind, tok.end = tokDelimiterCmd, s.pos
	return tok, false, nil
}

// lexer says which lexical rules to scan a file by, and what a DELIMITER
// line means in it.
type lexer struct {
	mysql bool
	// noDelimiter is the error for a DELIMITER line, in formats whose tool
	// sends the text to the server as it is.
	noDelimiter string
}

func lexFor(d dialect.Dialect) lexer { return lexer{mysql: d == dialect.MySQL} }

func (lx lexer) scanner(src string, firstLine int) *scanner {
	sc := newScanner(src, firstLine)
	sc.mysql, sc.noDelimiter = lx.mysql, lx.noDelimiter
	return sc
}

// ImplicitCommit names what makes a MySQL or MariaDB statement commit the
// open transaction on its own ("CREATE TABLE", "ALTER TABLE", ...), "" for
// a statement that runs inside a transaction (DML, SET, CREATE TEMPORARY
// TABLE). Such a statement can never be recorded atomically with its
// effect, so a MySQL section that has one runs statement by statement
// (see planTxLex): the runner records, fenced, which statement is about to
// run and on which session, runs it in autocommit, and records it done.
//
// The decision is by the leading keywords, as the server's own list of
// statements that cause an implicit commit has it: data definition
// (CREATE, ALTER, DROP, RENAME, TRUNCATE, except the TEMPORARY table
// forms), accounts (GRANT, REVOKE, CREATE/ALTER/DROP/RENAME USER, SET
// PASSWORD), table maintenance (ANALYZE, CHECK, OPTIMIZE, REPAIR TABLE,
// CACHE INDEX, LOAD INDEX), FLUSH, RESET, plugins, LOCK and UNLOCK TABLES,
// and replication control. A statement inside a /*! ... */ conditional
// comment (how mysqldump writes CREATE VIEW) is judged by its content.
// Compound statements (BEGIN NOT ATOMIC ... END) and CALL are not: what
// they run is not known before they run.
func ImplicitCommit(stmt string) string {
	words := leadingWords(stmt, 4)
	w := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	switch w0 := w(0); w0 {
	case "CREATE", "DROP":
		i := 1
		if w0 == "CREATE" && w(1) == "OR" && w(2) == "REPLACE" {
			i = 3
		}
		if w(i) == "TEMPORARY" {
			return ""
		}
		obj := w(i)
		if obj == "UNIQUE" || obj == "FULLTEXT" || obj == "SPATIAL" {
			obj = w(i + 1)
		}
		if obj == "" {
			return w0
		}
		return w0 + " " + obj
	case "ALTER", "RENAME":
		if w(1) == "" {
			return w0
		}
		return w0 + " " + w(1)
	case "TRUNCATE", "ANALYZE", "OPTIMIZE", "REPAIR":
		return w0 + " TABLE"
	case "CHECK":
		if w(1) == "TABLE" {
			return "CHECK TABLE"
		}
	case "GRANT", "REVOKE", "FLUSH", "RESET", "INSTALL", "UNINSTALL", "PURGE":
		return w0
	case "SET":
		if w(1) == "PASSWORD" {
			return "SET PASSWORD"
		}
		if w(1) == "AUTOCOMMIT" || w(1) == "@@AUTOCOMMIT" || w(1) == "SESSION" && w(2) == "AUTOCOMMIT" {
			return "SET autocommit"
		}
	case "LOCK", "UNLOCK":
		if w(1) == "TABLES" || w(1) == "TABLE" {
			return w0 + " TABLES"
		}
	case "CACHE", "LOAD":
		if w(1) == "INDEX" {
			return w0 + " INDEX"
		}
	case "START", "STOP":
		if w(1) == "SLAVE" || w(1) == "REPLICA" || w(1) == "GROUP_REPLICATION" {
			return w0 + " " + w(1)
		}
	case "CHANGE":
		if w(1) == "MASTER" || w(1) == "REPLICATION" {
			return "CHANGE " + w(1)
		}
	}
	return ""
}

// leadingWords returns up to n keywords at the start of a MySQL statement,
// upper-cased, skipping comments; a leading /*! ... */ conditional comment
// is read as the code it holds.
func leadingWords(stmt string, n int) []string {
	lx := lexer{mysql: true}
	sc := lx.scanner(stmt, 1)
	var words []string
	for len(words) < n {
		tok, err := sc.next()
		if err != nil || tok.kind == tokEOF || tok.kind == tokSemicolon {
			break
		}
		text := stmt[tok.start:tok.end]
		switch tok.kind {
		case tokWord:
			words = append(words, strings.ToUpper(text))
		case tokLineComment:
		case tokOther:
			if len(words) == 0 && strings.HasPrefix(text, "/*") {
				inner := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(text, "/*M!"), "/*!"), "*/")
				inner = strings.TrimLeft(inner, "0123456789")
				return leadingWords(inner, n)
			}
			if text != "@" {
				// Punctuation ends the keywords; "SET @@autocommit" goes
				// on through its "@".
				return words
			}
		}
	}
	return words
}
