package e2e

import (
	"bytes"
	"database/sql"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// Fault tests of the lock's liveness: a live holder keeps its lock through
// faults that only look like death (another PID namespace, a killed
// session, a server restart), and every runner rides them out.

// counterSet is a counter table and a data migration that increments it
// and then runs slow, the statement in flight when a fault is injected.
func counterSet(slow string) map[string]string {
	return map[string]string{
		"1_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
		"2_data.sql":    "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n" + slow + ";\n",
	}
}

// startWrapped starts fleetgate under a wrapper command (unshare; none
// when wrapper is empty), in its own process group like start.
func startWrapped(t *testing.T, wrapper []string, env []string, args ...string) *proc {
	t.Helper()
	return startWatched(t, wrapper, env, nil, args...)
}

// watched is a fleetgate process's stderr, readable while it runs.
type watched struct {
	mu  sync.Mutex
	buf *bytes.Buffer
}

func (w *watched) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(b)
}

func (w *watched) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

func (w *watched) contains(s string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Contains(w.buf.String(), s)
}

// startWatched is startWrapped whose stderr can be read while it runs,
// through *stderr.
func startWatched(t testing.TB, wrapper []string, env []string, stderr **watched, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	cmd := append(append(append([]string{}, wrapper...), bin), args...)
	p.cmd = exec.Command(cmd[0], cmd[1:]...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if stderr != nil {
		*stderr = &watched{buf: &p.stderr}
		p.cmd.Stderr = *stderr
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	p.start = time.Now()
	go func() {
		err := p.cmd.Wait()
		p.res = result{Code: exitCode(err), Stdout: p.stdout.String(), Stderr: p.stderr.String(), Elapsed: time.Since(p.start)}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// inPIDNamespace runs fleetgate in a fresh PID namespace, as a child of a
// shell that first uses up skip pids, so fleetgate's pid there is 2+skip.
// Runners in two such namespaces have the same host name, file system and
// network. A holder started with a skip well above the number of threads of
// the other runner (thread ids are pids too) has a pid that names nothing
// in the other's namespace: a runner that trusted kill(pid, 0) would think
// it dead.
func inPIDNamespace(skip int) []string {
	return []string{"unshare", "--pid", "--fork", "sh", "-c", strings.Repeat("/bin/true; ", skip) + `"$0" "$@"`}
}

func requireUnshare(t *testing.T) {
	t.Helper()
	out, err := exec.Command("unshare", "--pid", "--fork", "true").CombinedOutput()
	if err != nil {
		t.Skipf("cannot create PID namespaces here (unshare --pid --fork: %v: %s); this test needs root or user namespaces", err, strings.TrimSpace(string(out)))
	}
}

// Two runners with the same host name in different PID namespaces
// (containers on the host network, pods sharing a node name): the waiter
// must not take the holder for dead because its pid means nothing in the
// waiter's namespace.
func TestPIDNamespaceHolderKeepsLock(t *testing.T) {
	requireUnshare(t)
	heavy.Lock()
	defer heavy.Unlock()
	// SQLite gets one trial: its waiter's takeover attempt queues behind
	// the holder's write lock, so it is a guard more than a reproduction.
	for engine, trials := range map[string]int{"Postgres": 2, "SQLite": 1} {
		for trial := range trials {
			t.Run(fmt.Sprintf("%sTrial%d", engine, trial), func(t *testing.T) {
				url, slow := dbtest.Postgres, "SELECT pg_sleep(3)"
				if engine == "SQLite" {
					url, slow = dbtest.SQLite, sqliteBusy(t, 3*time.Second)
				}
				u := url(t)
				dir := writeFiles(t, counterSet(slow))
				check := openDB(t, u)
				holder := startWrapped(t, inPIDNamespace(60), nil, "up", "-d", u, "--dir", dir)
				waitFor(t, 30*time.Second, func() bool { return lockHeld(check) })
				waiter := startWrapped(t, inPIDNamespace(0), nil, "up", "-d", u, "--dir", dir)
				rw := waiter.wait(t, time.Minute)
				rh := holder.wait(t, time.Minute)
				require.Equal(t, 0, rh.Code, "the holder was robbed of its lock:\nholder: %s\nwaiter: %s", rh, rw)
				require.Equal(t, 0, rw.Code, rw.String())
				require.Equal(t, 1, queryInt(t, check, "SELECT n FROM counter"), "data migration applied exactly once")
				require.Equal(t, 2, queryInt(t, check, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
			})
		}
	}
}

// lockHeld reports whether a runner holds the lock (false before the
// tables exist).
func lockHeld(db *sql.DB) bool {
	var n int
	err := db.QueryRow("SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&n)
	return err == nil && n == 1
}

// sqliteBusy returns an SQLite statement that keeps the CPU busy for about
// d on this machine (SQLite has no sleep function), calibrated once.
func sqliteBusy(t *testing.T, d time.Duration) string {
	t.Helper()
	const probe = 1_000_000
	db := openDB(t, dbtest.SQLite(t))
	q := func(n int) string {
		return fmt.Sprintf("SELECT sum(x) FROM (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < %d) SELECT x FROM c)", n)
	}
	queryInt(t, db, q(probe)) // warm up: the first query also opens the file
	start := time.Now()
	queryInt(t, db, q(probe))
	per := time.Since(start) / probe
	return q(int(d / max(per, time.Nanosecond)))
}

// waitActive waits until a statement starting with prefix runs.
func waitActive(t *testing.T, db *sql.DB, prefix string) {
	t.Helper()
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND starts_with(query, $1)", prefix) == 1
	})
}

// Terminating the holder's lock session mid-migration (an idle-session
// killer, a pooler, an operator) does not take the lock from a live
// holder: it reconnects, renews, commits, and exits 0. Before, it exited 1
// saying it "committed nothing since", while its migration sometimes went
// on and committed.
func TestTerminatedLockSession(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, counterSet("SELECT pg_sleep(3)"))
	for trial := range 2 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			// A 4 s lease renews every 0.8 s: several renewals fall in
			// the migration after its lock session is gone.
			holder := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "4s")
			waitActive(t, db, "SELECT pg_sleep(3)")
			// The lease records no session until the heartbeat's first
			// renewal on its own (lock.Acquire), which a loaded machine
			// may leave until after the migration has started.
			waitFor(t, time.Minute, func() bool {
				return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE session_pid IS NOT NULL") == 1
			})
			require.Equal(t, 0, queryInt(t, db, `SELECT count(*) FROM fleetgate_lock l JOIN pg_stat_activity a ON a.pid = l.session_pid
				WHERE a.query LIKE '%pg_sleep(3)%'`), "the lease is bound to the migration's session")
			require.Equal(t, 1, queryInt(t, db, "SELECT count(pg_terminate_backend(session_pid)) FROM fleetgate_lock WHERE session_pid IS NOT NULL"))
			r := holder.wait(t, time.Minute)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "data migration applied exactly once")
			require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock left held")
		})
	}
}

