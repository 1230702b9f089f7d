package mysqlstmt

import (
	"strings"
	"sync"
)

type parser struct {
	sql  string
	toks []token
	i    int
}

var eof = token{kind: tPunct}

func (p *parser) peek() token { return p.at(p.i) }
func (p *parser) at(i int) token {
	if i < len(p.toks) {
		return p.toks[i]
	}
	return eof
}

// done reports the end of the statement: the end of the text or a ';'
// (statement checks that a ';' is the last token).
func (p *parser) done() bool { return p.i >= len(p.toks) || p.toks[p.i].punct(';') }

// skipAll consumes everything: a routine's or trigger's body has
// statements of its own, ';' included.
func (p *parser) skipAll() *Error {
	p.i = len(p.toks)
	return nil
}
func (p *parser) next() token {
	t := p.peek()
	if p.i < len(p.toks) {
		p.i++
	}
	return t
}

// accept consumes the keyword kw if it comes next.
func (p *parser) accept(kw string) bool {
	if p.peek().is(kw) {
		p.i++
		return true
	}
	return false
}

// acceptSeq consumes the keywords kws if all of them come next.
func (p *parser) acceptSeq(kws ...string) bool {
	for j, kw := range kws {
		if !p.at(p.i + j).is(kw) {
			return false
		}
	}
	p.i += len(kws)
	return true
}

func (p *parser) acceptPunct(c byte) bool {
	if p.peek().punct(c) {
		p.i++
		return true
	}
	return false
}

// fail is a syntax error at the next token.
func (p *parser) fail() *Error {
	if p.i >= len(p.toks) {
		return &Error{Off: len(p.sql)}
	}
	t := p.toks[p.i]
	return &Error{Off: t.off, Near: p.sql[t.off:t.end]}
}

func (p *parser) expect(kw string) *Error {
	if !p.accept(kw) {
		return p.fail()
	}
	return nil
}

// ident reads one identifier.
func (p *parser) ident() (string, *Error) {
	t := p.peek()
	if !t.ident() || t.kind == tWord && reserved()[t.up] {
		return "", p.fail()
	}
	p.i++
	return t.text, nil
}

// name reads a table name, [schema.]table.
func (p *parser) name() (Name, *Error) {
	a, err := p.ident()
	if err != nil {
		return Name{}, err
	}
	if p.peek().punct('.') {
		p.i++
		b, err := p.ident()
		if err != nil {
			return Name{}, err
		}
		return Name{Schema: a, Table: b}, nil
	}
	return Name{Table: a}, nil
}

// names reads a comma-separated list of table names.
func (p *parser) names() ([]Name, *Error) {
	var out []Name
	for {
		n, err := p.name()
		if err != nil {
			return out, err
		}
		out = append(out, n)
		if !p.acceptPunct(',') {
			return out, nil
		}
	}
}

// skipGroup consumes a parenthesized group, the '(' being next.
func (p *parser) skipGroup() *Error {
	if !p.acceptPunct('(') {
		return p.fail()
	}
	depth := 1
	for depth > 0 {
		if p.i >= len(p.toks) {
			return p.fail()
		}
		t := p.next()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		}
	}
	return nil
}

// skipRest consumes what is left of the statement, checking only that its
// parentheses balance.
func (p *parser) skipRest() *Error {
	depth := 0
	for !p.done() {
		t := p.next()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			if depth == 0 {
				p.i--
				return p.fail()
			}
			depth--
		}
	}
	if depth != 0 {
		return p.fail()
	}
	return nil
}

// end requires the end of the statement.
func (p *parser) end() *Error {
	if !p.done() {
		return p.fail()
	}
	return nil
}

// otherFirst are the first words of statements that are recognized as
// Other without being read further.
var otherFirst = set("SELECT", "INSERT", "REPLACE", "SET", "START", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE",
	"USE", "SHOW", "CALL", "DO", "GRANT", "REVOKE", "TRUNCATE", "ANALYZE", "FLUSH", "UNLOCK", "XA", "PREPARE", "EXECUTE",
	"DEALLOCATE", "LOAD", "WITH", "VALUES", "TABLE", "HANDLER", "KILL", "PURGE", "CHECK", "CHECKSUM", "REPAIR", "INSTALL",
	"UNINSTALL", "CACHE", "RESET", "EXPLAIN", "DESCRIBE", "DESC", "SIGNAL", "RESIGNAL", "GET", "BINLOG", "CHANGE", "STOP", "IMPORT")

