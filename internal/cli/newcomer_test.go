package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// openSQL opens a fleetgate database URL for assertions.
func openSQL(t *testing.T, url string) *sql.DB {
	t.Helper()
	driverName, dsn := "pgx", url
	if p, ok := strings.CutPrefix(url, "sqlite:"); ok {
		driverName, dsn = "sqlite", p
	}
	db, err := sql.Open(driverName, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func tableNames(t *testing.T, db *sql.DB, sqlite bool) []string {
	t.Helper()
	q := `SELECT table_schema || '.' || table_name FROM information_schema.tables
		WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`
	if sqlite {
		q = `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1`
	}
	rows, err := db.Query(q)
	require.NoError(t, err)
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

func countRows(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM "+table).Scan(&n))
	return n
}

func TestHelpForEveryCommand(t *testing.T) {
	t.Parallel()
	for _, c := range commands {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "-h"}, {"help", c.name}} {
			code, out, stderr := runCLI(t, nil, args...)
			require.Equal(t, 0, code, "%v: %s", args, stderr)
			require.Empty(t, stderr, "%v", args)
			require.Contains(t, out, "usage: fleetgate", "%v", args)
			if c.name == "help" || c.name == "completion" {
				continue
			}
			require.Contains(t, out, "usage: fleetgate "+c.name, "%v", args)
			require.Contains(t, out, "examples:", "%v", args)
			ex := out[strings.Index(out, "examples:"):strings.Index(out, "exit status:")]
			require.GreaterOrEqual(t, strings.Count(ex, "\n  fleetgate "), 2, "%v: two or three examples", args)
			require.Contains(t, out, "--dir PATH", "%v: the common flags", args)
			require.Contains(t, out, "(env FLEETGATE_DIR; default ./migrations)", "%v: env names and defaults", args)
		}
	}
	code, out, _ := runCLI(t, nil, "up", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "--lock-timeout duration")
	require.Contains(t, out, "(default 2s)")
	require.Contains(t, out, "-d, --database URL")
	require.Contains(t, out, "env FLEETGATE_DATABASE_URL, then DATABASE_URL")
	// run's flags come before its command and are described too.
	code, out, _ = runCLI(t, nil, "run", "--help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "--wait-only")
	require.Contains(t, out, "-- CMD [ARGS]")
}

func TestVersionFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		code, out, stderr := runCLI(t, nil, args...)
		require.Equal(t, 0, code, "%v: %s", args, stderr)
		require.True(t, strings.HasPrefix(out, "fleetgate "), "%v: %s", args, out)
		require.Contains(t, out, "go:", "%v: the build information", args)
	}
}

func TestUnknownCommandSuggests(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, nil, "stauts")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `did you mean "status"?`)
	code, _, stderr = runCLI(t, nil, "frobnicate")
	require.Equal(t, 2, code)
	require.NotContains(t, stderr, "did you mean")
	code, _, stderr = runCLI(t, nil, "help", "upp")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, `did you mean "up"?`)
}

func TestEmptySourceIsAnError(t *testing.T) {
	t.Parallel()
	cases := map[string]func(dir string){
		"Empty": func(string) {},
		"OnlyReadme": func(dir string) {
			require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("hi"), 0o644))
		},
		"OnlySubfolders": func(dir string) {
			require.NoError(t, os.Mkdir(filepath.Join(dir, "postgres"), 0o755))
			writeMigration(t, filepath.Join(dir, "postgres"), "1_x.sql", "CREATE TABLE x (id integer);")
		},
	}
	for name, setup := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			setup(dir)
			url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
			for _, cmd := range []string{"up", "wait", "status"} {
				code, _, stderr := runCLI(t, nil, cmd, "-d", url, "--dir", dir)
				require.Equal(t, 2, code, "%s: %s", cmd, stderr)
				require.Contains(t, stderr, "no migration files in "+dir, cmd)
				require.Contains(t, stderr, "<version>_<name>.sql", cmd)
				require.Contains(t, stderr, "--allow-empty", cmd)
			}
			if name == "OnlySubfolders" {
				_, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
				require.Contains(t, stderr, "postgres/")
			}
			// Nothing was created: not even the history tables.
			require.Empty(t, tableNames(t, openSQL(t, url), true))
			code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir, "--allow-empty")
			require.Equal(t, 0, code, stderr)
			code, _, stderr = runCLI(t, nil, "wait", "-d", url, "--dir", dir, "--allow-empty")
			require.Equal(t, 0, code, stderr)
			code, _, stderr = runCLI(t, nil, "check", "--dir", dir)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "no migration files in "+dir)
			code, _, stderr = runCLI(t, nil, "check", "--dir", dir, "--allow-empty")
			require.Equal(t, 0, code, stderr)
		})
	}
}

