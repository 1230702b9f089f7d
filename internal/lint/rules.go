package lint

import (
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/internal/source"
)

const postHint = "do it in a post-phase migration (-- fleetgate:phase post) once no old code is left"

// checkStatement runs every rule that applies to statement s.
func (c *checker) checkStatement(s *stmt) {
	n := s.node
	c.checkEnumUse(s)
	c.atLeastOnce(s)
	var (
		at  alterTableStmt
		rn  renameStmt
		dr  dropStmt
		ix  indexStmt
		vc  vacuumStmt
		cl  clusterStmt
		ri  reindexStmt
		lk  lockStmt
		up  updateStmt
		del deleteStmt
		tr  truncateStmt
		ad  alterDomainStmt
		en  alterEnumStmt
	)
	switch {
	case n.as("AlterTableStmt", &at):
		c.alterTable(s, &at)
	case n.as("RenameStmt", &rn):
		c.rename(s, &rn)
	case n.as("DropStmt", &dr):
		c.drop(s, &dr)
	case n.as("IndexStmt", &ix):
		c.createIndex(s, &ix)
	case n.as("VacuumStmt", &vc):
		c.vacuum(s, &vc)
	case n.as("ClusterStmt", &cl):
		if cl.Relation == nil || !c.isNew(cl.Relation) {
			target := "every previously clustered table"
			if cl.Relation != nil {
				target = rvName(cl.Relation)
			}
			c.report(Cluster, s, -1, "CLUSTER rewrites %s under an ACCESS EXCLUSIVE lock, blocking reads and writes; use pg_repack, or schedule it outside a deploy", target)
		}
	case n.as("ReindexStmt", &ri):
		c.reindex(s, &ri)
	case n.as("LockStmt", &lk):
		c.lockTable(s, &lk)
	case n.as("UpdateStmt", &up):
		if up.WhereClause == nil && !c.isNew(up.Relation) {
			c.report(UpdateWithoutWhere, s, up.Relation.loc(), "UPDATE %s without WHERE rewrites every row in one transaction and holds every row lock until it commits, so the application's writes to the table wait; on a large table, backfill in batches with a WHERE clause", rvName(up.Relation))
		}
	case n.as("AlterDomainStmt", &ad):
		c.alterDomain(s, &ad)
	case n.as("TruncateStmt", &tr):
		if tr.Behavior == "DROP_CASCADE" && !c.allNew(tr.Relations) {
			c.report(TruncateCascade, s, -1, "TRUNCATE ... CASCADE also empties every table with a foreign key to %s, and the tables referencing those, which the statement does not name; list every table to empty, without CASCADE", rvNames(tr.Relations))
		}
	case n.as("DeleteStmt", &del):
		if del.WhereClause == nil && !c.isNew(del.Relation) {
			c.report(DeleteWithoutWhere, s, del.Relation.loc(), "DELETE FROM %s without WHERE deletes every row; add a WHERE clause, or allow the rule if emptying the table is intended", rvName(del.Relation))
		}
	case n.as("AlterEnumStmt", &en):
		if en.NewVal != "" && en.OldVal == "" && c.inTransaction() {
			c.enumVals = append(c.enumVals, enumValue{typ: strings.Join(stringsOf(en.TypeName), "."), val: en.NewVal, line: s.src.Line})
		}
	case n.is("CreatedbStmt"):
		c.noTx(s, "CREATE DATABASE")
	case n.is("DropdbStmt"):
		c.noTx(s, "DROP DATABASE")
	case n.is("CreateTableSpaceStmt"):
		c.noTx(s, "CREATE TABLESPACE")
	case n.is("DropTableSpaceStmt"):
		c.noTx(s, "DROP TABLESPACE")
	case n.is("AlterSystemStmt"):
		c.noTx(s, "ALTER SYSTEM")
	}
}

