package e2e

import (
	"database/sql"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// fleetEngine is what the registry tests need of one engine: a database,
// the dialect of the contract migration and of the test's own queries,
// and a user that may only read.
type fleetEngine struct {
	name string
	url  func(t *testing.T) string
	// drop and add are the contract's up and down: drop the column v1
	// reads, add it back.
	drop, add string
	// ph is the query placeholder.
	ph string
	// appliedAt selects applied_at of version 2 as Unix seconds.
	appliedAt string
	// stale counts the registry rows past the tests' 3 s TTL.
	stale string
	// columnExists reports whether table has col.
	columnExists func(t *testing.T, db *sql.DB, table, col string) bool
	// readOnly returns a URL of a new user who may read the history but
	// not write the registry, and its password; lock then lets it read
	// the lock table too.
	readOnly func(t *testing.T, db *sql.DB, url string) (roURL, pw string, lock func())
}

var fleetEngines = []fleetEngine{
	{
		name: "postgres", url: func(t *testing.T) string { return dbtest.Postgres(t) },
		drop: "ALTER TABLE people DROP COLUMN name;", add: "ALTER TABLE people ADD COLUMN name text;",
		ph:        "$1",
		appliedAt: "SELECT extract(epoch FROM applied_at)::float8 FROM fleetgate_migrations WHERE version = 2",
		stale:     "SELECT count(*) FROM fleetgate_instances WHERE last_seen < clock_timestamp() - interval '3 seconds'",
		columnExists: func(t *testing.T, db *sql.DB, table, col string) bool {
			return queryInt(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2", table, col) == 1
		},
		readOnly: func(t *testing.T, db *sql.DB, url string) (string, string, func()) {
			_, err := db.Exec(`CREATE ROLE app_ro LOGIN PASSWORD 'ro-secret';
				GRANT SELECT ON fleetgate_migrations TO app_ro;`)
			require.NoError(t, err)
			roURL := strings.Replace(url, "postgres://postgres@", "postgres://app_ro:ro-secret@", 1)
			require.NotEqual(t, url, roURL, "the test's URL has the expected user: %s", url)
			return roURL, "ro-secret", func() {
				_, err := db.Exec(`GRANT SELECT ON fleetgate_lock TO app_ro`)
				require.NoError(t, err)
			}
		},
	},
	{
		name: "mariadb", url: mariadbURL,
		drop: "ALTER TABLE people DROP COLUMN name, ALGORITHM=INSTANT;", add: "ALTER TABLE people ADD COLUMN name text, ALGORITHM=INSTANT;",
		ph:           "?",
		appliedAt:    "SELECT UNIX_TIMESTAMP(applied_at) FROM fleetgate_migrations WHERE version = 2",
		stale:        "SELECT count(*) FROM fleetgate_instances WHERE last_seen < NOW(6) - INTERVAL 3 SECOND",
		columnExists: myColumnExists,
		readOnly: func(t *testing.T, db *sql.DB, url string) (string, string, func()) {
			roURL, pw := myReadOnlyURL(t, db, url)
			return roURL, pw, func() {} // SELECT on the whole database
		},
	},
}

// fleetEach runs fn once per engine of fleetEngines, in parallel.
func fleetEach(t *testing.T, fn func(t *testing.T, e fleetEngine)) {
	for _, e := range fleetEngines {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			fn(t, e)
		})
	}
}

// The registry tests run builds as directories: v1 ships migration 1, v2
// adds 2 (a post-phase contract: it drops the column v1 reads).
func (e fleetEngine) builds(t *testing.T) (v1, v2 string) {
	one := "-- fleetgate:up\nCREATE TABLE people (id bigint PRIMARY KEY, name text, full_name text);\n"
	two := "-- fleetgate:phase post\n-- fleetgate:allow drop-column v1 is gone when the fleet gate lets this run\n" +
		"-- fleetgate:up\n" + e.drop + "\n-- fleetgate:down\n" + e.add + "\n"
	v1 = writeFiles(t, map[string]string{"1_people.sql": one})
	v2 = writeFiles(t, map[string]string{"1_people.sql": one, "2_drop_name.sql": two})
	return v1, v2
}

// atV1 is a database of its own with build v1 applied, and the two
// builds' directories.
func (e fleetEngine) atV1(t *testing.T) (v1, v2, url string, db *sql.DB) {
	t.Helper()
	v1, v2 = e.builds(t)
	url = e.url(t)
	db = openDB(t, url)
	r := fg(t, ttl, "up", "-d", url, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	return v1, v2, url, db
}

func (e fleetEngine) applied(t *testing.T, db *sql.DB, v int) bool {
	return queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = "+e.ph+" AND complete", v) == 1
}

// fleetAtV1 is fleetEngines' PostgreSQL atV1.
func fleetAtV1(t *testing.T) (v1, v2, url string, db *sql.DB) {
	t.Helper()
	return fleetEngines[0].atV1(t)
}

// ttl keeps the registry tests short: instances count as live 3 s after
// their last heartbeat (one a second).
var ttl = []string{"FLEETGATE_INSTANCE_TTL=3s"}

// serve starts `fleetgate run` of the build in dir around a long-running
// command, the way an instance of the application runs, and waits until
// it is registered.
func serve(t *testing.T, db *sql.DB, url, dir string) *proc {
	t.Helper()
	before := queryInt(t, db, "SELECT count(*) FROM fleetgate_instances")
	p := start(t, ttl, "run", "-d", url, "--dir", dir, "--", "sleep", "600")
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_instances") > before
	})
	return p
}