func TestDurationRanges(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_x.sql", "CREATE TABLE x (id integer);")
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, c := range []struct {
		args    []string
		setting string
	}{
		{[]string{"up", "--lease", "1ms"}, "--lease: 1ms is out of range: want 1s to 1h"},
		{[]string{"up", "--lease", "2h"}, "--lease"},
		{[]string{"up", "--lease", "-1s"}, "--lease"},
		{[]string{"up", "--lock-timeout", "1ms"}, "--lock-timeout: 1ms is out of range"},
		{[]string{"up", "--lock-timeout", "-1s"}, "--lock-timeout"},
		{[]string{"up", "--timeout", "-1s"}, "--timeout"},
		{[]string{"down", "--timeout", "-1s"}, "--timeout"},
		{[]string{"wait", "--poll", "1ms"}, "--poll: 1ms is out of range: want 10ms to 1m"},
		{[]string{"wait", "--poll", "0s"}, "--poll"},
	} {
		code, _, stderr := runCLI(t, nil, append(c.args, "-d", url, "--dir", dir)...)
		require.Equal(t, 2, code, "%v: %s", c.args, stderr)
		require.Contains(t, stderr, c.setting, "%v", c.args)
		require.Equal(t, 1, strings.Count(stderr, "\n"), "one line: %s", stderr)
	}
	require.Empty(t, tableNames(t, openSQL(t, url), true), "nothing written")
	code, _, stderr := runCLI(t, nil, "up", "--lease", "1s", "--lock-timeout", "10ms", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
}

func TestUpToUnknownVersion(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	writeMigration(t, dir, "2_b.sql", "CREATE TABLE b (id integer);")
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, cmd := range []string{"up", "wait", "plan"} {
		code, _, stderr := runCLI(t, nil, cmd, "--to", "999", "-d", url, "--dir", dir)
		require.Equal(t, 2, code, "%s: %s", cmd, stderr)
		require.Contains(t, stderr, "--to: no migration file in "+dir+" has version 999 (its versions run from 1 to 2)", cmd)
	}
	require.Empty(t, tableNames(t, openSQL(t, url), true), "nothing applied")
	code, _, stderr := runCLI(t, nil, "up", "--to", "1", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Equal(t, 1, countRows(t, openSQL(t, url), "fleetgate_migrations"))
}

func TestSmallerItems(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)

	t.Run("HistoryNeedsNoDir", func(t *testing.T) {
		code, out, stderr := runCLI(t, nil, "history", "-d", url, "--dir", filepath.Join(dir, "nope"))
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "1 a")
	})
	t.Run("ExtraArguments", func(t *testing.T) {
		for _, cmd := range []string{"status", "history", "validate", "plan"} {
			code, _, stderr := runCLI(t, nil, cmd, "extra", "-d", url, "--dir", dir)
			require.Equal(t, 2, code, cmd)
			require.Contains(t, stderr, `unexpected argument "extra"`, cmd)
		}
	})
	t.Run("MySQLSchemeOffered", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "up", "-d", "oracle://x", "--dir", dir)
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "unknown URL scheme")
		require.Contains(t, stderr, "mysql://")
	})
	t.Run("URLErrorsShowWhatWasTyped", func(t *testing.T) {
		code, _, stderr := runCLI(t, nil, "up", "-d", "postgres://bob:hunter2@db:54x2/app", "--dir", dir)
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "postgres://bob:xxxxx@db:54x2/app")
		require.Contains(t, stderr, "port")
		require.NotContains(t, stderr, "hunter2")
		require.NotContains(t, stderr, "unparsable")
	})
	t.Run("DurationsForPeople", func(t *testing.T) {
		require.Equal(t, "5ms", fmtMS(5))
		require.Equal(t, "<1ms", fmtMS(0), "a sub-millisecond migration did run")
		require.Equal(t, "5.0s", fmtMS(5001))
		require.Equal(t, "2m3s", fmtMS(123_400))
	})
}

func TestTableTypoGuardSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	writeMigration(t, dir, "2_seed.sql", "INSERT INTO a VALUES (1);")

	t.Run("AnotherHistory", func(t *testing.T) {
		t.Parallel()
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		db := openSQL(t, url)
		before := tableNames(t, db, true)
		for _, table := range []string{"fleetgate_migratons", "Fleetgate_Migrations2"} {
			code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir, "--table", table)
			require.Equal(t, 2, code, stderr)
			require.Contains(t, stderr, "fleetgate_migrations (2 migrations)")
			require.Contains(t, stderr, "--table fleetgate_migrations")
		}
		require.Equal(t, before, tableNames(t, db, true), "no table created")
		require.Equal(t, 1, countRows(t, db, "a"), "the data migration ran once")
		// --init says a second history is intended.
		code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir, "--table", "other_migrations", "--init", "--checks", "off")
		require.Equal(t, 1, code, "the migrations run again, and CREATE TABLE a fails: %s", stderr)
	})
	t.Run("RunInit", func(t *testing.T) {
		// The first instance of a fleet started with `run` on a database
		// that has the app's tables but no history: refused like up, and
		// --init says it is intended, as for up.
		t.Parallel()
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		db := openSQL(t, url)
		_, err := db.Exec("CREATE TABLE users (id integer)")
		require.NoError(t, err)
		marker := filepath.Join(t.TempDir(), "ran")
		code, _, stderr := runCLI(t, nil, "run", "-d", url, "--dir", dir, "--", "touch", marker)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "--init")
		require.NoFileExists(t, marker, "the gate stayed closed")
		code, _, stderr = runCLI(t, nil, "run", "-d", url, "--dir", dir, "--init", "--", "touch", marker)
		require.Equal(t, 0, code, stderr)
		require.FileExists(t, marker)
		require.Equal(t, 1, countRows(t, db, "a"), "the data migration ran once")
	})
	t.Run("UserTablesNoHistory", func(t *testing.T) {
		t.Parallel()
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		db := openSQL(t, url)
		_, err := db.Exec("CREATE TABLE goose_db_version (id integer); CREATE TABLE a (id integer)")
		require.NoError(t, err)
		code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "2 tables (a, goose_db_version)")
		require.Contains(t, stderr, "fleetgate adopt --from goose")
		require.Equal(t, []string{"a", "goose_db_version"}, tableNames(t, db, true))
		require.Equal(t, 0, countRows(t, db, "a"))
	})
}

func TestTableTypoGuardPostgres(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	writeMigration(t, dir, "2_seed.sql", "INSERT INTO a VALUES (1);")
	url := dbtest.Postgres(t)
	db := openSQL(t, url)
	_, err := db.Exec("CREATE SCHEMA app")
	require.NoError(t, err)
	code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir, "--table", "app.fleetgate_migrations")
	require.Equal(t, 0, code, stderr)
	before := tableNames(t, db, false)

	// A missing schema in --table: the history is in app, not public.
	code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "app.fleetgate_migrations (2 migrations)")
	// A schema that does not exist is never created implicitly.
	code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir, "--table", "ap.fleetgate_migrations")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, `schema "ap" does not exist`)
	var n int
	require.NoError(t, db.QueryRow("SELECT count(*) FROM pg_namespace WHERE nspname = 'ap'").Scan(&n))
	require.Zero(t, n)
	require.Equal(t, before, tableNames(t, db, false), "no table created")
	require.Equal(t, 1, countRows(t, db, "a"), "the data migration ran once")

	// The right table still works, and a no-op up does not survey at all.
	code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir, "--table", "app.fleetgate_migrations")
	require.Equal(t, 0, code, stderr)
}

func TestPlanAndDryRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "1_a.sql"), []byte("-- fleetgate:up\nCREATE TABLE a (id integer);\n-- fleetgate:down\nDROP TABLE a;\n"), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "2_b.sql"), []byte("-- fleetgate:up\n-- fleetgate:no-transaction\nCREATE TABLE b (id integer);\nINSERT INTO b VALUES (1);\n-- fleetgate:down\nDROP TABLE b;\n"), 0o644))
	url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")

	code, out, stderr := runCLI(t, nil, "plan", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "2 migrations to apply")
	require.Contains(t, out, "up 1 a ("+filepath.Join(dir, "1_a.sql")+") phase pre, in one transaction")
	require.Contains(t, out, "up 2 b")
	require.Contains(t, out, "without a transaction")
	require.Contains(t, out, "     4 | INSERT INTO b VALUES (1)")
	require.Contains(t, out, "lease 10s")
	db := openSQL(t, url)
	require.Empty(t, tableNames(t, db, true), "plan writes nothing")

	code, out, stderr = runCLI(t, nil, "up", "--dry-run", "--to", "1", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "1 migrations to apply")
	require.Empty(t, tableNames(t, db, true), "up --dry-run writes nothing")

	code, out, stderr = runCLI(t, nil, "plan", "--json", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	var rep fleetgate.PlanReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.Migrations, 2)
	require.Equal(t, "none", rep.Migrations[1].Transaction)
	require.Len(t, rep.Migrations[1].Statements, 2)

	code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	// While another connection holds SQLite's write lock (and so would
	// block any writer, and the migration lock), plan still answers.
	conn, err := db.Conn(context.Background())
	require.NoError(t, err)
	defer conn.Close()
	_, err = conn.ExecContext(context.Background(), "BEGIN IMMEDIATE")
	require.NoError(t, err)
	code, out, stderr = runCLI(t, nil, "down", "--dry-run", "--to", "0", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.Contains(t, out, "2 migrations to roll back")
	require.Contains(t, out, "DROP TABLE b")
	_, err = conn.ExecContext(context.Background(), "ROLLBACK")
	require.NoError(t, err)
	require.Equal(t, 2, countRows(t, db, "fleetgate_migrations"), "down --dry-run reverted nothing")
}

