// Package mysqllint checks MySQL and MariaDB migrations for changes that
// would break the code still running during a rolling deploy, block the
// application's traffic, or destroy data: the MySQL counterpart of package
// lint, with the same Finding and Rule types and, where a rule means the
// same thing, the same rule ID.
//
// Statements are read by package mysqlstmt, a recognizer of just what the
// rules need, written because linking a full MySQL parser made every
// fleetgate process larger and slower to start (docs/checks.md, "MySQL
// and MariaDB"). It does not know every MariaDB extension; a statement it
// cannot recognize gets a warning, never an error, because the server
// may well accept it.
//
// The statements come from package source, split with dialect.MySQL.
package mysqllint

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect/mysqlstmt"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Rule IDs of MySQL's own rules; the others are package lint's.
const (
	RequireOnlineAlter = "require-online-alter"
	OptimizeTable      = "optimize-table"
	ImplicitCommitInTx = "implicit-commit-in-transaction"
	UnparsedStatement  = "unparsed-statement"
	postHint           = "do it in a post-phase migration (-- fleetgate:phase post) once no old code is left"
	onlineAlterHint    = "add ALGORITHM=INSTANT, or ALGORITHM=INPLACE, LOCK=NONE, so that the server refuses the change instead of silently copying the table; if it refuses, use an online schema change tool (gh-ost, pt-online-schema-change) or a maintenance window"
)

var rules = []lint.Rule{
	{ID: lint.DropColumn, Severity: lint.SeverityError, PreOnly: true, Summary: "dropping a column breaks old code that still reads or writes it"},
	{ID: lint.DropTable, Severity: lint.SeverityError, PreOnly: true, Summary: "dropping a table breaks old code that still uses it"},
	{ID: lint.RenameColumn, Severity: lint.SeverityError, PreOnly: true, Summary: "renaming a column breaks old code that uses the old name"},
	{ID: lint.RenameTable, Severity: lint.SeverityError, PreOnly: true, Summary: "renaming a table breaks old code that uses the old name"},
	{ID: lint.ChangeColumnType, Severity: lint.SeverityError, PreOnly: true, Summary: "MODIFY or CHANGE COLUMN redefines a column (type, nullability, default) under old code that still uses it, and copies the table"},
	{ID: lint.AddNotNullColumn, Severity: lint.SeverityError, Summary: "a NOT NULL column without a default breaks old code's inserts that do not name it"},
	{ID: RequireOnlineAlter, Severity: lint.SeverityError, Summary: "ALTER TABLE without ALGORITHM=INSTANT or ALGORITHM=INPLACE, LOCK=NONE may copy the table and block writes"},
	{ID: lint.AddForeignKey, Severity: lint.SeverityError, Summary: "adding a foreign key with foreign_key_checks on copies the table and blocks writes"},
	{ID: OptimizeTable, Severity: lint.SeverityError, Summary: "OPTIMIZE TABLE rebuilds the whole table"},
	{ID: lint.LockTable, Severity: lint.SeverityError, Summary: "LOCK TABLES stalls the application for as long as the migration runs"},
	{ID: ImplicitCommitInTx, Severity: lint.SeverityError, Summary: "a statement that commits implicitly inside the file's own BEGIN ... COMMIT ends the transaction early"},
	{ID: lint.UpdateWithoutWhere, Severity: lint.SeverityWarning, Summary: "UPDATE without WHERE rewrites every row of the table in one transaction"},
	{ID: lint.DeleteWithoutWhere, Severity: lint.SeverityError, Summary: "DELETE without WHERE empties the table"},
	{ID: UnparsedStatement, Severity: lint.SeverityWarning, Summary: "the MySQL parser of the checks cannot read the statement, so no rule checked it"},
	{ID: lint.UnknownAllow, Severity: lint.SeverityWarning, Summary: "an allow directive names a rule that does not exist"},
}

var byID = func() map[string]*lint.Rule {
	m := make(map[string]*lint.Rule, len(rules))
	for i := range rules {
		m[rules[i].ID] = &rules[i]
	}
	return m
}()