// atLeastOnce reports a statement of a no-transaction migration that must
// run in autocommit and cannot safely run twice: the runner records it
// done only after it returns, so one that dies while it runs leaves it to
// be run again (docs/lock.md). An unnamed concurrent index has its own rule.
func (c *checker) atLeastOnce(s *stmt) {
	if !c.m.NoTransaction || c.inBlock {
		return
	}
	what, idempotent, ok := autocommitOf(s.node, s.src.SQL, source.NoTxReason(s.src.SQL))
	if !ok || idempotent || what == "CREATE INDEX CONCURRENTLY" {
		return
	}
	c.report(AtLeastOnce, s, -1, "%s cannot run in a transaction, so it is not applied exactly once: if the runner dies while it runs, the next run repeats it; make it safe to repeat (IF EXISTS, or a check of what it changes), or run it by hand and settle the migration with fleetgate resolve", what)
}

// noTx reports a statement that PostgreSQL refuses inside a transaction
// block, when this one would run in one.
func (c *checker) noTx(s *stmt, what string) {
	if !c.inTransaction() {
		return
	}
	where := "this migration runs in a transaction; add -- fleetgate:no-transaction (statements then run one at a time, each committed on its own)"
	if c.m.NoTransaction {
		where = "it is inside an explicit BEGIN ... COMMIT block; move it out of the block"
	}
	c.report(NeedsNoTransaction, s, -1, "%s cannot run inside a transaction block: %s", what, where)
}

func (c *checker) alterTable(s *stmt, a *alterTableStmt) {
	if a.Objtype != "OBJECT_TABLE" {
		return // ALTER INDEX, VIEW, SEQUENCE, ...
	}
	rel := rvName(a.Relation)
	isNew := c.isNew(a.Relation)
	c.cachedPlans(s, a)
	for i := range a.Cmds {
		var cmd alterTableCmd
		if !a.Cmds[i].as("AlterTableCmd", &cmd) {
			continue
		}
		switch cmd.Subtype {
		case "AT_DropColumn":
			if c.pre && !isNew {
				c.report(DropColumn, s, -1, "dropping column %s.%s breaks old code still reading or writing it; stop using it in the code first, then %s", rel, cmd.Name, postHint)
			}
		case "AT_AlterColumnType":
			if isNew {
				continue
			}
			var cd columnDef
			loc, typ := int32(-1), "?"
			if cmd.Def.as("ColumnDef", &cd) {
				loc, typ = cd.Location, typeNameOf(cd.TypeName)
			}
			if c.pre {
				c.report(ChangeColumnType, s, loc, "changing the type of %s.%s to %s can break old code still using it; add a new column, write both, backfill, and drop the old one in the post phase", rel, cmd.Name, typ)
			}
			c.report(RewriteColumnType, s, loc, "changing the type of %s.%s to %s rewrites the table and its indexes under an ACCESS EXCLUSIVE lock unless the change is binary-coercible (e.g. varchar(n) to text or a longer varchar); if it is, allow this rule saying so", rel, cmd.Name, typ)
		case "AT_SetNotNull":
			if c.pre && !isNew {
				c.report(SetNotNull, s, -1, "SET NOT NULL on %s.%s breaks old code that writes NULL and scans the table under an ACCESS EXCLUSIVE lock; add CHECK (%s IS NOT NULL) NOT VALID and VALIDATE it, then SET NOT NULL in the post phase", rel, cmd.Name, cmd.Name)
			}
		case "AT_DropNotNull":
			if c.pre && !isNew {
				c.report(DropNotNull, s, -1, "DROP NOT NULL on %s.%s lets new code write NULLs that the old code still running reads without expecting them; deploy code that handles NULL in %s first and accept this finding naming that release, or drop the constraint in the post phase and write NULLs only from the next release", rel, cmd.Name, cmd.Name)
			}
		case "AT_AddColumn":
			var cd columnDef
			if cmd.Def.as("ColumnDef", &cd) && !isNew {
				c.addColumn(s, rel, &cd)
				c.addColumnRewrite(s, rel, &cd)
			}
		case "AT_AddConstraint":
			var con constraint
			if cmd.Def.as("Constraint", &con) && !isNew {
				c.addConstraint(s, rel, &con)
			}
		case "AT_DetachPartition":
			var pc struct {
				Name       *rangeVar `json:"name"`
				Concurrent bool      `json:"concurrent"`
			}
			if !cmd.Def.as("PartitionCmd", &pc) {
				continue
			}
			if pc.Concurrent {
				c.noTx(s, "DETACH PARTITION ... CONCURRENTLY")
			} else if !isNew {
				c.report(RequireConcurrentDetach, s, -1, "DETACH PARTITION %s without CONCURRENTLY takes an ACCESS EXCLUSIVE lock on %s, blocking reads and writes of every partition until the migration commits; use DETACH PARTITION ... CONCURRENTLY (PostgreSQL 14+) in a -- fleetgate:no-transaction migration", rvName(pc.Name), rel)
			}
		}
	}
}

