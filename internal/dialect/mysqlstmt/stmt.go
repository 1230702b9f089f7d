package mysqlstmt

import (
	"fmt"
	"strings"
	"sync"
)

// Kind is what a statement does, as far as the checks and the crash
// recovery care.
type Kind uint8

const (
	Other       Kind = iota // a statement no consumer reads further (SELECT, INSERT, SET, GRANT, ...)
	CreateTable             // CREATE [TEMPORARY] TABLE
	AlterTable              // ALTER TABLE, and CREATE INDEX and DROP INDEX, which the server runs as one
	DropTable               // DROP [TEMPORARY] TABLE
	RenameTable             // RENAME TABLE
	CreateView              // CREATE [OR REPLACE] VIEW
	DropView                // DROP VIEW
	LockTables              // LOCK TABLES
	Update                  // UPDATE
	Delete                  // DELETE
	DatabaseDDL             // CREATE, ALTER or DROP DATABASE or SCHEMA
	Optimize                // OPTIMIZE TABLE
)

// Name is a table (or view) name, optionally qualified by its schema;
// both parts are unquoted.
type Name struct{ Schema, Table string }

func (n Name) String() string {
	if n.Schema == "" {
		return n.Table
	}
	return n.Schema + "." + n.Table
}

// Key is the name the server compares a table by in one migration:
// lower-cased, qualified when the statement qualified it.
func (n Name) Key() string { return strings.ToLower(n.String()) }

// Pair is one rename of a RENAME TABLE.
type Pair struct{ From, To Name }

// Statement is what Parse recognized in one statement.
type Statement struct {
	Kind Kind
	// Words are up to the first three words of the statement, upper-cased
	// (CREATE, TEMPORARY, TABLE), comments and /*! markers skipped.
	Words []string
	// Temp: CREATE or DROP TEMPORARY TABLE. Replace: CREATE OR REPLACE VIEW.
	Temp, Replace bool
	// Tables: the table of CREATE TABLE, ALTER TABLE (and CREATE or DROP
	// INDEX) and CREATE VIEW; the tables of DROP TABLE and DROP VIEW; the
	// one table of an UPDATE or DELETE that names a single table (none
	// for a join or a multi-table form).
	Tables []Name
	Pairs  []Pair // RENAME TABLE
	Specs  []Spec // ALTER TABLE, CREATE INDEX, DROP INDEX: one per clause, in order
	// Where and Limit: an UPDATE or DELETE has a WHERE or LIMIT clause.
	Where, Limit bool
}

// SpecKind is what one clause of an ALTER TABLE does.
type SpecKind uint8

const (
	SpecOther          SpecKind = iota // a table option, ALTER COLUMN, FORCE, a partition clause, ...
	SpecAddColumns                     // ADD [COLUMN] def, or ADD [COLUMN] (def, ...)
	SpecDropColumn                     // DROP [COLUMN] Name
	SpecModifyColumn                   // MODIFY [COLUMN] def
	SpecChangeColumn                   // CHANGE [COLUMN] Name def
	SpecRenameColumn                   // RENAME COLUMN Name TO NewName
	SpecAddIndex                       // ADD INDEX, KEY, UNIQUE, PRIMARY KEY, FULLTEXT, SPATIAL; CREATE INDEX
	SpecAddForeignKey                  // ADD [CONSTRAINT [Name]] FOREIGN KEY ... REFERENCES Ref
	SpecAddConstraint                  // ADD [CONSTRAINT [Name]] CHECK (...)
	SpecDropIndex                      // DROP INDEX or KEY Name; DROP PRIMARY KEY (Name "PRIMARY"); DROP INDEX ... ON
	SpecDropConstraint                 // DROP FOREIGN KEY, CHECK or CONSTRAINT Name
	SpecRenameIndex                    // RENAME INDEX or KEY Name TO NewName
	SpecRenameTo                       // RENAME [TO|AS] Ref
	SpecAlgorithm                      // ALGORITHM [=] Value
	SpecLock                           // LOCK [=] Value
)

// Spec is one clause of an ALTER TABLE.
type Spec struct {
	Kind SpecKind
	// Name: the column, index or constraint the clause names (for
	// CHANGE, the old column name); "PRIMARY" for a primary key; empty
	// where the server picks the name.
	Name    string
	NewName string   // RENAME COLUMN, RENAME INDEX
	Columns []Column // ADD COLUMN: the new columns; MODIFY and CHANGE: the new definition
	Ref     Name     // FOREIGN KEY: the referenced table; RENAME TO: the new name
	Value   string   // ALGORITHM, LOCK: the value, upper-cased
	Off     int      // byte offset of the clause in the statement
}

// Column is one column definition.
type Column struct {
	Name string
	// Type is the definition after the name (type and attributes),
	// lower-cased, with its tokens joined by single spaces.
	Type string
	// NotNull: NOT NULL was said (and NULL was not said after it).
	NotNull bool
	// Default, AutoIncrement, Generated: DEFAULT, AUTO_INCREMENT or a
	// generated column's AS (...) was said.
	Default, AutoIncrement, Generated bool
}

// Error is a statement Parse cannot recognize, with the byte offset and
// the text of the token it stopped at.
type Error struct {
	Off  int
	Near string
	Msg  string
}

// Error reads like vitess's parse errors, whose position is 1-based and
// just past the token, so that messages that quote it do not change.
func (e *Error) Error() string {
	msg := e.Msg
	if msg == "" {
		msg = "syntax error"
	}
	if e.Near == "" {
		return fmt.Sprintf("%s at position %d", msg, e.Off+1)
	}
	return fmt.Sprintf("%s at position %d near '%s'", msg, e.Off+len(e.Near)+1, e.Near)
}

// Parse recognizes one statement (without its terminating ';', though a
// trailing one is allowed). When it cannot recognize all of it, it
// returns an *Error and, when at least the statement's head was read (the
// kind and the name of CREATE TABLE, CREATE INDEX, ALTER TABLE, ...), that
// partial statement too, as vitess's parser does for DDL outside strict
// mode: a caller that must be sure of every clause ignores it, one that
// only needs the head may use it.
func Parse(sql string) (*Statement, error) {
	// The tokens do not outlive the call (what Statement keeps is text
	// of sql or copies), so their buffer is reused: it was most of what
	// checking a migration allocated.
	buf := tokenBufs.Get().(*[]token)
	defer tokenBufs.Put(buf)
	toks, lerr := lex(sql, (*buf)[:0])
	*buf = toks
	p := &parser{sql: sql, toks: toks}
	if lerr != nil {
		return nil, lerr
	}
	st, err := p.statement()
	if err != nil {
		return st, err
	}
	return st, nil
}

// FirstWords returns up to n leading words of sql, upper-cased, skipping
// comments and the markers of /*! ... */ executable comments; a statement
// the lexer cannot read yields the words before the trouble.
func FirstWords(sql string, n int) []string {
	var out []string
	lx := lexer{sql: sql}
	for len(out) < n {
		t, ok, _ := lx.next()
		if !ok {
			break
		}
		if t.kind == tWord {
			out = append(out, t.up)
		}
	}
	return out
}

var tokenBufs = sync.Pool{New: func() any { return new([]token) }}

func words(toks []token, n int) []string {
	var out []string
	for _, t := range toks {
		if len(out) == n {
			break
		}
		if t.kind == tWord {
			out = append(out, t.up)
		}
	}
	return out
}
