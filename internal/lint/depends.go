package lint

import (
	"fmt"
	"sort"
	"strings"

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

func relOf(rv *rangeVar) rel { return rel{Schema: rv.Schemaname, Name: rv.Relname} }

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

var alterVerbs = map[string]string{
	"AT_AddColumn":       "adds",
	"AT_DropColumn":      "drops",
	"AT_AlterColumnType": "changes the type of",
	"AT_SetNotNull":      "makes NOT NULL",
	"AT_DropNotNull":     "makes nullable",
	"AT_ColumnDefault":   "changes the default of",
	"AT_DropConstraint":  "drops",
}

func changesOf(stmts []stmt) *changes {
	c := &changes{}
	for i := range stmts {
		n := stmts[i].node
		var (
			cs  struct{ Relation *rangeVar }
			cta struct{ Into *intoClause }
			dr  dropStmt
			rn  renameStmt
			at  alterTableStmt
		)
		switch {
		case n == nil:
		case n.as("CreateStmt", &cs) && cs.Relation != nil:
			c.tables = append(c.tables, tableChange{relOf(cs.Relation), "creates"})
		case n.as("CreateTableAsStmt", &cta) && cta.Into != nil && cta.Into.Rel != nil:
			c.tables = append(c.tables, tableChange{relOf(cta.Into.Rel), "creates"})
		case n.as("DropStmt", &dr) && dr.RemoveType == "OBJECT_TABLE":
			for _, names := range dr.names() {
				if schema, name := splitName(names); name != "" {
					c.tables = append(c.tables, tableChange{rel{schema, name}, "drops"})
				}
			}
		case n.as("RenameStmt", &rn) && rn.Relation != nil:
			t := relOf(rn.Relation)
			switch rn.RenameType {
			case "OBJECT_TABLE":
				c.tables = append(c.tables, tableChange{t, "renames to " + rn.Newname},
					tableChange{rel{t.Schema, rn.Newname}, "creates by renaming " + t.Name})
			case "OBJECT_COLUMN", "OBJECT_TABCONSTRAINT":
				c.columns = append(c.columns, columnChange{t, rn.Subname, "renames to " + rn.Newname},
					columnChange{t, rn.Newname, "creates by renaming " + rn.Subname})
			}
		case n.as("AlterTableStmt", &at) && at.Relation != nil:
			t := relOf(at.Relation)
			for j := range at.Cmds {
				var cmd alterTableCmd
				if !at.Cmds[j].as("AlterTableCmd", &cmd) {
					continue
				}
				name := cmd.Name
				var cd columnDef
				if name == "" && cmd.Def.as("ColumnDef", &cd) {
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
func refsOf(n *node) ([]rel, []string) {
	var tables []rel
	names := map[string]bool{}
	add := func(ss ...string) {
		for _, s := range ss {
			names[s] = true
		}
	}
	if n.is("DropStmt") {
		var dr dropStmt
		if n.as("DropStmt", &dr) && dr.RemoveType == "OBJECT_TABLE" {
			for _, ns := range dr.names() {
				if schema, name := splitName(ns); name != "" {
					tables = append(tables, rel{schema, name})
				}
			}
		}
	}
	visit(n.raw, func(kind string, f map[string]any) {
		switch kind {
		case "RangeVar":
			tables = append(tables, rel{fieldString(f, "schemaname"), fieldString(f, "relname")})
		case "ColumnRef":
			if s := fieldStrings(f, "fields"); len(s) > 0 {
				add(s[len(s)-1])
			}
		case "ResTarget", "IndexElem", "AlterTableCmd":
			add(fieldString(f, "name"))
		case "ColumnDef":
			add(fieldString(f, "colname"))
		case "Constraint":
			add(fieldStrings(f, "keys")...)
			add(fieldStrings(f, "fk_attrs")...)
			add(fieldStrings(f, "pk_attrs")...)
			add(fieldStrings(f, "including")...)
			add(fieldString(f, "conname"))
		case "RenameStmt":
			add(fieldString(f, "subname"), fieldString(f, "newname"))
		}
	})
	if n.is("RenameStmt") {
		// The statement itself is the root: visit sees only its fields.
		var rn renameStmt
		if n.as("RenameStmt", &rn) {
			add(rn.Subname, rn.Newname)
		}
	}
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