// Terminating waiters' sessions (and every other idle fleetgate session)
// while they poll makes them reconnect, not exit 1.
func TestTerminatedWaiterSessions(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, counterSet("SELECT pg_sleep(3)"))
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	holder := start(t, nil, "up", "-d", url, "--dir", dir)
	waitActive(t, db, "SELECT pg_sleep(3)")
	waiters := []*proc{start(t, nil, "up", "-d", url, "--dir", dir), start(t, nil, "up", "-d", url, "--dir", dir)}
	killed := 0
	for range 8 {
		time.Sleep(250 * time.Millisecond)
		killed += queryInt(t, db, `SELECT count(pg_terminate_backend(a.pid)) FROM pg_stat_activity a
			WHERE a.application_name = 'fleetgate' AND a.state <> 'active' AND a.pid <> pg_backend_pid()
			AND a.pid NOT IN (SELECT session_pid FROM fleetgate_lock WHERE session_pid IS NOT NULL)`)
	}
	require.Positive(t, killed, "no waiter session was found to kill; the test proved nothing")
	for i, p := range append(waiters, holder) {
		r := p.wait(t, time.Minute)
		require.Equal(t, 0, r.Code, "runner %d: %s", i, r)
	}
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "data migration applied exactly once")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// SIGTERM mid-migration stops the statement, commits nothing, and leaves
// the failure in the audit log, written on a fresh connection when the
// migration's own one is gone.
func TestSIGTERMRecordsFailure(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, counterSet("SELECT pg_sleep(3)"))
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	p := start(t, nil, "up", "-d", url, "--dir", dir)
	waitActive(t, db, "SELECT pg_sleep(3)")
	p.signal(syscall.SIGTERM)
	r := p.wait(t, time.Minute)
	require.NotEqual(t, 0, r.Code, r.String())
	require.Equal(t, 0, queryInt(t, db, "SELECT n FROM counter"), "the interrupted migration committed")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = 2"))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2"),
		"the interrupted migration is not in the audit log:\n%s", r)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE starts_with(query, 'SELECT pg_sleep(3)') AND state = 'active'"),
		"the statement still runs after the runner exited")
}

