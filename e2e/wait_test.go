package e2e

import (
	"database/sql"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// twoTables is a build with two migrations; the second one sleeps for the
// given SQL expression (e.g. "pg_sleep(2)"), or not at all when empty.
func twoTables(sleep string) map[string]string {
	second := "-- fleetgate:up\nCREATE TABLE two (id integer);\n"
	if sleep != "" {
		second = "-- fleetgate:up\nSELECT " + sleep + ";\nCREATE TABLE two (id integer);\n"
	}
	return map[string]string{
		"1_one.sql": "-- fleetgate:up\nCREATE TABLE one (id integer);\n",
		"2_two.sql": second,
	}
}

// writeState is everything a write by fleetgate could change: the tables'
// write counters and the content of its tables. It is read once every
// other session of the database has ended, so that their statistics are
// flushed.
func writeState(t *testing.T, db *sql.DB) string {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()") == 0
	})
	var state string
	q := `SELECT coalesce(string_agg(relname || ':' || (n_tup_ins + n_tup_upd + n_tup_del), ',' ORDER BY relname), '')
		FROM pg_stat_user_tables`
	_, err := db.Exec("SELECT pg_stat_clear_snapshot()")
	require.NoError(t, err)
	require.NoError(t, db.QueryRow(q).Scan(&state))
	for _, table := range []string{"fleetgate_migrations", "fleetgate_events", "fleetgate_lock"} {
		if queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = $1", table) == 0 {
			continue
		}
		var sum string
		require.NoError(t, db.QueryRow("SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM "+table+" t").Scan(&sum))
		state += " " + table + "=" + sum
	}
	return state
}

// `wait` with credentials that may only SELECT the history table: it
// succeeds when the schema is ready, exits 3 after --timeout when not, and
// never writes (nor creates the tables, even where it could).
func TestWaitReadOnlyRole(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, twoTables(""))
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	db.SetMaxOpenConns(1)

	// No tables yet, and a role that could create them: waiting creates
	// nothing and times out.
	creator := dbtest.CreateRole(t, url, "fg_e2e_wait_creator", "pw-creator", "GRANT CREATE ON SCHEMA public TO fg_e2e_wait_creator")
	before := writeState(t, db)
	r := fg(t, nil, "wait", "-d", creator, "--dir", dir, "--timeout", "1s")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "timed out after 1")
	require.Contains(t, r.Stderr, "pending 1, 2")
	require.Less(t, r.Elapsed, 30*time.Second, "a sanity ceiling: it gives up at its timeout")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'fleetgate%'"), "wait created tables")
	require.Equal(t, before, writeState(t, db))

	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1").Code)
	reader := dbtest.CreateRole(t, url, "fg_e2e_wait_reader", "pw-reader", "GRANT SELECT ON fleetgate_migrations TO fg_e2e_wait_reader")

	t.Run("TimesOut", func(t *testing.T) {
		before := writeState(t, db)
		r := fg(t, nil, "wait", "-d", reader, "--dir", dir, "--timeout", "1500ms")
		require.Equal(t, 3, r.Code, r.String())
		require.Contains(t, r.Stderr, "pending=[2]", "the progress line names what is pending")
		require.Contains(t, r.Stderr, "not readable with these credentials", "no SELECT on the lock table: the holder is left out")
		require.Contains(t, r.Stderr, "pending 2")
		require.Equal(t, before, writeState(t, db), "wait wrote to the database")
	})

	t.Run("WakesWhenApplied", func(t *testing.T) {
		w := start(t, nil, "wait", "-d", reader, "--dir", dir)
		// The waiter has read the history (and found 2 pending) on its
		// listening session, which now idles until a notification.
		waitFor(t, time.Minute, func() bool {
			return queryInt(t, db, `SELECT count(*) FROM pg_stat_activity WHERE usename = 'fg_e2e_wait_reader'
				AND state = 'idle' AND (query LIKE 'SELECT version,%' OR query LIKE 'SELECT holder,%')`) == 1
		})
		up := fg(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, up.Code, up.String())
		// How soon it wakes is measured by the wake-up benchmarks.
		r := w.wait(t, time.Minute)
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stderr, "schema is ready")
	})

	t.Run("ReadyAtOnce", func(t *testing.T) {
		before := writeState(t, db)
		r := fg(t, nil, "wait", "-d", reader, "--dir", dir, "--timeout", "10s")
		require.Equal(t, 0, r.Code, r.String())
		require.Less(t, r.Elapsed, 30*time.Second, "a sanity ceiling")
		require.Equal(t, before, writeState(t, db), "wait wrote to the database")
	})
}

