package sqlite

import (
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.LegacyDriver = (*Driver)(nil)

// legacySQL mirrors what each tool runs on SQLite (goose v3.29,
// golang-migrate v4.20, dbmate v2.35), with the differences that
// driver.LegacyKeeper states.
var legacySQL = driver.LegacySQL{
	GooseTable: `CREATE TABLE IF NOT EXISTS %s (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	version_id INTEGER NOT NULL,
	is_applied INTEGER NOT NULL,
	tstamp TIMESTAMP DEFAULT (datetime('now'))
)`,
	True:  "1",
	False: "0",
	MigrateTable: []string{
		`CREATE TABLE IF NOT EXISTS %s (version uint64,dirty bool)`,
		`CREATE UNIQUE INDEX IF NOT EXISTS version_unique ON %s (version)`,
	},
	DbmateTable: `CREATE TABLE IF NOT EXISTS %s (version varchar(128) primary key)`,
	Literal:     func(v string) string { return "'" + v + "'" },
	DbmateDelete: func(table string, version int64) string {
		return fmt.Sprintf(`DELETE FROM %s WHERE version GLOB '[0-9]*' AND CAST(version AS INTEGER) = %d`, table, version)
	},
}

func (d *Driver) Legacy() driver.LegacyKeeper { return &legacySQL }