// cachedPlans reports an ALTER TABLE that changes the row type of a table
// running code may already use: a column added, dropped or retyped. A
// statement prepared before it that returns whole rows (SELECT *,
// RETURNING *, t.*) fails at its next execution with "cached plan must not
// change result type" (SQLSTATE 0A000), once per connection that holds it.
// Nothing in the SQL shows whether the code prepares such statements, so
// this is a warning with the advice, once per table and migration.
func (c *checker) cachedPlans(s *stmt, a *alterTableStmt) {
	if c.isNew(a.Relation) || c.earlier.hasRV(a.Relation) || c.planWarned.hasRV(a.Relation) {
		return
	}
	var changes []string
	for i := range a.Cmds {
		var cmd alterTableCmd
		if !a.Cmds[i].as("AlterTableCmd", &cmd) {
			continue
		}
		switch cmd.Subtype {
		case "AT_AddColumn":
			var cd columnDef
			if cmd.Def.as("ColumnDef", &cd) {
				changes = append(changes, "adds "+cd.Colname)
			}
		case "AT_DropColumn":
			changes = append(changes, "drops "+cmd.Name)
		case "AT_AlterColumnType":
			changes = append(changes, "retypes "+cmd.Name)
		}
	}
	if len(changes) == 0 {
		return
	}
	c.planWarned.addRV(a.Relation)
	c.report(InvalidatesCachedPlans, s, a.Relation.loc(), "ALTER TABLE %s %s: running code's prepared statements that return whole rows of %s (SELECT *, RETURNING *) fail once per connection after this commits (\"cached plan must not change result type\", SQLSTATE 0A000); retry them (Go: package pgxhook), reset statement caches with OnSchemaChange, or recycle connections (docs/deploy.md, Stale prepared statements)",
		rvName(a.Relation), strings.Join(changes, ", "), rvName(a.Relation))
}

func (c *checker) addColumn(s *stmt, rel string, cd *columnDef) {
	notNull, hasDefault := cd.IsNotNull, cd.RawDefault != nil || cd.Identity != "" || cd.Generated != ""
	switch typeNameOf(cd.TypeName) {
	case "serial", "bigserial", "smallserial", "serial2", "serial4", "serial8":
		hasDefault = true
	}
	for i := range cd.Constraints {
		var con constraint
		if !cd.Constraints[i].as("Constraint", &con) {
			continue
		}
		switch con.Contype {
		case "CONSTR_NOTNULL", "CONSTR_PRIMARY":
			notNull = true
		case "CONSTR_DEFAULT", "CONSTR_IDENTITY", "CONSTR_GENERATED":
			hasDefault = true
		case "CONSTR_FOREIGN":
			c.report(AddForeignKey, s, con.Location, "adding column %s.%s with REFERENCES validates the foreign key while blocking writes to %s and %s; add the column first, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and VALIDATE CONSTRAINT in a later migration", rel, cd.Colname, rel, rvName(con.Pktable))
		}
	}
	if notNull && !hasDefault {
		c.report(AddNotNullColumn, s, cd.Location, "column %s.%s is NOT NULL without a default: it fails on a non-empty table and old code's inserts omit it; add it nullable (or with a DEFAULT), backfill, then enforce NOT NULL in the post phase", rel, cd.Colname)
	}
}

