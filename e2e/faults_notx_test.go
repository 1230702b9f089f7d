package e2e

import (
	"fmt"
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