// set returns a word set that is built on first use: every fleetgate
// process links this package, and most never read a MySQL statement.
func set(ws ...string) func() map[string]bool {
	return sync.OnceValue(func() map[string]bool {
		m := make(map[string]bool, len(ws))
		for _, w := range ws {
			m[w] = true
		}
		return m
	})
}

func (p *parser) statement() (*Statement, *Error) {
	st := &Statement{Words: words(p.toks, 3)}
	if len(p.toks) == 0 {
		if strings.TrimSpace(p.sql) != "" {
			return st, nil // only comments, which the server accepts
		}
		return nil, &Error{Off: 0, Msg: "empty statement"}
	}
	t := p.peek()
	if t.punct('(') {
		return st, p.skipRest() // (SELECT ...) UNION ...
	}
	if t.kind != tWord {
		return nil, p.fail()
	}
	var err *Error
	switch t.up {
	case "CREATE":
		p.i++
		err = p.create(st)
	case "ALTER":
		p.i++
		err = p.alter(st)
	case "DROP":
		p.i++
		err = p.drop(st)
	case "RENAME":
		p.i++
		err = p.rename(st)
	case "LOCK":
		p.i++
		if !p.accept("TABLES") && !p.accept("TABLE") {
			err = p.skipRest() // LOCK INSTANCE FOR BACKUP
			break
		}
		st.Kind = LockTables
		err = p.skipRest()
	case "UPDATE":
		p.i++
		st.Kind = Update
		err = p.update(st)
	case "DELETE":
		p.i++
		st.Kind = Delete
		err = p.delete(st)
	case "OPTIMIZE":
		p.i++
		st.Kind = Optimize
		err = p.skipRest()
	case "WITH":
		// WITH [RECURSIVE] cte [(columns)] AS (...), ... then the
		// statement: an UPDATE or DELETE is read as one.
		p.i++
		if err = p.with(); err != nil {
			break
		}
		switch {
		case p.accept("UPDATE"):
			st.Kind = Update
			err = p.update(st)
		case p.accept("DELETE"):
			st.Kind = Delete
			err = p.delete(st)
		default:
			err = p.skipRest()
		}
	default:
		if !otherFirst()[t.up] {
			return nil, p.fail()
		}
		p.i++
		err = p.skipRest()
	}
	if err == nil && p.i < len(p.toks) && !(p.toks[p.i].punct(';') && p.i == len(p.toks)-1) {
		err = p.fail()
	}
	if err != nil {
		if st.Kind == Other || st.Kind == Update || st.Kind == Delete || st.Kind == LockTables || st.Kind == Optimize {
			return nil, err
		}
		return st, err
	}
	return st, nil
}

// with reads the common table expressions after WITH.
func (p *parser) with() *Error {
	p.accept("RECURSIVE")
	for {
		if _, err := p.ident(); err != nil {
			return err
		}
		if p.peek().punct('(') {
			if err := p.skipGroup(); err != nil {
				return err
			}
		}
		if err := p.expect("AS"); err != nil {
			return err
		}
		if err := p.skipGroup(); err != nil {
			return err
		}
		if !p.acceptPunct(',') {
			return nil
		}
	}
}

