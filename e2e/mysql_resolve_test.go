package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A statement that fails (not a crash) on MariaDB, where a migration with
// DDL runs statement by statement: it stops at statement k of n, and
// what ran before stays (each DDL statement committed itself).

// myFive is a five-statement MySQL migration, DDL and data mixed, whose
// statement 3 the test gives: statements 2 and 4 insert rows, so running
// either twice (or not at all) shows in the table.
func myFive(third string) string {
	return "-- fleetgate:up\n" +
		"CREATE TABLE r1 (id int);\n" +
		"INSERT INTO r1 VALUES (2);\n" +
		third + ";\n" +
		"INSERT INTO r1 VALUES (4);\n" +
		"CREATE TABLE r5 (id int);\n"
}

// The two ways statement 3 fails: a data statement (in its transaction,
// rolled back) and a DDL statement (in autocommit; MariaDB's DDL is
// atomic, so it left nothing).
var myBrokenThirds = []struct{ name, stmt, errText string }{
	{"DML", "INSERT INTO no_such_table VALUES (3)", "no_such_table"},
	{"DDL", "ALTER TABLE r1 ADD COLUMN id int", "Duplicate column name"},
}

const myFixedThird = "CREATE TABLE r3 (id int)"

// myBroken runs fn for each broken statement 3; ddlOnly leaves out the
// data statement, whose resolve cases resolve_test.go runs on MariaDB.
func myBroken(t *testing.T, ddlOnly bool, fn func(t *testing.T, url, third, errText string)) {
	for _, b := range myBrokenThirds {
		if ddlOnly && b.name != "DDL" {
			continue
		}
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, mariadbURL(t), b.stmt, b.errText)
		})
	}
}

// myFailAtThree applies the broken migration: statements 1 and 2 run and
// stay, statement 3 fails, and the history, the failure event and status
// say so.
func myFailAtThree(t *testing.T, url, third, errText string) string {
	t.Helper()
	dir := writeFiles(t, map[string]string{"0001_five.sql": myFive(third)})
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "statement 3")
	require.Contains(t, r.Stderr, errText)
	db := openDB(t, url)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"), "statement 2 ran once and stayed")
	require.Equal(t, 2, queryInt(t, db, "SELECT statements_done FROM fleetgate_migrations WHERE version = 1 AND NOT complete"))
	require.False(t, myTableExists(t, db, "r5"))
	require.Equal(t, 1, queryInt(t, db,
		"SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 1 AND statement_line = 4 AND statement = ? AND error LIKE ?",
		third, "%"+errText+"%"), "the failure event names statement 3, its line and the error")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "the lock was released")

	st := fg(t, nil, "status", "-d", url, "--dir", dir)
	require.Equal(t, 0, st.Code, st.String())
	require.Contains(t, st.Stdout, "1 five: failed at statement 3 of 5 (line 4): ")
	require.Contains(t, st.Stdout, errText)
	st = fg(t, nil, "status", "-d", url, "--dir", dir, "--json")
	require.Equal(t, 0, st.Code, st.String())
	var js struct {
		Migrations []struct {
			State          string `json:"state"`
			StatementsDone int    `json:"statements_done"`
			Statements     int    `json:"statements"`
			Error          string `json:"error"`
			ErrorLine      int    `json:"error_line"`
		} `json:"migrations"`
	}
	require.NoError(t, json.Unmarshal([]byte(st.Stdout), &js), st.Stdout)
	require.Len(t, js.Migrations, 1)
	m := js.Migrations[0]
	require.Equal(t, "partial", m.State)
	require.Equal(t, 2, m.StatementsDone)
	require.Equal(t, 5, m.Statements)
	require.Equal(t, 4, m.ErrorLine)
	require.Contains(t, m.Error, errText)
	return dir
}

