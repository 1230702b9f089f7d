package lint

import (
	"strconv"
	"strings"

	pgq "github.com/pganalyze/pg_query_go/v6"
	"google.golang.org/protobuf/reflect/protoreflect"
)

const postHint = "do it in a post-phase migration (-- fleetgate:phase post) once no old code is left"

// checkStatement runs every rule that applies to statement s.
func (c *checker) checkStatement(s *stmt) {
	n := s.node
	c.checkEnumUse(s)
	switch {
	case n.GetAlterTableStmt() != nil:
		c.alterTable(s, n.GetAlterTableStmt())
	case n.GetRenameStmt() != nil:
		c.rename(s, n.GetRenameStmt())
	case n.GetDropStmt() != nil:
		c.drop(s, n.GetDropStmt())
	case n.GetIndexStmt() != nil:
		c.createIndex(s, n.GetIndexStmt())
	case n.GetVacuumStmt() != nil:
		c.vacuum(s, n.GetVacuumStmt())
	case n.GetClusterStmt() != nil:
		cl := n.GetClusterStmt()
		if cl.Relation == nil || !c.isNew(cl.Relation) {
			target := "every previously clustered table"
			if cl.Relation != nil {
				target = rvName(cl.Relation)
			}
			c.report(Cluster, s, -1, "CLUSTER rewrites %s under an ACCESS EXCLUSIVE lock, blocking reads and writes; use pg_repack, or schedule it outside a deploy", target)
		}
	case n.GetReindexStmt() != nil:
		c.reindex(s, n.GetReindexStmt())
	case n.GetLockStmt() != nil:
		c.lockTable(s, n.GetLockStmt())
	case n.GetUpdateStmt() != nil:
		u := n.GetUpdateStmt()
		if u.WhereClause == nil && !c.isNew(u.Relation) {
			c.report(UpdateWithoutWhere, s, u.Relation.GetLocation(), "UPDATE %s without WHERE rewrites every row in one transaction and holds every row lock until it commits, so the application's writes to the table wait; on a large table, backfill in batches with a WHERE clause", rvName(u.Relation))
		}
	case n.GetDeleteStmt() != nil:
		d := n.GetDeleteStmt()
		if d.WhereClause == nil && !c.isNew(d.Relation) {
			c.report(DeleteWithoutWhere, s, d.Relation.GetLocation(), "DELETE FROM %s without WHERE deletes every row; add a WHERE clause, or allow the rule if emptying the table is intended", rvName(d.Relation))
		}
	case n.GetAlterEnumStmt() != nil:
		e := n.GetAlterEnumStmt()
		if e.NewVal != "" && e.OldVal == "" && c.inTransaction() {
			c.enumVals = append(c.enumVals, enumValue{typ: strings.Join(stringsOf(e.TypeName), "."), val: e.NewVal, line: s.src.Line})
		}
	case n.GetCreatedbStmt() != nil:
		c.noTx(s, "CREATE DATABASE")
	case n.GetDropdbStmt() != nil:
		c.noTx(s, "DROP DATABASE")
	case n.GetCreateTableSpaceStmt() != nil:
		c.noTx(s, "CREATE TABLESPACE")
	case n.GetDropTableSpaceStmt() != nil:
		c.noTx(s, "DROP TABLESPACE")
	case n.GetAlterSystemStmt() != nil:
		c.noTx(s, "ALTER SYSTEM")
	}
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

func (c *checker) alterTable(s *stmt, a *pgq.AlterTableStmt) {
	if a.Objtype != pgq.ObjectType_OBJECT_TABLE {
		return // ALTER INDEX, VIEW, SEQUENCE, ...
	}
	rel := rvName(a.Relation)
	isNew := c.isNew(a.Relation)
	for _, cn := range a.Cmds {
		cmd := cn.GetAlterTableCmd()
		if cmd == nil {
			continue
		}
		switch cmd.Subtype {
		case pgq.AlterTableType_AT_DropColumn:
			if c.pre && !isNew {
				c.report(DropColumn, s, -1, "dropping column %s.%s breaks old code still reading or writing it; stop using it in the code first, then %s", rel, cmd.Name, postHint)
			}
		case pgq.AlterTableType_AT_AlterColumnType:
			if isNew {
				continue
			}
			cd := cmd.Def.GetColumnDef()
			loc := int32(-1)
			typ := ""
			if cd != nil {
				loc = cd.Location
				typ = typeName(cd.TypeName)
			}
			if c.pre {
				c.report(ChangeColumnType, s, loc, "changing the type of %s.%s to %s can break old code still using it; add a new column, write both, backfill, and drop the old one in the post phase", rel, cmd.Name, typ)
			}
			c.report(RewriteColumnType, s, loc, "changing the type of %s.%s to %s rewrites the table and its indexes under an ACCESS EXCLUSIVE lock unless the change is binary-coercible (e.g. varchar(n) to text or a longer varchar); if it is, allow this rule saying so", rel, cmd.Name, typ)
		case pgq.AlterTableType_AT_SetNotNull:
			if c.pre && !isNew {
				c.report(SetNotNull, s, -1, "SET NOT NULL on %s.%s breaks old code that writes NULL and scans the table under an ACCESS EXCLUSIVE lock; add CHECK (%s IS NOT NULL) NOT VALID and VALIDATE it, then SET NOT NULL in the post phase", rel, cmd.Name, cmd.Name)
			}
		case pgq.AlterTableType_AT_AddColumn:
			c.addColumn(s, rel, isNew, cmd.Def.GetColumnDef())
		case pgq.AlterTableType_AT_AddConstraint:
			c.addConstraint(s, rel, isNew, cmd.Def.GetConstraint())
		case pgq.AlterTableType_AT_DetachPartition:
			if pc := cmd.Def.GetPartitionCmd(); pc != nil && pc.Concurrent {
				c.noTx(s, "DETACH PARTITION ... CONCURRENTLY")
			}
		}
	}
}

func (c *checker) addColumn(s *stmt, rel string, isNew bool, cd *pgq.ColumnDef) {
	if cd == nil || isNew {
		return
	}
	notNull, hasDefault := cd.IsNotNull, cd.RawDefault != nil || cd.Identity != "" || cd.Generated != ""
	switch typeName(cd.TypeName) {
	case "serial", "bigserial", "smallserial", "serial2", "serial4", "serial8":
		hasDefault = true
	}
	for _, n := range cd.Constraints {
		con := n.GetConstraint()
		if con == nil {
			continue
		}
		switch con.Contype {
		case pgq.ConstrType_CONSTR_NOTNULL, pgq.ConstrType_CONSTR_PRIMARY:
			notNull = true
		case pgq.ConstrType_CONSTR_DEFAULT, pgq.ConstrType_CONSTR_IDENTITY, pgq.ConstrType_CONSTR_GENERATED:
			hasDefault = true
		case pgq.ConstrType_CONSTR_FOREIGN:
			c.report(AddForeignKey, s, con.Location, "adding column %s.%s with REFERENCES validates the foreign key while blocking writes to %s and %s; add the column first, then ADD CONSTRAINT ... FOREIGN KEY ... NOT VALID and VALIDATE CONSTRAINT in a later migration", rel, cd.Colname, rel, rvName(con.Pktable))
		}
	}
	if notNull && !hasDefault {
		c.report(AddNotNullColumn, s, cd.Location, "column %s.%s is NOT NULL without a default: it fails on a non-empty table and old code's inserts omit it; add it nullable (or with a DEFAULT), backfill, then enforce NOT NULL in the post phase", rel, cd.Colname)
	}
}

func (c *checker) addConstraint(s *stmt, rel string, isNew bool, con *pgq.Constraint) {
	if con == nil || isNew {
		return
	}
	name := con.Conname
	if name == "" {
		name = "(unnamed)"
	}
	switch con.Contype {
	case pgq.ConstrType_CONSTR_FOREIGN:
		if !con.SkipValidation {
			c.report(AddForeignKey, s, con.Location, "foreign key %s on %s is validated while writes to %s and %s are blocked; add it with NOT VALID, then VALIDATE CONSTRAINT %s in a later migration (which takes a weaker lock)", name, rel, rel, rvName(con.Pktable), name)
		}
	case pgq.ConstrType_CONSTR_CHECK:
		if !con.SkipValidation {
			c.report(AddCheckConstraint, s, con.Location, "CHECK constraint %s on %s scans the table under an ACCESS EXCLUSIVE lock; add it with NOT VALID, then VALIDATE CONSTRAINT %s in a later migration", name, rel, name)
		}
	case pgq.ConstrType_CONSTR_UNIQUE, pgq.ConstrType_CONSTR_PRIMARY, pgq.ConstrType_CONSTR_EXCLUSION:
		if con.Indexname == "" {
			c.report(AddUniqueConstraint, s, con.Location, "constraint %s on %s builds its index under an ACCESS EXCLUSIVE lock; CREATE UNIQUE INDEX CONCURRENTLY first (no-transaction migration), then ADD CONSTRAINT ... USING INDEX", name, rel)
		}
	}
}

func (c *checker) rename(s *stmt, r *pgq.RenameStmt) {
	if !c.pre || c.isNew(r.Relation) {
		return
	}
	switch r.RenameType {
	case pgq.ObjectType_OBJECT_COLUMN:
		if r.RelationType == pgq.ObjectType_OBJECT_TABLE {
			c.report(RenameColumn, s, r.Relation.GetLocation(), "renaming column %s.%s to %s breaks old code using the old name; add the new column, write both, backfill, switch reads, and drop the old one in the post phase", rvName(r.Relation), r.Subname, r.Newname)
		}
	case pgq.ObjectType_OBJECT_TABLE:
		c.report(RenameTable, s, r.Relation.GetLocation(), "renaming table %s to %s breaks old code using the old name; create the new table (or a view under the old name) and move over in steps, dropping the old name in the post phase", rvName(r.Relation), r.Newname)
	}
}

func (c *checker) drop(s *stmt, d *pgq.DropStmt) {
	switch d.RemoveType {
	case pgq.ObjectType_OBJECT_TABLE:
		if !c.pre {
			return
		}
		for _, o := range d.Objects {
			names := stringsOf(o.GetList().GetItems())
			schema, rel := splitName(names)
			if rel == "" || c.created.has(schema, rel) {
				continue
			}
			c.report(DropTable, s, -1, "dropping table %s breaks old code still using it; stop using it in the code first, then %s", strings.Join(names, "."), postHint)
		}
	case pgq.ObjectType_OBJECT_INDEX:
		if d.Concurrent {
			c.noTx(s, "DROP INDEX CONCURRENTLY")
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

func (c *checker) createIndex(s *stmt, ix *pgq.IndexStmt) {
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
	c.report(RequireConcurrentIndex, s, ix.Relation.GetLocation(), "CREATE %s on %s blocks writes to it while the index builds; use CREATE %s CONCURRENTLY in a -- fleetgate:no-transaction migration", kind, rvName(ix.Relation), kind)
}

func (c *checker) vacuum(s *stmt, v *pgq.VacuumStmt) {
	if !v.IsVacuumcmd {
		return // ANALYZE
	}
	c.noTx(s, "VACUUM")
	if !defElemTrue(v.Options, "full") {
		return
	}
	var targets []string
	for _, r := range v.Rels {
		rv := r.GetVacuumRelation().GetRelation()
		if rv != nil && !c.isNew(rv) {
			targets = append(targets, rvName(rv))
		} else if rv == nil {
			targets = append(targets, "every table")
		}
	}
	if len(v.Rels) == 0 {
		targets = []string{"every table in the database"}
	}
	if len(targets) > 0 {
		c.report(VacuumFull, s, -1, "VACUUM FULL rewrites %s under an ACCESS EXCLUSIVE lock, blocking reads and writes; use pg_repack or pg_squeeze, or plain VACUUM", strings.Join(targets, ", "))
	}
}

func (c *checker) reindex(s *stmt, r *pgq.ReindexStmt) {
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

func (c *checker) lockTable(s *stmt, l *pgq.LockStmt) {
	if l.Mode < shareLock {
		return // ROW EXCLUSIVE and weaker do not block the application's reads or writes
	}
	var targets []string
	for _, r := range l.Relations {
		if rv := r.GetRangeVar(); rv != nil && !c.isNew(rv) {
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
	for _, ev := range c.enumVals {
		used, loc := false, int32(-1)
		walkNode(s.node, func(m protoreflect.Message) bool {
			if used {
				return false
			}
			switch x := m.Interface().(type) {
			case *pgq.A_Const:
				if sv := x.GetSval(); sv != nil && sv.Sval == ev.val {
					used, loc = true, x.Location
				}
			case *pgq.DoStmt:
				for _, a := range x.Args {
					if de := a.GetDefElem(); de != nil && de.Defname == "as" {
						if body := de.Arg.GetString_(); body != nil && strings.Contains(body.Sval, "'"+ev.val+"'") {
							used = true
						}
					}
				}
			}
			return true
		})
		if used {
			c.report(EnumValueInTransaction, s, loc, "enum value '%s' is added to %s at line %d in the same transaction, and PostgreSQL refuses to use it before that transaction commits; move the ALTER TYPE ... ADD VALUE into an earlier migration", ev.val, ev.typ, ev.line)
			return
		}
	}
}

// defElemTrue reports whether a generic option list turns name on
// (VACUUM (FULL), REINDEX (CONCURRENTLY), or their legacy keyword forms).
func defElemTrue(opts []*pgq.Node, name string) bool {
	for _, o := range opts {
		de := o.GetDefElem()
		if de == nil || de.Defname != name {
			continue
		}
		if de.Arg == nil {
			return true
		}
		if b := de.Arg.GetBoolean(); b != nil {
			return b.Boolval
		}
		if s := de.Arg.GetString_(); s != nil {
			v := strings.ToLower(s.Sval)
			return v == "true" || v == "on" || v == "1"
		}
		if i := de.Arg.GetInteger(); i != nil {
			return i.Ival != 0
		}
		if a := de.Arg.GetAConst(); a != nil {
			if b := a.GetBoolval(); b != nil {
				return b.Boolval
			}
			if i := a.GetIval(); i != nil {
				return i.Ival != 0
			}
			if sv := a.GetSval(); sv != nil {
				v := strings.ToLower(sv.Sval)
				return v == "true" || v == "on"
			}
		}
		return true
	}
	return false
}

// typeName renders a type name for messages: the last part of its name,
// with its modifiers if simple.
func typeName(t *pgq.TypeName) string {
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
	for _, m := range t.Typmods {
		if a := m.GetAConst(); a != nil && a.GetIval() != nil {
			mods = append(mods, strconv.Itoa(int(a.GetIval().Ival)))
		}
	}
	if len(mods) > 0 {
		n += "(" + strings.Join(mods, ",") + ")"
	}
	return n
}