func (c *checker) addConstraint(s *stmt, rel string, con *constraint) {
	name := con.Conname
	if name == "" {
		name = "(unnamed)"
	}
	switch con.Contype {
	case "CONSTR_FOREIGN":
		if !con.SkipValidation {
			c.report(AddForeignKey, s, con.Location, "foreign key %s on %s is validated while writes to %s and %s are blocked; add it with NOT VALID, then VALIDATE CONSTRAINT %s in a later migration (which takes a weaker lock)", name, rel, rel, rvName(con.Pktable), name)
		}
	case "CONSTR_CHECK":
		if !con.SkipValidation {
			c.report(AddCheckConstraint, s, con.Location, "CHECK constraint %s on %s scans the table under an ACCESS EXCLUSIVE lock; add it with NOT VALID, then VALIDATE CONSTRAINT %s in a later migration", name, rel, name)
		}
	case "CONSTR_UNIQUE", "CONSTR_PRIMARY", "CONSTR_EXCLUSION":
		if con.Indexname == "" {
			c.report(AddUniqueConstraint, s, con.Location, "constraint %s on %s builds its index under an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX CONCURRENTLY first (no-transaction migration), then ADD CONSTRAINT ... USING INDEX", name, rel)
		}
	}
}

// alterDomain reports a CHECK constraint added to an existing domain
// without NOT VALID, and the validation of one: either way PostgreSQL
// checks every column of the domain's type holding a SHARE lock on each
// table it scans. Unlike a table's, a domain's VALIDATE CONSTRAINT takes
// that lock too, so NOT VALID only moves the scan to the VALIDATE.
func (c *checker) alterDomain(s *stmt, a *alterDomainStmt) {
	schema, name := splitName(stringsOf(a.TypeName))
	if c.domains.has(schema, name) {
		return
	}
	domain := strings.Join(stringsOf(a.TypeName), ".")
	const instead = "check the columns with table CHECK constraints (NOT VALID, then VALIDATE CONSTRAINT), which do not block writes"
	var con constraint
	switch {
	case a.Subtype == "C" && a.Def.as("Constraint", &con) && con.Contype == "CONSTR_CHECK" && !con.SkipValidation:
		cname := con.Conname
		if cname == "" {
			cname = "(unnamed)"
		}
		c.report(AddCheckConstraint, s, con.Location, "CHECK constraint %s on domain %s is checked against every column of that type, blocking writes to each table while it is scanned; %s", cname, domain, instead)
	case a.Subtype == "V":
		c.report(AddCheckConstraint, s, -1, "VALIDATE CONSTRAINT %s on domain %s checks every column of that type, blocking writes to each table while it is scanned (unlike a table's VALIDATE); %s", a.Name, domain, instead)
	}
}

