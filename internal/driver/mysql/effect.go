package mysql

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.EffectReader = (*Driver)(nil)

// parser is vitess's MySQL parser, the one the MySQL checks use.
var parser = sync.OnceValues(func() (*sqlparser.Parser, error) {
	return sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
})

// fact is one thing a DDL statement changes that information_schema
// shows: a table (or view), a column, an index or a constraint being
// present. want is its presence once the statement has taken effect.
type fact struct {
	kind          string // "table", "column", "index", "constraint"
	schema, table string
	name          string // column, index or constraint
	want          bool
}

func (f fact) String() string {
	what := f.kind + " " + f.table
	if f.kind != "table" {
		what = f.kind + " " + f.name + " on " + f.table
	}
	if f.want {
		return what + " present"
	}
	return what + " absent"
}

// StatementEffect reads from information_schema whether a DDL statement
// that was running when its runner died took effect. A statement is
// turned into the facts it changes (CREATE TABLE: the table exists; ALTER
// TABLE ... ADD COLUMN c: c exists; DROP INDEX i: i does not; RENAME: the
// old name is gone and the new one there). It took effect when every fact
// holds, and did not when every fact is still as before. Anything else
// is unknown: a mix (a multi-table DROP that stopped half way), or a
// statement whose effect the catalog does not show (MODIFY COLUMN, a
// table option, a trigger or routine, a statement the parser does not
// know).
//
// An ALTER TABLE is one atomic change on MariaDB 10.6+ and MySQL 8.0
// (both crash-safe DDL), so the clauses whose effect can be read decide
// for the clauses next to them whose effect cannot (a MODIFY beside an
// ADD COLUMN).
func (d *Driver) StatementEffect(ctx context.Context, q driver.Querier, stmt string) (applied, known bool, why string, err error) {
	facts, why := d.facts(stmt)
	if len(facts) == 0 {
		return false, false, why, nil
	}
	after, before := 0, 0
	for _, f := range facts {
		present, err := d.present(ctx, q, f)
		if err != nil {
			return false, false, "", err
		}
		if present == f.want {
			after++
		} else {
			before++
		}
	}
	switch {
	case before == 0:
		return true, true, "", nil
	case after == 0:
		return false, true, "", nil
	}
	var parts []string
	for _, f := range facts {
		parts = append(parts, f.String())
	}
	return false, false, fmt.Sprintf("only part of its effect is there (expected after it: %s)", strings.Join(parts, ", ")), nil
}

// facts parses stmt into what it changes; none, with the reason, when its
// effect cannot be read.
func (d *Driver) facts(stmt string) ([]fact, string) {
	p, err := parser()
	if err != nil {
		return nil, "no MySQL parser: " + err.Error()
	}
	node, err := p.Parse(stmt)
	if err != nil {
		return nil, "the statement cannot be parsed to tell what it changes"
	}
	tbl := func(t sqlparser.TableName) (string, string) { return t.Qualifier.String(), t.Name.String() }
	var out []fact
	switch n := node.(type) {
	case *sqlparser.CreateTable:
		if n.Temp {
			return nil, "a temporary table does not outlive its session"
		}
		s, t := tbl(n.Table)
		out = append(out, fact{kind: "table", schema: s, table: t, want: true})
	case *sqlparser.DropTable:
		if n.Temp {
			return nil, "a temporary table does not outlive its session"
		}
		for _, x := range n.FromTables {
			s, t := tbl(x)
			out = append(out, fact{kind: "table", schema: s, table: t, want: false})
		}
	case *sqlparser.CreateView:
		if n.IsReplace {
			return nil, "CREATE OR REPLACE changes a view that may have existed before"
		}
		s, t := tbl(n.ViewName)
		out = append(out, fact{kind: "table", schema: s, table: t, want: true})
	case *sqlparser.DropView:
		for _, x := range n.FromTables {
			s, t := tbl(x)
			out = append(out, fact{kind: "table", schema: s, table: t, want: false})
		}
	case *sqlparser.RenameTable:
		for _, pr := range n.TablePairs {
			s, t := tbl(pr.FromTable)
			s2, t2 := tbl(pr.ToTable)
			out = append(out, fact{kind: "table", schema: s, table: t, want: false}, fact{kind: "table", schema: s2, table: t2, want: true})
		}
	case *sqlparser.AlterTable:
		s, t := tbl(n.Table)
		for _, o := range n.AlterOptions {
			out = append(out, alterFacts(s, t, o)...)
		}
		if len(out) == 0 {
			return nil, "what this ALTER TABLE changes is not shown by information_schema"
		}
	default:
		return nil, "what this statement changes is not shown by information_schema"
	}
	return out, ""
}

