package driver

import "fmt"

// LegacyKeeper is the optional ability of a Driver to keep another
// migration tool's history table in step with fleetgate's: internal/legacy
// decides what to record and when, the driver owns the SQL, written as
// each tool itself writes its table in this database (every CREATE IF NOT
// EXISTS, and golang-migrate's one row updated in place, so that a column
// a project added keeps its value). tool is ToolGolangMigrate, ToolGoose
// or ToolDbmate; table is a plain identifier. A driver without it leaves
// such tables alone.
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
