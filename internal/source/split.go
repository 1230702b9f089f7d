package source

import (
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// stmtKind tracks what the first words of a statement say about how its
// body may contain semicolons.
type stmtKind uint8

const (
	kindStart   stmtKind = iota // no token yet
	kindCreate                  // "CREATE", possibly followed by TEMP/OR REPLACE
	kindTrigger                 // CREATE ... TRIGGER: SQLite bodies are BEGIN ...; ...; END
	kindRoutine                 // CREATE ... FUNCTION/PROCEDURE: PostgreSQL BEGIN ATOMIC ... END
	kindMyBody                  // MySQL CREATE TRIGGER/PROCEDURE/FUNCTION/EVENT, or BEGIN NOT ATOMIC
	kindMyBegin                 // MySQL statement starting with BEGIN: a transaction, or BEGIN NOT ATOMIC
	kindOther
)

// Split splits sql into statements at top-level semicolons. firstLine is the
// file line on which sql starts, so that positions point into the file rather
// than into the section.
//
// Semicolons inside strings, quoted identifiers, dollar-quoted bodies and
// comments do not split, nor do those inside the BEGIN ... END body of a
// CREATE TRIGGER (SQLite) or a BEGIN ATOMIC ... END routine body
// (PostgreSQL), because sending half a trigger to the database fails in
// confusing ways. Statements made only of whitespace and comments are
// dropped: drivers reject empty queries, and a trailing comment after the
// last semicolon is common.
//
// An unterminated string, quoted identifier, dollar quote or block comment is
// an *Error naming the line where it starts, with File empty.
func Split(sql string, firstLine int) ([]Statement, error) {
	return SplitDialect(sql, firstLine, dialect.Postgres)
}

// SplitDialect is Split by the lexical rules of dialect d: PostgreSQL's for
// Postgres and SQLite, MySQL's for MySQL (see mysql.go), where DELIMITER
// lines are also understood.
func SplitDialect(sql string, firstLine int, d dialect.Dialect) ([]Statement, error) {
	return split(sql, firstLine, lexFor(d))
}

func split(sql string, firstLine int, lx lexer) ([]Statement, error) {
	sc := lx.scanner(sql, firstLine)
	sp := newSplitter(sql, sc)
	for {
		tok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			sp.flush()
			return sp.stmts, nil
		}
		if err := sp.add(tok); err != nil {
			return nil, err
		}
	}
}

// splitter groups tokens into statements. It is fed by Split, and by Parse,
// which scans a whole file once and starts a new splitter at each section
// marker.
type splitter struct {
	src        string
	sc         *scanner
	stmts      []Statement
	cur        Statement
	start, end int // byte range of the current statement; start < 0 when none
	kind       stmtKind
	depth      int // open BEGIN/CASE blocks inside a trigger or routine body
	afterBegin bool
	// pendingEnd is a MySQL END inside a body whose next word decides
	// whether it closes a block: END IF, END LOOP, END WHILE and END REPEAT
	// close statements that were not counted.
	pendingEnd bool
}

func newSplitter(src string, sc *scanner) splitter {
	return splitter{src: src, sc: sc, stmts: []Statement{}, start: -1}
}

// flush ends the current statement, if it has any content.
func (sp *splitter) flush() {
	if sp.start >= 0 {
		sp.cur.SQL = sp.src[sp.start:sp.end]
		sp.cur.Index = len(sp.stmts)
		sp.stmts = append(sp.stmts, sp.cur)
	}
	sp.start, sp.kind, sp.depth, sp.afterBegin, sp.pendingEnd = -1, kindStart, 0, false, false
}

