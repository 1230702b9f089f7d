package mysql

import (
	"fmt"
	"strconv"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.LegacyDriver = (*Driver)(nil)

// legacySQL mirrors what each tool runs on MySQL (goose v3.29's mysql
// dialect, golang-migrate v4.20's mysql driver, dbmate v2.35's mysql
// driver), with the differences that driver.LegacyKeeper states. Each is
// one statement: go-sql-driver sends one per call (fleetgate does not turn
// on multiStatements).
var legacySQL = driver.LegacySQL{
	GooseTable: `CREATE TABLE IF NOT EXISTS %s (
	id bigint(20) unsigned NOT NULL AUTO_INCREMENT,
	version_id bigint NOT NULL,
	is_applied boolean NOT NULL,
	tstamp datetime NULL default CURRENT_TIMESTAMP,
	PRIMARY KEY(id)
)`,
	True:         "1",
	False:        "0",
	FromNone:     " FROM DUAL",
	MigrateTable: []string{`CREATE TABLE IF NOT EXISTS %s (version bigint not null primary key, dirty boolean not null)`},
	DbmateTable:  `CREATE TABLE IF NOT EXISTS %s (version varchar(128) primary key)`,
	Literal:      func(v string) string { return "'" + v + "'" },
	// One statement. On an empty table the SELECT gives (v, 0), which is
	// inserted; otherwise it gives the row's own version, whose key
	// collides, and that row is updated to v in place. MySQL reads the
	// table into a temporary one first, so selecting from the table being
	// inserted into is allowed.
	SetMigrateVersion: func(table, v string) string {
		return fmt.Sprintf(`INSERT INTO %s (version, dirty) SELECT COALESCE((SELECT version FROM %s LIMIT 1), %s), 0 FROM DUAL
	ON DUPLICATE KEY UPDATE version = %s, dirty = 0`, table, table, v, v)
	},
	// Compared without its leading zeros, as text, not cast: in strict
	// mode a cast that truncates (a version that is not a number) fails
	// the DELETE instead of skipping the row.
	DbmateDelete: func(table string, version int64) string {
		return fmt.Sprintf(`DELETE FROM %s WHERE TRIM(LEADING '0' FROM version) = '%s'`, table, trimZeros(version))
	},
}

// trimZeros is v as TRIM(LEADING '0' FROM ...) leaves its decimal text.
func trimZeros(v int64) string {
	if v == 0 {
		return ""
	}
	return strconv.FormatInt(v, 10)
}

func (d *Driver) Legacy() driver.LegacyKeeper { return &legacySQL }
