package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// notxCounterFiles: a no-transaction migration whose second statement
// increments a counter while it sleeps in the database, so a runner can be
// stopped while the increment is in flight.
func notxCounterFiles() map[string]string {
	return map[string]string{
		"0001_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
		"0002_bump.sql": "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
			"CREATE TABLE side (id int);\n" +
			"UPDATE counter SET n = n + 1 WHERE (SELECT true FROM pg_sleep(3));\n" +
			"INSERT INTO side VALUES (1);\n",
	}
}

const bumpRunning = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%UPDATE counter SET n = n + 1%' AND state = 'active' AND pid <> pg_backend_pid()"

// requireBumpedOnce waits until no backend runs the increment any more
// (an orphan may still be finishing it), then checks that it took effect
// exactly once and that the migration is recorded complete.
func requireBumpedOnce(t *testing.T, url string) {
	t.Helper()
	db := openDB(t, url)
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, bumpRunning) == 0 })
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the increment ran more (or less) than once")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM side"), "statement 3 ran more (or less) than once")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// A runner killed (kill -9) while a statement of a no-transaction
// migration is in flight leaves a backend that goes on executing it; the
// next runner must not run the statement a second time next to it.
func TestNoTxKilledMidStatement(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, notxCounterFiles())
	for trial := range 2 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			p := start(t, nil, "up", "-d", url, "--dir", dir)
			waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, bumpRunning) == 1 })
			require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
			p.wait(t, 10*time.Second)
			r := fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			requireBumpedOnce(t, url)
		})
	}
}

// The holder's lock session is terminated while the increment is in
// flight, and a second runner waits: whoever finishes the migration, the
// increment lands once.
func TestNoTxLockSessionTerminatedMidStatement(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, notxCounterFiles())
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	a := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "2s")
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, bumpRunning) == 1 })
	b := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "2s")
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE session_pid IS NOT NULL") == 1
	})
	queryInt(t, db, "SELECT count(*) FROM (SELECT pg_terminate_backend(session_pid) FROM fleetgate_lock WHERE session_pid IS NOT NULL) x")
	ra, rb := a.wait(t, time.Minute), b.wait(t, time.Minute)
	if ra.Code != 0 && rb.Code != 0 {
		// Neither finished (the holder lost its lock, the waiter found it
		// still held): a third run completes the migration.
		r := fg(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, "%s\nA: %s\nB: %s", r, ra, rb)
	}
	requireBumpedOnce(t, url)
}

// dropFiles: migration 2 drops an index concurrently, then creates a
// table, in a no-transaction migration.
func dropFiles() map[string]string {
	return map[string]string{
		"0001_t.sql": "-- fleetgate:up\nCREATE TABLE t (id int);\nCREATE INDEX t_idx ON t (id);\n",
		"0002_drop.sql": "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
			"DROP INDEX CONCURRENTLY t_idx;\n" +
			"CREATE TABLE after_drop (id int);\n",
	}
}

const dropWaiting = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'DROP INDEX CONCURRENTLY t_idx%' AND state = 'active' AND pid <> pg_backend_pid()"

// startInterruptedDrop applies migration 1, opens an application
// transaction on t, starts `up`, and kills it (kill -9) while its DROP
// INDEX CONCURRENTLY waits behind that transaction. It returns the
// transaction: committing it lets the orphaned drop complete.
func startInterruptedDrop(t *testing.T, url, dir string) *sql.Tx {
	t.Helper()
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1", "--checks", "off")
	require.Equal(t, 0, r.Code, r.String())
	ctx := context.Background()
	app, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = app.Rollback() })
	_, err = app.ExecContext(ctx, "SELECT count(*) FROM t")
	require.NoError(t, err)
	p := start(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, dropWaiting) == 1 })
	require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
	p.wait(t, 10*time.Second)
	return app
}

func requireDropDone(t *testing.T, url string) {
	t.Helper()
	db := openDB(t, url)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_class WHERE relname = 't_idx'"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM after_drop"))
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// The orphaned DROP INDEX CONCURRENTLY completes after its runner was
// killed; the next `up` must see the index gone and finish the migration
// (it used to fail with "index t_idx does not exist", every time).
func TestDropIndexConcurrentlyOrphanCompleted(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, dropFiles())
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	app := startInterruptedDrop(t, url, dir)
	require.NoError(t, app.Commit())
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, "SELECT count(*) FROM pg_class WHERE relname = 't_idx'") == 0 })
	for range 2 {
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
	}
	requireDropDone(t, url)
}