func TestFamiliarVerbs(t *testing.T) {
	t.Parallel()
	t.Run("CreateIsNew", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeMigration(t, dir, "0001_a.sql", "CREATE TABLE a (id integer);")
		code, out, stderr := runCLI(t, nil, "create", "add_b", "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "0002_add_b.sql", filepath.Base(strings.TrimSpace(out)))
	})
	t.Run("RedoAndGoto", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for i, name := range []string{"a", "b", "c"} {
			body := "-- fleetgate:up\nCREATE TABLE " + name + " (id integer);\n-- fleetgate:down\nDROP TABLE " + name + ";\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, string(rune('1'+i))+"_"+name+".sql"), []byte(body), 0o644))
		}
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		db := openSQL(t, url)
		events := func(kind string) int {
			var n int
			require.NoError(t, db.QueryRow("SELECT count(*) FROM fleetgate_events WHERE kind = ?", kind).Scan(&n))
			return n
		}
		code, _, stderr := runCLI(t, nil, "goto", "2", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 2, countRows(t, db, "fleetgate_migrations"))
		code, _, stderr = runCLI(t, nil, "redo", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 2, countRows(t, db, "fleetgate_migrations"))
		require.Equal(t, 1, events("rollback"), "redo audits its rollback")
		require.Equal(t, 3, events("apply"), "and its apply")
		code, _, stderr = runCLI(t, nil, "goto", "3", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 3, countRows(t, db, "fleetgate_migrations"))
		code, _, stderr = runCLI(t, nil, "goto", "1", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 1, countRows(t, db, "fleetgate_migrations"))
		code, _, stderr = runCLI(t, nil, "goto", "0", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 0, countRows(t, db, "fleetgate_migrations"))
		code, _, stderr = runCLI(t, nil, "goto", "7", "-d", url, "--dir", dir)
		require.Equal(t, 2, code, stderr)
		code, _, stderr = runCLI(t, nil, "goto", "x", "-d", url, "--dir", dir)
		require.Equal(t, 2, code, stderr)
	})
	t.Run("GotoPendingBelowApplied", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		for _, f := range []struct{ file, table string }{{"1_a.sql", "a"}, {"3_c.sql", "c"}} {
			body := "-- fleetgate:up\nCREATE TABLE " + f.table + " (id integer);\n-- fleetgate:down\nDROP TABLE " + f.table + ";\n"
			require.NoError(t, os.WriteFile(filepath.Join(dir, f.file), []byte(body), 0o644))
		}
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		writeMigration(t, dir, "2_b.sql", "CREATE TABLE b (id integer);")
		code, _, stderr = runCLI(t, nil, "goto", "2", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		var versions []int64
		rows, err := openSQL(t, url).Query("SELECT version FROM fleetgate_migrations ORDER BY version")
		require.NoError(t, err)
		defer rows.Close()
		for rows.Next() {
			var v int64
			require.NoError(t, rows.Scan(&v))
			versions = append(versions, v)
		}
		require.Equal(t, []int64{1, 2}, versions, "3 reverted, 2 applied")
	})
	t.Run("Fix", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		writeMigration(t, dir, "00001_a.sql", "CREATE TABLE a (id integer);")
		writeMigration(t, dir, "20240101120000_b.sql", "CREATE TABLE b (id integer);")
		url := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		code, _, stderr := runCLI(t, nil, "up", "--to", "1", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		writeMigration(t, dir, "20240102120000_c.sql", "CREATE TABLE c (id integer);")
		code, out, stderr := runCLI(t, nil, "fix", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "20240101120000_b.sql -> "+filepath.Join(dir, "00002_b.sql"))
		require.FileExists(t, filepath.Join(dir, "00002_b.sql"))
		require.FileExists(t, filepath.Join(dir, "00003_c.sql"))
		require.FileExists(t, filepath.Join(dir, "00001_a.sql"), "the applied file keeps its name")
		code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, 3, countRows(t, openSQL(t, url), "fleetgate_migrations"))
		// An applied timestamp version blocks renumbering the rest.
		writeMigration(t, dir, "20240103120000_d.sql", "CREATE TABLE d (id integer);")
		code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		writeMigration(t, dir, "20240104120000_e.sql", "CREATE TABLE e (id integer);")
		code, _, stderr = runCLI(t, nil, "fix", "-d", url, "--dir", dir)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "already applied")
		require.FileExists(t, filepath.Join(dir, "20240104120000_e.sql"))
	})
}

// TestQuickstartExample: the bundled example passes its own check and
// applies in steps, rolls back and applies again on SQLite and PostgreSQL.
func TestQuickstartExample(t *testing.T) {
	t.Parallel()
	dir := filepath.Join("..", "..", "examples", "quickstart")
	code, out, stderr := runCLI(t, nil, "check", "--dir", dir)
	require.Equal(t, 0, code, out+stderr)
	for name, url := range map[string]func(testing.TB) string{"SQLite": dbtest.SQLite, "Postgres": dbtest.Postgres} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url := url(t)
			db := openSQL(t, url)
			code, _, stderr := runCLI(t, nil, "up", "--to", "2", "-d", url, "--dir", dir)
			require.Equal(t, 0, code, stderr)
			code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, code, stderr)
			require.Equal(t, 3, countRows(t, db, "fleetgate_migrations"))
			require.Equal(t, 2, countRows(t, db, "accounts"), "the data migration ran once")
			code, _, stderr = runCLI(t, nil, "down", "--to", "0", "-d", url, "--dir", dir)
			require.Equal(t, 0, code, stderr)
			require.Equal(t, 0, countRows(t, db, "fleetgate_migrations"))
			code, _, stderr = runCLI(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, code, stderr)
			require.Equal(t, 2, countRows(t, db, "accounts"))
		})
	}
}

