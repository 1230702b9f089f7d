package lint

import (
	_ "embed"
	"encoding/json"
	"strings"
	"sync"
)

// Since PostgreSQL 11, ADD COLUMN with a DEFAULT stores the default's value
// in the catalog and leaves the rows alone, but only when the default can
// be evaluated once for the whole table: a VOLATILE expression (random(),
// gen_random_uuid(), nextval()) has to be computed for each row, so the
// table is rewritten under ACCESS EXCLUSIVE, as it is for a stored
// generated column and for a serial or identity column, whose values come
// from a sequence. Without the catalog the rule cannot ask pg_proc, so it
// carries the names of the built-in functions that are never volatile and
// treats every other function (an extension's, the application's own) as
// volatile, which is PostgreSQL's default for CREATE FUNCTION.

//go:embed nonvolatile_functions.txt
var nonVolatileText string

// nonVolatile is built on first use: only the applying instance checks
// migrations, and every process of every instance would otherwise pay
// for the 2,400-entry map (a fifth of the whole binary's package
// initialisation) at start.
var nonVolatile = sync.OnceValue(func() map[string]bool {
	m := make(map[string]bool, 2500)
	for _, l := range strings.Split(nonVolatileText, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			m[l] = true
		}
	}
	return m
})

// volatileCall returns the first function call in expression n that may be
// volatile, or "" if every call in it is a built-in that is not.
func volatileCall(n *node) string {
	if n == nil {
		return ""
	}
	// visit reports the nodes below the fields of its root; wrap n so that
	// a default that is itself a call is seen too.
	wrapped, err := json.Marshal(map[string]map[string]json.RawMessage{"expr": {n.kind: n.raw}})
	if err != nil {
		return ""
	}
	found := ""
	visit(wrapped, func(kind string, f map[string]any) {
		if found != "" || kind != "FuncCall" {
			return
		}
		names := fieldStrings(f, "funcname")
		if len(names) == 0 {
			return
		}
		name := names[len(names)-1]
		if len(names) > 2 || (len(names) == 2 && names[0] != "pg_catalog") || !nonVolatile()[name] {
			found = strings.Join(names, ".")
		}
	})
	return found
}

// isSerialType reports whether a column type is one of the serial
// pseudo-types, which add a sequence and a nextval() default.
func isSerialType(t string) bool {
	switch t {
	case "serial", "bigserial", "smallserial", "serial2", "serial4", "serial8":
		return true
	}
	return false
}

// addColumnRewrite reports an ADD COLUMN on an existing table that
// rewrites it: a serial or identity column, a stored generated column, or
// a default that is (or may be) volatile.
func (c *checker) addColumnRewrite(s *stmt, rel string, cd *columnDef) {
	typ := typeNameOf(cd.TypeName)
	identity := cd.Identity != ""
	var defaults []*node
	if cd.RawDefault != nil {
		defaults = append(defaults, cd.RawDefault)
	}
	generated := cd.Generated != ""
	genLoc := cd.Location
	for i := range cd.Constraints {
		var con struct {
			constraint
			RawExpr *node `json:"raw_expr"`
		}
		if !cd.Constraints[i].as("Constraint", &con) {
			continue
		}
		switch con.Contype {
		case "CONSTR_IDENTITY":
			identity = true
		case "CONSTR_GENERATED":
			generated, genLoc = true, con.Location
		case "CONSTR_DEFAULT":
			defaults = append(defaults, con.RawExpr)
		case "CONSTR_PRIMARY", "CONSTR_UNIQUE":
			kind := "PRIMARY KEY"
			if con.Contype == "CONSTR_UNIQUE" {
				kind = "UNIQUE"
			}
			c.report(AddUniqueConstraint, s, con.Location, "adding column %s.%s as %s builds its index under an ACCESS EXCLUSIVE lock; add the column, CREATE UNIQUE INDEX CONCURRENTLY (no-transaction migration), then ADD CONSTRAINT ... %s USING INDEX", rel, cd.Colname, kind, kind)
		}
	}
	switch {
	case isSerialType(typ):
		c.report(AddSerialColumn, s, cd.Location, "adding %s column %s.%s fills every existing row from its sequence, rewriting %s and its indexes under an ACCESS EXCLUSIVE lock; add a nullable bigint column, set its DEFAULT nextval(...) for new rows, backfill old rows in batches, then enforce NOT NULL as set-not-null describes", typ, rel, cd.Colname, rel)
	case identity:
		c.report(AddSerialColumn, s, cd.Location, "adding identity column %s.%s fills every existing row from its sequence, rewriting %s and its indexes under an ACCESS EXCLUSIVE lock; add a nullable bigint column with a DEFAULT nextval(...) for new rows and backfill old rows in batches", rel, cd.Colname, rel)
	}
	if generated {
		c.report(AddColumnVolatileDefault, s, genLoc, "adding stored generated column %s.%s computes it for every row, rewriting %s and its indexes under an ACCESS EXCLUSIVE lock; add a plain nullable column, fill it from a trigger for new rows, and backfill old rows in batches", rel, cd.Colname, rel)
	}
	for _, d := range defaults {
		if fn := volatileCall(d); fn != "" {
			c.report(AddColumnVolatileDefault, s, cd.Location, "the DEFAULT of new column %s.%s calls %s(), which is not a built-in known to be IMMUTABLE or STABLE, so every row gets its own value and %s is rewritten under an ACCESS EXCLUSIVE lock; add the column without the default (or with a constant one), then SET DEFAULT for new rows and backfill old rows in batches (if %s is IMMUTABLE or STABLE, allow this rule saying so)", rel, cd.Colname, fn, rel, fn)
			break
		}
	}
}
