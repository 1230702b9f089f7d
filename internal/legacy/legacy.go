// Package legacy keeps another migration tool's own history table in step
// with fleetgate's. A team that moves to fleetgate from golang-migrate,
// goose or dbmate keeps code, monitoring and migrations that read (and
// sometimes alter) that tool's table, and may want to switch back at any
// moment; so each migration fleetgate applies or reverts is written there
// too, in the same transaction as fleetgate's own record and so under the
// same fence.
//
// This package decides which table and what to record; the SQL, in each
// database's dialect, is the driver's (driver.LegacyDriver).
package legacy

import (
	"path"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Table is one tool's history table in one database.
type Table struct {
	Format source.Format
	Name   string
	k      driver.LegacyKeeper
}

// DefaultName is the table each tool uses unless told otherwise.
func DefaultName(f source.Format) string {
	if f == source.FormatGoose {
		return "goose_db_version"
	}
	return "schema_migrations"
}

// For returns the table to keep for a directory in format f, or nil when
// f is fleetgate's own format (there is no other tool to keep in step) or
// d cannot keep another tool's table (Supported tells the two apart).
func For(f source.Format, d driver.Driver) *Table {
	ld, ok := d.(driver.LegacyDriver)
	if !ok || tool(f) == "" {
		return nil
	}
	return &Table{Format: f, Name: DefaultName(f), k: ld.Legacy()}
}

// Supported reports whether d can keep the history table of format f's
// tool; true for fleetgate's own format, which has none.
func Supported(f source.Format, d driver.Driver) bool {
	_, ok := d.(driver.LegacyDriver)
	return ok || tool(f) == ""
}

// tool is the driver's name of the tool whose files are in format f, ""
// for fleetgate's own.
func tool(f source.Format) string {
	switch f {
	case source.FormatGolangMigrate:
		return driver.ToolGolangMigrate
	case source.FormatGoose:
		return driver.ToolGoose
	case source.FormatDbmate:
		return driver.ToolDbmate
	}
	return ""
}

// Ensure returns the statements that create the table when it is missing,
// each to be run on its own outside a transaction.
func (t *Table) Ensure() []string { return t.k.LegacyEnsure(tool(t.Format), t.Name) }

// Probe returns a query that fails when the existing table is not the
// tool's (a dbmate table where golang-migrate's is expected, say), so that
// a mismatch is reported once, before any migration runs, instead of
// failing the first migration's transaction.
func (t *Table) Probe() string { return t.k.LegacyProbe(tool(t.Format), t.Name) }

// Applied returns the statement that records m as applied, to run in the
// transaction that records it in fleetgate's history.
func (t *Table) Applied(m *source.Migration) string {
	v := strconv.FormatInt(m.Version, 10)
	if t.Format == source.FormatDbmate {
		v = dbmateVersion(m.File, m.Version)
	}
	return t.k.LegacyApplied(tool(t.Format), t.Name, v)
}

// Reverted returns the statement that records version as rolled back. prev
// is the highest version still applied afterwards, 0 when none is:
// golang-migrate keeps only the current version.
func (t *Table) Reverted(version int64, prev int64) string {
	return t.k.LegacyReverted(tool(t.Format), t.Name, version, prev)
}

// dbmateVersion is the version as dbmate stores it: the file name's digits
// before the first "_", leading zeros kept ("001_init.sql" is "001", not
// "1"). The loader only accepts digits there, so the text is safe to
// quote as a literal.
func dbmateVersion(file string, version int64) string {
	base := path.Base(file)
	if i := strings.IndexByte(base, '_'); i > 0 && strings.Trim(base[:i], "0123456789") == "" {
		return base[:i]
	}
	return strconv.FormatInt(version, 10)
}