// add feeds one token other than tokEOF. The only error is a DELIMITER line
// in the middle of a statement.
func (sp *splitter) add(tok token) error {
	switch tok.kind {
	case tokLineComment:
		return nil
	case tokDelimiterCmd:
		if sp.start >= 0 {
			return &Error{Line: tok.line, Msg: fmt.Sprintf("DELIMITER inside the statement that starts at line %d; end that statement first", sp.cur.Line)}
		}
		return nil
	case tokSemicolon:
		if sp.pendingEnd {
			sp.pendingEnd = false
			sp.depth--
		}
		// Under a DELIMITER other than ';', the delimiter ends the
		// statement whatever the nesting: that is what it is for.
		if sp.depth <= 0 || sp.sc.delim != "" {
			sp.flush()
			return nil
		}
	}
	if sp.start < 0 {
		sp.start = tok.start
		sp.cur = Statement{Line: tok.line, Col: sp.sc.column(tok.lineOff, tok.start)}
	}
	sp.end = tok.end
	if tok.kind != tokWord {
		switch {
		case sp.pendingEnd:
			sp.pendingEnd = false
			sp.depth--
		case sp.kind == kindCreate && sp.sc.mysql:
			// DEFINER = `user`@`host` comes before TRIGGER or PROCEDURE
		case sp.kind == kindStart || sp.kind == kindCreate || sp.kind == kindMyBegin:
			sp.kind = kindOther
		}
		sp.afterBegin = false
		return nil
	}
	if sp.kind == kindOther {
		return nil // the common case: no keyword matters any more
	}
	w := sp.src[tok.start:tok.end]
	if sp.sc.mysql {
		sp.addMySQLWord(w)
		return nil
	}
	switch sp.kind {
	case kindStart:
		sp.kind = kindOther
		if keyword(w, "CREATE") {
			sp.kind = kindCreate
		}
	case kindCreate:
		switch {
		case keyword(w, "TEMP"), keyword(w, "TEMPORARY"), keyword(w, "OR"), keyword(w, "REPLACE"):
		case keyword(w, "TRIGGER"):
			sp.kind = kindTrigger
		case keyword(w, "FUNCTION"), keyword(w, "PROCEDURE"):
			sp.kind = kindRoutine
		default:
			sp.kind = kindOther
		}
	case kindTrigger:
		switch {
		case keyword(w, "BEGIN"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "CASE"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "END"):
			sp.depth--
		}
	case kindRoutine:
		switch {
		case sp.afterBegin && keyword(w, "ATOMIC"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "CASE"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "END"):
			sp.depth--
		}
	}
	sp.afterBegin = keyword(w, "BEGIN")
	return nil
}

// addMySQLWord follows the nesting of a MySQL compound statement body:
// BEGIN ... END and CASE ... END [CASE] count; IF, LOOP, WHILE and REPEAT
// are not counted, so their END IF, END LOOP, ... must not close anything.
func (sp *splitter) addMySQLWord(w string) {
	switch sp.kind {
	case kindStart:
		switch {
		case keyword(w, "CREATE"):
			sp.kind = kindCreate
		case keyword(w, "BEGIN"):
			sp.kind = kindMyBegin
		default:
			sp.kind = kindOther
		}
	case kindMyBegin:
		sp.kind = kindOther
		if keyword(w, "NOT") { // MariaDB's BEGIN NOT ATOMIC ... END
			sp.kind, sp.depth = kindMyBody, 1
		}
	case kindCreate:
		switch {
		case keyword(w, "TRIGGER"), keyword(w, "PROCEDURE"), keyword(w, "FUNCTION"), keyword(w, "EVENT"):
			sp.kind = kindMyBody
		case keyword(w, "TABLE"), keyword(w, "INDEX"), keyword(w, "VIEW"), keyword(w, "DATABASE"), keyword(w, "SCHEMA"),
			keyword(w, "UNIQUE"), keyword(w, "FULLTEXT"), keyword(w, "SPATIAL"), keyword(w, "USER"), keyword(w, "ROLE"):
			sp.kind = kindOther
		}
	case kindMyBody:
		if sp.pendingEnd {
			sp.pendingEnd = false
			switch {
			case keyword(w, "IF"), keyword(w, "LOOP"), keyword(w, "WHILE"), keyword(w, "REPEAT"):
				return
			case keyword(w, "CASE"):
				sp.depth-- // END CASE closes a counted CASE
				return
			}
			sp.depth-- // END, or END label
		}
		switch {
		case keyword(w, "BEGIN"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "CASE"):
			sp.depth++
		case sp.depth > 0 && keyword(w, "END"):
			sp.pendingEnd = true
		}
	}
}

// keyword reports whether w is the upper-case keyword kw in any case.
func keyword(w, kw string) bool {
	return len(w) == len(kw) && strings.EqualFold(w, kw)
}
