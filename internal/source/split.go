package source

import "strings"

// stmtKind tracks what the first words of a statement say about how its
// body may contain semicolons.
type stmtKind uint8

const (
	kindStart   stmtKind = iota // no token yet
	kindCreate                  // "CREATE", possibly followed by TEMP/OR REPLACE
	kindTrigger                 // CREATE ... TRIGGER: SQLite bodies are BEGIN ...; ...; END
	kindRoutine                 // CREATE ... FUNCTION/PROCEDURE: PostgreSQL BEGIN ATOMIC ... END
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
	sc := newScanner(sql, firstLine)
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
		sp.add(tok)
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
	sp.start, sp.kind, sp.depth, sp.afterBegin = -1, kindStart, 0, false
}

// add feeds one token other than tokEOF.
func (sp *splitter) add(tok token) {
	switch tok.kind {
	case tokLineComment:
		return
	case tokSemicolon:
		if sp.depth == 0 {
			sp.flush()
			return
		}
	}
	if sp.start < 0 {
		sp.start = tok.start
		sp.cur = Statement{Line: tok.line, Col: sp.sc.column(tok.lineOff, tok.start)}
	}
	sp.end = tok.end
	if tok.kind != tokWord {
		if sp.kind == kindStart || sp.kind == kindCreate {
			sp.kind = kindOther
		}
		sp.afterBegin = false
		return
	}
	if sp.kind == kindOther {
		return // the common case: no keyword matters any more
	}
	w := sp.src[tok.start:tok.end]
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
}

// keyword reports whether w is the upper-case keyword kw in any case.
func keyword(w, kw string) bool {
	return len(w) == len(kw) && strings.EqualFold(w, kw)
}
