package driver

import (
	"fmt"
	"strconv"
)

// LegacyDriver is the optional ability of a Driver to keep another
// migration tool's history table in step with fleetgate's. A driver
// without it leaves such tables alone.
type LegacyDriver interface {
	// Legacy returns the driver's statements for those tables.
	Legacy() LegacyKeeper
}

// LegacyKeeper is a LegacyDriver's SQL: internal/legacy decides what to
// record and when, the driver owns the SQL, written as each tool itself
// writes its table in this database (every CREATE IF NOT EXISTS, and
// golang-migrate's one row updated in place, so that a column a project
// added keeps its value). tool is ToolGolangMigrate, ToolGoose or
// ToolDbmate; table is a plain identifier.
type LegacyKeeper interface {
	// LegacyEnsure returns the statements that create the table when it
	// is missing, each to be run on its own outside a transaction.
	LegacyEnsure(tool, table string) []string
	// LegacyProbe returns a query that fails when the existing table does
	// not have the tool's columns.
	LegacyProbe(tool, table string) string
	// LegacyApplied returns the statement that records version, spelled
	// as the tool stores it (dbmate keeps a file's leading zeros), as
	// applied.
	LegacyApplied(tool, table, version string) string
	// LegacyReverted returns the statement that records version as rolled
	// back; prev is the highest version still applied afterwards, 0 when
	// none is (golang-migrate keeps only the current version).
	LegacyReverted(tool, table string, version, prev int64) string
}

// LegacyProbe is a LegacyKeeper's probe in SQL that every engine reads
// alike: the tool's columns, no rows.
func LegacyProbe(tool, table string) string {
	switch tool {
	case ToolGoose:
		return fmt.Sprintf(`SELECT version_id, is_applied FROM %s WHERE 1 = 0`, table)
	case ToolGolangMigrate:
		return fmt.Sprintf(`SELECT version, dirty FROM %s WHERE 1 = 0`, table)
	}
	return fmt.Sprintf(`SELECT version FROM %s WHERE 1 = 0`, table)
}

// LegacySQL is a LegacyKeeper built from one dialect's pieces: which
// statement each tool gets at each step is the same on every engine; the
// column types, literals and the two statements that need the dialect's
// own constructs are the driver's.
type LegacySQL struct {
	// GooseTable creates goose's table: a format whose one %s is the name.
	GooseTable string
	// True and False are the dialect's boolean literals.
	True, False string
	// FromNone follows the columns of a SELECT without a table: "" or
	// " FROM DUAL".
	FromNone string
	// MigrateTable creates golang-migrate's table: formats with one %s.
	MigrateTable []string
	// DbmateTable creates dbmate's table: a format with one %s.
	DbmateTable string
	// Literal quotes a dbmate version (digits only, as the loader accepts
	// them) as a string literal.
	Literal func(version string) string
	// SetMigrateVersion makes golang-migrate's one row say v, clean, so
	// that a column a project added to the table keeps its value; nil is
	// setMigrateVersion's two statements.
	SetMigrateVersion func(table, v string) string
	// DbmateDelete deletes dbmate's row of version compared as a number:
	// a rollback from the stored script of a build without the file has
	// no file name to take the zero-padding from.
	DbmateDelete func(table string, version int64) string
}

func (l *LegacySQL) LegacyEnsure(tool, table string) []string {
	switch tool {
	case ToolGoose:
		// goose records version 0 when it creates its table; its status
		// and "up" read that row as the start of the history.
		return []string{
			fmt.Sprintf(l.GooseTable, table),
			fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) SELECT 0, %s%s WHERE NOT EXISTS (SELECT 1 FROM %s)`,
				table, l.True, l.FromNone, table),
		}
	case ToolGolangMigrate:
		out := make([]string, len(l.MigrateTable))
		for i, f := range l.MigrateTable {
			out[i] = fmt.Sprintf(f, table)
		}
		return out
	case ToolDbmate:
		return []string{fmt.Sprintf(l.DbmateTable, table)}
	}
	return nil
}

func (l *LegacySQL) LegacyProbe(tool, table string) string { return LegacyProbe(tool, table) }

func (l *LegacySQL) LegacyApplied(tool, table, version string) string {
	switch tool {
	case ToolGoose:
		return fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) VALUES (%s, %s)`, table, version, l.True)
	case ToolGolangMigrate:
		return l.setMigrateVersion(table, version)
	}
	return fmt.Sprintf(`INSERT INTO %s (version) VALUES (%s)`, table, l.Literal(version))
}

func (l *LegacySQL) LegacyReverted(tool, table string, version, prev int64) string {
	switch tool {
	case ToolGoose:
		return fmt.Sprintf(`DELETE FROM %s WHERE version_id = %d`, table, version)
	case ToolGolangMigrate:
		if prev == 0 {
			return fmt.Sprintf(`DELETE FROM %s`, table)
		}
		return l.setMigrateVersion(table, strconv.FormatInt(prev, 10))
	}
	return l.DbmateDelete(table, version)
}

// setMigrateVersion is SetMigrateVersion, or else an UPDATE, which keeps
// the values of columns a project added to the table, and an INSERT for
// an empty table, sent as one call.
func (l *LegacySQL) setMigrateVersion(table, v string) string {
	if l.SetMigrateVersion != nil {
		return l.SetMigrateVersion(table, v)
	}
	return fmt.Sprintf(`UPDATE %s SET version = %s, dirty = %s; INSERT INTO %s (version, dirty) SELECT %s, %s WHERE NOT EXISTS (SELECT 1 FROM %s)`,
		table, v, l.False, table, v, l.False, table)
}