// create reads what follows CREATE.
func (p *parser) create(st *Statement) *Error {
	orReplace := p.acceptSeq("OR", "REPLACE")
	// The view attributes, DEFINER of views, triggers and routines.
	for {
		switch {
		case p.peek().is("ALGORITHM") && p.at(p.i+1).punct('='):
			p.i += 3
			continue
		case p.peek().is("DEFINER") && p.at(p.i+1).punct('='):
			p.i += 2
			if err := p.user(); err != nil {
				return err
			}
			continue
		case p.acceptSeq("SQL", "SECURITY"):
			p.i++
			continue
		}
		break
	}
	temp := p.accept("TEMPORARY")
	t := p.peek()
	switch {
	case orReplace && !t.is("VIEW"):
		// MariaDB's CREATE OR REPLACE TABLE, ...: not recognized, as
		// vitess did not.
		return p.fail()
	case t.is("TABLE"):
		p.i++
		st.Kind, st.Temp = CreateTable, temp
		p.acceptSeq("IF", "NOT", "EXISTS")
		n, err := p.name()
		if err != nil {
			st.Kind = Other
			return err
		}
		st.Tables = []Name{n}
		return p.createTableBody()
	case temp:
		return p.fail()
	case t.is("VIEW"):
		p.i++
		st.Kind, st.Replace = CreateView, orReplace
		n, err := p.name()
		if err != nil {
			st.Kind = Other
			return err
		}
		st.Tables = []Name{n}
		if p.peek().punct('(') {
			if err := p.skipGroup(); err != nil {
				return err
			}
		}
		if err := p.expect("AS"); err != nil {
			return err
		}
		return p.skipRest()
	case t.is("INDEX") || (t.is("UNIQUE") || t.is("FULLTEXT") || t.is("SPATIAL")) && p.at(p.i+1).is("INDEX"):
		if !t.is("INDEX") {
			p.i++
		}
		p.i++
		off := t.off
		name, err := p.ident()
		if err != nil {
			return err
		}
		if p.accept("USING") {
			p.i++
		}
		if err := p.expect("ON"); err != nil {
			return err
		}
		n, err := p.name()
		if err != nil {
			return err
		}
		st.Kind, st.Tables = AlterTable, []Name{n}
		st.Specs = []Spec{{Kind: SpecAddIndex, Name: name, Off: off}}
		if err := p.skipGroup(); err != nil {
			return err
		}
		return p.indexTail(st)
	}
	return p.otherObject(st, t)
}

// otherObject reads the rest of a CREATE or DROP whose object (t) is not
// one the checks read in detail: a database or schema is DDL of its own
// kind; TRIGGER, PROCEDURE, FUNCTION, EVENT, USER, ROLE, SEQUENCE, ...
// are read no further by any consumer.
func (p *parser) otherObject(st *Statement, t token) *Error {
	if t.is("DATABASE") || t.is("SCHEMA") {
		st.Kind = DatabaseDDL
		p.i++
		return p.skipRest()
	}
	if !t.ident() {
		return p.fail()
	}
	p.i++
	return p.skipAll()
}

// user reads a user name after DEFINER =: CURRENT_USER[()], or
// name[@host] with either part quoted or not.
func (p *parser) user() *Error {
	if p.accept("CURRENT_USER") {
		if p.peek().punct('(') {
			return p.skipGroup()
		}
		return nil
	}
	t := p.next()
	if !t.ident() && t.kind != tString {
		p.i--
		return p.fail()
	}
	switch n := p.peek(); {
	case n.kind == tVar && n.text == "@": // name@`host`, name@'host'
		p.i += 2
	case n.kind == tVar: // name@host, lexed as one variable
		p.i++
	}
	return nil
}

// tableOptions are the words that may start a CREATE TABLE option.
var tableOptions = set("ENGINE", "AUTO_INCREMENT", "AVG_ROW_LENGTH", "DEFAULT", "CHARACTER", "CHARSET", "CHECKSUM", "COLLATE",
	"COMMENT", "COMPRESSION", "CONNECTION", "DATA", "INDEX", "DELAY_KEY_WRITE", "ENCRYPTION", "INSERT_METHOD", "KEY_BLOCK_SIZE",
	"MAX_ROWS", "MIN_ROWS", "PACK_KEYS", "PASSWORD", "ROW_FORMAT", "STATS_AUTO_RECALC", "STATS_PERSISTENT", "STATS_SAMPLE_PAGES",
	"TABLESPACE", "UNION", "STORAGE", "SECONDARY_ENGINE", "AUTOEXTEND_SIZE", "ENGINE_ATTRIBUTE", "SECONDARY_ENGINE_ATTRIBUTE")

// createTableBody reads CREATE TABLE's definitions and options. The
// definitions are not read (no consumer needs them); the options are
// checked against the known ones, so that an extension we do not know
// (MariaDB's WITH SYSTEM VERSIONING) is reported rather than ignored.
func (p *parser) createTableBody() *Error {
	if p.accept("LIKE") {
		_, err := p.name()
		if err != nil {
			return err
		}
		return p.end()
	}
	if p.peek().punct('(') {
		if p.at(p.i + 1).is("LIKE") {
			p.i += 2
			if _, err := p.name(); err != nil {
				return err
			}
			if !p.acceptPunct(')') {
				return p.fail()
			}
			return p.end()
		}
		if err := p.skipGroup(); err != nil {
			return err
		}
	}
	for !p.done() {
		t := p.peek()
		switch {
		case t.punct(','):
			p.i++
			continue
		case t.is("PARTITION") || t.is("AS") || t.is("SELECT") || t.is("IGNORE") || t.is("REPLACE") || t.punct('('):
			return p.skipRest()
		case t.is("DEFAULT"):
			p.i++
			continue
		case t.kind == tWord && tableOptions()[t.up]:
			p.i++
			if t.is("CHARACTER") || t.is("DATA") || t.is("INDEX") {
				p.accept("SET")
				p.accept("DIRECTORY")
			}
			if t.is("STORAGE") {
				p.i++
				continue
			}
			p.acceptPunct('=')
			if p.peek().punct('(') {
				if err := p.skipGroup(); err != nil {
					return err
				}
				continue
			}
			v := p.next()
			if v.kind == tPunct {
				p.i--
				return p.fail()
			}
			continue
		}
		return p.fail()
	}
	return nil
}

