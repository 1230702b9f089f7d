package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect/mysqlstmt"
	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.EffectReader = (*Driver)(nil)

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
// table option, a trigger or routine, a statement package mysqlstmt does
// not recognize).
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
	st, err := mysqlstmt.Parse(stmt)
	if err != nil {
		// Like the parsers' non-strict mode: the head of a CREATE TABLE
		// or CREATE INDEX whose tail is not recognized (a MariaDB table
		// option) still says which table or index it makes.
		isIndex := st != nil && st.Kind == mysqlstmt.AlterTable && len(st.Words) > 0 && st.Words[0] == "CREATE"
		if st == nil || !(st.Kind == mysqlstmt.CreateTable || isIndex) {
			return nil, "the statement cannot be parsed to tell what it changes"
		}
		if isIndex {
			st.Specs = st.Specs[:1]
		}
	}
	table := func(n mysqlstmt.Name, want bool) fact {
		return fact{kind: "table", schema: n.Schema, table: n.Table, want: want}
	}
	var out []fact
	switch st.Kind {
	case mysqlstmt.CreateTable:
		if st.Temp {
			return nil, "a temporary table does not outlive its session"
		}
		out = append(out, table(st.Tables[0], true))
	case mysqlstmt.DropTable:
		if st.Temp {
			return nil, "a temporary table does not outlive its session"
		}
		for _, n := range st.Tables {
			out = append(out, table(n, false))
		}
	case mysqlstmt.CreateView:
		if st.Replace {
			return nil, "CREATE OR REPLACE changes a view that may have existed before"
		}
		out = append(out, table(st.Tables[0], true))
	case mysqlstmt.DropView:
		for _, n := range st.Tables {
			out = append(out, table(n, false))
		}
	case mysqlstmt.RenameTable:
		for _, pr := range st.Pairs {
			out = append(out, table(pr.From, false), table(pr.To, true))
		}
	case mysqlstmt.AlterTable:
		for _, sp := range st.Specs {
			out = append(out, alterFacts(st.Tables[0], sp)...)
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
func alterFacts(t mysqlstmt.Name, sp mysqlstmt.Spec) []fact {
	f := func(kind, name string, want bool) fact {
		return fact{kind: kind, schema: t.Schema, table: t.Table, name: name, want: want}
	}
	switch sp.Kind {
	case mysqlstmt.SpecAddColumns:
		var out []fact
		for _, col := range sp.Columns {
			out = append(out, f("column", col.Name, true))
		}
		return out
	case mysqlstmt.SpecDropColumn:
		return []fact{f("column", sp.Name, false)}
	case mysqlstmt.SpecRenameColumn:
		return []fact{f("column", sp.Name, false), f("column", sp.NewName, true)}
	case mysqlstmt.SpecChangeColumn:
		from, to := sp.Name, sp.Columns[0].Name
		if strings.EqualFold(from, to) {
			return nil
		}
		return []fact{f("column", from, false), f("column", to, true)}
	case mysqlstmt.SpecAddIndex:
		if sp.Name == "" {
			return nil // the server names it
		}
		return []fact{f("index", sp.Name, true)}
	case mysqlstmt.SpecAddForeignKey, mysqlstmt.SpecAddConstraint:
		if sp.Name == "" {
			return nil
		}
		return []fact{f("constraint", sp.Name, true)}
	case mysqlstmt.SpecDropIndex:
		return []fact{f("index", sp.Name, false)}
	case mysqlstmt.SpecDropConstraint:
		return []fact{f("constraint", sp.Name, false)}
	case mysqlstmt.SpecRenameIndex:
		return []fact{f("index", sp.Name, false), f("index", sp.NewName, true)}
	case mysqlstmt.SpecRenameTo:
		to := sp.Ref
		if to.Schema == "" {
			to.Schema = t.Schema
		}
		return []fact{{kind: "table", schema: t.Schema, table: t.Table, want: false}, {kind: "table", schema: to.Schema, table: to.Table, want: true}}
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
