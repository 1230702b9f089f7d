package lint

import "errors"

// IndexBuild is a CREATE INDEX CONCURRENTLY statement: the index it builds
// and the table it builds it on. Schema is the table's schema as written,
// "" when unqualified; the index lives in the table's schema.
type IndexBuild struct {
	Schema, Table, Name string
	Unique              bool
}

// ConcurrentIndex reports whether sql is a named CREATE INDEX CONCURRENTLY.
// The executor asks before running each statement of a no-transaction
// migration, so a statement that cannot be one (no CONCURRENTLY in its
// text) is answered without touching the parser.
func ConcurrentIndex(sql string) (IndexBuild, bool, error) {
	if !containsFold(sql, "concurrently") {
		return IndexBuild{}, false, nil
	}
	res, err := parse(sql)
	var ie *internalError
	if errors.As(err, &ie) {
		return IndexBuild{}, false, err
	}
	if err != nil || len(res.Stmts) != 1 {
		// Not ours to judge: the database reports the syntax error.
		return IndexBuild{}, false, nil
	}
	var ix indexStmt
	if !res.Stmts[0].Stmt.as("IndexStmt", &ix) || !ix.Concurrent || ix.Idxname == "" || ix.Relation == nil {
		return IndexBuild{}, false, nil
	}
	return IndexBuild{Schema: ix.Relation.Schemaname, Table: ix.Relation.Relname, Name: ix.Idxname, Unique: ix.Unique}, true, nil
}

// IndexDrop is a DROP INDEX CONCURRENTLY statement: the index it drops.
type IndexDrop struct {
	Schema, Name string
}

// ConcurrentDrop reports whether sql is a DROP INDEX CONCURRENTLY (which
// names exactly one index).
func ConcurrentDrop(sql string) (IndexDrop, bool, error) {
	if !containsFold(sql, "concurrently") {
		return IndexDrop{}, false, nil
	}
	res, err := parse(sql)
	var ie *internalError
	if errors.As(err, &ie) {
		return IndexDrop{}, false, err
	}
	if err != nil || len(res.Stmts) != 1 {
		return IndexDrop{}, false, nil
	}
	var dr dropStmt
	if !res.Stmts[0].Stmt.as("DropStmt", &dr) || !dr.Concurrent || dr.RemoveType != "OBJECT_INDEX" {
		return IndexDrop{}, false, nil
	}
	names := dr.names()
	if len(names) != 1 {
		return IndexDrop{}, false, nil
	}
	schema, name := splitName(names[0])
	return IndexDrop{Schema: schema, Name: name}, name != "", nil
}