// indexTail reads the options after CREATE INDEX's columns or DROP
// INDEX's table: index options, ALGORITHM and LOCK.
func (p *parser) indexTail(st *Statement) *Error {
	for !p.done() {
		t := p.peek()
		switch {
		case t.is("ALGORITHM") || t.is("LOCK"):
			p.i++
			sp, err := p.algorithmOrLock(t)
			if err != nil {
				return err
			}
			sp.Off = t.off
			st.Specs = append(st.Specs, sp)
		case t.is("USING") || t.is("KEY_BLOCK_SIZE") || t.is("COMMENT") || t.is("WITH") || t.is("VISIBLE") || t.is("INVISIBLE") ||
			t.is("ENGINE_ATTRIBUTE") || t.is("SECONDARY_ENGINE_ATTRIBUTE") || t.is("IGNORED") || t.is("NOT"):
			p.i++
			if t.is("WITH") || t.is("NOT") {
				p.i++ // WITH PARSER x, NOT IGNORED
			}
			if t.is("VISIBLE") || t.is("INVISIBLE") || t.is("IGNORED") || t.is("NOT") {
				continue
			}
			p.acceptPunct('=')
			p.i++
		default:
			return p.fail()
		}
	}
	return nil
}

func (p *parser) alter(st *Statement) *Error {
	// MariaDB's ALTER ONLINE TABLE (LOCK=NONE in other words) and ALTER
	// IGNORE TABLE are not recognized, as vitess did not.
	t := p.peek()
	switch {
	case t.is("TABLE"):
		p.i++
	case t.is("DATABASE") || t.is("SCHEMA"):
		st.Kind = DatabaseDDL
		p.i++
		return p.skipRest()
	case t.ident() && !t.is("ONLINE") && !t.is("IGNORE"):
		p.i++
		return p.skipAll() // ALTER VIEW, USER, EVENT, ...
	default:
		return p.fail()
	}
	st.Kind = AlterTable
	n, err := p.name()
	if err != nil {
		st.Kind = Other
		return err
	}
	st.Tables = []Name{n}
	if p.done() {
		return nil
	}
	comma := false
	for {
		if p.partitionOption() {
			// Partition options come last, after the other clauses
			// and without a comma before them.
			if comma {
				return p.fail()
			}
			st.Specs = append(st.Specs, Spec{Off: p.peek().off})
			return p.partitionTail()
		}
		if err := p.alterSpec(st); err != nil {
			return err
		}
		if p.done() {
			return nil
		}
		comma = p.acceptPunct(',')
		if !comma {
			// ALTER TABLE t ENGINE=InnoDB ROW_FORMAT=DYNAMIC: table
			// options need no commas between them.
			t, last := p.peek(), st.Specs[len(st.Specs)-1]
			if p.partitionOption() || last.Kind == SpecOther && t.kind == tWord && tableOptions()[t.up] {
				continue
			}
			return p.fail()
		}
	}
}

// partitionVerbs are the words that, before PARTITION, make a partition
// option of ALTER TABLE.
var partitionVerbs = set("ADD", "DROP", "DISCARD", "IMPORT", "TRUNCATE", "COALESCE", "REORGANIZE", "EXCHANGE", "ANALYZE", "CHECK",
	"OPTIMIZE", "REBUILD", "REPAIR")

// clauseWords start ALTER TABLE clauses.
var clauseWords = set("ADD", "DROP", "MODIFY", "CHANGE", "RENAME", "ALTER", "ALGORITHM", "LOCK", "FORCE", "ENABLE", "DISABLE",
	"ORDER", "CONVERT", "DISCARD", "IMPORT")