// serveKilled is serve, then SIGKILL: the instance cannot deregister,
// and its row stays.
func serveKilled(t *testing.T, db *sql.DB, url, dir string) *proc {
	t.Helper()
	p := serve(t, db, url, dir)
	require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	p.wait(t, 10*time.Second)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"), "a killed instance leaves its row")
	return p
}

func versionApplied(t *testing.T, db *sql.DB, v int) bool {
	return fleetEngines[0].applied(t, db, v)
}

// TestFleetGatesContract: `run` registers and `status` lists the instances
// by build; `up --phase post` with a contract migration waits while an
// instance of the old build runs; --timeout ends the wait with exit 3
// naming it; started again, it waits while the old instance runs, and
// once that stops (and deregisters) the contract is applied, after its
// exit and not before.
func TestFleetGatesContract(t *testing.T) {
	t.Parallel()
	fleetEach(t, func(t *testing.T, e fleetEngine) {
		v1, v2, url, db := e.atV1(t)
		old := serve(t, db, url, v1)
		serve(t, db, url, v2) // a new instance does not hold it back
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = "+e.ph, old.cmd.Process.Pid),
			"the old instance's row names its pid")

		r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "2s")
		require.Equal(t, 3, r.Code, r.String())
		require.Contains(t, r.Stderr, "post-phase migration(s) 2")
		require.Contains(t, r.Stderr, "1 live instance(s) would break")
		require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", old.cmd.Process.Pid), "names the old instance")
		require.False(t, e.applied(t, db, 2))

		st := fg(t, ttl, "status", "-d", url, "--dir", v2)
		require.Equal(t, 0, st.Code, st.String())
		require.Contains(t, st.Stdout, "fleet: 2 live instance(s) in 2 build(s)")
		require.Contains(t, st.Stdout, "holds back post-phase 2")

		post := start(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
		// A window in which it polls while the old instance runs: nothing
		// may be applied in it (an absence, so no condition to wait for).
		time.Sleep(1500 * time.Millisecond)
		require.False(t, e.applied(t, db, 2), "the contract ran while old code was live")
		old.signal(syscall.SIGTERM)
		res := old.wait(t, 30*time.Second)
		require.Equal(t, 143, res.Code, res.String())
		left := time.Now()
		r = post.wait(t, 60*time.Second)
		require.Equal(t, 0, r.Code, r.String())
		require.True(t, e.applied(t, db, 2))
		require.False(t, e.columnExists(t, db, "people", "name"))
		var appliedAt float64
		require.NoError(t, db.QueryRow(e.appliedAt).Scan(&appliedAt))
		require.Greater(t, appliedAt, float64(left.Add(-time.Second).UnixMicro())/1e6, "applied before the old instance left at %v", left)
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
	})
}

// TestFleetSilentInstanceExpires: an instance killed with SIGKILL cannot
// deregister; without an override it holds the contract back for one TTL
// after its last heartbeat, shows as stale in status, and then no longer
// counts.
func TestFleetSilentInstanceExpires(t *testing.T) {
	t.Parallel()
	fleetEach(t, func(t *testing.T, e fleetEngine) {
		v1, v2, url, db := e.atV1(t)
		serveKilled(t, db, url, v1)
		killed := time.Now()

		r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "60s")
		require.Equal(t, 0, r.Code, r.String())
		require.True(t, e.applied(t, db, 2))
		require.GreaterOrEqual(t, time.Since(killed), 1500*time.Millisecond, "it waited for the silent instance's TTL")
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'fleet_override'"))
		st := fg(t, ttl, "status", "-d", url, "--dir", v2)
		require.Equal(t, 0, st.Code, st.String())
		require.Contains(t, st.Stdout, "1 stale")
	})
}

