package e2e

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The network faults of a fleet, one connection at a time: a FaultProxy
// sits between every runner and PostgreSQL, and breaks either the holder's
// migration connection or its lock (heartbeat) session while the holder
// runs a data migration and three more runners wait. Whatever breaks, the
// promise is the same: the data migration lands exactly once, everything
// after it lands, every runner finishes and exits 0 (a network fault is not
// a reason to fail a deploy), and the lock is left free, so a fresh `up`
// has nothing to do and returns at once.

// faultLease is the runners' --lease: short, so that a fault that costs
// the holder its lease lets the waiters in within seconds.
const faultLease = 2 * time.Second

// faultMarker names the statement a fault is aimed at, so the test can
// find the backend running it in pg_stat_activity.
const faultMarker = "fault_target"

// faultFiles: the counter, a data migration that increments it and then
// sleeps for 4 s in the database (long enough for a lease to be lost in
// the middle of it), and a migration after it.
func faultFiles(notx bool) map[string]string {
	bump := "-- fleetgate:up\nUPDATE counter SET n = n + 1;\nSELECT pg_sleep(4) AS " + faultMarker + ";\n"
	if notx {
		// One statement that increments while it sleeps: in autocommit,
		// a backend left running it after its client is gone still
		// commits the increment.
		bump = "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
			"UPDATE counter SET n = n + 1 WHERE (SELECT true FROM pg_sleep(4) AS " + faultMarker + ");\n" +
			"CREATE TABLE bump_side (id integer);\n"
	}
	return map[string]string{
		"0001_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
		"0002_bump.sql":    bump,
		"0003_after.sql":   "-- fleetgate:up\nCREATE TABLE after_bump (id integer);\n",
	}
}

// targetRunning counts backends (other than ours) running the marked
// statement.
const targetRunning = "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%" + faultMarker + "%' AND state = 'active' AND pid <> pg_backend_pid()"