// partitionOption reports whether an ALTER TABLE partition option comes
// next.
func (p *parser) partitionOption() bool {
	t, n := p.peek(), p.at(p.i+1)
	switch {
	case t.is("PARTITION"):
		return n.is("BY")
	case t.is("REMOVE") || t.is("UPGRADE"):
		return n.is("PARTITIONING")
	}
	return t.kind == tWord && partitionVerbs()[t.up] && n.is("PARTITION")
}

// partitionTail consumes a partition option to the end of the statement;
// a comma outside parentheses may only separate partition names (DROP
// PARTITION p1, p2), not start another clause.
func (p *parser) partitionTail() *Error {
	depth := 0
	for !p.done() {
		t := p.peek()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			if depth == 0 {
				return p.fail()
			}
			depth--
		case t.punct(',') && depth == 0:
			n, after := p.at(p.i+1), p.at(p.i+2)
			if !n.ident() || n.kind == tWord && (reserved()[n.up] || tableOptions()[n.up] || clauseWords()[n.up]) || !(p.i+2 >= len(p.toks) || after.punct(',') || after.punct(';')) {
				p.i++
				return p.fail()
			}
		}
		p.i++
	}
	if depth != 0 {
		return p.fail()
	}
	return nil
}

// reserved are words that cannot be a bare identifier where a name is
// read; they keep a missing name from swallowing the next keyword.
var reserved = set("ADD", "ALTER", "AND", "AS", "BY", "CHANGE", "CHECK", "COLUMN", "CONSTRAINT", "CREATE", "DEFAULT", "DELETE",
	"DROP", "EXISTS", "FOREIGN", "FROM", "IF", "IN", "INDEX", "KEY", "LIMIT", "LOCK", "MODIFY", "NOT", "NULL", "ON", "OR",
	"ORDER", "PRIMARY", "REFERENCES", "RENAME", "SELECT", "SET", "TABLE", "TO", "UNIQUE", "UPDATE", "USING", "WHERE", "WITH",
	"FULLTEXT", "SPATIAL", "FOR", "JOIN", "INNER", "LEFT", "RIGHT", "CROSS", "STRAIGHT_JOIN", "NATURAL", "PARTITION", "INTO",
	"VALUES", "GROUP", "HAVING", "UNION", "LIKE", "INTERVAL", "CASE", "WHEN", "THEN", "ELSE", "DISTINCT", "ALL", "IS")

func (p *parser) alterSpec(st *Statement) *Error {
	t := p.peek()
	off := t.off
	add := func(s Spec) { s.Off = off; st.Specs = append(st.Specs, s) }
	if t.kind != tWord {
		return p.fail()
	}
	p.i++
	switch t.up {
	case "ADD":
		return p.addSpec(add)
	case "DROP":
		switch {
		case p.acceptSeq("PRIMARY", "KEY"):
			add(Spec{Kind: SpecDropIndex, Name: "PRIMARY"})
			return nil
		case p.accept("INDEX") || p.accept("KEY"):
			n, err := p.ident()
			add(Spec{Kind: SpecDropIndex, Name: n})
			return err
		case p.acceptSeq("FOREIGN", "KEY") || p.accept("CHECK") || p.accept("CONSTRAINT"):
			n, err := p.ident()
			add(Spec{Kind: SpecDropConstraint, Name: n})
			return err
		case p.peek().is("PARTITION"):
			add(Spec{})
			return p.skipSpec()
		}
		p.accept("COLUMN")
		n, err := p.ident()
		if err != nil {
			return err
		}
		p.accept("RESTRICT")
		p.accept("CASCADE")
		add(Spec{Kind: SpecDropColumn, Name: n})
		return nil
	case "MODIFY":
		p.accept("COLUMN")
		c, err := p.column()
		add(Spec{Kind: SpecModifyColumn, Name: c.Name, Columns: []Column{c}})
		return err
	case "CHANGE":
		p.accept("COLUMN")
		old, err := p.ident()
		if err != nil {
			return err
		}
		c, err := p.column()
		add(Spec{Kind: SpecChangeColumn, Name: old, Columns: []Column{c}})
		return err
	case "RENAME":
		switch {
		case p.accept("COLUMN"):
			a, err := p.ident()
			if err != nil {
				return err
			}
			if err := p.expect("TO"); err != nil {
				return err
			}
			b, err := p.ident()
			add(Spec{Kind: SpecRenameColumn, Name: a, NewName: b})
			return err
		case p.accept("INDEX") || p.accept("KEY"):
			a, err := p.ident()
			if err != nil {
				return err
			}
			if err := p.expect("TO"); err != nil {
				return err
			}
			b, err := p.ident()
			add(Spec{Kind: SpecRenameIndex, Name: a, NewName: b})
			return err
		}
		if !p.accept("TO") {
			p.accept("AS")
		}
		n, err := p.name()
		add(Spec{Kind: SpecRenameTo, Ref: n})
		return err
	case "ALGORITHM", "LOCK":
		sp, err := p.algorithmOrLock(t)
		if err != nil {
			return err
		}
		add(sp)
		return nil
	case "ALTER":
		// ALTER [COLUMN] c SET DEFAULT ... | DROP DEFAULT | SET VISIBLE;
		// ALTER INDEX i VISIBLE; ALTER CHECK c ENFORCED.
		add(Spec{})
		return p.skipSpec()
	case "PARTITION", "COALESCE", "REORGANIZE", "EXCHANGE", "ANALYZE", "CHECK", "OPTIMIZE", "REBUILD", "REPAIR",
		"TRUNCATE", "DISCARD", "IMPORT", "REMOVE", "UPGRADE":
		add(Spec{})
		return p.skipSpec()
	case "FORCE", "ENABLE", "DISABLE", "ORDER", "CONVERT":
		add(Spec{})
		return p.skipSpec()
	case "DEFAULT", "CHARACTER", "CHARSET", "COLLATE":
		add(Spec{})
		return p.skipSpec()
	}
	if tableOptions()[t.up] {
		add(Spec{})
		p.acceptPunct('=')
		if t.up == "DATA" || t.up == "INDEX" {
			p.accept("DIRECTORY")
			p.acceptPunct('=')
		}
		if p.peek().punct('(') {
			return p.skipGroup()
		}
		v := p.next()
		if v.kind == tPunct {
			p.i--
			return p.fail()
		}
		return nil
	}
	p.i--
	return p.fail()
}