// A PostgreSQL restart while a holder runs a migration and 8 runners wait
// (plus a `run` gate and a `wait`): every runner rides it out (reconnects,
// re-acquires, re-plans) and exits 0, and the migration, rolled back by the
// restart, is applied once.
func TestPostgresRestart(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	srv := dbtest.NewPostgres(t)
	// The migration sleeps 30 s before the restart and 0.5 s after it:
	// the restart must roll back the first run, and the test need not
	// wait it out.
	dir := writeFiles(t, counterSet("SELECT pg_sleep(CASE WHEN pg_postmaster_start_time() > (SELECT at FROM started) THEN 0.5 ELSE 30 END)"))
	for _, mode := range []string{"fast", "immediate"} {
		t.Run(mode, func(t *testing.T) {
			url := srv.Database(t)
			db := openDB(t, url)
			_, err := db.Exec("CREATE TABLE started AS SELECT pg_postmaster_start_time() AS at")
			require.NoError(t, err)
			// --init: the test's own table "started" makes the database
			// look like one with user tables but no history.
			holder := start(t, nil, "up", "-d", url, "--dir", dir, "--init")
			waitActive(t, db, "SELECT pg_sleep(CASE")
			var waiters []*proc
			logs := make([]*watched, 8)
			for i := range logs {
				waiters = append(waiters, startWatched(t, nil, nil, &logs[i], "up", "-d", url, "--dir", dir))
			}
			// Besides, a `run` gate (up, then the command) and a `wait`.
			var gate, watcher *watched
			waiters = append(waiters, startWatched(t, nil, nil, &gate, "run", "-d", url, "--dir", dir, "--", "true"),
				startWatched(t, nil, nil, &watcher, "wait", "-d", url, "--dir", dir))
			// Every waiter has read the history and waits (each reports
			// what it waits for after a second of waiting).
			waitFor(t, time.Minute, func() bool {
				for _, l := range append(logs, gate) {
					if !l.contains("waiting for the migration lock") {
						return false
					}
				}
				return watcher.contains("waiting for the schema")
			})
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE starts_with(query, 'SELECT pg_sleep(CASE') AND state = 'active'"),
				"the holder's migration is no longer running; the restart would prove nothing")
			require.NoError(t, srv.Restart(t.Context(), mode))
			for i, p := range append([]*proc{holder}, waiters...) {
				r := p.wait(t, 2*time.Minute)
				require.Equal(t, 0, r.Code, "runner %d (0 is the holder): %s", i, r)
			}
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "data migration applied exactly once")
			require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock left held")
			require.GreaterOrEqual(t, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2"), 1,
				"the attempt the restart broke is not in the audit log")
		})
	}
}

// On SQLite a migration's own write transaction blocks the heartbeat's
// renewal. A migration longer than the lease must not fail a lone runner:
// while it holds the write lock nobody can take the lock over, and its
// commit's fence renews the lease.
func TestSQLiteMigrationLongerThanLease(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	slow := strings.Replace(sqliteBusy(t, 2*time.Second), "SELECT sum(x) FROM", "CREATE TABLE big AS SELECT sum(x) AS s FROM", 1)
	dir := writeFiles(t, counterSet(slow))
	for trial := range 2 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := dbtest.SQLite(t)
			r := fg(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s")
			require.Equal(t, 0, r.Code, r.String())
			db := openDB(t, url)
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM big"))
			require.Greater(t, queryInt(t, db, "SELECT duration_ms FROM fleetgate_migrations WHERE version = 2"), 1000,
				"the migration was not longer than the lease; the test proved nothing")
			require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
		})
	}
}

// 20 runners race on one SQLite file: every migration exactly once.
func TestSQLiteTwentyRacers(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(10, 5, 0, ""))
	for trial := range 2 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := dbtest.SQLite(t)
			for i, r := range race(t, 20, nil, "up", "-d", url, "--dir", dir) {
				require.Equal(t, 0, r.Code, "process %d: %s", i, r)
			}
			requireExactlyOnce(t, openDB(t, url), 10)
		})
	}
}

// alterDatabase sets a parameter on the test's database, for the sessions
// that start afterwards.
func alterDatabase(t *testing.T, db *sql.DB, setting string) {
	t.Helper()
	var name string
	require.NoError(t, db.QueryRow("SELECT current_database()").Scan(&name))
	_, err := db.Exec(fmt.Sprintf("ALTER DATABASE %q SET %s", name, setting))
	require.NoError(t, err)
}