// While it waits, `wait` says every few seconds what it waits for: the
// pending versions and the lock holder's host, pid, deploy id and running
// migration with its elapsed time.
func TestWaitReportsHolder(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, twoTables("pg_sleep(3)"))
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1").Code)
	reader := dbtest.CreateRole(t, url, "fg_e2e_wait_watcher", "pw-watcher",
		"GRANT SELECT ON fleetgate_migrations, fleetgate_lock TO fg_e2e_wait_watcher")

	up := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "2s", "--deploy-id", "deploy-42")
	waitFor(t, 10*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE current_version = 2") == 1
	})
	r := fg(t, nil, "wait", "-d", reader, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "waiting for the schema pending=[2]")
	require.Contains(t, r.Stderr, "pid="+strconv.Itoa(up.cmd.Process.Pid))
	require.Contains(t, r.Stderr, "deploy_id=deploy-42")
	require.Contains(t, r.Stderr, "running=2 running_for=")
	require.Equal(t, 0, up.wait(t, 30*time.Second).Code)
}

// What the history says decides; the edge cases of it.
func TestWaitVerdicts(t *testing.T) {
	t.Parallel()
	full := map[string]string{
		"1_one.sql":   "-- fleetgate:up\nCREATE TABLE one (id integer);\n",
		"2_two.sql":   "-- fleetgate:up\nCREATE TABLE two (id integer);\n",
		"3_three.sql": "-- fleetgate:up\nCREATE TABLE three (id integer);\n",
	}
	sub := func(names ...string) map[string]string {
		out := map[string]string{}
		for _, n := range names {
			out[n] = full[n]
		}
		return out
	}

	t.Run("DatabaseAhead", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", writeFiles(t, full)).Code)
		r := fg(t, nil, "wait", "-d", url, "--dir", writeFiles(t, sub("1_one.sql", "2_two.sql")), "--timeout", "5s")
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stderr, "database is ahead of this build")
		require.Contains(t, r.Stderr, "unknown_versions=[3]")
	})

	t.Run("Edited", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", writeFiles(t, full)).Code)
		edited := sub("1_one.sql", "2_two.sql", "3_three.sql")
		edited["2_two.sql"] = "-- fleetgate:up\nCREATE TABLE two (id bigint);\n"
		r := fg(t, nil, "wait", "-d", url, "--dir", writeFiles(t, edited), "--timeout", "5s")
		require.Equal(t, 4, r.Code, r.String())
		require.Contains(t, r.Stderr, "2_two.sql")
		require.Contains(t, r.Stderr, "edited after it was applied")
	})

	t.Run("OutOfOrder", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", writeFiles(t, sub("1_one.sql", "3_three.sql"))).Code)
		dir := writeFiles(t, full)
		r := fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "5s")
		require.Equal(t, 4, r.Code, "up would refuse 2, so waiting for it is futile\n%s", r)
		r = fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "500ms", "--allow-out-of-order")
		require.Equal(t, 3, r.Code, "with --allow-out-of-order, 2 is pending like any other\n%s", r)
	})

	t.Run("To", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		dir := writeFiles(t, full)
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "2").Code)
		r := fg(t, nil, "wait", "-d", url, "--dir", dir, "--to", "2", "--timeout", "5s")
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "300ms")
		require.Equal(t, 3, r.Code, r.String())
	})

	t.Run("PostPhaseNotAwaited", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		files := sub("1_one.sql")
		files["2_drop.sql"] = "-- fleetgate:up\n-- fleetgate:phase post\nDROP TABLE one;\n"
		dir := writeFiles(t, files)
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir).Code)
		r := fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "5s")
		require.Equal(t, 0, r.Code, "contract migrations come after the new code starts\n%s", r)
	})

	// A no-transaction migration interrupted part way is recorded but not
	// complete: not applied.
	t.Run("PartialIsPending", func(t *testing.T) {
		t.Parallel()
		url := dbtest.Postgres(t)
		files := sub("1_one.sql")
		files["2_idx.sql"] = "-- fleetgate:up\n-- fleetgate:no-transaction\nCREATE INDEX CONCURRENTLY one_id ON one (id);\nSELECT 1/0;\n"
		dir := writeFiles(t, files)
		require.Equal(t, 1, fg(t, nil, "up", "-d", url, "--dir", dir).Code)
		require.Equal(t, 1, queryInt(t, openDB(t, url), "SELECT count(*) FROM fleetgate_migrations WHERE version = 2 AND NOT complete"))
		r := fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "500ms")
		require.Equal(t, 3, r.Code, r.String())
		require.Contains(t, r.Stderr, "pending 2")
	})

	t.Run("Usage", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		dir := writeFiles(t, full)
		for _, args := range [][]string{{"--timeout", "-1s"}, {"--poll", "0s"}, {"--to", "-3"}, {"extra"}} {
			r := fg(t, nil, append([]string{"wait", "-d", url, "--dir", dir}, args...)...)
			require.Equal(t, 2, r.Code, "%v: %s", args, r)
		}
		r := fg(t, nil, "wait", "--dir", dir)
		require.Equal(t, 2, r.Code, r.String())
		require.Contains(t, r.Stderr, "no database given")
	})

	t.Run("BadPassword", func(t *testing.T) {
		t.Parallel()
		url := dbtest.Postgres(t)
		role := dbtest.CreateRole(t, url, "fg_e2e_wait_badpw", "right-password")
		wrong := strings.Replace(role, "right-password", "wrong-password", 1)
		r := fg(t, nil, "wait", "-d", wrong, "--dir", writeFiles(t, full), "--timeout", "5m")
		require.Equal(t, 1, r.Code, "a refused password does not get better by waiting\n%s", r)
		require.Less(t, r.Elapsed, time.Minute, "it waited for its timeout instead of giving up at once")
		require.NotContains(t, r.Stderr, "wrong-password")
	})

	// Through a SQLite file, polling is the only wake-up.
	t.Run("SQLitePolls", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		dir := writeFiles(t, full)
		var log *watched
		w := startWatched(t, nil, nil, &log, "wait", "-d", url, "--dir", dir, "--poll", "200ms")
		// Its first progress line: it has read the history and waits.
		waitFor(t, time.Minute, func() bool { return log.contains("waiting for the schema") })
		require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir).Code)
		// How soon a poll sees it: BenchmarkWaitSQLitePoll.
		r := w.wait(t, time.Minute)
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stderr, "schema is ready")
	})
}

