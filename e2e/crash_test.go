package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// requireConsistent checks that nothing is half applied: table tN exists
// exactly when version N is recorded as applied.
func requireConsistent(t *testing.T, db *sql.DB, n int) {
	t.Helper()
	applied := map[int]bool{}
	if queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'") == 1 {
		rows, err := db.Query("SELECT version FROM fleetgate_migrations WHERE complete")
		require.NoError(t, err)
		for rows.Next() {
			var v int
			require.NoError(t, rows.Scan(&v))
			applied[v] = true
		}
		require.NoError(t, rows.Err())
	}
	for v := 2; v <= n; v++ {
		exists := queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = $1", "t"+strconv.Itoa(v)) == 1
		if v == 4 { // the data migration
			continue
		}
		require.Equal(t, applied[v], exists, "version %d: recorded=%v, table exists=%v", v, applied[v], exists)
	}
	if applied[4] {
		require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
	} else if applied[1] {
		require.Equal(t, 0, queryInt(t, db, "SELECT n FROM counter"))
	}
}

// kill -9 at a random moment while migration 3 sleeps in the database: the
// next `up` finishes the job with no manual step, nothing twice, nothing
// half done.
func TestKillDuringMigration(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(5, 4, 3, "pg_sleep(1.5)"))
	var recover []time.Duration
	kills := 0
	for trial := range 20 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			p := start(t, nil, "up", "-d", url, "--dir", dir)
			// The runner needs at least 1.5 s (migration 3 sleeps), so a
			// kill within that window lands while it works: in process
			// start, before, inside or after the sleeping migration.
			time.Sleep(time.Duration(rand.N(1500)) * time.Millisecond)
			killed := time.Now()
			if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err == nil {
				kills++
			}
			r := p.wait(t, 10*time.Second)
			require.Contains(t, []int{0, 137}, r.Code, r.String())
			requireConsistent(t, db, 5)

			again := fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, again.Code, again.String())
			recover = append(recover, time.Since(killed))
			requireExactlyOnce(t, db, 5)
			requireConsistent(t, db, 5)
		})
	}
	t.Logf("kill -9 to a correct database: %v", recover)
	require.GreaterOrEqual(t, kills, 18, "too few trials killed a running migrator to prove anything")
}

// A runner paused (SIGSTOP) past its lease loses the lock to another runner;
// when it resumes it commits nothing and exits non-zero saying so.
func TestPausedHolderLosesLock(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, map[string]string{
		"1_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
		"2_data.sql":    "-- fleetgate:up\nUPDATE counter SET n = n + 1;\nSELECT pg_sleep(2);\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	a := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s")
	waitFor(t, 10*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep(2)%' AND state = 'active'") == 1
	})
	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP))
	defer syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT)
	// Past A's lease, by the database's clock.
	waitFor(t, time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL AND expires_at < clock_timestamp()") == 1
	})

	b := fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, b.Code, b.String())
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))

	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT))
	ra := a.wait(t, 30*time.Second)
	require.Equal(t, 1, ra.Code, ra.String())
	require.Contains(t, ra.Stderr, "lost the migration lock")
	require.Contains(t, ra.Stderr, "version 2 was stopped and not committed", "the message says what became of the migration in flight")
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the paused runner committed its data migration")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'lock_lost' AND version = 2"), "the lost lease is in the audit log")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
}

// An instance whose schema is current neither takes nor waits for the lock,
// even while another runner holds it for a long migration.
func TestCurrentInstanceDoesNotWait(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	v1 := raceSet(5, 4, 0, "")
	v2 := raceSet(6, 4, 6, "pg_sleep(5)")
	dirV1, dirV2 := writeFiles(t, v1), writeFiles(t, v2)
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dirV1).Code)

	holder := start(t, nil, "up", "-d", url, "--dir", dirV2)
	waitFor(t, 10*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL") == 1
	})
	gen := queryInt(t, db, "SELECT generation FROM fleetgate_lock")
	r := fg(t, nil, "up", "-d", url, "--dir", dirV1)
	require.Equal(t, 0, r.Code, r.String())
	// It finished while the holder still held the lock, so it waited for
	// no release; and it took no lease of its own (the generation counts
	// every acquisition). Its time is the benchmark's business.
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "holder finished early; the test proved nothing")
	require.Equal(t, gen, queryInt(t, db, "SELECT generation FROM fleetgate_lock"), "an up-to-date instance took the lock")
	require.Equal(t, 0, holder.wait(t, 30*time.Second).Code)
}

func waitFor(t testing.TB, timeout time.Duration, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("condition not met within %v", timeout)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
