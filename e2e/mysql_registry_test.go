package e2e

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The fleet registry on MariaDB, with the built binary: the same promises
// as registry_test.go on PostgreSQL.

// myFleetAtV1 is a MariaDB database with build v1 applied, and the two
// builds' directories: v1 ships migration 1, v2 adds 2, a post-phase
// contract that drops the column v1 reads.
func myFleetAtV1(t *testing.T) (v1, v2, url string, db *sql.DB) {
	t.Helper()
	one := "-- fleetgate:up\nCREATE TABLE people (id bigint PRIMARY KEY, name text, full_name text);\n"
	two := "-- fleetgate:phase post\n-- fleetgate:allow drop-column v1 is gone when the fleet gate lets this run\n" +
		"-- fleetgate:up\nALTER TABLE people DROP COLUMN name, ALGORITHM=INSTANT;\n" +
		"-- fleetgate:down\nALTER TABLE people ADD COLUMN name text, ALGORITHM=INSTANT;\n"
	v1 = writeFiles(t, map[string]string{"1_people.sql": one})
	v2 = writeFiles(t, map[string]string{"1_people.sql": one, "2_drop_name.sql": two})
	url = mariadbURL(t)
	db = openDB(t, url)
	r := fg(t, ttl, "up", "-d", url, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	return v1, v2, url, db
}

func myApplied(t *testing.T, db *sql.DB, v int) bool {
	return queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = ? AND complete", v) == 1
}

// myReadOnlyURL is url for a new MariaDB user who may only read the
// test's database (dropped when the test ends).
func myReadOnlyURL(t *testing.T, db *sql.DB, raw string) (string, string) {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	name := "e2e_ro_" + strings.ToLower(rand.Text()[:8])
	pw := "ro-secret-" + name
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, pw),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", strings.TrimPrefix(u.Path, "/"), name),
	} {
		_, err := db.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	u.User = url.UserPassword(name, pw)
	return u.String(), pw
}

// TestMySQLFleetGatesContract: `run` registers and `status` lists the
// instances by build; `up --phase post` with a contract migration times
// out (exit 3) naming the old instance, and, started again, waits while
// it runs and applies the contract after its exit, not before.
func TestMySQLFleetGatesContract(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := myFleetAtV1(t)
	old := serve(t, db, url, v1)
	serve(t, db, url, v2) // a new instance does not hold it back
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE pid = ?", old.cmd.Process.Pid),
		"the old instance's row names its pid")

	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "2s")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "post-phase migration(s) 2")
	require.Contains(t, r.Stderr, "1 live instance(s) would break")
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", old.cmd.Process.Pid), "names the old instance")
	require.False(t, myApplied(t, db, 2))

	st := fg(t, ttl, "status", "-d", url, "--dir", v2)
	require.Equal(t, 0, st.Code, st.String())
	require.Contains(t, st.Stdout, "fleet: 2 live instance(s) in 2 build(s)")
	require.Contains(t, st.Stdout, "holds back post-phase 2")

	post := start(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
	// A window in which it polls while the old instance runs: nothing
	// may be applied in it (an absence, so no condition to wait for).
	time.Sleep(1500 * time.Millisecond)
	require.False(t, myApplied(t, db, 2), "the contract ran while old code was live")
	old.signal(syscall.SIGTERM)
	res := old.wait(t, 30*time.Second)
	require.Equal(t, 143, res.Code, res.String())
	left := time.Now()
	r = post.wait(t, 60*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myApplied(t, db, 2))
	require.False(t, myColumnExists(t, db, "people", "name"))
	var appliedAt float64
	require.NoError(t, db.QueryRow("SELECT UNIX_TIMESTAMP(applied_at) FROM fleetgate_migrations WHERE version = 2").Scan(&appliedAt))
	require.Greater(t, appliedAt, float64(left.Add(-time.Second).UnixMicro())/1e6, "applied before the old instance left at %v", left)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
}