// TestFleetIgnoreRecordsOverride: --ignore-fleet applies the contract at
// once although old code runs (live, or killed with SIGKILL, when its row
// would hold the contract back until its TTL runs out), and leaves a
// fleet_override event with the reason and the instance it overrode; once
// the killed one's TTL is past, status shows its entry as stale.
func TestFleetIgnoreRecordsOverride(t *testing.T) {
	t.Parallel()
	fleetEach(t, func(t *testing.T, e fleetEngine) {
		for _, killed := range []bool{false, true} {
			t.Run(map[bool]string{false: "Live", true: "Killed"}[killed], func(t *testing.T) {
				t.Parallel()
				v1, v2, url, db := e.atV1(t)
				old, timeout := serve, "2s"
				if killed {
					old, timeout = serveKilled, "60s"
				}
				p := old(t, db, url, v1)
				r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", timeout, "--ignore-fleet", "hotfix INC-42")
				require.Equal(t, 0, r.Code, r.String())
				require.True(t, e.applied(t, db, 2))
				var msg string
				require.NoError(t, db.QueryRow("SELECT error FROM fleetgate_events WHERE kind = 'fleet_override'").Scan(&msg))
				require.Contains(t, msg, "hotfix INC-42")
				require.Contains(t, msg, fmt.Sprintf("pid %d", p.cmd.Process.Pid), "the override names the instance it overrode")
				if !killed {
					return
				}
				// The registry's clock decides: wait until the row is past the TTL.
				waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, e.stale) == 1 })
				st := fg(t, ttl, "status", "-d", url, "--dir", v2)
				require.Equal(t, 0, st.Code, st.String())
				require.Contains(t, st.Stdout, "1 stale")
			})
		}
	})
}

// TestFleetGatesRollback: an older build's `down --unknown` waits while an
// instance of the newer build (which ships what it reverts) still runs,
// names it on --timeout, and goes ahead once it is gone, running the
// stored down script.
func TestFleetGatesRollback(t *testing.T) {
	t.Parallel()
	fleetEach(t, func(t *testing.T, e fleetEngine) {
		v1, v2 := e.builds(t)
		url := e.url(t)
		db := openDB(t, url)
		r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
		require.Equal(t, 0, r.Code, r.String())
		newer := serve(t, db, url, v2)

		r = fg(t, ttl, "down", "-d", url, "--dir", v1, "--unknown", "--timeout", "2s")
		require.Equal(t, 3, r.Code, r.String())
		require.Contains(t, r.Stderr, "roll back 2")
		require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", newer.cmd.Process.Pid))
		require.True(t, e.applied(t, db, 2))
		require.False(t, e.columnExists(t, db, "people", "name"))

		down := start(t, ttl, "down", "-d", url, "--dir", v1, "--unknown")
		newer.signal(syscall.SIGTERM)
		newer.wait(t, 30*time.Second)
		r = down.wait(t, 60*time.Second)
		require.Equal(t, 0, r.Code, r.String())
		require.False(t, e.applied(t, db, 2))
		require.True(t, e.columnExists(t, db, "people", "name"), "the stored down script ran")
	})
}

// TestFleetRoleCannotRegister: a role that may read the history but not
// write the registry still runs its command; it is reported as
// unregistered, not failed, and its password is never printed.
func TestFleetRoleCannotRegister(t *testing.T) {
	t.Parallel()
	fleetEach(t, func(t *testing.T, e fleetEngine) {
		v1, _, url, db := e.atV1(t)
		roURL, pw, lock := e.readOnly(t, db, url)
		r := fg(t, ttl, "run", "-d", roURL, "--dir", v1, "--wait-only", "--", "sh", "-c", "echo app-ran")
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stdout, "app-ran")
		require.Contains(t, r.Stderr, "unregistered")
		require.NotContains(t, r.Stderr+r.Stdout, pw)
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"))

		// With the history and the lock readable, as docs/deploy.md grants
		// them, status works: the events (where failures are read) are not
		// required.
		lock()
		r = fg(t, ttl, "status", "-d", roURL, "--dir", v1)
		require.Equal(t, 0, r.Code, r.String())
		require.Contains(t, r.Stdout, "applied")
	})
}

// TestFleetGatesContractThroughPgBouncer: the registry's statements (one
// each, no session state) work through a transaction-mode pooler: the
// instance registers and heartbeats through PgBouncer, holds the contract
// back, and deregisters on exit, after which the contract applies.
func TestFleetGatesContractThroughPgBouncer(t *testing.T) {
	t.Parallel()
	v1, v2, direct, db := fleetAtV1(t)
	url := dbtest.PgBouncer(t, direct)
	old := serve(t, db, url, v1)
	// Heartbeats through the pooler keep the entry fresh past its TTL.
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE last_seen - started_at > interval '4 seconds'") == 1
	})
	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "2s")
	require.Equal(t, 3, r.Code, "the old instance, seen live through PgBouncer, holds the contract back\n%s", r)
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", old.cmd.Process.Pid))
	require.False(t, versionApplied(t, db, 2))

	old.signal(syscall.SIGTERM)
	res := old.wait(t, 30*time.Second)
	require.Equal(t, 143, res.Code, res.String())
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"), "it deregistered through the pooler")
	r = fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "30s")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, versionApplied(t, db, 2))
}