func (c *checker) rename(s *stmt, r *renameStmt) {
	if !c.pre || c.isNew(r.Relation) {
		return
	}
	switch r.RenameType {
	case "OBJECT_COLUMN":
		if r.RelationType == "OBJECT_TABLE" {
			c.report(RenameColumn, s, r.Relation.loc(), "renaming column %s.%s to %s breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rvName(r.Relation), r.Subname, r.Newname)
		}
	case "OBJECT_TABLE":
		c.report(RenameTable, s, r.Relation.loc(), "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", rvName(r.Relation), r.Newname)
	}
}

func (c *checker) drop(s *stmt, d *dropStmt) {
	switch d.RemoveType {
	case "OBJECT_TABLE":
		if !c.pre {
			return
		}
		for _, names := range d.names() {
			schema, rel := splitName(names)
			if rel == "" || c.created.has(schema, rel) {
				continue
			}
			c.report(DropTable, s, -1, "dropping table %s breaks old code still using it; stop using it in the code first, then %s", strings.Join(names, "."), postHint)
		}
	case "OBJECT_INDEX":
		if d.Concurrent {
			c.noTx(s, "DROP INDEX CONCURRENTLY")
			return
		}
		var old []string
		for _, names := range d.names() {
			if schema, idx := splitName(names); idx != "" && !c.newIndexes.has(schema, idx) {
				old = append(old, strings.Join(names, "."))
			}
		}
		if len(old) > 0 {
			c.report(RequireConcurrentDropIndex, s, -1, "DROP INDEX %s takes an ACCESS EXCLUSIVE lock on its table, blocking reads and writes until the migration commits; use DROP INDEX CONCURRENTLY in a -- fleetgate:no-transaction migration", strings.Join(old, ", "))
		}
	}
}

func splitName(names []string) (schema, rel string) {
	switch len(names) {
	case 0:
		return "", ""
	case 1:
		return "", names[0]
	default:
		return names[len(names)-2], names[len(names)-1]
	}
}

func (c *checker) createIndex(s *stmt, ix *indexStmt) {
	if ix.Concurrent {
		c.noTx(s, "CREATE INDEX CONCURRENTLY")
		if ix.Idxname == "" {
			c.report(UnnamedConcurrentIndex, s, -1, "name the index: if the build is interrupted, fleetgate drops the INVALID index it left by name before building it again")
		}
		return
	}
	if c.isNew(ix.Relation) {
		return
	}
	kind := "INDEX"
	if ix.Unique {
		kind = "UNIQUE INDEX"
	}
	c.report(RequireConcurrentIndex, s, ix.Relation.loc(), "CREATE %s on %s blocks writes to it while the index builds; use CREATE %s CONCURRENTLY in a -- fleetgate:no-transaction migration", kind, rvName(ix.Relation), kind)
}

func (c *checker) vacuum(s *stmt, v *vacuumStmt) {
	if !v.IsVacuumcmd {
		return // ANALYZE
	}
	c.noTx(s, "VACUUM")
	if !defElemTrue(v.Options, "full") {
		return
	}
	var targets []string
	for i := range v.Rels {
		var vr struct {
			Relation *rangeVar `json:"relation"`
		}
		v.Rels[i].as("VacuumRelation", &vr)
		switch {
		case vr.Relation == nil:
			targets = append(targets, "every table")
		case !c.isNew(vr.Relation):
			targets = append(targets, rvName(vr.Relation))
		}
	}
	if len(v.Rels) == 0 {
		targets = []string{"every table in the database"}
	}
	if len(targets) > 0 {
		c.report(VacuumFull, s, -1, "VACUUM FULL rewrites %s under an ACCESS EXCLUSIVE lock, blocking reads and writes; use pg_repack or pg_squeeze, or plain VACUUM", strings.Join(targets, ", "))
	}
}

func (c *checker) reindex(s *stmt, r *reindexStmt) {
	if defElemTrue(r.Params, "concurrently") {
		c.noTx(s, "REINDEX CONCURRENTLY")
		return
	}
	if r.Relation != nil && c.isNew(r.Relation) {
		return
	}
	target := r.Name
	if r.Relation != nil {
		target = rvName(r.Relation)
	}
	c.report(RequireConcurrentReindex, s, -1, "REINDEX %s blocks writes to the table (and reads that use the index) while it rebuilds; use REINDEX (CONCURRENTLY) in a -- fleetgate:no-transaction migration", target)
}

// Lock modes, as numbered by PostgreSQL (lockdefs.h).
const (
	shareLock           = 5
	accessExclusiveLock = 8
)

var lockModeNames = map[int32]string{5: "SHARE", 6: "SHARE ROW EXCLUSIVE", 7: "EXCLUSIVE", 8: "ACCESS EXCLUSIVE"}

func (c *checker) lockTable(s *stmt, l *lockStmt) {
	if l.Mode < shareLock {
		return // ROW EXCLUSIVE and weaker do not block the application's reads or writes
	}
	var targets []string
	for i := range l.Relations {
		if rv := relationOf(&l.Relations[i]); rv != nil && !c.isNew(rv) {
			targets = append(targets, rvName(rv))
		}
	}
	if len(targets) == 0 {
		return
	}
	blocks := "writes"
	if l.Mode == accessExclusiveLock {
		blocks = "reads and writes"
	}
	c.report(LockTable, s, -1, "LOCK TABLE %s IN %s MODE blocks %s until the migration commits; let each statement take the lock it needs (fleetgate's lock_timeout and retries keep that short)", strings.Join(targets, ", "), lockModeNames[l.Mode], blocks)
}

// checkEnumUse reports a statement that uses an enum value added earlier
// in the same transaction: PostgreSQL refuses that ("unsafe use of new
// value") until the transaction that added it commits.
func (c *checker) checkEnumUse(s *stmt) {
	if len(c.enumVals) == 0 {
		return
	}
	type use struct {
		val string
		loc int32
	}
	var uses []use
	visit(s.node.raw, func(kind string, f map[string]any) {
		switch kind {
		case "A_Const":
			if sv, ok := f["sval"].(map[string]any); ok {
				uses = append(uses, use{fieldString(sv, "sval"), fieldInt(f, "location")})
			}
		case "DefElem":
			// The body of a DO block runs now, and may use the value.
			if fieldString(f, "defname") != "as" {
				return
			}
			if arg, ok := f["arg"].(map[string]any); ok {
				if str, ok := arg["String"].(map[string]any); ok {
					uses = append(uses, use{fieldString(str, "sval"), -2})
				}
			}
		}
	})
	for _, ev := range c.enumVals {
		for _, u := range uses {
			found := u.val == ev.val
			if u.loc == -2 {
				found = s.node.is("DoStmt") && strings.Contains(u.val, "'"+ev.val+"'")
			}
			if found {
				loc := u.loc
				if loc == -2 {
					loc = -1
				}
				c.report(EnumValueInTransaction, s, loc, "enum value '%s' is added to %s at line %d in the same transaction, and PostgreSQL refuses to use it before that transaction commits; move the ALTER TYPE ... ADD VALUE into an earlier migration", ev.val, ev.typ, ev.line)
				return
			}
		}
	}
}

// defElemTrue reports whether a generic option list turns name on
// (VACUUM (FULL), REINDEX (CONCURRENTLY), or their legacy keyword forms).
func defElemTrue(opts []node, name string) bool {
	for i := range opts {
		var de defElem
		if !opts[i].as("DefElem", &de) || de.Defname != name {
			continue
		}
		if de.Arg == nil {
			return true
		}
		var b struct {
			Boolval bool `json:"boolval"`
		}
		var in struct {
			Ival int32 `json:"ival"`
		}
		var ac aConst
		switch {
		case de.Arg.as("Boolean", &b):
			return b.Boolval
		case de.Arg.as("Integer", &in):
			return in.Ival != 0
		case de.Arg.as("A_Const", &ac):
			switch {
			case ac.Boolval != nil:
				return ac.Boolval.Boolval
			case ac.Ival != nil:
				return ac.Ival.Ival != 0
			case ac.Sval != nil:
				return isTrue(ac.Sval.Sval)
			}
			return false // a boolean false or an integer 0 is omitted
		}
		if s, ok := de.Arg.str(); ok {
			return isTrue(s)
		}
		return true
	}
	return false
}

func isTrue(s string) bool {
	switch strings.ToLower(s) {
	case "true", "on", "1", "yes":
		return true
	}
	return false
}

// typeNameOf renders a type name for messages: its name without
// pg_catalog, with its modifiers if simple.
func typeNameOf(t *typeName) string {
	if t == nil {
		return "?"
	}
	names := stringsOf(t.Names)
	if len(names) == 2 && names[0] == "pg_catalog" {
		names = names[1:]
	}
	n := strings.Join(names, ".")
	switch n {
	case "int4":
		n = "integer"
	case "int8":
		n = "bigint"
	case "int2":
		n = "smallint"
	case "bool":
		n = "boolean"
	}
	var mods []string
	for i := range t.Typmods {
		var ac aConst
		if t.Typmods[i].as("A_Const", &ac) && ac.Ival != nil {
			mods = append(mods, strconv.Itoa(int(ac.Ival.Ival)))
		}
	}
	if len(mods) > 0 {
		n += "(" + strings.Join(mods, ",") + ")"
	}
	return n
}
