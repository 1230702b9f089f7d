package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// fiveStatements is a no-transaction migration whose statement 3 is
// given by the test: statement 2 and 4 insert rows, so running either one
// twice (or not at all) shows in the table.
func fiveStatements(third string) string {
	return "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
		"CREATE TABLE r1 (id int);\n" +
		"INSERT INTO r1 VALUES (2);\n" +
		third + ";\n" +
		"INSERT INTO r1 VALUES (4);\n" +
		"CREATE TABLE r5 (id int);\n"
}

const brokenThird = "INSERT INTO no_such_table VALUES (3)"

func engines(t *testing.T, fn func(t *testing.T, url string)) {
	t.Run("postgres", func(t *testing.T) { fn(t, dbtest.Postgres(t)) })
	t.Run("sqlite", func(t *testing.T) { fn(t, dbtest.SQLite(t)) })
}

// notxEngines are engines plus MariaDB, on which every migration with
// DDL runs statement by statement.
func notxEngines(t *testing.T, fn func(t *testing.T, url string)) {
	engines(t, fn)
	t.Run("mariadb", func(t *testing.T) { fn(t, mariadbURL(t)) })
}

func writeMigration(t *testing.T, dir, name, body string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
}

// failAtThree applies the broken migration: statements 1 and 2 run and
// stay, statement 3 fails.
func failAtThree(t *testing.T, url string) string {
	t.Helper()
	dir := writeFiles(t, map[string]string{"0001_five.sql": fiveStatements(brokenThird)})
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "statement 3")
	db := openDB(t, url)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"))
	require.Equal(t, 2, queryInt(t, db, "SELECT statements_done FROM fleetgate_migrations WHERE version = 1 AND NOT complete"))
	return dir
}

// Statement 3 of 5 fails, the operator fixes statement 3, and `up`
// resumes at statement 3: nothing before it runs again.
func TestNoTxFixedInPlace(t *testing.T) {
	notxEngines(t, func(t *testing.T, url string) {
		dir := failAtThree(t, url)
		writeMigration(t, dir, "0001_five.sql", fiveStatements("CREATE TABLE r3 (id int)"))
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		db := openDB(t, url)
		require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM r1"), "statements 2 and 4 each ran once")
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM r3"))
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM r5"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		// The row holds the fixed text, so a later up sees no edit.
		r = fg(t, nil, "validate", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
	})
}

// An edit to a statement that already ran is refused with exit 4 naming
// it; nothing runs.
func TestNoTxEditedBeforeFailure(t *testing.T) {
	notxEngines(t, func(t *testing.T, url string) {
		dir := failAtThree(t, url)
		body := strings.Replace(fiveStatements("CREATE TABLE r3 (id int)"), "VALUES (2)", "VALUES (20)", 1)
		writeMigration(t, dir, "0001_five.sql", body)
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 4, r.Code, r.String())
		require.Contains(t, r.Stderr, "statement 2 (line 4) was edited")
		db := openDB(t, url)
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"))
		require.Equal(t, 2, queryInt(t, db, "SELECT statements_done FROM fleetgate_migrations WHERE version = 1 AND NOT complete"))

		// The operator decides: statement 2 is to run again from the
		// edited file.
		r = fg(t, nil, "resolve", "1", "--retry-from", "2", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 26, queryInt(t, db, "SELECT sum(id) FROM r1"), "rows 2 (the old statement 2), 20 and 4")
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND error LIKE 'retry-from 2%' AND statement_line = 4"))
	})
}

func TestResolveDone(t *testing.T) {
	notxEngines(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		dir := failAtThree(t, url)
		// --done: the operator finished the migration by hand.
		r := fg(t, nil, "resolve", "1", "--done", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"), "up ran the resolved migration again")

		// A complete migration is not resolved: exit 2, nothing changes.
		r = fg(t, nil, "resolve", "1", "--abandon", "-d", url, "--dir", dir)
		require.Equal(t, 2, r.Code, r.String())
		require.Contains(t, r.Stderr, "no partly applied history row")
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))

		// Bad usage: exit 2.
		for _, args := range [][]string{{"resolve", "1"}, {"resolve", "1", "--done", "--abandon"}, {"resolve", "x", "--done"}, {"resolve", "1", "--retry-from", "9"}} {
			r = fg(t, nil, append(args, "-d", url, "--dir", dir)...)
			require.Equal(t, 2, r.Code, "%v: %s", args, r)
		}
		require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind <> 'lock_wait'"), "failure and resolve only")
	})
}

func TestResolveAbandon(t *testing.T) {
	notxEngines(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		dir := failAtThree(t, url)
		// --abandon: the operator undid statements 1 and 2.
		_, err := db.Exec("DROP TABLE r1")
		require.NoError(t, err)
		r := fg(t, nil, "resolve", "1", "--abandon", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
		writeMigration(t, dir, "0001_five.sql", fiveStatements("CREATE TABLE r3 (id int)"))
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM r1"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND error LIKE 'abandon%'"))
	})
}