// Rules returns every MySQL rule, in documentation order.
func Rules() []lint.Rule { return append([]lint.Rule(nil), rules...) }

// Lookup returns the MySQL rule with the given ID.
func Lookup(id string) (lint.Rule, bool) {
	r, ok := byID[id]
	if !ok {
		return lint.Rule{}, false
	}
	return *r, true
}

// Check lints the up section of one MySQL migration, whose statements were
// split with dialect.MySQL. Findings are in statement order and carry the
// migration's file; findings the migration allows are marked Allowed. The
// error is kept for the callers' sake; no check fails today.
func Check(m *source.Migration) ([]lint.Finding, error) {
	c := &checker{m: m, created: map[string]bool{}, added: map[string]bool{}, pre: m.Phase != source.PhasePost}
	c.run()
	return c.finish(), nil
}

type checker struct {
	m       *source.Migration
	created map[string]bool // tables created earlier in this migration
	// added are the columns (table key "." lower-cased column) this
	// migration added to tables it did not create: no old code uses them
	// either, so dropping, renaming or redefining them later in the same
	// migration breaks nothing.
	added    map[string]bool
	pre      bool
	findings []lint.Finding
}

func (c *checker) report(id string, s *source.Statement, line, col int, format string, args ...any) {
	r := byID[id]
	if r.PreOnly && !c.pre {
		return
	}
	if line == 0 {
		line, col = s.Line, s.Col
	}
	c.findings = append(c.findings, lint.Finding{Rule: id, Severity: r.Severity, File: c.m.File, Line: line, Col: col,
		Version: c.m.Version, Message: fmt.Sprintf(format, args...)})
}

func (c *checker) run() {
	inBlock := make([]bool, len(c.m.Up.Statements))
	for _, u := range c.m.Up.Units {
		if u.Block() {
			for i := u.Start + u.Open; i < u.End-1; i++ {
				inBlock[i] = true
			}
		}
	}
	for i := range c.m.Up.Statements {
		s := &c.m.Up.Statements[i]
		if isRoutine(s.SQL) {
			// The parser does not read trigger, routine and event
			// bodies, and no rule is about them; they do commit.
			if inBlock[i] {
				c.implicitCommit(s, nil)
			}
			continue
		}
		st, err := mysqlstmt.Parse(s.SQL)
		if err != nil {
			if inBlock[i] {
				c.implicitCommit(s, nil)
			}
			line, col := s.Line, s.Col
			var pe *mysqlstmt.Error
			if errors.As(err, &pe) {
				line, col = position(s, pe.Off)
			}
			c.report(UnparsedStatement, s, line, col, "the checks' MySQL parser cannot read this statement (%s), so no rule checked it; if the server accepts it, review it by hand", oneLine(err.Error()))
			continue
		}
		if inBlock[i] {
			c.implicitCommit(s, st)
		}
		c.check(s, st)
	}
}

