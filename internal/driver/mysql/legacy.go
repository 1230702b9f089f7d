package mysql

import (
	"fmt"
	"strconv"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.LegacyKeeper = (*Driver)(nil)

// The statements mirror what each tool runs on MySQL (goose v3.29's mysql
// dialect, golang-migrate v4.20's mysql driver, dbmate v2.35's mysql
// driver), with the differences that driver.LegacyKeeper states. Each is
// one statement: go-sql-driver sends one per call (fleetgate does not turn
// on multiStatements).

func (d *Driver) LegacyEnsure(tool, table string) []string {
	switch tool {
	case driver.ToolGoose:
		// goose records version 0 when it creates its table; its status
		// and "up" read that row as the start of the history.
		return []string{
			fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (
	id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
	version_id bigint NOT NULL,
	is_applied boolean NOT NULL,
	tstamp datetime NULL default CURRENT_TIMESTAMP,
	PRIMARY KEY(id)
)`, table),
			fmt.Sprintf(`INSERT INTO %s (version_id, is_applied) SELECT 0, 1 FROM DUAL WHERE NOT EXISTS (SELECT 1 FROM %s)`, table, table),
		}
	case driver.ToolGolangMigrate:
		return []string{fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s (version bigint not null primary key, dirty boolean not null)`, table)}
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
	// The loader accepts only digits in a dbmate version: safe as a literal.
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
		return setMigrateVersion(table, strconv.FormatInt(prev, 10))
	}
	// Compared as a number, without its leading zeros: a rollback from the
	// stored script of a build without the file has no file name to take
	// the zero-padding from. Compared as text, not cast: in strict mode a
	// cast that truncates (a version that is not a number) fails the
	// DELETE instead of skipping the row.
	return fmt.Sprintf(`DELETE FROM %s WHERE TRIM(LEADING '0' FROM version) = '%s'`, table, trimZeros(version))
}

// trimZeros is v as TRIM(LEADING '0' FROM ...) leaves its decimal text.
func trimZeros(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

// setMigrateVersion makes golang-migrate's one row say v, clean, in one
// statement. On an empty table the SELECT gives (v, 0), which is
// inserted; otherwise it gives the row's own version, whose key collides,
// and that row is updated to v in place, so that a column a project added
// to the table keeps its value. MySQL reads the table into a temporary
// one first, so selecting from the table being inserted into is allowed.
func setMigrateVersion(table, v string) string {
	return fmt.Sprintf(`INSERT INTO %s (version, dirty) SELECT COALESCE((SELECT version FROM %s LIMIT 1), %s), 0 FROM DUAL
	ON DUPLICATE KEY UPDATE version = %s, dirty = 0`, table, table, v, v)
}