// TestMySQLFleetSilentInstanceAndOverride: an instance killed with SIGKILL
// keeps its row and holds the contract back until its TTL runs out;
// --ignore-fleet goes ahead at once and records the reason and the
// instance in a fleet_override event; once the TTL is past, status shows
// the entry as stale.
func TestMySQLFleetSilentInstanceAndOverride(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := myFleetAtV1(t)
	old := serve(t, db, url, v1)
	require.NoError(t, syscall.Kill(-old.cmd.Process.Pid, syscall.SIGKILL))
	old.wait(t, 10*time.Second)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"), "a killed instance leaves its row")

	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "60s", "--ignore-fleet", "hotfix INC-42")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myApplied(t, db, 2))
	var msg string
	require.NoError(t, db.QueryRow("SELECT error FROM fleetgate_events WHERE kind = 'fleet_override'").Scan(&msg))
	require.Contains(t, msg, "hotfix INC-42")
	require.Contains(t, msg, fmt.Sprintf("pid %d", old.cmd.Process.Pid), "the override names the instance it overrode")

	// The registry's clock decides: wait until the row is past the TTL.
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_instances WHERE last_seen < NOW(6) - INTERVAL 3 SECOND") == 1
	})
	st := fg(t, ttl, "status", "-d", url, "--dir", v2)
	require.Equal(t, 0, st.Code, st.String())
	require.Contains(t, st.Stdout, "1 stale")
}

// TestMySQLFleetSilentInstanceExpires: without an override, the killed
// instance holds the contract back for one TTL after its last heartbeat,
// then no longer counts.
func TestMySQLFleetSilentInstanceExpires(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := myFleetAtV1(t)
	old := serve(t, db, url, v1)
	require.NoError(t, syscall.Kill(-old.cmd.Process.Pid, syscall.SIGKILL))
	old.wait(t, 10*time.Second)
	killed := time.Now()
	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post", "--timeout", "60s")
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myApplied(t, db, 2))
	require.GreaterOrEqual(t, time.Since(killed), 1500*time.Millisecond, "it waited for the silent instance's TTL")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'fleet_override'"))
}

// TestMySQLFleetRoleCannotRegister: a user that may only read still runs
// its command; it is reported as unregistered, not failed, and its
// password is never printed.
func TestMySQLFleetRoleCannotRegister(t *testing.T) {
	t.Parallel()
	v1, _, url, db := myFleetAtV1(t)
	roURL, pw := myReadOnlyURL(t, db, url)
	r := fg(t, ttl, "run", "-d", roURL, "--dir", v1, "--wait-only", "--", "sh", "-c", "echo app-ran")
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "app-ran")
	require.Contains(t, r.Stderr, "unregistered")
	require.NotContains(t, r.Stderr+r.Stdout, pw)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_instances"))
}

// TestMySQLFleetGatesRollback: an older build's `down --unknown` waits
// while an instance of the newer build (which ships what it reverts)
// still runs, names it on --timeout, and goes ahead once it is gone.
func TestMySQLFleetGatesRollback(t *testing.T) {
	t.Parallel()
	v1, v2, url, db := myFleetAtV1(t)
	r := fg(t, ttl, "up", "-d", url, "--dir", v2, "--phase", "post")
	require.Equal(t, 0, r.Code, r.String())
	newer := serve(t, db, url, v2)

	r = fg(t, ttl, "down", "-d", url, "--dir", v1, "--unknown", "--timeout", "2s")
	require.Equal(t, 3, r.Code, r.String())
	require.Contains(t, r.Stderr, "roll back 2")
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", newer.cmd.Process.Pid))
	require.True(t, myApplied(t, db, 2))
	require.False(t, myColumnExists(t, db, "people", "name"))

	down := start(t, ttl, "down", "-d", url, "--dir", v1, "--unknown")
	newer.signal(syscall.SIGTERM)
	newer.wait(t, 30*time.Second)
	r = down.wait(t, 60*time.Second)
	require.Equal(t, 0, r.Code, r.String())
	require.False(t, myApplied(t, db, 2))
	require.True(t, myColumnExists(t, db, "people", "name"), "the stored down script ran")
}