// position returns the file line and column of byte offset off in s.
func position(s *source.Statement, off int) (int, int) {
	off = max(0, min(off, len(s.SQL)))
	before := s.SQL[:off]
	nl := strings.Count(before, "\n")
	if nl == 0 {
		return s.Line, s.Col + len([]rune(before))
	}
	return s.Line + nl, 1 + len([]rune(before[strings.LastIndexByte(before, '\n')+1:]))
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func (c *checker) isNew(t mysqlstmt.Name) bool { return c.created[t.Key()] }

// isAdded reports whether this migration added column col to table t.
func (c *checker) isAdded(t mysqlstmt.Name, col string) bool {
	return c.added[t.Key()+"."+strings.ToLower(col)]
}

func (c *checker) check(s *source.Statement, st *mysqlstmt.Statement) {
	switch st.Kind {
	case mysqlstmt.CreateTable:
		if !st.Temp {
			c.created[st.Tables[0].Key()] = true
		}
	case mysqlstmt.AlterTable:
		c.alterTable(s, st)
	case mysqlstmt.DropTable:
		if st.Temp {
			return
		}
		for _, t := range st.Tables {
			if !c.isNew(t) {
				c.report(lint.DropTable, s, 0, 0, "dropping table %s breaks old code still using it; stop using it in the code first, then %s", t, postHint)
			}
		}
	case mysqlstmt.RenameTable:
		for _, p := range st.Pairs {
			if c.isNew(p.From) {
				c.created[p.To.Key()] = true
				continue
			}
			c.report(lint.RenameTable, s, 0, 0, "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", p.From, p.To)
		}
	case mysqlstmt.Delete:
		// A join (no single table) has conditions of its own.
		if !st.Where && !st.Limit && len(st.Tables) == 1 && !c.isNew(st.Tables[0]) {
			c.report(lint.DeleteWithoutWhere, s, 0, 0, "DELETE FROM %s without WHERE deletes every row; add a WHERE clause, or allow the rule if emptying the table is intended", st.Tables[0])
		}
	case mysqlstmt.Update:
		if !st.Where && !st.Limit && len(st.Tables) == 1 && !c.isNew(st.Tables[0]) {
			c.report(lint.UpdateWithoutWhere, s, 0, 0, "UPDATE %s without WHERE rewrites every row in one transaction and holds every row lock until it commits, so the application's writes to the table wait; on a large table, backfill in batches with a WHERE clause", st.Tables[0])
		}
	case mysqlstmt.LockTables:
		c.report(lint.LockTable, s, 0, 0, "LOCK TABLES blocks the application's access to the tables it names until UNLOCK TABLES or the end of the session, and commits any open transaction; remove it: each statement takes the locks it needs")
	case mysqlstmt.Optimize:
		c.report(OptimizeTable, s, 0, 0, "OPTIMIZE TABLE rebuilds the whole table (InnoDB runs it as ALTER TABLE ... FORCE), taking an exclusive metadata lock at its start and end and, on a busy table, queueing every query behind it; run it outside a deploy, or not at all: InnoDB reuses freed space by itself")
	}
}

func (c *checker) alterTable(s *source.Statement, st *mysqlstmt.Statement) {
	t := st.Tables[0]
	rel := t.String()
	isNew := c.isNew(t)
	algorithm, lock := "", ""
	needsOnline, fk := false, false
	for _, sp := range st.Specs {
		switch sp.Kind {
		case mysqlstmt.SpecAlgorithm:
			algorithm = sp.Value
			continue
		case mysqlstmt.SpecLock:
			lock = sp.Value
			continue
		case mysqlstmt.SpecRenameTo:
			if isNew {
				c.created[sp.Ref.Key()] = true
			} else {
				c.report(lint.RenameTable, s, 0, 0, "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", rel, sp.Ref)
			}
			continue // a rename alone changes only metadata
		}
		needsOnline = true
		if isNew {
			continue
		}
		switch sp.Kind {
		case mysqlstmt.SpecDropColumn:
			if !c.isAdded(t, sp.Name) {
				c.report(lint.DropColumn, s, 0, 0, "dropping column %s.%s breaks old code still reading or writing it; stop using it in the code first, then %s", rel, sp.Name, postHint)
			}
		case mysqlstmt.SpecRenameColumn:
			if c.isAdded(t, sp.Name) {
				c.added[t.Key()+"."+strings.ToLower(sp.NewName)] = true
				continue
			}
			c.report(lint.RenameColumn, s, 0, 0, "renaming column %s.%s to %s breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rel, sp.Name, sp.NewName)
		case mysqlstmt.SpecChangeColumn:
			oldName, newName := sp.Name, sp.Columns[0].Name
			if c.isAdded(t, oldName) {
				c.added[t.Key()+"."+strings.ToLower(newName)] = true
				continue
			}
			if !strings.EqualFold(oldName, newName) {
				c.report(lint.RenameColumn, s, 0, 0, "CHANGE COLUMN renames %s.%s to %s, which breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rel, oldName, newName)
			}
			c.report(lint.ChangeColumnType, s, 0, 0, "CHANGE COLUMN redefines %s.%s as %s: a new type, nullability or default can break old code still using it, and most such changes copy the table; add a new column, write both, backfill, and drop the old one in the post phase", rel, oldName, colType(sp.Columns[0]))
		case mysqlstmt.SpecModifyColumn:
			if c.isAdded(t, sp.Name) {
				continue
			}
			c.report(lint.ChangeColumnType, s, 0, 0, "MODIFY COLUMN redefines %s.%s as %s: a new type, nullability or default can break old code still using it, and most such changes copy the table; add a new column, write both, backfill, and drop the old one in the post phase", rel, sp.Name, colType(sp.Columns[0]))
		case mysqlstmt.SpecAddColumns:
			for _, col := range sp.Columns {
				c.added[t.Key()+"."+strings.ToLower(col.Name)] = true
				if col.NotNull && !col.Default && !col.AutoIncrement && !col.Generated {
					c.report(lint.AddNotNullColumn, s, 0, 0, "adding NOT NULL column %s.%s without a DEFAULT makes old code's INSERTs that do not name it fail in strict mode, and fills existing rows with an implicit zero value; add a DEFAULT, or add it NULL, backfill, and make it NOT NULL in the post phase", rel, col.Name)
				}
			}
		case mysqlstmt.SpecAddForeignKey:
			fk = true
			if !(algorithm == "INPLACE" && lock == "NONE") && !laterOnline(st.Specs) {
				c.report(lint.AddForeignKey, s, 0, 0, "adding a foreign key from %s to %s with foreign_key_checks on copies %s (ALGORITHM=COPY), blocking its writes while it checks every row; check for orphans with a query first, then SET foreign_key_checks = 0 and add it with ALGORITHM=INPLACE, LOCK=NONE", rel, sp.Ref, rel)
			}
		}
	}
	if isNew || !needsOnline || fk {
		return
	}
	// CREATE INDEX and DROP INDEX are ALTER TABLE to the server (and to
	// the recognizer); the message names what the file says.
	stmt := "ALTER TABLE " + rel
	if w := st.Words; len(w) >= 2 && w[0] != "ALTER" {
		stmt = w[0] + " " + w[1] + " on " + rel
	}
	switch algorithm {
	case "INSTANT":
	case "INPLACE":
		if lock != "NONE" {
			c.report(RequireOnlineAlter, s, 0, 0, "%s with ALGORITHM=INPLACE but without LOCK=NONE may still block the application's writes (or reads) while it runs; add LOCK=NONE, so that the server refuses the change rather than blocking", stmt)
		}
	case "":
		c.report(RequireOnlineAlter, s, 0, 0, "%s without ALGORITHM lets the server copy the table when the change cannot be made in place, blocking writes for the whole copy; %s", stmt, onlineAlterHint)
	default:
		c.report(RequireOnlineAlter, s, 0, 0, "%s with ALGORITHM=%s copies the table, blocking writes for the whole copy; %s", stmt, algorithm, onlineAlterHint)
	}
}

// laterOnline reports whether the clauses say ALGORITHM=INPLACE and
// LOCK=NONE anywhere (they may follow the clause they govern).
func laterOnline(specs []mysqlstmt.Spec) bool {
	algo, lock := false, false
	for _, sp := range specs {
		switch sp.Kind {
		case mysqlstmt.SpecAlgorithm:
			algo = sp.Value == "INPLACE"
		case mysqlstmt.SpecLock:
			lock = sp.Value == "NONE"
		}
	}
	return algo && lock
}

func colType(col mysqlstmt.Column) string {
	if col.Type == "" {
		return "?"
	}
	return col.Type
}

// implicitCommit reports a statement inside the file's own BEGIN ... COMMIT
// that makes MySQL commit the open transaction before it runs (and
// usually after it too): what follows runs outside the block the file
// wrote, and the COMMIT commits nothing.
func (c *checker) implicitCommit(s *source.Statement, st *mysqlstmt.Statement) {
	what, ok := commitsImplicitly(s.SQL, st)
	if !ok {
		return
	}
	c.report(ImplicitCommitInTx, s, 0, 0, "%s commits the transaction opened by the file's BEGIN before it runs, so the statements before it are committed and those after it run outside any transaction; MySQL cannot roll DDL back: move it out of the BEGIN ... COMMIT block", what)
}

// commitsImplicitly reports whether a statement causes an implicit commit,
// after MySQL's list (data definition, account management, LOCK TABLES,
// table maintenance, ...), naming it by its first words.
func commitsImplicitly(sql string, st *mysqlstmt.Statement) (string, bool) {
	w := firstWords(sql, 3)
	if len(w) == 0 {
		return "", false
	}
	name := strings.Join(w[:min(2, len(w))], " ")
	if st != nil {
		switch st.Kind {
		case mysqlstmt.CreateTable, mysqlstmt.DropTable:
			if st.Temp {
				return "", false
			}
			return name, true
		case mysqlstmt.AlterTable, mysqlstmt.RenameTable, mysqlstmt.CreateView, mysqlstmt.DropView, mysqlstmt.DatabaseDDL, mysqlstmt.LockTables:
			return name, true
		}
	}
	switch w[0] {
	case "CREATE", "ALTER", "DROP", "RENAME", "TRUNCATE", "GRANT", "REVOKE", "ANALYZE", "OPTIMIZE", "REPAIR",
		"FLUSH", "LOCK", "INSTALL", "UNINSTALL", "CACHE", "RESET":
		if len(w) > 1 && w[1] == "TEMPORARY" {
			return "", false
		}
		return name, true
	case "LOAD":
		if len(w) > 1 && w[1] == "INDEX" {
			return name, true
		}
	case "SET":
		if len(w) > 1 && w[1] == "PASSWORD" {
			return name, true
		}
	}
	return "", false
}

// isRoutine reports whether sql creates or drops a trigger, procedure,
// function or event.
func isRoutine(sql string) bool {
	w := firstWords(sql, 8)
	if len(w) < 2 || (w[0] != "CREATE" && w[0] != "DROP" && w[0] != "ALTER") {
		return false
	}
	for _, x := range w[1:] {
		switch x {
		case "TRIGGER", "PROCEDURE", "FUNCTION", "EVENT":
			return true
		case "TABLE", "VIEW", "INDEX", "DATABASE", "SCHEMA", "USER":
			return false
		}
	}
	return false
}

// firstWords returns up to n leading words of sql, upper-cased, skipping
// comments and the markers of /*! ... */ executable comments.
func firstWords(sql string, n int) []string { return mysqlstmt.FirstWords(sql, n) }

// finish applies the migration's allow directives, reports directives
// naming rules that do not exist, and sorts the findings by position.
func (c *checker) finish() []lint.Finding {
	fs := c.findings
	allowed := map[string]string{}
	for _, a := range c.m.Allows {
		if _, ok := byID[a.Rule]; !ok {
			if _, pg := lint.Lookup(a.Rule); !pg {
				fs = append(fs, lint.Finding{Rule: lint.UnknownAllow, Severity: lint.SeverityWarning, File: c.m.File, Line: a.Line, Col: 1,
					Version: c.m.Version, Message: fmt.Sprintf("-- fleetgate:allow names unknown rule %q (see docs/checks.md for the rule IDs)", a.Rule)})
			}
			continue
		}
		if _, dup := allowed[a.Rule]; !dup {
			allowed[a.Rule] = a.Reason
		}
	}
	for i := range fs {
		if reason, ok := allowed[fs[i].Rule]; ok {
			fs[i].Allowed, fs[i].Reason = true, reason
		}
	}
	sort.SliceStable(fs, func(i, j int) bool {
		if fs[i].Line != fs[j].Line {
			return fs[i].Line < fs[j].Line
		}
		return fs[i].Col < fs[j].Col
	})
	return fs
}
