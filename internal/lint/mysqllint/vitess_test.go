package mysqllint

// The checks as they were with vitess's MySQL parser, kept in a test file
// (so that vitess is linked into the tests only) as the oracle the
// checks on package mysqlstmt are compared with.

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/source"
)

// vParser is built once: its construction reads the server version and
// is safe for concurrent use afterwards.
var vParser = sync.OnceValues(func() (*sqlparser.Parser, error) {
	return sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
})

// vitessCheck is Check as it was with vitess's parser: the oracle of
// TestMatchesVitess. It lints the up section of one MySQL migration, whose statements were
// split with dialect.MySQL. Findings are in statement order and carry the
// migration's file; findings the migration allows are marked Allowed. The
// error is only for a failure of the vParser itself.
func vitessCheck(m *source.Migration) ([]lint.Finding, error) {
	p, err := vParser()
	if err != nil {
		return nil, fmt.Errorf("mysql checks: start the vParser: %w", err)
	}
	c := &vChecker{m: m, p: p, created: map[string]bool{}, pre: m.Phase != source.PhasePost}
	c.run()
	return c.finish(), nil
}

type vChecker struct {
	m        *source.Migration
	p        *sqlparser.Parser
	created  map[string]bool // tables created earlier in this migration
	pre      bool
	findings []lint.Finding
}

func (c *vChecker) report(id string, s *source.Statement, line, col int, format string, args ...any) {
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

func (c *vChecker) run() {
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
		if vIsRoutine(s.SQL) {
			// The vParser does not read trigger, routine and event
			// bodies, and no rule is about them; they do commit.
			if inBlock[i] {
				c.implicitCommit(s, nil)
			}
			continue
		}
		node, err := c.p.ParseStrictDDL(s.SQL)
		if err != nil {
			if inBlock[i] {
				c.implicitCommit(s, nil)
			}
			line, col := s.Line, s.Col
			var pe sqlparser.PositionedErr
			if errors.As(err, &pe) {
				// Pos is 1-based and just past the token it stopped at.
				line, col = position(s, pe.Pos-1-len(pe.Near))
			}
			c.report(UnparsedStatement, s, line, col, "the checks' MySQL vParser cannot read this statement (%s), so no rule checked it; if the server accepts it, review it by hand", oneLine(err.Error()))
			continue
		}
		if inBlock[i] {
			c.implicitCommit(s, node)
		}
		c.check(s, node)
	}
}

func (c *vChecker) isNew(t sqlparser.TableName) bool { return c.created[vTableKey(t)] }

func vTableKey(t sqlparser.TableName) string {
	k := strings.ToLower(t.Name.String())
	if !t.Qualifier.IsEmpty() {
		k = strings.ToLower(t.Qualifier.String()) + "." + k
	}
	return k
}

func vTableName(t sqlparser.TableName) string {
	if t.Qualifier.IsEmpty() {
		return t.Name.String()
	}
	return t.Qualifier.String() + "." + t.Name.String()
}

func (c *vChecker) check(s *source.Statement, node sqlparser.Statement) {
	switch n := node.(type) {
	case *sqlparser.CreateTable:
		if !n.Temp {
			c.created[vTableKey(n.Table)] = true
		}
	case *sqlparser.AlterTable:
		c.alterTable(s, n)
	case *sqlparser.DropTable:
		if n.Temp {
			return
		}
		for _, t := range n.FromTables {
			if !c.isNew(t) {
				c.report(lint.DropTable, s, 0, 0, "dropping table %s breaks old code still using it; stop using it in the code first, then %s", vTableName(t), postHint)
			}
		}
	case *sqlparser.RenameTable:
		for _, p := range n.TablePairs {
			if c.isNew(p.FromTable) {
				c.created[vTableKey(p.ToTable)] = true
				continue
			}
			c.report(lint.RenameTable, s, 0, 0, "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", vTableName(p.FromTable), vTableName(p.ToTable))
		}
	case *sqlparser.Delete:
		if n.Where == nil && n.Limit == nil {
			if t, ok := vSingleTable(n.TableExprs); ok && !c.isNew(t) {
				c.report(lint.DeleteWithoutWhere, s, 0, 0, "DELETE FROM %s without WHERE deletes every row; add a WHERE clause, or allow the rule if emptying the table is intended", vTableName(t))
			}
		}
	case *sqlparser.Update:
		if n.Where == nil && n.Limit == nil {
			if t, ok := vSingleTable(n.TableExprs); ok && !c.isNew(t) {
				c.report(lint.UpdateWithoutWhere, s, 0, 0, "UPDATE %s without WHERE rewrites every row in one transaction and holds every row lock until it commits, so the application's writes to the table wait; on a large table, backfill in batches with a WHERE clause", vTableName(t))
			}
		}
	case *sqlparser.LockTables:
		c.report(lint.LockTable, s, 0, 0, "LOCK TABLES blocks the application's access to the tables it names until UNLOCK TABLES or the end of the session, and commits any open transaction; remove it: each statement takes the locks it needs")
	case *sqlparser.OtherAdmin:
		if w := vFirstWords(s.SQL, 1); len(w) > 0 && w[0] == "OPTIMIZE" {
			c.report(OptimizeTable, s, 0, 0, "OPTIMIZE TABLE rebuilds the whole table (InnoDB runs it as ALTER TABLE ... FORCE), taking an exclusive metadata lock at its start and end and, on a busy table, queueing every query behind it; run it outside a deploy, or not at all: InnoDB reuses freed space by itself")
		}
	}
}

