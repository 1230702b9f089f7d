package lint

import (
	pgq "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// tableSet is a set of relation names. Names are compared as PostgreSQL
// resolves them after the parser has folded case: an unqualified name
// matches the same name in any schema, since without the catalog we cannot
// tell which schema search_path picks.
type tableSet map[string]map[string]bool // relname -> schemas ("" for unqualified)

func (t tableSet) add(schema, rel string) {
	if t[rel] == nil {
		t[rel] = map[string]bool{}
	}
	t[rel][schema] = true
}

func (t tableSet) addRV(rv *pgq.RangeVar) {
	if rv != nil {
		t.add(rv.Schemaname, rv.Relname)
	}
}

func (t tableSet) has(schema, rel string) bool {
	s, ok := t[rel]
	if !ok {
		return false
	}
	return schema == "" || s[schema] || s[""]
}

func (t tableSet) hasRV(rv *pgq.RangeVar) bool {
	return rv != nil && t.has(rv.Schemaname, rv.Relname)
}

// rvName is a relation's name as written (schema-qualified if it was).
func rvName(rv *pgq.RangeVar) string {
	if rv == nil {
		return "?"
	}
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

// isNew reports whether the statement's target was created earlier in the
// same migration: rules about locking or old code do not apply to a table
// nobody else can be using yet.
func (c *checker) isNew(rv *pgq.RangeVar) bool { return c.created.hasRV(rv) }

// record notes what statement s creates, after the rules have seen it.
func (c *checker) record(s *stmt) {
	n := s.node
	switch {
	case n.GetCreateStmt() != nil:
		c.created.addRV(n.GetCreateStmt().Relation)
	case n.GetCreateTableAsStmt() != nil && n.GetCreateTableAsStmt().Into != nil:
		c.created.addRV(n.GetCreateTableAsStmt().Into.Rel)
	case n.GetSelectStmt() != nil && n.GetSelectStmt().IntoClause != nil:
		c.created.addRV(n.GetSelectStmt().IntoClause.Rel)
	case n.GetRenameStmt() != nil:
		r := n.GetRenameStmt()
		if r.RenameType == pgq.ObjectType_OBJECT_TABLE && c.isNew(r.Relation) {
			c.created.add(r.Relation.Schemaname, r.Newname)
		}
	case n.GetTransactionStmt() != nil:
		switch n.GetTransactionStmt().Kind {
		case pgq.TransactionStmtKind_TRANS_STMT_BEGIN, pgq.TransactionStmtKind_TRANS_STMT_START:
			c.inBlock = true
		case pgq.TransactionStmtKind_TRANS_STMT_COMMIT, pgq.TransactionStmtKind_TRANS_STMT_ROLLBACK:
			// In a transactional migration fleetgate runs an explicit
			// block inside its own transaction, so only a no-transaction
			// migration really commits here.
			c.inBlock = false
			if c.m.NoTransaction {
				c.enumVals = nil
			}
		}
	}
	if !c.inTransaction() {
		// Outside a transaction block every statement commits on its own.
		c.enumVals = nil
	}
}

// walk calls fn for every message in the tree under m, depth first; fn
// returns false to skip a subtree.
func walk(m protoreflect.Message, fn func(protoreflect.Message) bool) {
	if !m.IsValid() || !fn(m) {
		return
	}
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Kind() != protoreflect.MessageKind {
			return true
		}
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len(); i++ {
				walk(l.Get(i).Message(), fn)
			}
		case fd.IsMap():
		default:
			walk(v.Message(), fn)
		}
		return true
	})
}

// walkNode walks a parse tree node.
func walkNode(n *pgq.Node, fn func(protoreflect.Message) bool) {
	if n != nil {
		walk(n.ProtoReflect(), fn)
	}
}

// stringsOf returns the String values of a list of nodes (a qualified
// name, a column list).
func stringsOf(ns []*pgq.Node) []string {
	out := make([]string, 0, len(ns))
	for _, n := range ns {
		if s := n.GetString_(); s != nil {
			out = append(out, s.Sval)
		}
	}
	return out
}

func lastString(ns []*pgq.Node) string {
	s := stringsOf(ns)
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}