// Session limits set on the database. fleetgate's own sessions live within
// idle_session_timeout and idle_in_transaction_session_timeout; a
// statement_timeout shorter than a migration fails that migration (the
// operator's setting, which a migration may lift with SET LOCAL) with a
// clear message, once per runner, without breaking the lock.
func TestDatabaseTimeouts(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	t.Run("IdleSession", func(t *testing.T) {
		url := dbtest.Postgres(t)
		db := openDB(t, url)
		alterDatabase(t, db, "idle_session_timeout = '2s'")
		dir := writeFiles(t, counterSet("SELECT pg_sleep(6)"))
		holder := start(t, nil, "up", "-d", url, "--dir", dir)
		waitActive(t, db, "SELECT pg_sleep(6)")
		waiters := []*proc{start(t, nil, "up", "-d", url, "--dir", dir), start(t, nil, "up", "-d", url, "--dir", dir)}
		for i, p := range append([]*proc{holder}, waiters...) {
			r := p.wait(t, time.Minute)
			require.Equal(t, 0, r.Code, "runner %d (0 is the holder): %s", i, r)
		}
		require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
		require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	})
	t.Run("IdleInTransaction", func(t *testing.T) {
		url := dbtest.Postgres(t)
		db := openDB(t, url)
		alterDatabase(t, db, "idle_in_transaction_session_timeout = '1s'")
		dir := writeFiles(t, counterSet("SELECT pg_sleep(2)"))
		r := fg(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
	})
	t.Run("Statement", func(t *testing.T) {
		url := dbtest.Postgres(t)
		db := openDB(t, url)
		alterDatabase(t, db, "statement_timeout = '1s'")
		dir := writeFiles(t, counterSet("SELECT pg_sleep(3)"))
		rs := race(t, 2, nil, "up", "-d", url, "--dir", dir)
		for i, r := range rs {
			require.Equal(t, 1, r.Code, "runner %d: %s", i, r)
			require.Contains(t, r.Stderr, "statement timeout", "runner %d", i)
			require.NotContains(t, r.Stderr, "lost the migration lock", "runner %d", i)
		}
		require.Equal(t, 0, queryInt(t, db, "SELECT n FROM counter"))
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = 2"))
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock left held")
		// The migration lifts the limit for itself.
		lifted := writeFiles(t, counterSet("SET LOCAL statement_timeout = 0;\nSELECT pg_sleep(3)"))
		r := fg(t, nil, "up", "-d", url, "--dir", lifted)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
	})
}

// The same restart during a `down` with waiters: every runner exits 0 and
// the one step is reverted once, not once per retry.
func TestPostgresRestartDown(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	srv := dbtest.NewPostgres(t)
	slow := "SELECT pg_sleep(CASE WHEN pg_postmaster_start_time() > (SELECT at FROM started) THEN 0.5 ELSE 30 END)"
	dir := writeFiles(t, map[string]string{
		"1_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n-- fleetgate:down\nDROP TABLE counter;\n",
		"2_data.sql":    "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n-- fleetgate:down\nUPDATE counter SET n = n - 1;\n" + slow + ";\n",
		"3_more.sql":    "-- fleetgate:up\nCREATE TABLE more (id integer);\n-- fleetgate:down\nDROP TABLE more;\n",
	})
	url := srv.Database(t)
	db := openDB(t, url)
	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir).Code)
	_, err := db.Exec("CREATE TABLE started AS SELECT pg_postmaster_start_time() AS at")
	require.NoError(t, err)
	// Revert down to version 1: version 3, then 2, whose down sleeps.
	holder := start(t, nil, "down", "-d", url, "--dir", dir, "--to", "1")
	waitActive(t, db, "SELECT pg_sleep(CASE")
	logs := make([]*watched, 3)
	var waiters []*proc
	for i := range logs {
		waiters = append(waiters, startWatched(t, nil, nil, &logs[i], "down", "-d", url, "--dir", dir, "--to", "1"))
	}
	waitFor(t, time.Minute, func() bool {
		for _, l := range logs {
			if !l.contains("waiting for the migration lock") {
				return false
			}
		}
		return true
	})
	require.NoError(t, srv.Restart(t.Context(), "fast"))
	for i, p := range append([]*proc{holder}, waiters...) {
		r := p.wait(t, 2*time.Minute)
		require.Equal(t, 0, r.Code, "runner %d (0 is the holder): %s", i, r)
	}
	require.Equal(t, 0, queryInt(t, db, "SELECT n FROM counter"), "version 2 reverted exactly once")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"), "only version 1 is left")
	require.Equal(t, 1, queryInt(t, db, "SELECT max(version) FROM fleetgate_migrations"))
}