// holderConns finds, from the server's side, the holder's migration
// connection (the backend running the marked statement) and its lock
// session (the other backend whose last statement names the holder's
// token and only the lock row: its try-lock or its latest renewal), and
// returns their proxied
// connections.
func holderConns(t *testing.T, db *sql.DB, fp *dbtest.FaultProxy) (mig, lock *dbtest.FaultConn) {
	t.Helper()
	var migPid, migPort int
	waitFor(t, 30*time.Second, func() bool {
		err := db.QueryRow("SELECT pid, client_port FROM pg_stat_activity WHERE query LIKE '%"+faultMarker+
			"%' AND state = 'active' AND pid <> pg_backend_pid()").Scan(&migPid, &migPort)
		return err == nil
	})
	var token string
	require.NoError(t, db.QueryRow("SELECT holder FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&token))
	var lockPort int
	waitFor(t, 30*time.Second, func() bool {
		// A fenced commit names the token too, but also the history
		// table; the lock session's statements touch only the lock row.
		err := db.QueryRow(`SELECT client_port FROM pg_stat_activity WHERE pid NOT IN ($1, pg_backend_pid())
			AND strpos(query, $2) > 0 AND query NOT LIKE '%fleetgate_migrations%'`, migPid, token).Scan(&lockPort)
		return err == nil
	})
	mig, lock = fp.Conn(migPort), fp.Conn(lockPort)
	require.NotNil(t, mig, "the migration connection (client_port %d) is not through the proxy", migPort)
	require.NotNil(t, lock, "the lock session (client_port %d) is not through the proxy", lockPort)
	return mig, lock
}

// proxyFault is one fault: start breaks the connection; after hold, the
// fault ends (Heal; a blackholed connection is then closed).
type proxyFault struct {
	name  string
	start func(*dbtest.FaultConn) error
	hold  time.Duration
}

var proxyFaults = []proxyFault{
	// Stop forwarding both ways with both sockets open, for three leases;
	// then the flow is gone (closed), as a middlebox that lost it.
	{"Blackhole", func(c *dbtest.FaultConn) error { return c.Apply(dbtest.Blackhole()) }, 3 * faultLease},
	// RST to both ends while the statement runs.
	{"Reset", func(c *dbtest.FaultConn) error { c.Reset(); return nil }, 0},
	// 1.5 s ± 0.3 s each way for three leases: a round trip takes longer
	// than the heartbeat waits for a renewal.
	{"LatencySpike", func(c *dbtest.FaultConn) error {
		return c.Apply(dbtest.Latency(1500*time.Millisecond, 300*time.Millisecond))
	}, 3 * faultLease},
	// About 50 bytes per second each way for three leases: a renewal
	// (some 500 bytes) takes longer than a lease.
	{"BandwidthStarvation", func(c *dbtest.FaultConn) error {
		return c.Apply(dbtest.Trickle(1, 20*time.Millisecond))
	}, 3 * faultLease},
}

func TestProxyFaults(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	type tcase struct {
		fault  proxyFault
		target string // "Migration" or "Lock"
		notx   bool
	}
	var cases []tcase
	for _, f := range proxyFaults {
		for _, target := range []string{"Migration", "Lock"} {
			cases = append(cases, tcase{f, target, false})
		}
	}
	// In a no-transaction migration, a connection lost mid-statement
	// leaves a backend that may still commit the statement.
	for _, f := range proxyFaults[:2] {
		cases = append(cases, tcase{f, "Migration", true})
	}
	for _, c := range cases {
		name := c.fault.name + "/" + c.target
		if c.notx {
			name += "/NoTx"
		}
		t.Run(name, func(t *testing.T) { runProxyFault(t, c.fault, c.target, c.notx) })
	}
}

func runProxyFault(t *testing.T, f proxyFault, target string, notx bool) {
	direct := dbtest.Postgres(t)
	fp, url := dbtest.FaultProxyFor(t, direct)
	db := openDB(t, direct)
	dir := writeFiles(t, faultFiles(notx))
	// The checks are not under test here; they cost each runner seconds of
	// CPU on a loaded 2-core machine.
	args := []string{"up", "-d", url, "--dir", dir, "--lease", faultLease.String(), "--checks", "off"}

	holder := start(t, nil, args...)
	mig, lock := holderConns(t, db, fp)
	runners := []*proc{holder}
	for range 3 {
		runners = append(runners, start(t, nil, args...))
	}
	// The waiters are polling for the lock before the fault.
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleetgate' AND query LIKE '%fleetgate_lock%' AND client_port NOT IN ($1, $2)",
			mig.ClientPort, lock.ClientPort) >= 3
	})

	conn := mig
	if target == "Lock" {
		conn = lock
	}
	faulted := time.Now()
	require.NoError(t, f.start(conn), "apply %s to %s", f.name, conn)
	if f.hold > 0 {
		healed := time.AfterFunc(f.hold, conn.Heal)
		defer healed.Stop()
	}

	codes := make([]int, len(runners))
	took := make([]time.Duration, len(runners))
	var failed []string
	var slowest time.Duration
	for i, p := range runners {
		r := p.wait(t, 2*time.Minute)
		codes[i], took[i] = r.Code, r.Elapsed.Round(100*time.Millisecond)
		slowest = max(slowest, time.Since(faulted))
		if r.Code != 0 {
			failed = append(failed, fmt.Sprintf("runner %d: %s", i, r))
		}
	}
	// A backend left running the statement by a lost connection must be
	// gone before the counter is read.
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, targetRunning) == 0 })

	counter := queryInt(t, db, "SELECT n FROM counter")
	complete := queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete")
	partial := queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE NOT complete")
	held := queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL")
	again := fg(t, nil, "up", "-d", direct, "--dir", dir)
	t.Logf("%s on the holder's %s connection: exit codes %v after %v, counter=%d, history complete=%d partial=%d, lock held=%d, all finished %v after the fault; fresh up exit %d in %v",
		f.name, strings.ToLower(target), codes, took, counter, complete, partial, held, slowest.Round(100*time.Millisecond), again.Code, again.Elapsed.Round(10*time.Millisecond))

	assert.Equal(t, 1, counter, "the data migration was not applied exactly once")
	assert.Equal(t, 3, complete, "history rows of complete migrations")
	assert.Equal(t, 0, partial, "history rows of half-applied migrations")
	assert.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'after_bump'"), "the migration after the faulted one")
	assert.Equal(t, 0, held, "the lock is still held after every runner finished")
	assert.Empty(t, failed, "every runner must ride out a network fault and exit 0")
	assert.Equal(t, 0, again.Code, "a fresh up afterwards: %s", again)
	assert.Less(t, again.Elapsed, 15*time.Second, "a fresh up afterwards waited (a stuck lock?): %s", again)
	assert.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock held after the fresh up")
}