// BenchmarkWaitSQLitePoll is how soon a `wait` that polls a SQLite file
// every 200 ms sees a commit: from the apply event (written in the
// committing transaction) to its "schema is ready" line. Expect at most
// the poll interval plus a read.
//
//	go test ./e2e -run '^$' -bench WaitSQLitePoll -benchtime 5x
func BenchmarkWaitSQLitePoll(b *testing.B) {
	var worst float64
	for range b.N {
		url := dbtest.SQLite(b)
		db := openDB(b, url)
		dir := writeFiles(b, twoTables(""))
		var log *watched
		w := startWatched(b, nil, nil, &log, "wait", "-d", url, "--dir", dir, "--poll", "200ms", "--log-format", "json")
		waitFor(b, time.Minute, func() bool { return log.contains("waiting for the schema") })
		require.Equal(b, 0, fg(b, nil, "up", "-d", url, "--dir", dir).Code)
		r := w.wait(b, time.Minute)
		require.Equal(b, 0, r.Code, r.String())
		var at int64
		require.NoError(b, db.QueryRow("SELECT max(at) FROM fleetgate_events WHERE kind = 'apply'").Scan(&at))
		ms := float64(readyAt(b, r.Stderr).UnixMilli() - at)
		worst = max(worst, ms)
	}
	b.ReportMetric(worst, "worst-commit-to-ready-ms")
}
