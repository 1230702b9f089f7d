package drivertest

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
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

// Adopted versions are recorded, each with one adopt event, in the
// transaction that the fence then commits; a version fleetgate records
// already is left as it is, with no event; a stale holder adopts nothing.
func adoptRecords(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	ad, ok := d.(driver.Adopter)
	require.True(t, ok, "%T cannot adopt other tools' history (driver.Adopter)", d)
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)
	require.NoError(t, migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1))))
	adopt := func(gen int64, versions ...int64) ([]int64, error) {
		var rows []driver.Adopted
		for _, v := range versions {
			a := applied(v, true)
			a.Adopted = true
			rows = append(rows, driver.Adopted{Row: *a, Event: *event(history.KindAdopt, v)})
		}
		tx, err := d.Begin(ctx, c, nil)
		if err != nil {
			return nil, err
		}
		got, err := ad.InsertAdopted(ctx, tx, gen, rows)
		if err != nil {
			return nil, errors.Join(err, tx.Rollback(ctx))
		}
		return got, tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour})
	}
	got, err := adopt(gen, 1, 2, 3)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3}, got, "the versions it inserted")
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.False(t, rows[0].Adopted, "an applied version was turned adopted")
	for _, r := range rows[1:] {
		require.True(t, r.Adopted, "version %d", r.Version)
		require.True(t, r.Complete, "version %d", r.Version)
		require.Equal(t, gen, r.LockGeneration, "version %d", r.Version)
	}
	evs, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 0)
	require.NoError(t, err)
	var adopted []int64
	for _, e := range evs {
		if e.Kind == history.KindAdopt {
			adopted = append(adopted, e.Version)
			require.Equal(t, gen, e.LockGeneration)
		}
	}
	require.ElementsMatch(t, []int64{2, 3}, adopted, "adopt events")

	_, err = adopt(gen+1, 4)
	require.ErrorIs(t, err, driver.ErrLockLost, "a stale holder adopted")
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 3, "a fenced-out adoption left a row")
}