// algorithmValues and lockValues are the values MySQL knows. MariaDB's
// ALGORITHM=NOCOPY is not recognized, as vitess did not: read as an
// unknown algorithm, the checks would call it a table copy.
var (
	algorithmValues = set("DEFAULT", "INSTANT", "INPLACE", "COPY")
	lockValues      = set("DEFAULT", "NONE", "SHARED", "EXCLUSIVE")
)

// algorithmOrLock reads [=] value after ALGORITHM or LOCK (kw).
func (p *parser) algorithmOrLock(kw token) (Spec, *Error) {
	p.acceptPunct('=')
	v := p.peek()
	if kw.is("LOCK") {
		if v.kind != tWord || !lockValues()[v.up] {
			return Spec{}, p.fail()
		}
		p.i++
		return Spec{Kind: SpecLock, Value: v.up}, nil
	}
	if v.kind != tWord || !algorithmValues()[v.up] {
		return Spec{}, p.fail()
	}
	p.i++
	return Spec{Kind: SpecAlgorithm, Value: v.up}, nil
}

// skipSpec consumes the rest of an ALTER TABLE clause: up to the next
// comma outside parentheses.
func (p *parser) skipSpec() *Error {
	depth := 0
	for !p.done() {
		t := p.peek()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			if depth == 0 {
				return p.fail()
			}
			depth--
		case t.punct(',') && depth == 0:
			return nil
		}
		p.i++
	}
	if depth != 0 {
		return p.fail()
	}
	return nil
}

