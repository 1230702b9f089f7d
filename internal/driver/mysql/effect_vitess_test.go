package mysql

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"vitess.io/vitess/go/vt/sqlparser"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// vitessFacts is StatementEffect's reading of a statement as it was when
// vitess's parser did it, kept (in a test, so vitess is not linked into
// the binary) as the oracle of TestFactsMatchVitess.
func vitessFacts(stmt string) ([]fact, bool) {
	p, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		panic(err)
	}
	node, err := p.Parse(stmt)
	if err != nil {
		return nil, false
	}
	tbl := func(t sqlparser.TableName) (string, string) { return t.Qualifier.String(), t.Name.String() }
	var out []fact
	switch n := node.(type) {
	case *sqlparser.CreateTable:
		if n.Temp {
			return nil, false
		}
		s, t := tbl(n.Table)
		out = append(out, fact{kind: "table", schema: s, table: t, want: true})
	case *sqlparser.DropTable:
		if n.Temp {
			return nil, false
		}
		for _, x := range n.FromTables {
			s, t := tbl(x)
			out = append(out, fact{kind: "table", schema: s, table: t, want: false})
		}
	case *sqlparser.CreateView:
		if n.IsReplace {
			return nil, false
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
			out = append(out, vitessAlterFacts(s, t, o)...)
		}
	}
	return out, len(out) > 0
}

func vitessAlterFacts(s, t string, o sqlparser.AlterOption) []fact {
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
			return nil
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

// The facts StatementEffect reads for a statement are the ones it read
// with vitess's parser: over the end-to-end fixtures, the statements of
// TestStatementEffect, and every clause ALTER TABLE can carry, alone and
// beside another. (Package mysqlstmt compares the recognizer itself with
// vitess over the larger corpus.)
func TestFactsMatchVitess(t *testing.T) {
	t.Parallel()
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	e2e, err := os.ReadFile("../../../e2e/mysql_test.go")
	require.NoError(t, err)
	var stmts []string
	for _, m := range regexp.MustCompile(`"((?:CREATE|ALTER|DROP|RENAME) [^"]*?);(?:\\n)?"`).FindAllStringSubmatch(string(e2e), -1) {
		stmts = append(stmts, m[1])
	}
	require.NotEmpty(t, stmts)
	stmts = append(stmts,
		"CREATE TABLE a (id int PRIMARY KEY, x int)", "CREATE TEMPORARY TABLE a (id int)", "CREATE TABLE s.a LIKE b",
		"CREATE TABLE a (id int) WITH SYSTEM VERSIONING", "CREATE TEMPORARY TABLE a (id int) WITH SYSTEM VERSIONING",
		"CREATE UNIQUE INDEX a_x2 ON a (x)", "CREATE INDEX i ON s.a (x) ALGORITHM=INPLACE LOCK=NONE", "CREATE INDEX i ON a (x) FROB",
		"DROP INDEX a_x ON a", "DROP INDEX `PRIMARY` ON a", "RENAME TABLE a TO b, s.c TO s2.d", "CREATE VIEW bv AS SELECT id FROM b",
		"CREATE OR REPLACE VIEW v AS SELECT 1", "DROP VIEW bv, s.cv", "DROP TABLE b", "DROP TABLE IF EXISTS c1, c2", "DROP TEMPORARY TABLE t",
		"CREATE TRIGGER tr BEFORE INSERT ON c1 FOR EACH ROW SET NEW.id = 1", "GRANT SELECT ON c1 TO root", "this is not SQL",
		"ALTER TABLE a ADD COLUMN y int FROB", "UPDATE a SET x = 1", "TRUNCATE TABLE a")
	clauses := []string{"ADD COLUMN a INT NULL", "ADD (b INT, c INT)", "DROP COLUMN d", "DROP e", "MODIFY f BIGINT", "CHANGE g h INT",
		"CHANGE i I INT", "RENAME COLUMN j TO k", "ADD INDEX l (a)", "ADD INDEX (a)", "ADD UNIQUE KEY m (a)", "ADD PRIMARY KEY (id)",
		"ADD CONSTRAINT n FOREIGN KEY (a) REFERENCES u (id)", "ADD FOREIGN KEY (a) REFERENCES u (id)", "ADD CONSTRAINT o CHECK (a > 0)",
		"DROP INDEX p", "DROP KEY q", "DROP PRIMARY KEY", "DROP FOREIGN KEY r", "DROP CHECK s", "DROP CONSTRAINT s2",
		"RENAME INDEX t TO u", "RENAME TO v", "RENAME TO s3.w", "ALGORITHM=INSTANT", "LOCK=NONE", "ENGINE=InnoDB", "ALTER COLUMN x SET DEFAULT 1"}
	for i, a := range clauses {
		stmts = append(stmts, "ALTER TABLE s.t "+a)
		for _, b := range clauses[i:] {
			stmts = append(stmts, "ALTER TABLE t "+a+", "+b)
		}
	}
	for _, stmt := range stmts {
		want, wantKnown := vitessFacts(stmt)
		got, why := d.facts(stmt)
		require.Equal(t, wantKnown, len(got) > 0, "%s: %s", stmt, why)
		require.Equal(t, fmt.Sprint(want), fmt.Sprint(got), stmt)
	}
}