// vSingleTable returns the table of a one-table DELETE or UPDATE; a join
// has conditions of its own and is left alone.
func vSingleTable(exprs []sqlparser.TableExpr) (sqlparser.TableName, bool) {
	if len(exprs) != 1 {
		return sqlparser.TableName{}, false
	}
	a, ok := exprs[0].(*sqlparser.AliasedTableExpr)
	if !ok {
		return sqlparser.TableName{}, false
	}
	t, ok := a.Expr.(sqlparser.TableName)
	return t, ok
}

func (c *vChecker) alterTable(s *source.Statement, a *sqlparser.AlterTable) {
	rel := vTableName(a.Table)
	isNew := c.isNew(a.Table)
	algorithm, lock := "", sqlparser.DefaultType
	needsOnline, fk := a.PartitionSpec != nil, false
	for _, opt := range a.AlterOptions {
		switch o := opt.(type) {
		case sqlparser.AlgorithmValue:
			algorithm = strings.ToUpper(string(o))
			continue
		case *sqlparser.LockOption:
			lock = o.Type
			continue
		case *sqlparser.RenameTableName:
			if isNew {
				c.created[vTableKey(o.Table)] = true
			} else {
				c.report(lint.RenameTable, s, 0, 0, "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", rel, vTableName(o.Table))
			}
			continue // a rename alone changes only metadata
		}
		needsOnline = true
		if isNew {
			continue
		}
		switch o := opt.(type) {
		case *sqlparser.DropColumn:
			c.report(lint.DropColumn, s, 0, 0, "dropping column %s.%s breaks old code still reading or writing it; stop using it in the code first, then %s", rel, o.Name.Name.String(), postHint)
		case *sqlparser.RenameColumn:
			c.report(lint.RenameColumn, s, 0, 0, "renaming column %s.%s to %s breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rel, o.OldName.Name.String(), o.NewName.Name.String())
		case *sqlparser.ChangeColumn:
			oldName, newName := o.OldColumn.Name.String(), o.NewColDefinition.Name.String()
			if !strings.EqualFold(oldName, newName) {
				c.report(lint.RenameColumn, s, 0, 0, "CHANGE COLUMN renames %s.%s to %s, which breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rel, oldName, newName)
			}
			c.report(lint.ChangeColumnType, s, 0, 0, "CHANGE COLUMN redefines %s.%s as %s: a new type, nullability or default can break old code still using it, and most such changes copy the table; add a new column, write both, backfill, and drop the old one in the post phase", rel, oldName, vColType(o.NewColDefinition))
		case *sqlparser.ModifyColumn:
			c.report(lint.ChangeColumnType, s, 0, 0, "MODIFY COLUMN redefines %s.%s as %s: a new type, nullability or default can break old code still using it, and most such changes copy the table; add a new column, write both, backfill, and drop the old one in the post phase", rel, o.NewColDefinition.Name.String(), vColType(o.NewColDefinition))
		case *sqlparser.AddColumns:
			for _, col := range o.Columns {
				opts := col.Type.Options
				if opts != nil && opts.Null != nil && !*opts.Null && opts.Default == nil && !opts.Autoincrement && opts.As == nil {
					c.report(lint.AddNotNullColumn, s, 0, 0, "adding NOT NULL column %s.%s without a DEFAULT makes old code's INSERTs that do not name it fail in strict mode, and fills existing rows with an implicit zero value; add a DEFAULT, or add it NULL, backfill, and make it NOT NULL in the post phase", rel, col.Name.String())
				}
			}
		case *sqlparser.AddConstraintDefinition:
			if fkDef, ok := o.ConstraintDefinition.Details.(*sqlparser.ForeignKeyDefinition); ok {
				fk = true
				if !(algorithm == "INPLACE" && lock == sqlparser.NoneType) && !vLaterOnline(a.AlterOptions) {
					c.report(lint.AddForeignKey, s, 0, 0, "adding a foreign key from %s to %s with foreign_key_checks on copies %s (ALGORITHM=COPY), blocking its writes while it checks every row; check for orphans with a query first, then SET foreign_key_checks = 0 and add it with ALGORITHM=INPLACE, LOCK=NONE", rel, vTableName(fkDef.ReferenceDefinition.ReferencedTable), rel)
				}
			}
		}
	}
	if isNew || !needsOnline || fk {
		return
	}
	// CREATE INDEX and DROP INDEX are ALTER TABLE to the server (and to
	// the vParser); the message names what the file says.
	stmt := "ALTER TABLE " + rel
	if w := vFirstWords(s.SQL, 2); len(w) == 2 && w[0] != "ALTER" {
		stmt = w[0] + " " + w[1] + " on " + rel
	}
	switch algorithm {
	case "INSTANT":
	case "INPLACE":
		if lock != sqlparser.NoneType {
			c.report(RequireOnlineAlter, s, 0, 0, "%s with ALGORITHM=INPLACE but without LOCK=NONE may still block the application's writes (or reads) while it runs; add LOCK=NONE, so that the server refuses the change rather than blocking", stmt)
		}
	case "":
		c.report(RequireOnlineAlter, s, 0, 0, "%s without ALGORITHM lets the server copy the table when the change cannot be made in place, blocking writes for the whole copy; %s", stmt, onlineAlterHint)
	default:
		c.report(RequireOnlineAlter, s, 0, 0, "%s with ALGORITHM=%s copies the table, blocking writes for the whole copy; %s", stmt, algorithm, onlineAlterHint)
	}
}

// vLaterOnline reports whether the options say ALGORITHM=INPLACE and
// LOCK=NONE anywhere (they may follow the clause they govern).
func vLaterOnline(opts []sqlparser.AlterOption) bool {
	algo, lock := false, false
	for _, opt := range opts {
		switch o := opt.(type) {
		case sqlparser.AlgorithmValue:
			algo = strings.EqualFold(string(o), "INPLACE")
		case *sqlparser.LockOption:
			lock = o.Type == sqlparser.NoneType
		}
	}
	return algo && lock
}

func vColType(d *sqlparser.ColumnDefinition) string {
	if d == nil || d.Type == nil {
		return "?"
	}
	return strings.ToLower(sqlparser.String(d.Type))
}

// implicitCommit reports a statement inside the file's own BEGIN ... COMMIT
// that makes MySQL commit the open transaction before it runs (and
// usually after it too): what follows runs outside the block the file
// wrote, and the COMMIT commits nothing.
func (c *vChecker) implicitCommit(s *source.Statement, node sqlparser.Statement) {
	what, ok := vCommitsImplicitly(s.SQL, node)
	if !ok {
		return
	}
	c.report(ImplicitCommitInTx, s, 0, 0, "%s commits the transaction opened by the file's BEGIN before it runs, so the statements before it are committed and those after it run outside any transaction; MySQL cannot roll DDL back: move it out of the BEGIN ... COMMIT block", what)
}

// vCommitsImplicitly reports whether a statement causes an implicit commit,
// after MySQL's list (data definition, account management, LOCK TABLES,
// table maintenance, ...), naming it by its first words.
func vCommitsImplicitly(sql string, node sqlparser.Statement) (string, bool) {
	w := vFirstWords(sql, 3)
	if len(w) == 0 {
		return "", false
	}
	name := strings.Join(w[:min(2, len(w))], " ")
	switch node.(type) {
	case *sqlparser.CreateTable:
		if node.(*sqlparser.CreateTable).Temp {
			return "", false
		}
		return name, true
	case *sqlparser.DropTable:
		if node.(*sqlparser.DropTable).Temp {
			return "", false
		}
		return name, true
	case sqlparser.DDLStatement, sqlparser.DBDDLStatement, *sqlparser.LockTables:
		return name, true
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

// vIsRoutine reports whether sql creates or drops a trigger, procedure,
// function or event.
func vIsRoutine(sql string) bool {
	w := vFirstWords(sql, 8)
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

// vFirstWords returns up to n leading words of sql, upper-cased, skipping
// the markers of /*! ... */ conditional code.
func vFirstWords(sql string, n int) []string {
	var out []string
	for _, f := range strings.FieldsFunc(sql, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '_' || r >= '0' && r <= '9')
	}) {
		if len(out) == n {
			break
		}
		if len(out) == 0 && (f[0] >= '0' && f[0] <= '9' || f == "M") {
			continue // the version of /*!80000 or /*M!100100
		}
		out = append(out, strings.ToUpper(f))
	}
	return out
}

// finish applies the migration's allow directives, reports directives
// naming rules that do not exist, and sorts the findings by position.
func (c *vChecker) finish() []lint.Finding {
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
