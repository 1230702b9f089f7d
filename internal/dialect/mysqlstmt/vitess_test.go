package mysqlstmt

import (
	"fmt"
	"strings"
	"sync"

	"vitess.io/vitess/go/vt/sqlparser"
)

// vitess is the oracle of the differential tests: vitess's parser, which
// the checks and the crash recovery used before this package, is linked
// into the tests only (a test in cmd/fleetgate keeps it out of the binary).
var vitess = sync.OnceValue(func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{MySQLServerVersion: "8.0.40"})
	if err != nil {
		panic(err)
	}
	return p
})

// fromVitess is what the old code read from vitess's tree, in this
// package's terms: strict is the checks' ParseStrictDDL, !strict the
// crash recovery's Parse (which returns the head of a DDL statement it
// could not finish).
func fromVitess(sql string, strict bool) (*Statement, error) {
	var node sqlparser.Statement
	var err error
	if strict {
		node, err = vitess().ParseStrictDDL(sql)
	} else {
		node, err = vitess().Parse(sql)
	}
	if err != nil {
		return nil, err
	}
	st := &Statement{}
	tn := func(t sqlparser.TableName) Name { return Name{Schema: t.Qualifier.String(), Table: t.Name.String()} }
	single := func(exprs []sqlparser.TableExpr) []Name {
		if len(exprs) != 1 {
			return nil
		}
		a, ok := exprs[0].(*sqlparser.AliasedTableExpr)
		if !ok {
			return nil
		}
		t, ok := a.Expr.(sqlparser.TableName)
		if !ok {
			return nil
		}
		return []Name{tn(t)}
	}
	switch n := node.(type) {
	case *sqlparser.CreateTable:
		st.Kind, st.Temp, st.Tables = CreateTable, n.Temp, []Name{tn(n.Table)}
	case *sqlparser.DropTable:
		st.Kind, st.Temp = DropTable, n.Temp
		for _, t := range n.FromTables {
			st.Tables = append(st.Tables, tn(t))
		}
	case *sqlparser.CreateView:
		st.Kind, st.Replace, st.Tables = CreateView, n.IsReplace, []Name{tn(n.ViewName)}
	case *sqlparser.DropView:
		st.Kind = DropView
		for _, t := range n.FromTables {
			st.Tables = append(st.Tables, tn(t))
		}
	case *sqlparser.RenameTable:
		st.Kind = RenameTable
		for _, p := range n.TablePairs {
			st.Pairs = append(st.Pairs, Pair{From: tn(p.FromTable), To: tn(p.ToTable)})
		}
	case *sqlparser.AlterTable:
		st.Kind, st.Tables = AlterTable, []Name{tn(n.Table)}
		for _, o := range n.AlterOptions {
			st.Specs = append(st.Specs, specFromVitess(o))
		}
		if n.PartitionSpec != nil || n.PartitionOption != nil {
			st.Specs = append(st.Specs, Spec{})
		}
	case *sqlparser.LockTables:
		st.Kind = LockTables
	case *sqlparser.Update:
		st.Kind, st.Tables, st.Where, st.Limit = Update, single(n.TableExprs), n.Where != nil, n.Limit != nil
	case *sqlparser.Delete:
		st.Kind, st.Tables, st.Where, st.Limit = Delete, single(n.TableExprs), n.Where != nil, n.Limit != nil
	case sqlparser.DBDDLStatement:
		st.Kind = DatabaseDDL
	case *sqlparser.OtherAdmin:
		if w := FirstWords(sql, 1); len(w) == 1 && w[0] == "OPTIMIZE" {
			st.Kind = Optimize
		}
	}
	return st, nil
}