func (p *parser) addSpec(add func(Spec)) *Error {
	var constraint string
	named := false
	if p.accept("CONSTRAINT") {
		named = true
		if t := p.peek(); t.ident() && !(t.kind == tWord && (t.up == "PRIMARY" || t.up == "UNIQUE" || t.up == "FOREIGN" || t.up == "CHECK")) {
			constraint = t.text
			p.i++
		}
	}
	t := p.peek()
	switch {
	case t.is("PRIMARY"):
		p.i++
		if err := p.expect("KEY"); err != nil {
			return err
		}
		add(Spec{Kind: SpecAddIndex, Name: "PRIMARY"})
		return p.skipSpec()
	case t.is("UNIQUE") || t.is("INDEX") || t.is("KEY") || t.is("FULLTEXT") || t.is("SPATIAL"):
		p.i++
		if !t.is("INDEX") && !t.is("KEY") {
			if !p.accept("INDEX") {
				p.accept("KEY")
			}
		}
		name := ""
		if n := p.peek(); n.ident() && !n.is("USING") {
			name = n.text
			p.i++
		} else if t.is("UNIQUE") {
			name = constraint // the constraint names the index
		}
		add(Spec{Kind: SpecAddIndex, Name: name})
		if p.accept("USING") {
			p.i++
		}
		if err := p.skipGroup(); err != nil {
			return err
		}
		return p.skipSpec()
	case t.is("FOREIGN"):
		p.i++
		if err := p.expect("KEY"); err != nil {
			return err
		}
		if n := p.peek(); n.ident() {
			p.i++ // the index name
		}
		if err := p.skipGroup(); err != nil {
			return err
		}
		if err := p.expect("REFERENCES"); err != nil {
			return err
		}
		ref, err := p.name()
		if err != nil {
			return err
		}
		add(Spec{Kind: SpecAddForeignKey, Name: constraint, Ref: ref})
		return p.skipSpec()
	case t.is("CHECK"):
		p.i++
		add(Spec{Kind: SpecAddConstraint, Name: constraint})
		return p.skipSpec()
	case named:
		return p.fail()
	case t.is("PARTITION"):
		add(Spec{})
		return p.skipSpec()
	}
	p.accept("COLUMN")
	if p.peek().punct('(') {
		p.i++
		var cols []Column
		for {
			c, err := p.column()
			if err != nil {
				return err
			}
			cols = append(cols, c)
			if p.acceptPunct(')') {
				break
			}
			if !p.acceptPunct(',') {
				return p.fail()
			}
		}
		add(Spec{Kind: SpecAddColumns, Columns: cols})
		return nil
	}
	c, err := p.column()
	add(Spec{Kind: SpecAddColumns, Columns: []Column{c}})
	return err
}

// column reads a column definition: name, type and attributes, up to a
// comma or ')' outside parentheses (and before FIRST or AFTER c).
func (p *parser) column() (Column, *Error) {
	var c Column
	name, err := p.ident()
	if err != nil {
		return c, err
	}
	c.Name = name
	t := p.peek()
	if t.kind != tWord || reserved()[t.up] {
		return c, p.fail() // the type
	}
	var typ strings.Builder
	depth := 0
	var prev token
	for !p.done() {
		t := p.peek()
		if depth == 0 && (t.punct(',') || t.punct(')')) {
			break
		}
		if depth == 0 && (t.is("FIRST") || t.is("AFTER")) {
			break
		}
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		}
		if depth == 0 && t.kind == tWord {
			switch t.up {
			case "ALGORITHM", "LOCK":
				return c, p.fail() // a clause without its comma
			case "NOT":
				if p.at(p.i + 1).is("NULL") {
					c.NotNull = true
				}
			case "NULL":
				if !prev.is("NOT") && !prev.is("DEFAULT") {
					c.NotNull = false
				}
			case "DEFAULT":
				c.Default = true
			case "AUTO_INCREMENT":
				c.AutoIncrement = true
			case "AS":
				c.Generated = true
			}
		}
		if typ.Len() > 0 && !(t.punct(')') || t.punct(',') || prev.punct('(') || prev.punct(',') || t.punct('(') && !t.gap) {
			typ.WriteByte(' ')
		}
		typ.WriteString(strings.ToLower(p.sql[t.off:t.end]))
		prev = t
		p.i++
	}
	if depth != 0 {
		return c, p.fail()
	}
	if p.accept("FIRST") {
	} else if p.accept("AFTER") {
		if _, err := p.ident(); err != nil {
			return c, err
		}
	}
	c.Type = typ.String()
	return c, nil
}