// Statement 3 of 5 fails, the operator fixes statement 3, and `up`
// resumes at statement 3: nothing before it runs again.
func TestMySQLFailedStatementFixedInPlace(t *testing.T) {
	t.Parallel()
	myBroken(t, false, func(t *testing.T, url, third, errText string) {
		dir := myFailAtThree(t, url, third, errText)
		writeMigration(t, dir, "0001_five.sql", myFive(myFixedThird))
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		db := openDB(t, url)
		require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM r1"), "statements 2 and 4 each ran once")
		require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM r1"))
		require.True(t, myTableExists(t, db, "r3"))
		require.True(t, myTableExists(t, db, "r5"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		// The row holds the fixed text, so a later up sees no edit.
		r = fg(t, nil, "validate", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		st := fg(t, nil, "status", "-d", url, "--dir", dir)
		require.Equal(t, 0, st.Code, st.String())
		require.NotContains(t, st.Stdout, "failed at")
	})
}

// An edit to a statement that already ran is refused with exit 4 naming
// it; nothing runs. `resolve --retry-from 2` settles it: the next up runs
// the edited statement 2 and the rest, and the resolve event records it.
func TestMySQLFailedStatementEditedBefore(t *testing.T) {
	t.Parallel()
	myBroken(t, true, func(t *testing.T, url, third, errText string) {
		dir := myFailAtThree(t, url, third, errText)
		body := strings.Replace(myFive(myFixedThird), "VALUES (2)", "VALUES (20)", 1)
		writeMigration(t, dir, "0001_five.sql", body)
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 4, r.Code, r.String())
		require.Contains(t, r.Stderr, "statement 2 (line 3) was edited")
		db := openDB(t, url)
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"))
		require.Equal(t, 2, queryInt(t, db, "SELECT statements_done FROM fleetgate_migrations WHERE version = 1 AND NOT complete"))
		require.False(t, myTableExists(t, db, "r3"))

		r = fg(t, nil, "resolve", "1", "--retry-from", "2", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 26, queryInt(t, db, "SELECT sum(id) FROM r1"), "rows 2 (the old statement 2), 20 and 4")
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND error LIKE 'retry-from 2%' AND statement_line = 3"))
	})
}

// `resolve --done`: the operator finished the migration by hand; up does
// not run it again, and a complete migration is not resolved (exit 2).
func TestMySQLResolveDone(t *testing.T) {
	t.Parallel()
	myBroken(t, true, func(t *testing.T, url, third, errText string) {
		db := openDB(t, url)
		dir := myFailAtThree(t, url, third, errText)
		r := fg(t, nil, "resolve", "1", "--done", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM r1"), "up ran the resolved migration again")
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND error LIKE 'done%'"))

		r = fg(t, nil, "resolve", "1", "--abandon", "-d", url, "--dir", dir)
		require.Equal(t, 2, r.Code, r.String())
		require.Contains(t, r.Stderr, "no partly applied history row")
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	})
}

// `resolve --abandon`: the operator undid statements 1 and 2; the history
// forgets the migration, and the fixed file runs from statement 1.
func TestMySQLResolveAbandon(t *testing.T) {
	t.Parallel()
	myBroken(t, true, func(t *testing.T, url, third, errText string) {
		db := openDB(t, url)
		dir := myFailAtThree(t, url, third, errText)
		_, err := db.Exec("DROP TABLE r1")
		require.NoError(t, err)
		r := fg(t, nil, "resolve", "1", "--abandon", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
		writeMigration(t, dir, "0001_five.sql", myFive(myFixedThird))
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM r1"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND error LIKE 'abandon%'"))
	})
}

// status while a migration runs says which statement it is at, and after
// its runner was killed (no failure to show), where it was interrupted;
// the next up finishes it.
func TestMySQLStatusRunningAndInterrupted(t *testing.T) {
	t.Parallel()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, map[string]string{"0001_slow.sql": "-- fleetgate:up\n" +
		"CREATE TABLE s1 (id int);\nSELECT SLEEP(10);\nCREATE TABLE s3 (id int);\n"})
	p := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "2s", "--checks", "off")
	waitFor(t, 60*time.Second, func() bool {
		st := fg(t, nil, "status", "-d", url, "--dir", dir)
		return strings.Contains(st.Stdout, "1 slow: running, at statement 2 of 3")
	})
	require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
	p.wait(t, 10*time.Second)
	// Its session may run the SLEEP on; the lease runs out regardless.
	waitFor(t, 60*time.Second, func() bool {
		st := fg(t, nil, "status", "-d", url, "--dir", dir)
		return strings.Contains(st.Stdout, "lock free")
	})
	st := fg(t, nil, "status", "-d", url, "--dir", dir)
	require.Contains(t, st.Stdout, "1 slow: interrupted at statement 2 of 3; up resumes it there", st.String())
	require.NotContains(t, st.Stdout, "failed at")

	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myTableExists(t, db, "s3"))
	st = fg(t, nil, "status", "-d", url, "--dir", dir)
	require.NotContains(t, st.Stdout, "statement 2 of 3")
}
