package drivertest

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// legacyTables are each adopted tool's history table, in SQL that every
// supported database takes, filled the way the tool fills it.
var legacyTables = []struct {
	tool, table string
	ddl         []string
	want        []driver.LegacyRow
}{
	{driver.ToolGolangMigrate, "dt_golang_migrate", []string{
		"CREATE TABLE dt_golang_migrate (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
		"INSERT INTO dt_golang_migrate VALUES (20240105, FALSE)",
	}, []driver.LegacyRow{{Version: "20240105", Applied: true}}},
	{driver.ToolGolangMigrate, "dt_golang_migrate_dirty", []string{
		"CREATE TABLE dt_golang_migrate_dirty (version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)",
		"INSERT INTO dt_golang_migrate_dirty VALUES (3, TRUE)",
	}, []driver.LegacyRow{{Version: "3", Applied: true, Dirty: true}}},
	{driver.ToolGoose, "dt_goose", []string{
		"CREATE TABLE dt_goose (id integer NOT NULL PRIMARY KEY, version_id bigint NOT NULL, is_applied boolean NOT NULL, tstamp timestamp)",
		"INSERT INTO dt_goose (id, version_id, is_applied) VALUES (1, 0, TRUE), (2, 1, TRUE), (3, 2, TRUE), (4, 2, FALSE)",
	}, []driver.LegacyRow{{Rank: 1, Version: "0", Applied: true}, {Rank: 2, Version: "1", Applied: true},
		{Rank: 3, Version: "2", Applied: true}, {Rank: 4, Version: "2", Applied: false}}},
	{driver.ToolDbmate, "dt_dbmate", []string{
		"CREATE TABLE dt_dbmate (version varchar(128) NOT NULL PRIMARY KEY)",
		"INSERT INTO dt_dbmate VALUES ('20240102000000'), ('20240101000000')",
	}, []driver.LegacyRow{{Version: "20240101000000", Applied: true}, {Version: "20240102000000", Applied: true}}},
	{driver.ToolFlyway, "dt_flyway", []string{
		`CREATE TABLE dt_flyway (installed_rank integer NOT NULL PRIMARY KEY, version varchar(50), description varchar(200) NOT NULL,
			type varchar(20) NOT NULL, script varchar(1000) NOT NULL, checksum integer, installed_by varchar(100) NOT NULL,
			installed_on timestamp NOT NULL DEFAULT CURRENT_TIMESTAMP, execution_time integer NOT NULL, success boolean NOT NULL)`,
		`INSERT INTO dt_flyway (installed_rank, version, description, type, script, checksum, installed_by, execution_time, success) VALUES
			(1, '1', '<< Flyway Baseline >>', 'BASELINE', '<< Flyway Baseline >>', NULL, 'ops', 0, TRUE),
			(2, '1.1', 'add users', 'SQL', 'V1.1__add_users.sql', 123, 'ops', 5, TRUE),
			(3, NULL, 'views', 'SQL', 'R__views.sql', 456, 'ops', 2, TRUE),
			(4, '2', 'broken', 'SQL', 'V2__broken.sql', 789, 'ops', 1, FALSE)`,
	}, []driver.LegacyRow{
		{Rank: 1, Version: "1", Applied: true, Type: "BASELINE", Description: "<< Flyway Baseline >>"},
		{Rank: 2, Version: "1.1", Applied: true, Type: "SQL", Description: "add users"},
		{Rank: 3, Version: "", Applied: true, Type: "SQL", Description: "views"},
		{Rank: 4, Version: "2", Applied: false, Type: "SQL", Description: "broken"},
	}},
}

// Each adopted tool's history table reads back row for row as the tool
// wrote it; a missing table is not found, and a table of another shape is
// ErrLegacyTable.
func legacyHistory(t testing.TB, open Opener) {
	tg := prepare(t, open)
	ctx := t.Context()
	ad, ok := tg.Driver.(driver.Adopter)
	require.True(t, ok, "%T cannot read other tools' history (driver.Adopter)", tg.Driver)
	for _, lt := range legacyTables {
		for _, s := range lt.ddl {
			_, err := tg.DB.ExecContext(ctx, s)
			require.NoError(t, err, "%s: %s", lt.table, s)
		}
		rows, found, err := ad.ReadLegacy(ctx, tg.DB, lt.tool, "", lt.table)
		require.NoError(t, err, "%s as %s", lt.table, lt.tool)
		require.True(t, found, "%s as %s", lt.table, lt.tool)
		require.Equal(t, lt.want, rows, "%s as %s", lt.table, lt.tool)
	}
	for _, tool := range []string{driver.ToolGolangMigrate, driver.ToolGoose, driver.ToolDbmate, driver.ToolFlyway} {
		rows, found, err := ad.ReadLegacy(ctx, tg.DB, tool, "", "dt_no_such_history")
		require.NoError(t, err, tool)
		require.False(t, found, "%s: found a table that does not exist", tool)
		require.Empty(t, rows)
	}
	// golang-migrate's table read as dbmate's (both are schema_migrations
	// by default): its dirty column gives it away.
	_, found, err := ad.ReadLegacy(ctx, tg.DB, driver.ToolDbmate, "", "dt_golang_migrate")
	require.True(t, found)
	require.ErrorIs(t, err, driver.ErrLegacyTable, "golang-migrate's table read as dbmate's")
	_, found, err = ad.ReadLegacy(ctx, tg.DB, driver.ToolGoose, "", "dt_dbmate")
	require.True(t, found)
	require.ErrorIs(t, err, driver.ErrLegacyTable, "dbmate's table read as goose's")
}
