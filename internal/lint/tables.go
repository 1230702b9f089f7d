package lint

import "strings"

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

func (t tableSet) addRV(rv *rangeVar) {
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

func (t tableSet) hasRV(rv *rangeVar) bool {
	return rv != nil && t.has(rv.Schemaname, rv.Relname)
}

// rvName is a relation's name as written (schema-qualified if it was).
func rvName(rv *rangeVar) string {
	if rv == nil {
		return "?"
	}
	if rv.Schemaname != "" {
		return rv.Schemaname + "." + rv.Relname
	}
	return rv.Relname
}

// rvNames lists the names of a list of RangeVar nodes, comma-separated.
func rvNames(ns []node) string {
	var names []string
	for i := range ns {
		if rv := relationOf(&ns[i]); rv != nil {
			names = append(names, rvName(rv))
		}
	}
	return strings.Join(names, ", ")
}

// allNew reports whether every relation of a list of RangeVar nodes was
// created earlier in the migration.
func (c *checker) allNew(ns []node) bool {
	for i := range ns {
		if !c.isNew(relationOf(&ns[i])) {
			return false
		}
	}
	return true
}

// isNew reports whether the statement's target was created earlier in the
// same migration: rules about locking or old code do not apply to a table
// nobody else can be using yet.
func (c *checker) isNew(rv *rangeVar) bool { return c.created.hasRV(rv) }

// record notes what statement s creates, after the rules have seen it.
func (c *checker) record(s *stmt) {
	n := s.node
	var (
		cs  struct{ Relation *rangeVar }
		cta struct{ Into *intoClause }
		sel struct {
			IntoClause *intoClause `json:"intoClause"`
		}
		rn renameStmt
		tx struct{ Kind string }
		ix indexStmt
		cd struct {
			Domainname []node `json:"domainname"`
		}
	)
	switch {
	case n.as("CreateStmt", &cs):
		c.created.addRV(cs.Relation)
	case n.as("CreateDomainStmt", &cd):
		schema, name := splitName(stringsOf(cd.Domainname))
		c.domains.add(schema, name)
	case n.as("IndexStmt", &ix):
		if ix.Idxname != "" && c.isNew(ix.Relation) {
			c.newIndexes.add(ix.Relation.Schemaname, ix.Idxname)
		}
	case n.as("CreateTableAsStmt", &cta) && cta.Into != nil:
		c.created.addRV(cta.Into.Rel)
	case n.as("SelectStmt", &sel) && sel.IntoClause != nil:
		c.created.addRV(sel.IntoClause.Rel)
	case n.as("RenameStmt", &rn):
		if rn.RenameType == "OBJECT_TABLE" && c.isNew(rn.Relation) {
			c.created.add(rn.Relation.Schemaname, rn.Newname)
		}
	case n.as("TransactionStmt", &tx):
		switch tx.Kind {
		case "TRANS_STMT_BEGIN", "TRANS_STMT_START":
			c.inBlock = true
		case "TRANS_STMT_COMMIT", "TRANS_STMT_ROLLBACK":
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
