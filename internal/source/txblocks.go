package source

import (
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// Unit is a part of a section that runs, and is recorded, as one: a single
// statement, or an explicit transaction block the file opens and commits
// itself (BEGIN; ...; COMMIT;). A section running outside a transaction
// records its progress only between units, so an interrupted block is run
// again whole on resume and a committed one is never run again.
type Unit struct {
	// Start and End delimit the unit: Statements[Start:End].
	Start, End int
	// Open is how many statements at Start open an explicit transaction
	// block: its BEGIN or START TRANSACTION and any SET TRANSACTION right
	// after it. It is 0 for a unit of one statement outside any block. When
	// Open > 0, Statements[End-1] is the block's COMMIT or END.
	Open int
}

// Block reports whether the unit is an explicit transaction block.
func (u Unit) Block() bool { return u.Open > 0 }

// UnitAt returns the explicit transaction block that starts at statement
// i, if there is one. A runner going statement by statement asks it at
// each step and runs such a block as one transaction.
func (s *Section) UnitAt(i int) (Unit, bool) {
	for _, u := range s.Units {
		if u.Start == i && u.Block() {
			return u, true
		}
	}
	return Unit{}, false
}

// BlockBody returns what runs inside block u: the text that opens the
// transaction (the file's own BEGIN, with its isolation level or SET
// TRANSACTION, kept verbatim) and the statements between it and the
// COMMIT. The COMMIT itself is not returned: the runner commits together
// with its history row instead.
func (s *Section) BlockBody(u Unit) (begin string, stmts []Statement) {
	open := make([]string, u.Open)
	for i := range open {
		open[i] = s.Statements[u.Start+i].SQL
	}
	return strings.Join(open, ";\n"), s.Statements[u.Start+u.Open : u.End-1]
}

// TxBody returns what a section that runs in one transaction executes: its
// statements without the BEGIN and COMMIT of the (at most one) explicit
// block it contains, and the text that opens the transaction, "" for a
// plain BEGIN. Running the block's content in the runner's own transaction
// is the same transaction the file asked for, with the history row inside.
func (s *Section) TxBody() (begin string, stmts []Statement) {
	if len(s.Units) == 0 {
		return "", s.Statements
	}
	stmts = make([]Statement, 0, len(s.Statements))
	for _, u := range s.Units {
		if !u.Block() {
			stmts = append(stmts, s.Statements[u.Start:u.End]...)
			continue
		}
		b, body := s.BlockBody(u)
		if begin == "" {
			begin = b
		}
		stmts = append(stmts, body...)
	}
	return begin, stmts
}

// stmtClass is what a statement means for transaction handling.
type stmtClass uint8

const (
	clsOther    stmtClass = iota
	clsBegin              // BEGIN, START TRANSACTION
	clsSetTx              // SET TRANSACTION ...
	clsCommit             // COMMIT, END
	clsRollback           // ROLLBACK, ABORT (not ROLLBACK TO SAVEPOINT)
	clsChain              // COMMIT AND CHAIN, ROLLBACK AND CHAIN, PREPARE TRANSACTION
	clsNoTx               // refuses to run inside a transaction block
)

// classify looks at the first words of a statement, and for the word
// CONCURRENTLY anywhere outside strings and comments. It lexes the
// statement with the file scanner, so a keyword inside a string, a quoted
// identifier or a dollar-quoted body never counts.
func classify(sql string, lx lexer) (stmtClass, string) {
	lx.noDelimiter = ""
	sc := lx.scanner(sql, 1)
	words := make([]string, 0, 6)
	concurrently := false
	for {
		tok, err := sc.next()
		if err != nil || tok.kind == tokEOF {
			break
		}
		if tok.kind != tokWord {
			continue
		}
		w := sql[tok.start:tok.end]
		if len(words) < 6 {
			words = append(words, strings.ToUpper(w))
		}
		// Every word of every statement of every file is looked at on
		// every start: compare in place rather than upper-case a copy.
		if len(w) == len("CONCURRENTLY") && strings.EqualFold(w, "CONCURRENTLY") {
			concurrently = true
		}
	}
	word := func(i int) string {
		if i < len(words) {
			return words[i]
		}
		return ""
	}
	has := func(w string) bool {
		for _, x := range words {
			if x == w {
				return true
			}
		}
		return false
	}
	chain := has("CHAIN") && !has("NO")
	switch w0, w1 := word(0), word(1); {
	case lx.mysql && w0 == "BEGIN" && w1 == "NOT":
		return clsOther, "" // MariaDB's BEGIN NOT ATOMIC ... END compound statement
	case w0 == "BEGIN", w0 == "START" && w1 == "TRANSACTION":
		return clsBegin, ""
	case w0 == "SET" && w1 == "TRANSACTION":
		return clsSetTx, ""
	case (w0 == "COMMIT" || w0 == "ROLLBACK") && w1 == "PREPARED":
		return clsNoTx, w0 + " PREPARED"
	case w0 == "PREPARE" && w1 == "TRANSACTION":
		return clsChain, "PREPARE TRANSACTION"
	case w0 == "COMMIT" || w0 == "END":
		if chain {
			return clsChain, w0 + " AND CHAIN"
		}
		return clsCommit, ""
	case w0 == "ROLLBACK" || w0 == "ABORT":
		if w1 == "TO" || word(2) == "TO" {
			return clsOther, "" // ROLLBACK [WORK] TO SAVEPOINT stays inside the block
		}
		if chain {
			return clsChain, w0 + " AND CHAIN"
		}
		return clsRollback, ""
	case concurrently:
		return clsNoTx, "CONCURRENTLY"
	case w0 == "VACUUM":
		return clsNoTx, "VACUUM"
	case w0 == "ALTER" && w1 == "SYSTEM":
		return clsNoTx, "ALTER SYSTEM"
	case (w0 == "CREATE" || w0 == "DROP") && (w1 == "DATABASE" || w1 == "TABLESPACE" || w1 == "SUBSCRIPTION"):
		return clsNoTx, w0 + " " + w1
	case w0 == "REINDEX" && (w1 == "SYSTEM" || w1 == "DATABASE"):
		return clsNoTx, w0 + " " + w1
	}
	return clsOther, ""
}

// planTx decides how the section runs and groups its statements into
// units. noTx is the file's own request (a no-transaction directive, goose's
// NO TRANSACTION, dbmate's transaction:false).
//
// A section whose only explicit transaction block is its whole content, or
// that has one block among other statements, runs in one transaction with
// the block's BEGIN and COMMIT left out (TxBody). A section with several
// blocks, or with a statement that cannot run in a transaction
// (CONCURRENTLY, VACUUM, CREATE DATABASE, ...), runs statement by
// statement, each block as one unit. Transaction control that fleetgate
// could not make safe (a COMMIT with no BEGIN, a ROLLBACK of the whole
// block, a BEGIN never committed, COMMIT AND CHAIN) is an error naming the
// line, found before anything runs.
func (s *Section) planTx(noTx bool) error { return s.planTxLex(noTx, lexer{}) }

func (s *Section) planTxLex(noTx bool, lx lexer) error {
	var units []Unit
	blocks, open, nOpen := 0, -1, 0
	reason := ""
	for i, st := range s.Statements {
		c, what := classify(st.SQL, lx)
		switch c {
		case clsBegin:
			if open >= 0 {
				return &Error{Line: st.Line, Msg: fmt.Sprintf("BEGIN inside the transaction block opened at line %d; end that block with COMMIT first", s.Statements[open].Line)}
			}
			open, nOpen = i, 1
			continue
		case clsSetTx:
			if open >= 0 && i == open+nOpen {
				nOpen++
			}
		case clsCommit:
			if open < 0 {
				return &Error{Line: st.Line, Msg: "COMMIT without a BEGIN in this file: it would commit the transaction fleetgate runs the migration in, before its history row; remove it, or open the block with BEGIN"}
			}
			units = append(units, Unit{Start: open, End: i + 1, Open: nOpen})
			blocks++
			open = -1
			continue
		case clsRollback:
			return &Error{Line: st.Line, Msg: "ROLLBACK of a whole transaction block is not supported in a migration: nothing of the block would be applied, yet the migration would be recorded; remove the block or the ROLLBACK"}
		case clsChain:
			return &Error{Line: st.Line, Msg: what + " is not supported in a migration: fleetgate must commit each transaction together with its history row"}
		case clsNoTx:
			if reason == "" {
				reason = what
			}
		case clsOther:
			// MySQL commits DDL implicitly: a section that has any runs
			// statement by statement, each DDL statement on its own
			// between two fenced records (see ImplicitCommit).
			if lx.mysql && reason == "" {
				reason = ImplicitCommit(st.SQL)
			}
		}
		if open < 0 {
			units = append(units, Unit{Start: i, End: i + 1})
		}
	}
	if open >= 0 {
		return &Error{Line: s.Statements[open].Line, Msg: "transaction block is never committed: add COMMIT (or END) after its last statement"}
	}
	s.NoTransaction = noTx || reason != "" || blocks > 1
	if blocks == 0 {
		s.Units = nil
	} else {
		s.Units = units
	}
	return nil
}

// NewSection splits sql, a section whose text starts at file line
// firstLine, and decides how it runs as Parse does for a section of a file;
// noTx is the file's own no-transaction request. It serves scripts read
// back from the history, such as a stored down section run by a build that
// no longer has the file.
//
// A dbmate section keeps its marker line, so a stored dbmate down section
// still says transaction:false; goose's NO TRANSACTION is a file-level
// annotation outside the sections and is not stored.
func NewSection(sql string, firstLine int, noTx bool) (*Section, error) {
	return NewSectionDialect(sql, firstLine, noTx, dialect.Postgres)
}

// NewSectionDialect is NewSection with the statements split by the lexical
// rules of dialect d (see SplitDialect).
func NewSectionDialect(sql string, firstLine int, noTx bool, d dialect.Dialect) (*Section, error) {
	lx := lexFor(d)
	if strings.Contains(sql, "migrate:") && dbmateDirectiveRE().MatchString(sql) && !dbmateTransaction(sql) {
		noTx = true
	}
	stmts, err := split(sql, firstLine, lx)
	if err != nil {
		return nil, err
	}
	s := &Section{SQL: sql, StartLine: firstLine, Statements: stmts}
	if err := s.planTxLex(noTx, lx); err != nil {
		return nil, err
	}
	return s, nil
}

// NoTxReason names what makes stmt refuse to run inside a transaction
// block (CONCURRENTLY, VACUUM, CREATE DATABASE, ...), judged from its words
// alone; "" when nothing does. It never under-reports the statements it
// knows, so a caller may use it to decide whether a closer look (a parse)
// is worth it.
func NoTxReason(stmt string) string {
	if c, what := classify(stmt, lexer{}); c == clsNoTx {
		return what
	}
	return ""
}
