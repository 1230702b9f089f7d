package mysql_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
)

// legacyTarget is the MySQL driver as a LegacyKeeper on a fresh MariaDB
// database, and a function that runs one of its statements the way the
// executor does (one statement per call, on the migration's connection).
func legacyTarget(t *testing.T) (driver.LegacyKeeper, *sql.DB, func(string)) {
	t.Helper()
	tg := drivertest.OpenURL(t, strings.Replace(dbtest.MariaDB(t), "mysql://", "mariadb://", 1))
	ld, ok := tg.Driver.(driver.LegacyDriver)
	require.True(t, ok, "the MySQL driver keeps other tools' history tables")
	k := ld.Legacy()
	exec := func(q string) {
		t.Helper()
		_, err := tg.DB.ExecContext(t.Context(), q)
		require.NoError(t, err, q)
	}
	return k, tg.DB, exec
}

func strs(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), q)
	require.NoError(t, err, q)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		require.NoError(t, rows.Scan(&s))
		out = append(out, s)
	}
	require.NoError(t, rows.Err())
	return out
}

// TestLegacyGoose: the table as goose's mysql dialect creates it, with the
// version 0 row goose writes first; each apply one row, each rollback
// deletes that version's rows, as goose's own down does. What goose's own
// queries read back is checked.
func TestLegacyGoose(t *testing.T) {
	t.Parallel()
	k, db, exec := legacyTarget(t)
	for range 2 { // creating it again changes nothing
		for _, q := range k.LegacyEnsure(driver.ToolGoose, "goose_db_version") {
			exec(q)
		}
	}
	exec(k.LegacyProbe(driver.ToolGoose, "goose_db_version"))
	exec(k.LegacyApplied(driver.ToolGoose, "goose_db_version", "20240101000000"))
	exec(k.LegacyApplied(driver.ToolGoose, "goose_db_version", "20240102000000"))
	// goose's ListMigrations and GetLatestVersion.
	require.Equal(t, []string{"20240102000000 1", "20240101000000 1", "0 1"},
		strs(t, db, "SELECT CONCAT(version_id, ' ', is_applied) FROM goose_db_version ORDER BY id DESC"))
	require.Equal(t, []string{"20240102000000"}, strs(t, db, "SELECT MAX(version_id) FROM goose_db_version"))
	var tstampNull int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM goose_db_version WHERE tstamp IS NULL").Scan(&tstampNull))
	require.Zero(t, tstampNull, "tstamp defaults to the time of the row")

	exec(k.LegacyReverted(driver.ToolGoose, "goose_db_version", 20240102000000, 20240101000000))
	require.Equal(t, []string{"20240101000000"}, strs(t, db, "SELECT MAX(version_id) FROM goose_db_version"))
	// The columns as goose v3.29 declares them.
	require.Equal(t, []string{"id bigint(20) unsigned NO", "version_id bigint(20) NO", "is_applied tinyint(1) NO", "tstamp datetime YES"},
		strs(t, db, `SELECT CONCAT(COLUMN_NAME, ' ', COLUMN_TYPE, ' ', IS_NULLABLE) FROM information_schema.COLUMNS
			WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'goose_db_version' ORDER BY ORDINAL_POSITION`))
}

// TestLegacyGolangMigrate: golang-migrate's one row says the newest
// version, clean; a rollback sets the one below, or empties the table
// when none is left. A column a project added keeps its value, since the
// row is updated in place.
func TestLegacyGolangMigrate(t *testing.T) {
	t.Parallel()
	k, db, exec := legacyTarget(t)
	const tbl = "schema_migrations"
	for range 2 {
		for _, q := range k.LegacyEnsure(driver.ToolGolangMigrate, tbl) {
			exec(q)
		}
	}
	exec(k.LegacyProbe(driver.ToolGolangMigrate, tbl))
	read := func() []string { return strs(t, db, "SELECT CONCAT(version, ' ', dirty) FROM schema_migrations") }

	exec(k.LegacyApplied(driver.ToolGolangMigrate, tbl, "1"))
	require.Equal(t, []string{"1 0"}, read(), "an empty table gets its row")
	exec("ALTER TABLE schema_migrations ADD COLUMN data_version integer NOT NULL DEFAULT 0")
	exec("UPDATE schema_migrations SET data_version = 7")
	exec(k.LegacyApplied(driver.ToolGolangMigrate, tbl, "2"))
	exec(k.LegacyApplied(driver.ToolGolangMigrate, tbl, "3"))
	require.Equal(t, []string{"3 0"}, read(), "one row, the newest version")
	exec(k.LegacyApplied(driver.ToolGolangMigrate, tbl, "3"))
	require.Equal(t, []string{"3 0"}, read(), "the same version again is the same row")

	exec("UPDATE schema_migrations SET dirty = 1")
	exec(k.LegacyReverted(driver.ToolGolangMigrate, tbl, 3, 2))
	require.Equal(t, []string{"2 0"}, read())
	require.Equal(t, []string{"7"}, strs(t, db, "SELECT data_version FROM schema_migrations"), "the project's column kept its value")
	exec(k.LegacyReverted(driver.ToolGolangMigrate, tbl, 1, 0))
	require.Empty(t, read(), "nothing applied: golang-migrate's empty table")
}

// TestLegacyDbmate: dbmate's versions as text, a file's leading zeros
// kept; a rollback finds the row by number, with or without them, and a
// row that is not a number (a project's own) neither matches nor fails
// the DELETE in strict mode.
func TestLegacyDbmate(t *testing.T) {
	t.Parallel()
	k, db, exec := legacyTarget(t)
	const tbl = "schema_migrations"
	for range 2 {
		for _, q := range k.LegacyEnsure(driver.ToolDbmate, tbl) {
			exec(q)
		}
	}
	exec(k.LegacyProbe(driver.ToolDbmate, tbl))
	exec(k.LegacyApplied(driver.ToolDbmate, tbl, "001"))
	exec(k.LegacyApplied(driver.ToolDbmate, tbl, "20240218233822"))
	exec("INSERT INTO schema_migrations VALUES ('baseline-x')")
	// dbmate's SelectMigrations.
	require.Equal(t, []string{"baseline-x", "20240218233822", "001"}, strs(t, db, "SELECT version FROM schema_migrations ORDER BY version DESC"))

	exec(k.LegacyReverted(driver.ToolDbmate, tbl, 20240218233822, 1))
	exec(k.LegacyReverted(driver.ToolDbmate, tbl, 1, 0))
	require.Equal(t, []string{"baseline-x"}, strs(t, db, "SELECT version FROM schema_migrations"))
}

// TestLegacyProbeRefusesOtherTools: the probe of one tool's table fails on
// another tool's table of the same name, so a mismatch is found before a
// migration runs.
func TestLegacyProbeRefusesOtherTools(t *testing.T) {
	t.Parallel()
	k, db, exec := legacyTarget(t)
	for _, q := range k.LegacyEnsure(driver.ToolDbmate, "schema_migrations") {
		exec(q)
	}
	_, err := db.ExecContext(context.Background(), k.LegacyProbe(driver.ToolGolangMigrate, "schema_migrations"))
	require.Error(t, err, "dbmate's table passed for golang-migrate's")
}