// alterFacts are the readable effects of one ALTER TABLE clause; none for
// a clause whose effect cannot be read (MODIFY, a default, an option).
func alterFacts(s, t string, o sqlparser.AlterOption) []fact {
	f := func(kind, name string, want bool) fact {
		return fact{kind: kind, schema: s, table: t, name: name, want: want}
	}
	switch c := o.(type) {
	case *sqlparser.AddColumns:
		var out []fact
		for _, col := range c.Columns {
			out = append(out, f("column", col.Name.String(), true))
		}
		return out
	case *sqlparser.DropColumn:
		return []fact{f("column", c.Name.Name.String(), false)}
	case *sqlparser.RenameColumn:
		return []fact{f("column", c.OldName.Name.String(), false), f("column", c.NewName.Name.String(), true)}
	case *sqlparser.ChangeColumn:
		from, to := c.OldColumn.Name.String(), c.NewColDefinition.Name.String()
		if strings.EqualFold(from, to) {
			return nil
		}
		return []fact{f("column", from, false), f("column", to, true)}
	case *sqlparser.AddIndexDefinition:
		name := c.IndexDefinition.Info.Name.String()
		if c.IndexDefinition.Info.Type == sqlparser.IndexTypePrimary {
			name = "PRIMARY"
		}
		if name == "" {
			return nil // the server names it
		}
		return []fact{f("index", name, true)}
	case *sqlparser.AddConstraintDefinition:
		if c.ConstraintDefinition.Name.String() == "" {
			return nil
		}
		return []fact{f("constraint", c.ConstraintDefinition.Name.String(), true)}
	case *sqlparser.DropKey:
		switch c.Type {
		case sqlparser.PrimaryKeyType:
			return []fact{f("index", "PRIMARY", false)}
		case sqlparser.NormalKeyType:
			return []fact{f("index", c.Name.String(), false)}
		default:
			return []fact{f("constraint", c.Name.String(), false)}
		}
	case *sqlparser.RenameIndex:
		return []fact{f("index", c.OldName.String(), false), f("index", c.NewName.String(), true)}
	case *sqlparser.RenameTableName:
		s2, t2 := c.Table.Qualifier.String(), c.Table.Name.String()
		if s2 == "" {
			s2 = s
		}
		return []fact{{kind: "table", schema: s, table: t, want: false}, {kind: "table", schema: s2, table: t2, want: true}}
	}
	return nil
}

// present asks information_schema about one fact. Names compare as the
// server compares them: table names by lower_case_table_names (the
// column's collation), column and index names without regard to case.
func (d *Driver) present(ctx context.Context, q driver.Querier, f fact) (bool, error) {
	sch, args := "DATABASE()", []any{}
	if f.schema != "" {
		sch, args = "?", []any{f.schema}
	}
	var query string
	switch f.kind {
	case "table":
		query = "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = " + sch + " AND TABLE_NAME = ?"
		args = append(args, f.table)
	case "column":
		query = "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = " + sch + " AND TABLE_NAME = ? AND LOWER(COLUMN_NAME) = LOWER(?)"
		args = append(args, f.table, f.name)
	case "index":
		query = "SELECT count(*) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = " + sch + " AND TABLE_NAME = ? AND LOWER(INDEX_NAME) = LOWER(?)"
		args = append(args, f.table, f.name)
	default:
		query = "SELECT count(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = " + sch + " AND TABLE_NAME = ? AND LOWER(CONSTRAINT_NAME) = LOWER(?)"
		args = append(args, f.table, f.name)
	}
	var n int
	if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
		return false, fmt.Errorf("look up %s: %w", f, translate(err))
	}
	return n > 0, nil
}
