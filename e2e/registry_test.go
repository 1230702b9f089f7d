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

// The registry tests run builds as directories: v1 ships migration 1, v2
// adds 2 (a post-phase contract: it drops the column v1 reads).
func fleetBuilds(t *testing.T) (v1, v2 string) {
	one := "-- fleetgate:up\nCREATE TABLE people (id bigint PRIMARY KEY, name text, full_name text);\n"
	two := "-- fleetgate:phase post\n-- fleetgate:allow drop-column v1 is gone when the fleet gate lets this run\n" +
		"-- fleetgate:up\nALTER TABLE people DROP COLUMN name;\n-- fleetgate:down\nALTER TABLE people ADD COLUMN name text;\n"
	v1 = writeFiles(t, map[string]string{"1_people.sql": one})
	v2 = writeFiles(t, map[string]string{"1_people.sql": one, "2_drop_name.sql": two})
	return v1, v2
}

// fleetAtV1 is a database of its own with build v1 applied, and the two
// builds' directories.
func fleetAtV1(t *testing.T) (v1, v2, url string, db *sql.DB) {
	t.Helper()
	v1, v2 = fleetBuilds(t)
	url = dbtest.Postgres(t)
	db = openDB(t, url)
	r := fg(t, ttl, "up", "-d", url, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	return v1, v2, url, db
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

func versionApplied(t *testing.T, db *sql.DB, v int) bool {
	return queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = $1 AND complete", v) == 1
}

// TestFleetGatesContract: `up --phase post` with a contract migration
// waits while an instance of the old build runs; --timeout ends the wait
// with exit 3 naming it; once it stops (and deregisters) the contract is
// applied, after its exit and not before.
func TestFleetGatesContract(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := fleetAtV1(t)
	old := serve(t, db, url, v1)
	serve(t, db, url, v2) // a new instance does not hold it back

	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "2s")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "post-phase migration(s) 2")
	require.Contains(t, r.Stderr, "1 live instance(s) would break")
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", old.cmd.Process.Pid), "names the old instance")
	require.False(t, versionApplied(t, db, 2))

	st := fg(t, ttl, "status", "-d", url, "--dir", v2)
	require.Equal(t, 0, st.Code, st.String())
	require.Contains(t, st.Stdout, "fleet: 2 live instance(s) in 2 build(s)")
	require.Contains(t, st.Stdout, "holds back post-phase 2")

	post := start(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
	time.Sleep(1500 * time.Millisecond) // it polls meanwhile; the old instance still runs
	require.False(t, versionApplied(t, db, 2), "the contract ran while old code was live")
	old.signal(syscall.SIGTERM)
	res := old.wait(t, 30*time.Second)
	require.Equal(t, 143, res.Code, res.String())
	left := time.Now()
	r = post.wait(t, 30*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, versionApplied(t, db, 2))
	var appliedAt time.Time
	require.NoError(t, db.QueryRow("SELECT applied_at FROM fleetgate_migrations WHERE version = 2").Scan(&appliedAt))
	require.True(t, appliedAt.After(left.Add(-time.Second)), "applied at %v, the old instance left at %v", appliedAt, left)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
}

// TestFleetSilentInstanceExpires: an instance killed with SIGKILL cannot
// deregister; it holds the contract back for one TTL after its last
// heartbeat, shows as stale in status, and then no longer counts.
func TestFleetSilentInstanceExpires(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := fleetAtV1(t)
	old := serve(t, db, url, v1)
	require.NoError(t, syscall.Kill(-old.cmd.Process.Pid, syscall.SIGKILL))
	old.wait(t, 10*time.Second)
	killed := time.Now()
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"), "a killed instance leaves its row")

	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "60s")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, versionApplied(t, db, 2))
	require.GreaterOrEqual(t, time.Since(killed), 1500*time.Millisecond, "it waited for the silent instance's TTL")
	st := fg(t, ttl, "status", "-d", url, "--dir", v2)
	require.Equal(t, 0, st.Code, st.String())
	require.Contains(t, st.Stdout, "1 stale")
}

// TestFleetIgnoreRecordsOverride: --ignore-fleet applies the contract at
// once although old code runs, and leaves an event with the reason and the
// instances it overrode.
func TestFleetIgnoreRecordsOverride(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := fleetAtV1(t)
	old := serve(t, db, url, v1)
	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "2s", "--ignore-fleet", "hotfix INC-42")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, versionApplied(t, db, 2))
	var msg string
	require.NoError(t, db.QueryRow("SELECT error FROM fleetgate_events WHERE kind = 'fleet_override'").Scan(&msg))
	require.Contains(t, msg, "hotfix INC-42")
	require.Contains(t, msg, fmt.Sprintf("pid %d", old.cmd.Process.Pid))
}

// TestFleetGatesRollback: an older build's `down --unknown` waits while an
// instance of the newer build (which ships what it reverts) still runs,
// names it on --timeout, and goes ahead once it is gone.
func TestFleetGatesRollback(t *testing.T) {
	t.Parallel()
	v1, v2 := fleetBuilds(t)
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
	require.Equal(t, 0, r.Code, r.String())
	newer := serve(t, db, url, v2)

	r = fg(t, ttl, "down", "-d", url, "--dir", v1, "--unknown", "--timeout", "2s")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "roll back 2")
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", newer.cmd.Process.Pid))
	require.True(t, versionApplied(t, db, 2))

	down := start(t, ttl, "down", "-d", url, "--dir", v1, "--unknown")
	newer.signal(syscall.SIGTERM)
	newer.wait(t, 30*time.Second)
	r = down.wait(t, 30*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.False(t, versionApplied(t, db, 2))
}

// TestFleetRoleCannotRegister: a role that may read the history but not
// write the registry still runs its command; it is reported as
// unregistered, not failed.
func TestFleetRoleCannotRegister(t *testing.T) {
	t.Parallel()
	v1, _, url, db := fleetAtV1(t)
	_, err := db.Exec(`CREATE ROLE app_ro LOGIN PASSWORD 'ro-secret';
		GRANT SELECT ON fleetgate_migrations TO app_ro;`)
	require.NoError(t, err)
	roURL := strings.Replace(url, "postgres://postgres@", "postgres://app_ro:ro-secret@", 1)
	require.NotEqual(t, url, roURL, "the test's URL has the expected user: %s", url)
	r := fg(t, ttl, "run", "-d", roURL, "--dir", v1, "--wait-only", "--", "true")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "unregistered")
	require.NotContains(t, r.Stderr, "ro-secret")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"))

	// With the history and the lock readable, as docs/deploy.md grants
	// them, status works: the events (where failures are read) are not
	// required.
	_, err = db.Exec(`GRANT SELECT ON fleetgate_lock TO app_ro`)
	require.NoError(t, err)
	r = fg(t, ttl, "status", "-d", roURL, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "applied")
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