// TestBashCompletion sources the generated script in bash and asks it for
// completions, as bash does on TAB.
func TestBashCompletion(t *testing.T) {
	t.Parallel()
	bash, err := exec.LookPath("bash")
	require.NoError(t, err)
	code, script, stderr := runCLI(t, nil, "completion", "bash")
	require.Equal(t, 0, code, stderr)
	path := filepath.Join(t.TempDir(), "fleetgate.bash")
	require.NoError(t, os.WriteFile(path, []byte(script), 0o644))
	complete := func(words ...string) []string {
		t.Helper()
		prog := fmt.Sprintf(`source %q; COMP_WORDS=(%s); COMP_CWORD=%d; _fleetgate; printf '%%s\n' "${COMPREPLY[@]}"`,
			path, strings.Join(quoteAll(words), " "), len(words)-1)
		out, err := exec.Command(bash, "--norc", "--noprofile", "-c", prog).CombinedOutput()
		require.NoError(t, err, "%s", out)
		return strings.Fields(string(out))
	}
	require.Equal(t, []string{"status"}, complete("fleetgate", "sta"))
	require.ElementsMatch(t, []string{"redo", "resolve", "run"}, complete("fleetgate", "r"))
	require.ElementsMatch(t, []string{"--lock-retries", "--lock-timeout", "--log-format"}, complete("fleetgate", "up", "--lo"))
	require.Equal(t, []string{"--dry-run"}, complete("fleetgate", "-d", "sqlite:x.db", "down", "--dr"))
	require.ElementsMatch(t, []string{"pre", "post"}, complete("fleetgate", "up", "--phase", ""))
	require.ElementsMatch(t, []string{"bash"}, complete("fleetgate", "completion", "ba"))
	require.Contains(t, complete("fleetgate", "help", ""), "goto")

	for _, sh := range []string{"zsh", "fish"} {
		code, out, stderr := runCLI(t, nil, "completion", sh)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, out, "fleetgate")
		require.Contains(t, out, "lock-timeout", sh)
	}
	code, _, stderr = runCLI(t, nil, "completion", "powershell")
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "bash, zsh or fish")
}

func quoteAll(words []string) []string {
	out := make([]string, len(words))
	for i, w := range words {
		out[i] = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
	}
	return out
}

// TestPlanShowsCheckFindings: on PostgreSQL plan prints the check findings
// and the timeouts up would use, and says (and exits as) up would refuse.
func TestPlanShowsCheckFindings(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	writeMigration(t, dir, "2_idx.sql", "CREATE INDEX a_id ON a (id);")
	url := dbtest.Postgres(t)
	code, _, stderr := runCLI(t, nil, "up", "--to", "1", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	code, out, stderr := runCLI(t, nil, "plan", "--json", "-d", url, "--dir", dir)
	require.Equal(t, 5, code, "up would refuse, so plan exits as up would: %s", stderr)
	var rep fleetgate.PlanReport
	require.NoError(t, json.Unmarshal([]byte(out), &rep))
	require.Len(t, rep.Migrations, 1)
	require.True(t, rep.Refused)
	require.Equal(t, "enforce", rep.Checks)
	require.Equal(t, "2s", rep.Timeouts.LockTimeout)
	require.Equal(t, 10, rep.Timeouts.LockRetries)
	require.NotEmpty(t, rep.Migrations[0].Findings)
	require.Equal(t, "require-concurrent-index", rep.Migrations[0].Findings[0].Rule)
	code, out, stderr = runCLI(t, nil, "up", "--dry-run", "-d", url, "--dir", dir)
	require.Equal(t, 5, code, stderr)
	require.Contains(t, out, "check: "+filepath.Join(dir, "2_idx.sql")+":2:22 require-concurrent-index")
	require.Contains(t, out, "up would refuse this plan")
	require.Contains(t, out, "table lock timeout 2s with 10 retries")
	require.Equal(t, 1, countRows(t, openSQL(t, url), "fleetgate_migrations"), "nothing applied")
}

// TestCheckWarningsBeforeMigrations: on a fresh database the checks only
// warn, and their warnings are printed before the migrations run, not
// after, when they could still be acted on.
func TestCheckWarningsBeforeMigrations(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_a.sql", "CREATE TABLE a (id integer);")
	writeMigration(t, dir, "2_idx.sql", "CREATE INDEX a_id ON a (id);")
	url := dbtest.Postgres(t)
	code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	warn := strings.Index(stderr, "require-concurrent-index")
	applying := strings.Index(stderr, "applying")
	require.GreaterOrEqual(t, warn, 0, stderr)
	require.GreaterOrEqual(t, applying, 0, stderr)
	require.Less(t, warn, applying, "the warning comes first:\n%s", stderr)
	require.Equal(t, 2, countRows(t, openSQL(t, url), "fleetgate_migrations"))
}
