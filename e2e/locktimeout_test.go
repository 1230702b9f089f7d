package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

const hotTable = "-- fleetgate:up\nCREATE TABLE hot (id int PRIMARY KEY, v text);\nINSERT INTO hot SELECT g, md5(g::text) FROM generate_series(1, 1000) g;\n"

// blocker holds an ACCESS SHARE lock on hot in an open transaction, as a
// long report or a forgotten psql session does.
type blocker struct {
	conn *sql.Conn
	pid  int
}

func holdReadLock(t testing.TB, db *sql.DB) *blocker {
	t.Helper()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	b := &blocker{conn: conn}
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&b.pid))
	_, err = conn.ExecContext(ctx, "SET application_name = 'nightly-report'")
	require.NoError(t, err)
	_, err = conn.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM hot").Scan(&n))
	return b
}

func (b *blocker) release(t testing.TB) time.Time {
	_, err := b.conn.ExecContext(context.Background(), "COMMIT")
	require.NoError(t, err)
	return time.Now()
}

// reader reads hot every 20 ms, as the application does, and keeps the
// longest time a read took.
type reader struct {
	mu    sync.Mutex
	max   time.Duration
	reads int
	stop  chan struct{}
	done  chan struct{}
}

func startReader(t testing.TB, db *sql.DB) *reader {
	r := &reader{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(r.done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-tick.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			start := time.Now()
			var n int
			err := db.QueryRowContext(ctx, "SELECT count(*) FROM hot WHERE id < 10").Scan(&n)
			took := time.Since(start)
			cancel()
			r.mu.Lock()
			if err == nil {
				r.reads++
			}
			r.max = max(r.max, took)
			r.mu.Unlock()
		}
	}()
	t.Cleanup(func() { r.finish() })
	return r
}

func (r *reader) finish() (time.Duration, int) {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	<-r.done
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.max, r.reads
}

// waitingOnHot reports whether some session waits for a lock on hot.
func waitingOnHot(t testing.TB, db *sql.DB) bool {
	return queryInt(t, db, "SELECT count(*) FROM pg_locks WHERE relation = 'hot'::regclass AND NOT granted") > 0
}

// A session holds a read lock on hot; the migration's ALTER TABLE waits
// for it at most lock_timeout each time, so the application's reads,
// queued behind the ALTER, never wait much longer than that; the migration
// is retried and lands once the blocker is gone; the events show each try.
// The blocker stays until the migration has given up four times, so a
// read queued behind an ALTER without the timeout would wait 4 s or more:
// the ceiling of three lock timeouts tells the two apart with room for a
// loaded machine. How long reads really wait: BenchmarkHotTableReadWait.
func TestHotTableLockTimeout(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const lockTimeout = time.Second
	maxWait, reads := hotTableRound(t, lockTimeout)
	t.Logf("longest read of hot: %v over %d reads (lock_timeout %v)", maxWait, reads, lockTimeout)
	require.Less(t, maxWait, 3*lockTimeout, "an application read waited behind the migration")
}

// BenchmarkHotTableReadWait is the longest wait of an application read of
// a table that a migration's ALTER TABLE queues for behind a blocker, with
// a lock timeout of 1 s. Target: lock_timeout + 500 ms.
//
//	go test ./e2e -run '^$' -bench HotTableReadWait -benchtime 1x
func BenchmarkHotTableReadWait(b *testing.B) {
	heavy.Lock()
	defer heavy.Unlock()
	const lockTimeout = time.Second
	var worst time.Duration
	for range b.N {
		maxWait, _ := hotTableRound(b, lockTimeout)
		worst = max(worst, maxWait)
	}
	if worst >= lockTimeout+500*time.Millisecond {
		b.Logf("the longest read, %v, misses the target of %v on this machine", worst, lockTimeout+500*time.Millisecond)
	}
	b.ReportMetric(float64(worst.Milliseconds()), "max-read-wait-ms")
}

// hotTableRound runs the hot-table scenario and checks its promise (the
// migration lands once the blocker is gone, after retries that each name
// the blocker); it returns the longest read of hot and the number of reads.
func hotTableRound(t testing.TB, lockTimeout time.Duration) (time.Duration, int) {
	dir := writeFiles(t, map[string]string{
		"0001_hot.sql":        hotTable,
		"0002_add_column.sql": "-- fleetgate:up\nALTER TABLE hot ADD COLUMN note text;\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	rd := startReader(t, db)
	b := holdReadLock(t, db)
	up := start(t, nil, "up", "-d", url, "--dir", dir, "--lock-timeout", lockTimeout.String())
	const timedOut = "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2 AND error LIKE '%lock timeout%'"
	waitFor(t, 2*time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_events'") == 1 && queryInt(t, db, timedOut) >= 4
	})
	released := b.release(t)
	res := up.wait(t, time.Minute)
	maxWait, reads := rd.finish()
	require.Equal(t, 0, res.Code, res.String())
	// A sanity floor, not a rate: the reader ran throughout (one read every
	// 20 ms over the blocker's 4 s or more gives about 200 on a quiet
	// machine; each read may wait up to the lock timeout, and a loaded
	// machine gets fewer).
	require.GreaterOrEqual(t, reads, 30, "the application reader did not run throughout")

	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'hot' AND column_name = 'note'"))
	var appliedAt time.Time
	require.NoError(t, db.QueryRow("SELECT at FROM fleetgate_events WHERE kind = 'apply' AND version = 2").Scan(&appliedAt))
	require.True(t, appliedAt.After(released.Add(-100*time.Millisecond)), "applied at %v, blocker released at %v", appliedAt, released)
	attempts := queryInt(t, db, timedOut)
	require.GreaterOrEqual(t, attempts, 4)
	require.Equal(t, attempts, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2 AND error LIKE $1",
		fmt.Sprintf("%%waited for pid %d (application_name \"nightly-report\"%%", b.pid)), "every attempt names the blocker")
	require.Contains(t, res.Stderr, "lock timeout, retrying")
	return maxWait, reads
}

// When the retries run out, the error names the blocking session.
func TestLockTimeoutNamesBlocker(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_hot.sql":        hotTable,
		"0002_add_column.sql": "-- fleetgate:up\nALTER TABLE hot ADD COLUMN note text;\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())
	b := holdReadLock(t, db)
	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--lock-timeout", "300ms", "--lock-retries", "2")
	b.release(t)
	require.Equal(t, 1, r.Code, r.String())
	want := fmt.Sprintf("waited for pid %d (application_name \"nightly-report\", user ", b.pid)
	require.Contains(t, r.Stderr, "0002_add_column.sql:2")
	require.Contains(t, r.Stderr, "lock timeout")
	require.Contains(t, r.Stderr, want)
	require.Contains(t, r.Stderr, "state idle in transaction")
	require.Contains(t, r.Stderr, "query started ")
	require.Equal(t, 3, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'hot' AND column_name = 'note'"))
}
