package e2e

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// bigTable has 400,000 rows: enough for CREATE INDEX CONCURRENTLY to take
// a while, little enough for a shared 2-core machine.
const bigTable = "-- fleetgate:up\nCREATE TABLE big (id bigint PRIMARY KEY, v text NOT NULL);\nINSERT INTO big SELECT g, md5(g::text) FROM generate_series(1, 400000) g;\n"

// cicFiles: a no-transaction migration with a statement before the index
// build (re-running it would fail: the table exists) and one after it
// (re-running it would insert a second row).
func cicFiles() map[string]string {
	return map[string]string{
		"0001_big.sql": bigTable,
		"0002_index.sql": "-- fleetgate:no-transaction\n-- fleetgate:up\n" +
			"CREATE TABLE side (id int);\n" +
			"CREATE INDEX CONCURRENTLY big_v_idx ON big (v, id);\n" +
			"INSERT INTO side VALUES (1);\n",
	}
}

// indexes counts the valid and the INVALID indexes named big_v_idx.
func indexes(t *testing.T, db *sql.DB) (valid, invalid int) {
	t.Helper()
	valid = queryInt(t, db, "SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE c.relname = 'big_v_idx' AND x.indisvalid")
	invalid = queryInt(t, db, "SELECT count(*) FROM pg_index x JOIN pg_class c ON c.oid = x.indexrelid WHERE x.indrelid = 'big'::regclass AND NOT x.indisvalid")
	return valid, invalid
}

func requireIndexDone(t *testing.T, db *sql.DB) {
	t.Helper()
	valid, invalid := indexes(t, db)
	require.Equal(t, 1, valid, "valid big_v_idx")
	require.Equal(t, 0, invalid, "INVALID indexes on big")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM side"), "a statement was run twice, or not at all")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// Nine instances start `up` at once on a migration building an index
// concurrently: the waiters poll (holding no snapshot), so the build does
// not wait for them and they do not wait for it in the database: no
// deadlock, no hang, one valid index.
func TestConcurrentIndexNineInstances(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, cicFiles())
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	start := time.Now()
	results := race(t, 9, nil, "up", "-d", url, "--dir", dir)
	for i, res := range results {
		require.Equal(t, 0, res.Code, "instance %d:\n%s", i, res)
	}
	t.Logf("9 instances done in %v", time.Since(start).Round(time.Millisecond))
	requireIndexDone(t, db)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind IN ('failure', 'lock_lost')"))
}

// holdSnapshot opens a transaction with a snapshot; CREATE INDEX
// CONCURRENTLY waits for it before it marks the index valid, which gives
// a test a window in which the build is certainly in progress.
func holdSnapshot(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	_, err = conn.ExecContext(ctx, "BEGIN ISOLATION LEVEL REPEATABLE READ")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM pg_class").Scan(&n))
	return conn
}

func endSnapshot(t *testing.T, conn *sql.Conn) {
	_, err := conn.ExecContext(context.Background(), "COMMIT")
	require.NoError(t, err)
}

// buildPID waits until the index build reaches phase and returns its
// backend.
func buildPID(t *testing.T, db *sql.DB, phase string) int {
	t.Helper()
	var pid int
	waitFor(t, 2*time.Minute, func() bool {
		err := db.QueryRow("SELECT pid FROM pg_stat_progress_create_index WHERE relid = 'big'::regclass AND phase = $1", phase).Scan(&pid)
		return err == nil
	})
	return pid
}

// kill -9 while CREATE INDEX CONCURRENTLY runs, then up again: one valid
// index, no INVALID one, nothing else run twice. The killed client's
// backend goes on building (PostgreSQL notices a vanished client only when
// it next talks to it), so there are two cases: the next runner finds the
// build still going and waits for it, or finds the INVALID index a dead
// build left and drops and rebuilds it.
func TestConcurrentIndexKilled(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	for _, tc := range []struct {
		name            string
		terminateOrphan bool
	}{
		{"OrphanBuildFinishes", false},
		{"OrphanBuildDies", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, cicFiles())
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
			require.Equal(t, 0, r.Code, r.String())

			snap := holdSnapshot(t, db)
			var out *watched
			p := startWatched(t, nil, nil, &out, "up", "-d", url, "--dir", dir, "--log-format", "json")
			pid := buildPID(t, db, "waiting for old snapshots")
			// The kill comes once the build has been reported (every 3 s)
			// with its phase.
			waitFor(t, time.Minute, func() bool { return hasProgressEvent(out.String()) })
			require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
			killed := p.wait(t, 10*time.Second)
			require.Equal(t, 137, killed.Code, killed.String())
			requireProgressEvent(t, killed.Stderr)
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = 2 AND complete"))

			if tc.terminateOrphan {
				require.True(t, queryBool(t, db, "SELECT pg_terminate_backend($1)", pid))
				waitFor(t, time.Minute, func() bool {
					return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid) == 0
				})
				_, invalid := indexes(t, db)
				require.Equal(t, 1, invalid, "the dead build should have left an INVALID index")
				endSnapshot(t, snap)
				r = fg(t, nil, "up", "-d", url, "--dir", dir)
				require.Equal(t, 0, r.Code, r.String())
				require.Contains(t, r.Stderr, "dropping the INVALID index")
			} else {
				// The next runner starts while the orphan still waits for the
				// snapshot, and waits for it in turn.
				var log *watched
				again := startWatched(t, nil, nil, &log, "up", "-d", url, "--dir", dir)
				waitFor(t, time.Minute, func() bool {
					return log.contains("waiting for the statement the interrupted runner started to finish")
				})
				endSnapshot(t, snap)
				r = again.wait(t, 2*time.Minute)
				require.Equal(t, 0, r.Code, r.String())
				require.Contains(t, r.Stderr, "not building it again")
			}
			requireIndexDone(t, db)
		})
	}
}

// requireProgressEvent finds, in JSON logs, a progress event of the index
// build: elapsed time and the phase from pg_stat_progress_create_index.
func requireProgressEvent(t *testing.T, stderr string) {
	t.Helper()
	if !hasProgressEvent(stderr) {
		t.Fatalf("no progress event with the index build phase in:\n%s", stderr)
	}
}

func hasProgressEvent(stderr string) bool {
	for _, line := range strings.Split(stderr, "\n") {
		var ev map[string]any
		if json.Unmarshal([]byte(line), &ev) != nil || ev["msg"] != "running" {
			continue
		}
		if ev["phase"] == "waiting for old snapshots" && ev["elapsed"] != nil && ev["line"] != nil {
			return true
		}
	}
	return false
}

func queryBool(t testing.TB, db *sql.DB, q string, args ...any) bool {
	t.Helper()
	var b bool
	require.NoError(t, db.QueryRow(q, args...).Scan(&b), q)
	return b
}