func (p *parser) drop(st *Statement) *Error {
	temp := p.accept("TEMPORARY")
	t := p.peek()
	switch {
	case t.is("TABLE") || t.is("TABLES"):
		p.i++
		st.Kind, st.Temp = DropTable, temp
		p.acceptSeq("IF", "EXISTS")
		ns, err := p.names()
		st.Tables = ns
		if err != nil {
			st.Kind = Other
			return err
		}
		p.accept("RESTRICT")
		p.accept("CASCADE")
		return p.end()
	case temp:
		return p.fail()
	case t.is("VIEW"):
		p.i++
		st.Kind = DropView
		p.acceptSeq("IF", "EXISTS")
		ns, err := p.names()
		st.Tables = ns
		if err != nil {
			st.Kind = Other
			return err
		}
		p.accept("RESTRICT")
		p.accept("CASCADE")
		return p.end()
	case t.is("INDEX"):
		p.i++
		off := t.off
		name, err := p.ident()
		if err != nil {
			return err
		}
		if err := p.expect("ON"); err != nil {
			return err
		}
		n, err := p.name()
		if err != nil {
			return err
		}
		spec := Spec{Kind: SpecDropIndex, Name: name, Off: off}
		if strings.EqualFold(name, "PRIMARY") && t.kind == tWord {
			spec.Name = "PRIMARY"
		}
		st.Kind, st.Tables, st.Specs = AlterTable, []Name{n}, []Spec{spec}
		return p.indexTail(st)
	}
	return p.otherObject(st, t)
}

func (p *parser) rename(st *Statement) *Error {
	if !p.accept("TABLE") && !p.accept("TABLES") {
		if !p.peek().ident() {
			return p.fail()
		}
		p.i++
		return p.skipRest() // RENAME USER
	}
	st.Kind = RenameTable
	for {
		from, err := p.name()
		if err != nil {
			return err
		}
		if err := p.expect("TO"); err != nil {
			return err
		}
		to, err := p.name()
		if err != nil {
			return err
		}
		st.Pairs = append(st.Pairs, Pair{From: from, To: to})
		if !p.acceptPunct(',') {
			return p.end()
		}
	}
}

// tableRefs reads the table references of an UPDATE or DELETE up to the
// keyword that ends them; it returns the one table when there is exactly
// one (a join or a list is none).
func (p *parser) tableRefs(stop ...string) ([]Name, *Error) {
	n, err := p.name()
	if err != nil {
		return nil, err
	}
	single := true
	// An alias, a PARTITION (...) list, index hints.
	if p.accept("AS") {
		if _, err := p.ident(); err != nil {
			return nil, err
		}
	} else if a := p.peek(); a.ident() && !(a.kind == tWord && (reserved()[a.up] || isStop(a, stop))) {
		p.i++
	}
	depth := 0
	for !p.done() {
		t := p.peek()
		if depth == 0 && isStop(t, stop) {
			break
		}
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		case depth == 0 && (t.punct(',') || t.is("JOIN") || t.is("STRAIGHT_JOIN")):
			single = false
		}
		p.i++
	}
	if single {
		return []Name{n}, nil
	}
	return nil, nil
}

func isStop(t token, stop []string) bool {
	for _, s := range stop {
		if t.is(s) {
			return true
		}
	}
	return false
}

// clauses looks for WHERE and LIMIT outside parentheses in the rest of
// the statement.
func (p *parser) clauses(st *Statement) *Error {
	depth := 0
	var t token
	for !p.done() {
		t = p.next()
		switch {
		case t.punct('('):
			depth++
		case t.punct(')'):
			depth--
		case depth == 0 && t.is("WHERE"):
			st.Where = true
		case depth == 0 && t.is("LIMIT"):
			st.Limit = true
		}
	}
	if depth != 0 || t.is("WHERE") || t.is("LIMIT") {
		return p.fail()
	}
	return nil
}

func (p *parser) update(st *Statement) *Error {
	p.accept("LOW_PRIORITY")
	p.accept("IGNORE")
	ts, err := p.tableRefs("SET")
	if err != nil {
		return err
	}
	if err := p.expect("SET"); err != nil {
		return err
	}
	st.Tables = ts
	return p.clauses(st)
}

func (p *parser) delete(st *Statement) *Error {
	for p.accept("LOW_PRIORITY") || p.accept("QUICK") || p.accept("IGNORE") {
	}
	if !p.accept("FROM") {
		// DELETE t1, t2 FROM refs: a multi-table delete.
		if _, err := p.names(); err != nil {
			return err
		}
		if err := p.expect("FROM"); err != nil {
			return err
		}
		ts, err := p.tableRefs("WHERE", "ORDER", "LIMIT")
		if err != nil {
			return err
		}
		st.Tables = ts
		return p.clauses(st)
	}
	ts, err := p.tableRefs("USING", "WHERE", "ORDER", "LIMIT", "RETURNING")
	if err != nil {
		return err
	}
	if p.accept("USING") {
		if ts, err = p.tableRefs("WHERE", "ORDER", "LIMIT"); err != nil {
			return err
		}
	}
	st.Tables = ts
	return p.clauses(st)
}
