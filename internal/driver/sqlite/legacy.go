package sqlite

import (
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.LegacyKeeper = (*Driver)(nil)

// The statements mirror what each tool runs on SQLite (goose v3.29,
// golang-migrate v4.20, dbmate v2.35), with the differences that
// driver.LegacyKeeper states.

func (d *Driver) LegacyEnsure(tool, table string) []string {
	switch tool {
	case driver.ToolGoose:
		// goose records version 0 when it creates its table; its status
		// and "up" read that row as the start of the history.
		return []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	version_id INTEGER NOT NULL,
	is_applied INTEGER NOT NULL,
	tstamp TIMESTAMP DEFAULT (datetime('now'))
)`, table),
			fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) SELECT 0, 1 WHERE NOT EXISTS (SELECT 1 FROM %s)`, table, table),
		}
	case driver.ToolGolangMigrate:
		return []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (version uint64,dirty bool)`, table),
			fmt.Sprintf(`CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON %s (version)`, table),
		}
	case driver.ToolDbmate:
		return []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (version varchar(128) primary key)`, table)}
	}
	return nil
}

func (d *Driver) LegacyProbe(tool, table string) string { return driver.LegacyProbe(tool, table) }

func (d *Driver) LegacyApplied(tool, table, version string) string {
	switch tool {
	case driver.ToolGoose:
		return fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) VALUES (%s, 1)`, table, version)
	case driver.ToolGolangMigrate:
		return setMigrateVersion(table, version)
	}
	return fmt.Sprintf(`INSERT INTO %s (version) VALUES ('%s')`, table, version)
}

func (d *Driver) LegacyReverted(tool, table string, version, prev int64) string {
	switch tool {
	case driver.ToolGoose:
		return fmt.Sprintf(`DELETE FROM %s WHERE version_id = %d`, table, version)
	case driver.ToolGolangMigrate:
		if prev == 0 {
			return fmt.Sprintf(`DELETE FROM %s`, table)
		}
		return setMigrateVersion(table, fmt.Sprint(prev))
	}
	// Compared as a number: a rollback from the stored script of a build
	// without the file has no file name to take the zero-padding from.
	return fmt.Sprintf(`DELETE FROM %s WHERE version GLOB '[0-9]*' AND CAST(version AS INTEGER) = %d`, table, version)
}

// setMigrateVersion makes golang-migrate's one row say v, clean. An UPDATE
// keeps the values of columns a project added to the table; the INSERT
// covers an empty table.
func setMigrateVersion(table, v string) string {
	return fmt.Sprintf(`UPDATE %s SET version = %s, dirty = 0; INSERT INTO %s (version, dirty) SELECT %s, 0 WHERE NOT EXISTS (SELECT 1 FROM %s)`,
		table, v, table, v, table)
}