func specFromVitess(o sqlparser.AlterOption) Spec {
	col := func(d *sqlparser.ColumnDefinition) Column {
		c := Column{Name: d.Name.String(), Type: strings.ToLower(sqlparser.String(d.Type))}
		if opts := d.Type.Options; opts != nil {
			c.NotNull = opts.Null != nil && !*opts.Null
			c.Default, c.AutoIncrement, c.Generated = opts.Default != nil, opts.Autoincrement, opts.As != nil
		}
		return c
	}
	switch c := o.(type) {
	case *sqlparser.AddColumns:
		s := Spec{Kind: SpecAddColumns}
		for _, d := range c.Columns {
			s.Columns = append(s.Columns, col(d))
		}
		return s
	case *sqlparser.DropColumn:
		return Spec{Kind: SpecDropColumn, Name: c.Name.Name.String()}
	case *sqlparser.ModifyColumn:
		return Spec{Kind: SpecModifyColumn, Name: c.NewColDefinition.Name.String(), Columns: []Column{col(c.NewColDefinition)}}
	case *sqlparser.ChangeColumn:
		return Spec{Kind: SpecChangeColumn, Name: c.OldColumn.Name.String(), Columns: []Column{col(c.NewColDefinition)}}
	case *sqlparser.RenameColumn:
		return Spec{Kind: SpecRenameColumn, Name: c.OldName.Name.String(), NewName: c.NewName.Name.String()}
	case *sqlparser.AddIndexDefinition:
		name := c.IndexDefinition.Info.Name.String()
		if c.IndexDefinition.Info.Type == sqlparser.IndexTypePrimary {
			name = "PRIMARY"
		}
		return Spec{Kind: SpecAddIndex, Name: name}
	case *sqlparser.AddConstraintDefinition:
		if fk, ok := c.ConstraintDefinition.Details.(*sqlparser.ForeignKeyDefinition); ok {
			r := fk.ReferenceDefinition.ReferencedTable
			return Spec{Kind: SpecAddForeignKey, Name: c.ConstraintDefinition.Name.String(), Ref: Name{Schema: r.Qualifier.String(), Table: r.Name.String()}}
		}
		return Spec{Kind: SpecAddConstraint, Name: c.ConstraintDefinition.Name.String()}
	case *sqlparser.DropKey:
		switch c.Type {
		case sqlparser.PrimaryKeyType:
			return Spec{Kind: SpecDropIndex, Name: "PRIMARY"}
		case sqlparser.NormalKeyType:
			return Spec{Kind: SpecDropIndex, Name: c.Name.String()}
		}
		return Spec{Kind: SpecDropConstraint, Name: c.Name.String()}
	case *sqlparser.RenameIndex:
		return Spec{Kind: SpecRenameIndex, Name: c.OldName.String(), NewName: c.NewName.String()}
	case *sqlparser.RenameTableName:
		return Spec{Kind: SpecRenameTo, Ref: Name{Schema: c.Table.Qualifier.String(), Table: c.Table.Name.String()}}
	case sqlparser.AlgorithmValue:
		return Spec{Kind: SpecAlgorithm, Value: strings.ToUpper(string(c))}
	case *sqlparser.LockOption:
		v := map[sqlparser.LockOptionType]string{sqlparser.NoneType: "NONE", sqlparser.DefaultType: "DEFAULT", sqlparser.SharedType: "SHARED", sqlparser.ExclusiveType: "EXCLUSIVE"}[c.Type]
		return Spec{Kind: SpecLock, Value: v}
	}
	return Spec{}
}

// summary is the part of a Statement both sides must agree on: not the
// offsets, the first words, nor the spacing of a column's type.
func summary(st *Statement) string {
	if st == nil {
		return "<nil>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "kind=%d temp=%v replace=%v tables=%v pairs=%v where=%v limit=%v", st.Kind, st.Temp, st.Replace, st.Tables, st.Pairs, st.Where, st.Limit)
	for _, s := range st.Specs {
		fmt.Fprintf(&b, "\n  spec=%d name=%q new=%q ref=%v value=%q", s.Kind, strings.ToLower(s.Name), strings.ToLower(s.NewName), s.Ref, s.Value)
		for _, c := range s.Columns {
			fmt.Fprintf(&b, " col(%s type=%q notnull=%v default=%v autoinc=%v gen=%v)", c.Name, baseType(c.Type), c.NotNull, c.Default, c.AutoIncrement, c.Generated)
		}
	}
	return b.String()
}

// baseType is the name of a column type. Type is the definition as
// written (lower-cased), where vitess printed its own tree, which orders
// the attributes, spells numbers and quotes strings its way; the messages
// that quote it read the same either way.
func baseType(s string) string {
	s = strings.NewReplacer("integer", "int", "bool", "tinyint").Replace(s)
	if end := strings.IndexAny(s, " ("); end >= 0 {
		return s[:end]
	}
	return s
}
