package lint

import (
	"fmt"
	"sort"
	"strings"

	pgq "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/fleetgate/fleetgate/internal/source"
)

// Dependencies finds pending pre-phase migrations that depend on a pending
// post-phase migration with a lower version. Such a pre migration runs
// first (in `up`, the post one is deferred; in `up --phase post`, pending
// pre-phase migrations run before post-phase ones), so it would see the
// schema before the change it was written after.
//
// A pre migration P depends on a post migration Q when a statement of P
// names a table that Q creates, drops or renames (either name), or names
// a table together with a column (or constraint) of it that Q adds, drops,
// renames, retypes or otherwise alters. Names are matched as the parser
// reports them (case-folded, unquoted), by relation name, with the schema
// compared only when both sides give one. What the SQL hides from a parser
// (dynamic SQL in functions or DO blocks, views resolving to other tables)
// is not seen; the rule can be accepted with an allow directive in P when
// it is wrong.
func Dependencies(pre, post []*source.Migration) ([]Finding, error) {
	if len(pre) == 0 || len(post) == 0 {
		return nil, nil
	}
	effects := make([]*changes, len(post))
	for i, q := range post {
		stmts, err := parseStatements(q.Up.Statements)
		if err != nil {
			return nil, err
		}
		effects[i] = changesOf(stmts)
	}
	var out []Finding
	for _, p := range pre {
		var stmts []stmt
		var found []Finding
		for i, q := range post {
			if q.Version >= p.Version || effects[i].empty() {
				continue
			}
			if stmts == nil {
				var err error
				if stmts, err = parseStatements(p.Up.Statements); err != nil {
					return nil, err
				}
			}
			if f, ok := dependency(p, stmts, q, effects[i]); ok {
				found = append(found, f)
			}
		}
		out = append(out, applyAllows(p, found)...)
	}
	return out, nil
}

func dependency(p *source.Migration, stmts []stmt, q *source.Migration, ch *changes) (Finding, bool) {
	for i := range stmts {
		s := &stmts[i]
		if s.node == nil {
			continue
		}
		tables, names := refsOf(s.node)
		for _, t := range tables {
			if what, ok := ch.table(t); ok {
				return depFinding(p, s, q, fmt.Sprintf("table %s, which it %s", t.String(), what)), true
			}
			for _, n := range names {
				if what, ok := ch.column(t, n); ok {
					return depFinding(p, s, q, fmt.Sprintf("%s.%s, which it %s", t.String(), n, what)), true
				}
			}
		}
	}
	return Finding{}, false
}

func depFinding(p *source.Migration, s *stmt, q *source.Migration, what string) Finding {
	r := byID[PreDependsOnPost]
	return Finding{Rule: PreDependsOnPost, Severity: r.Severity, File: p.File, Line: s.src.Line, Col: s.src.Col, Version: p.Version,
		Message: fmt.Sprintf("this pre-phase migration uses %s; pending post-phase migration %d (%s) changes it and is older, yet would run after this one; finish that post phase first (fleetgate up --phase post --to %d) or move this change to a migration that does not depend on it",
			what, q.Version, q.File, q.Version)}
}

// rel is a relation name; Schema is "" when the SQL did not qualify it.
type rel struct{ Schema, Name string }

func (r rel) String() string {
	if r.Schema != "" {
		return r.Schema + "." + r.Name
	}
	return r.Name
}

func (r rel) matches(o rel) bool {
	return r.Name == o.Name && (r.Schema == "" || o.Schema == "" || r.Schema == o.Schema)
}

func relOf(rv *pgq.RangeVar) rel { return rel{Schema: rv.Schemaname, Name: rv.Relname} }

// changes is what a post-phase migration does to the schema.
type changes struct {
	tables  []tableChange
	columns []columnChange
}

type tableChange struct {
	t    rel
	what string
}

type columnChange struct {
	t    rel
	name string
	what string
}

func (c *changes) empty() bool { return len(c.tables) == 0 && len(c.columns) == 0 }

func (c *changes) table(t rel) (string, bool) {
	for _, tc := range c.tables {
		if tc.t.matches(t) {
			return tc.what, true
		}
	}
	return "", false
}

func (c *changes) column(t rel, name string) (string, bool) {
	for _, cc := range c.columns {
		if cc.name == name && cc.t.matches(t) {
			return cc.what, true
		}
	}
	return "", false
}

var alterVerbs = map[pgq.AlterTableType]string{
	pgq.AlterTableType_AT_AddColumn:       "adds",
	pgq.AlterTableType_AT_DropColumn:      "drops",
	pgq.AlterTableType_AT_AlterColumnType: "changes the type of",
	pgq.AlterTableType_AT_SetNotNull:      "makes NOT NULL",
	pgq.AlterTableType_AT_DropNotNull:     "makes nullable",
	pgq.AlterTableType_AT_ColumnDefault:   "changes the default of",
	pgq.AlterTableType_AT_DropConstraint:  "drops",
}

