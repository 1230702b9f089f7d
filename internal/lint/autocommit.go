package lint

import (
	"errors"

	"github.com/fleetgate/fleetgate/internal/source"
)

// Autocommit reports whether PostgreSQL refuses to run sql inside a
// transaction block, so that a no-transaction migration must send it on
// its own, and names what it is. Everything else in such a migration runs
// in a transaction of its own, committed with its progress row: exactly
// once. idempotent is true when running it a second time after an
// interrupted first run is harmless or is settled by the runner (a
// concurrent index statement, which it inspects in the catalog).
//
// A procedure (CALL) or a DO block that commits cannot run in a
// transaction block either; a CALL is taken to commit, a DO block when its
// body says COMMIT or ROLLBACK.
func Autocommit(sql string) (what string, idempotent, ok bool, err error) {
	lexical := source.NoTxReason(sql)
	if lexical == "" && !containsFold(sql, "call") && !containsFold(sql, "commit") && !containsFold(sql, "rollback") &&
		!containsFold(sql, "tablespace") {
		return "", false, false, nil
	}
	res, err := parse(sql)
	var ie *internalError
	if errors.As(err, &ie) {
		return "", false, false, err
	}
	if err != nil || len(res.Stmts) != 1 {
		// The database will judge it; go by the words meanwhile.
		return lexical, false, lexical != "", nil
	}
	what, idempotent, ok = autocommitOf(&res.Stmts[0].Stmt, sql, lexical)
	return what, idempotent, ok, nil
}

// autocommitOf is Autocommit for a parsed statement; lexical is
// source.NoTxReason of its text.
func autocommitOf(n *node, sql, lexical string) (what string, idempotent, ok bool) {
	var (
		ix indexStmt
		dr dropStmt
		ri reindexStmt
		vc vacuumStmt
		ex struct {
			MissingOk bool `json:"missing_ok"`
		}
	)
	switch {
	case n.as("IndexStmt", &ix):
		return "CREATE INDEX CONCURRENTLY", ix.Idxname != "", ix.Concurrent
	case n.as("DropStmt", &dr):
		if dr.Concurrent {
			return "DROP INDEX CONCURRENTLY", true, true
		}
	case n.as("ReindexStmt", &ri):
		if defElemTrue(ri.Params, "concurrently") || ri.Relation == nil && (containsFold(sql, "system") || containsFold(sql, "database")) {
			return "REINDEX", true, true
		}
	case n.as("VacuumStmt", &vc):
		return "VACUUM", true, vc.IsVacuumcmd
	case n.is("AlterSystemStmt"):
		return "ALTER SYSTEM", true, true
	case n.is("CreatedbStmt"):
		return "CREATE DATABASE", false, true
	case n.as("DropdbStmt", &ex):
		return "DROP DATABASE", ex.MissingOk, true
	case n.is("CreateTableSpaceStmt"):
		return "CREATE TABLESPACE", false, true
	case n.as("DropTableSpaceStmt", &ex):
		return "DROP TABLESPACE", ex.MissingOk, true
	case n.is("CreateSubscriptionStmt"):
		return "CREATE SUBSCRIPTION", false, true
	case n.as("DropSubscriptionStmt", &ex):
		return "DROP SUBSCRIPTION", ex.MissingOk, true
	case n.is("AlterDatabaseStmt") && containsFold(sql, "tablespace"):
		return "ALTER DATABASE SET TABLESPACE", true, true
	case n.is("CallStmt"):
		return "CALL", false, true
	case n.is("DoStmt") && (containsFold(sql, "commit") || containsFold(sql, "rollback")):
		return "DO with COMMIT or ROLLBACK", false, true
	case n.is("AlterTableStmt") && lexical == "CONCURRENTLY":
		return "DETACH PARTITION CONCURRENTLY", false, true
	case n.is("TransactionStmt") && lexical != "":
		return lexical, false, true
	}
	return "", false, false
}