// The next `up` starts while the orphaned drop still waits: it waits for
// that backend instead of running a second drop next to it, then
// finishes.
func TestDropIndexConcurrentlyOrphanStillWaiting(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, dropFiles())
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	app := startInterruptedDrop(t, url, dir)
	var log *watched
	p := startWatched(t, nil, nil, &log, "up", "-d", url, "--dir", dir, "--checks", "off")
	waitFor(t, 30*time.Second, func() bool { return log.contains("waiting for the statement") })
	require.Equal(t, 1, queryInt(t, db, dropWaiting), "a second backend runs the drop")
	require.NoError(t, app.Commit())
	r := p.wait(t, time.Minute)
	require.Equal(t, 0, r.Code, r.String())
	requireDropDone(t, url)
}

// A database whose history tables were created by the previous release
// (without the per-statement checksum and running-backend columns) keeps
// working: up adds the columns, and a no-transaction migration resumes.
func TestUpgradeFromOldTables(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		db := openDB(t, url)
		dir := writeFiles(t, map[string]string{"0001_five.sql": fiveStatements(brokenThird)})
		r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 1, r.Code, r.String())
		// Back to the old layout, keeping the partial row.
		for _, c := range []string{"statement_checksums", "running_pid", "running_backend_start"} {
			if strings.HasPrefix(url, "sqlite:") && c != "statement_checksums" {
				continue
			}
			_, err := db.Exec("ALTER TABLE fleetgate_migrations DROP COLUMN " + c)
			require.NoError(t, err)
		}
		r = fg(t, nil, "status", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		writeMigration(t, dir, "0001_five.sql", fiveStatements("CREATE TABLE r3 (id int)"))
		// The old row has no statement checksums: an edited partial
		// migration cannot be checked statement by statement.
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 4, r.Code, r.String())
		require.Contains(t, r.Stderr, "keeps no per-statement checksums")
		r = fg(t, nil, "resolve", "1", "--retry-from", "3", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM r1"))
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete AND statement_checksums IS NOT NULL"))
	})
}

// Old-layout tables owned by another role: the migrating role cannot add
// the new columns, and says what to run instead of failing obscurely.
// Nothing is applied.
func TestUpgradeNotOwner(t *testing.T) {
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	// The owner (the test's superuser) sets the tables up with one
	// migration, then takes them back to the previous release's layout.
	dir := writeFiles(t, map[string]string{"0001_seed.sql": "-- fleetgate:up\nSELECT 1;\n"})
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	require.Equal(t, 0, r.Code, r.String())
	for _, c := range []string{"statement_checksums", "running_pid", "running_backend_start"} {
		_, err := db.Exec("ALTER TABLE fleetgate_migrations DROP COLUMN " + c)
		require.NoError(t, err)
	}
	tables := "fleetgate_migrations, fleetgate_events, fleetgate_lock"
	other := dbtest.CreateRole(t, url, "fg_e2e_notx_migrator", "pw-migrator",
		"GRANT CREATE ON SCHEMA public TO fg_e2e_notx_migrator",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON "+tables+" TO fg_e2e_notx_migrator",
		"GRANT USAGE ON SEQUENCE fleetgate_events_id_seq TO fg_e2e_notx_migrator")
	writeMigration(t, dir, "0002_a.sql", "-- fleetgate:up\nCREATE TABLE a (id int);\n")
	r = fg(t, nil, "up", "-d", other, "--dir", dir, "--checks", "off")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "run fleetgate up once as the table's owner")
	require.NotContains(t, r.Stderr, "pw-migrator")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'a'"))
}

// A runner is paused (SIGSTOP) while a statement that cannot run in a
// transaction (a CALL) is in flight, and loses its lock. The runner that
// takes over waits for that backend and ends it once it idles (the paused
// runner could otherwise still use it), and only then runs the statement
// again: at least once, never on two backends at a time. The paused runner,
// resumed, commits nothing.
func TestNoTxPausedDuringAutocommitStatement(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, map[string]string{
		"0001_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n" +
			"CREATE PROCEDURE bump_slowly() LANGUAGE plpgsql AS $$ BEGIN UPDATE counter SET n = n + 1; PERFORM pg_sleep(3); END $$;\n",
		"0002_call.sql": "-- fleetgate:no-transaction\n-- fleetgate:up\nCALL bump_slowly();\nCREATE TABLE after_call (id int);\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())
	a := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s", "--checks", "off")
	const calling = "SELECT count(*) FROM pg_stat_activity WHERE query = 'CALL bump_slowly()' AND state = 'active'"
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, calling) == 1 })
	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP))
	defer syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT)
	b := fg(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s", "--checks", "off")
	require.Equal(t, 0, b.Code, b.String())
	require.Contains(t, b.Stderr, "ending the interrupted runner's idle session", b.String())
	require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "the CALL ran again after the first run ended (at least once)")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))

	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT))
	ra := a.wait(t, time.Minute)
	require.NotEqual(t, 0, ra.Code, ra.String())
	require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "the paused runner ran the statement again")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM after_call"))
}