func changesOf(stmts []stmt) *changes {
	c := &changes{}
	for i := range stmts {
		n := stmts[i].node
		switch {
		case n == nil:
		case n.GetCreateStmt() != nil:
			c.tables = append(c.tables, tableChange{relOf(n.GetCreateStmt().Relation), "creates"})
		case n.GetCreateTableAsStmt().GetInto().GetRel() != nil:
			c.tables = append(c.tables, tableChange{relOf(n.GetCreateTableAsStmt().Into.Rel), "creates"})
		case n.GetDropStmt() != nil && n.GetDropStmt().RemoveType == pgq.ObjectType_OBJECT_TABLE:
			for _, o := range n.GetDropStmt().Objects {
				schema, name := splitName(stringsOf(o.GetList().GetItems()))
				if name != "" {
					c.tables = append(c.tables, tableChange{rel{schema, name}, "drops"})
				}
			}
		case n.GetRenameStmt() != nil:
			r := n.GetRenameStmt()
			if r.Relation == nil {
				continue
			}
			t := relOf(r.Relation)
			switch r.RenameType {
			case pgq.ObjectType_OBJECT_TABLE:
				c.tables = append(c.tables, tableChange{t, "renames to " + r.Newname},
					tableChange{rel{t.Schema, r.Newname}, "creates by renaming " + t.Name})
			case pgq.ObjectType_OBJECT_COLUMN, pgq.ObjectType_OBJECT_TABCONSTRAINT:
				c.columns = append(c.columns, columnChange{t, r.Subname, "renames to " + r.Newname},
					columnChange{t, r.Newname, "creates by renaming " + r.Subname})
			}
		case n.GetAlterTableStmt() != nil:
			a := n.GetAlterTableStmt()
			if a.Relation == nil {
				continue
			}
			t := relOf(a.Relation)
			for _, cn := range a.Cmds {
				cmd := cn.GetAlterTableCmd()
				if cmd == nil {
					continue
				}
				name := cmd.Name
				if cd := cmd.Def.GetColumnDef(); name == "" && cd != nil {
					name = cd.Colname
				}
				if name == "" {
					continue
				}
				verb, ok := alterVerbs[cmd.Subtype]
				if !ok {
					verb = "alters"
				}
				c.columns = append(c.columns, columnChange{t, name, verb})
			}
		}
	}
	return c
}

// refsOf returns the relations a statement names and the column (or
// constraint) names it mentions anywhere. Which column belongs to which
// table is not resolved: every name is taken to be a column of every
// table of the statement, which errs on the side of reporting.
func refsOf(n *pgq.Node) ([]rel, []string) {
	var tables []rel
	names := map[string]bool{}
	addNames := func(ns []*pgq.Node) {
		for _, s := range stringsOf(ns) {
			names[s] = true
		}
	}
	walkNode(n, func(m protoreflect.Message) bool {
		switch x := m.Interface().(type) {
		case *pgq.RangeVar:
			tables = append(tables, relOf(x))
		case *pgq.DropStmt:
			if x.RemoveType == pgq.ObjectType_OBJECT_TABLE {
				for _, o := range x.Objects {
					if schema, name := splitName(stringsOf(o.GetList().GetItems())); name != "" {
						tables = append(tables, rel{schema, name})
					}
				}
			}
		case *pgq.ColumnRef:
			if s := lastString(x.Fields); s != "" {
				names[s] = true
			}
		case *pgq.ResTarget:
			if x.Name != "" {
				names[x.Name] = true
			}
		case *pgq.IndexElem:
			if x.Name != "" {
				names[x.Name] = true
			}
		case *pgq.ColumnDef:
			names[x.Colname] = true
		case *pgq.AlterTableCmd:
			if x.Name != "" {
				names[x.Name] = true
			}
		case *pgq.Constraint:
			addNames(x.Keys)
			addNames(x.FkAttrs)
			addNames(x.PkAttrs)
			addNames(x.Including)
			if x.Conname != "" {
				names[x.Conname] = true
			}
		case *pgq.RenameStmt:
			names[x.Subname] = true
			names[x.Newname] = true
		}
		return true
	})
	out := make([]string, 0, len(names))
	for s := range names {
		if s != "" {
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return tables, out
}

// describe is used in tests to show what a migration changes.
func describe(c *changes) string {
	var b strings.Builder
	for _, t := range c.tables {
		fmt.Fprintf(&b, "%s %s; ", t.what, t.t)
	}
	for _, col := range c.columns {
		fmt.Fprintf(&b, "%s %s.%s; ", col.what, col.t, col.name)
	}
	return strings.TrimSuffix(b.String(), "; ")
}
