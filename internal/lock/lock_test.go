package lock_test

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
)

// Every goroutine the lock starts (heartbeat, listener) ends with its lease
// or its wait: none is left once the tests and the servers are done.
func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

type bundle struct {
	d  driver.Driver
	db *sql.DB
}

func setups() map[string]func(t *testing.T) bundle {
	tables, _ := driver.NewTables("fleetgate_migrations")
	return map[string]func(t *testing.T) bundle{
		"Postgres": func(t *testing.T) bundle {
			db, err := sql.Open("pgx", dbtest.Postgres(t)+"&default_query_exec_mode=simple_protocol")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			d := postgres.New(tables)
			require.NoError(t, d.EnsureTables(context.Background(), db))
			return bundle{d, db}
		},
		"SQLite": func(t *testing.T) bundle {
			db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/l.db?_pragma=busy_timeout(10000)")
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })
			d := sqlite.New(tables)
			require.NoError(t, d.EnsureTables(context.Background(), db))
			return bundle{d, db}
		},
	}
}

func actor(host string, pid int) history.Actor {
	return history.Actor{Host: host, PID: pid, OSUser: "test", ToolVersion: "test"}
}

func TestExclusiveAndRelease(t *testing.T) {
	t.Parallel()
	for name, setup := range setups() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			a, err := lock.Acquire(ctx, b.d, b.db, actor("a", os.Getpid()), lock.Options{TTL: 5 * time.Second})
			require.NoError(t, err)
			// A second runner cannot get it while the first holds it.
			_, err = lock.Acquire(ctx, b.d, b.db, actor("b", 1), lock.Options{TTL: 5 * time.Second, Poll: 20 * time.Millisecond, Timeout: 300 * time.Millisecond})
			require.ErrorIs(t, err, lock.ErrTimeout)
			h, err := b.d.ReadHolder(ctx, b.db)
			require.NoError(t, err)
			require.Equal(t, "a", h.Host)
			require.NoError(t, a.Release(ctx))
			h, err = b.d.ReadHolder(ctx, b.db)
			require.NoError(t, err)
			require.Nil(t, h)
			c, err := lock.Acquire(ctx, b.d, b.db, actor("b", 1), lock.Options{TTL: 5 * time.Second, Timeout: time.Second})
			require.NoError(t, err)
			require.Greater(t, c.Gen, a.Gen, "each acquisition gets a new fencing generation")
			require.NoError(t, c.Release(ctx))
		})
	}
}

// A holder that stops renewing loses the lock once its lease expires, and
// finds out: its lease context ends with ErrLockLost and its fenced commit
// fails.
func TestExpiredLeaseIsTakenOverAndFenced(t *testing.T) {
	t.Parallel()
	for name, setup := range setups() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			// Simulate a paused holder: take the lock with a raw try-lock,
			// with no heartbeat running.
			conn, err := b.db.Conn(ctx)
			require.NoError(t, err)
			defer conn.Close()
			gen, _, err := b.d.TryAcquire(ctx, conn, &driver.AcquireParams{Token: "paused", Actor: actor("other-host", 1), TTL: 300 * time.Millisecond})
			require.NoError(t, err)
			require.Positive(t, gen)
			paused, err := b.d.ReadHolder(ctx, b.db)
			require.NoError(t, err)

			l, err := lock.Acquire(ctx, b.d, b.db, actor("b", 2), lock.Options{TTL: 5 * time.Second, Poll: 20 * time.Millisecond, Timeout: 30 * time.Second})
			require.NoError(t, err)
			defer l.Release(ctx)
			// By the database's clock, which set both times (the test's
			// own clock starts late when the machine is loaded).
			taker, err := b.d.ReadHolder(ctx, b.db)
			require.NoError(t, err)
			require.False(t, taker.AcquiredAt.Before(paused.ExpiresAt), "taken over at %v, before the lease expired at %v", taker.AcquiredAt, paused.ExpiresAt)

			// The paused holder's commit is refused inside its transaction.
			tx, err := b.d.Begin(ctx, conn, nil)
			require.NoError(t, err)
			err = tx.Commit(ctx, &driver.Record{Token: "paused", Generation: gen, TTL: time.Second,
				Applied: &history.Applied{Version: 1, Name: "x", Checksum: "c", Phase: "pre", UpSQL: "SELECT 1", Complete: true, Actor: actor("other-host", 1)}})
			require.ErrorIs(t, err, driver.ErrLockLost)
			rows, err := b.d.ReadApplied(ctx, b.db, driver.RowColumns)
			require.NoError(t, err)
			require.Empty(t, rows, "a fenced-out holder committed its history row")
			require.ErrorIs(t, b.d.Renew(ctx, conn, "paused", gen, time.Second, 0), driver.ErrLockLost)
		})
	}
}

// A holder on this host whose process is gone is taken over at once,
// without waiting for its lease.
func TestDeadLocalHolderTakenOverAtOnce(t *testing.T) {
	t.Parallel()
	b := setups()["SQLite"](t)
	ctx := context.Background()
	host, _ := os.Hostname()
	conn, err := b.db.Conn(ctx)
	require.NoError(t, err)
	defer conn.Close()
	// pid 2^22+1 is above Linux's pid_max default: no such process.
	_, _, err = b.d.TryAcquire(ctx, conn, &driver.AcquireParams{Token: lock.NewToken(), Actor: actor(host, 4194305), TTL: time.Hour})
	require.NoError(t, err)
	l, err := lock.Acquire(ctx, b.d, b.db, actor(host, os.Getpid()), lock.Options{TTL: 5 * time.Second, Timeout: 3 * time.Second})
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
}

// The same host name is no proof that a pid means the same process: a
// holder whose token names another PID namespace (a container on the host
// network), or none (an older runner), keeps its lease however its pid
// looks from here.
func TestForeignNamespaceHolderKept(t *testing.T) {
	t.Parallel()
	b := setups()["SQLite"](t)
	ctx := context.Background()
	host, _ := os.Hostname()
	own := lock.NewToken()
	_, space, ok := strings.Cut(own, ".")
	require.True(t, ok, "this test needs /proc/sys/kernel/random/boot_id and /proc/self/ns/pid")
	boot, _, _ := strings.Cut(space, ".")
	for _, token := range []string{"0123456789abcdef01234567." + boot + ".1", "0123456789abcdef01234567"} {
		conn, err := b.db.Conn(ctx)
		require.NoError(t, err)
		_, _, err = b.d.TryAcquire(ctx, conn, &driver.AcquireParams{Token: token, Actor: actor(host, 4194305), TTL: time.Hour})
		require.NoError(t, err)
		conn.Close()
		_, err = lock.Acquire(ctx, b.d, b.db, actor(host, os.Getpid()), lock.Options{TTL: 5 * time.Second, Poll: 20 * time.Millisecond, Timeout: 500 * time.Millisecond})
		require.ErrorIs(t, err, lock.ErrTimeout, "token %s: a holder in another PID namespace was robbed", token)
		_, err = b.db.ExecContext(ctx, "UPDATE fleetgate_lock SET holder = NULL")
		require.NoError(t, err)
	}
}

// A holder whose heartbeat session is killed under it (an idle-session
// killer, a pooler) is not a dead holder: it reconnects and renews, keeps
// its lease, and a waiter does not get in. The lease of 10 s renews every
// 2 s, and a dead session's lease is free after 5 s unrenewed: 3 s of room
// for a loaded machine's late heartbeat.
func TestKilledHeartbeatSessionRenews(t *testing.T) {
	t.Parallel()
	b := setups()["Postgres"](t)
	ctx := context.Background()
	l, err := lock.Acquire(ctx, b.d, b.db, actor("a", os.Getpid()), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	defer l.Release(ctx)
	// live waits until the lease is bound to a live session (the holder's
	// heartbeat reconnected and renewed there) and returns its pid.
	live := func() int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var pid sql.NullInt64
			var alive bool
			require.NoError(t, b.db.QueryRowContext(ctx, `SELECT session_pid, EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.pid = session_pid)
				FROM fleetgate_lock`).Scan(&pid, &alive))
			if pid.Valid && alive {
				return int(pid.Int64)
			}
			require.True(t, time.Now().Before(deadline), "the lease was never bound to a live session again")
			time.Sleep(20 * time.Millisecond)
		}
	}
	for range 3 {
		pid := live()
		_, err = b.db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		_, err = lock.Acquire(ctx, b.d, b.db, actor("b", 2), lock.Options{TTL: time.Second, Poll: 20 * time.Millisecond, Timeout: 2500 * time.Millisecond})
		require.ErrorIs(t, err, lock.ErrTimeout, "a waiter took the lease of a live holder whose session was killed")
		require.False(t, l.Lost(), "the holder gave up: %v", l.LostError())
	}
	live()
}

// On a direct PostgreSQL connection the lock is bound to the holder's
// session: when that session ends, the lock is free at once.
func TestPostgresSessionDeathFreesLock(t *testing.T) {
	t.Parallel()
	b := setups()["Postgres"](t)
	ctx := context.Background()
	conn, err := b.db.Conn(ctx)
	require.NoError(t, err)
	require.True(t, b.d.SessionIsDirect(ctx, conn), "a loopback TCP connection is direct")
	_, _, err = b.d.TryAcquire(ctx, conn, &driver.AcquireParams{Token: "dying", Actor: actor("elsewhere", 1), TTL: time.Hour, SessionBound: true})
	require.NoError(t, err)
	var pid int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
	_, err = b.db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	conn.Close()
	// The lease of a dead session is free once it has also gone 5 s
	// unrenewed (a live holder's heartbeat would have replaced the session).
	l, err := lock.Acquire(ctx, b.d, b.db, actor("b", 2), lock.Options{TTL: 5 * time.Second, Timeout: 20 * time.Second})
	require.NoError(t, err, "an hour-long lease of a dead session must not block")
	require.NoError(t, l.Release(ctx))
}

// Losing the lease cancels the holder's lease context with ErrLockLost.
func TestHeartbeatDetectsLoss(t *testing.T) {
	t.Parallel()
	for name, setup := range setups() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			b := setup(t)
			ctx := context.Background()
			l, err := lock.Acquire(ctx, b.d, b.db, actor("a", os.Getpid()), lock.Options{TTL: 400 * time.Millisecond})
			require.NoError(t, err)
			// Someone (an operator, or a runner that saw the lease expire)
			// takes the row away.
			_, err = b.db.ExecContext(ctx, "UPDATE fleetgate_lock SET holder = 'thief', generation = generation + 1")
			require.NoError(t, err)
			select {
			case <-l.Context().Done():
			case <-time.After(5 * time.Second):
				t.Fatal("heartbeat did not notice the lost lease")
			}
			require.True(t, errors.Is(context.Cause(l.Context()), driver.ErrLockLost))
			require.True(t, l.Lost())
			require.NoError(t, l.Release(ctx))
		})
	}
}

// countingPG is the PostgreSQL driver, counting lock attempts.
type countingPG struct {
	*postgres.Driver
	tries atomic.Int32
}

func (c *countingPG) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	c.tries.Add(1)
	return c.Driver.TryAcquire(ctx, conn, p)
}

// A waiter that listens for the release polls only for a holder that died
// without one, and the database lets nobody take over a live, renewing
// holder's lease before its dead-session grace (5 s after a renewal, which
// comes at least every 2 s): a waiter of 2.5 s tries once, and once more
// right after it subscribed (a release in between went unheard), where it
// used to try every second (a fleet's polls were most of the work of a
// run).
func TestListeningWaiterPollsOnlyWhenTakeoverPossible(t *testing.T) {
	t.Parallel()
	b := setups()["Postgres"](t)
	ctx := context.Background()
	holder, err := lock.Acquire(ctx, b.d, b.db, actor("a", 1), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	defer holder.Release(ctx)

	tables, _ := driver.NewTables("fleetgate_migrations")
	d := &countingPG{Driver: postgres.New(tables)}
	// The first two tries come within the 2.5 s unless the machine is
	// swamped (connecting, listening); the next could not before the
	// grace, at least 3 s after them.
	_, err = lock.Acquire(ctx, d, b.db, actor("b", 2), lock.Options{Poll: 10 * time.Millisecond, Timeout: 2500 * time.Millisecond})
	require.ErrorIs(t, err, lock.ErrTimeout)
	require.LessOrEqual(t, d.tries.Load(), int32(2), "lock attempts while a live holder renewed")
	require.False(t, holder.Lost())
}

// countingSQLite is the SQLite driver, counting lock attempts.
type countingSQLite struct {
	*sqlite.Driver
	tries atomic.Int32
}

func (c *countingSQLite) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	c.tries.Add(1)
	return c.Driver.TryAcquire(ctx, conn, p)
}

// A waiter that cannot listen for the release (SQLite here; MySQL, a
// pooler) backs off while the same holder keeps the lock, from the poll
// interval to 4 times it: 3 s behind a live holder with a 100 ms poll take
// about 10 attempts, not 30 (a fleet's polls competed with the holder).
func TestPollingWaiterBacksOffBehindTheSameHolder(t *testing.T) {
	t.Parallel()
	b := setups()["SQLite"](t)
	ctx := context.Background()
	holder, err := lock.Acquire(ctx, b.d, b.db, actor("a", 1), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	defer holder.Release(ctx)

	tables, _ := driver.NewTables("fleetgate_migrations")
	d := &countingSQLite{Driver: sqlite.New(tables)}
	_, err = lock.Acquire(ctx, d, b.db, actor("b", 2), lock.Options{Poll: 100 * time.Millisecond, Timeout: 3 * time.Second})
	require.ErrorIs(t, err, lock.ErrTimeout)
	require.LessOrEqual(t, d.tries.Load(), int32(18), "lock attempts in 3 s behind a live holder")
	require.Positive(t, d.tries.Load(), "the waiter tried")
	require.False(t, holder.Lost())
}

// heldConnector connects only once let: it holds back the sessions a
// lease opens after it was acquired (the heartbeat's own).
type heldConnector struct {
	sqldriver.Connector
	mu   sync.Mutex
	gate chan struct{} // nil: connect at once
}

func (c *heldConnector) hold() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gate = make(chan struct{})
	return c.gate
}

func (c *heldConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	c.mu.Lock()
	g := c.gate
	c.mu.Unlock()
	if g != nil {
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return c.Connector.Connect(ctx)
}

// The session that took the lock goes to the work (TakeConn), and the
// lease row never records it: the work's first statement need not wait
// for the heartbeat's session (held back here), and once the heartbeat
// has renewed on a session of its own, that session is the lease's, so a
// dead runner's lease is still freed with its session.
func TestTakenSessionIsNeverTheLeases(t *testing.T) {
	t.Parallel()
	url := dbtest.Postgres(t) + "&default_query_exec_mode=simple_protocol"
	cfg, err := pgx.ParseConfig(url)
	require.NoError(t, err)
	hc := &heldConnector{Connector: stdlib.GetConnector(*cfg)}
	db := sql.OpenDB(hc)
	t.Cleanup(func() { db.Close() })
	obs, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { obs.Close() })
	tables, _ := driver.NewTables("fleetgate_migrations")
	d := postgres.New(tables)
	ctx := context.Background()
	require.NoError(t, d.EnsureTables(ctx, db))
	l, err := lock.Acquire(ctx, d, db, actor("a", os.Getpid()), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	defer l.Release(ctx)
	gate := hc.hold()
	work := l.TakeConn()
	require.NotNil(t, work)
	defer work.Close()
	var workPID int
	require.NoError(t, work.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&workPID))
	sessionPID := func() sql.NullInt64 {
		var pid sql.NullInt64
		require.NoError(t, obs.QueryRowContext(ctx, "SELECT session_pid FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&pid))
		return pid
	}
	// The ceiling only keeps a broken build from hanging: the wait is for
	// a connection that is not let through before it ends.
	actx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err = l.AwaitMoved(actx)
	cancel()
	require.NoError(t, err, "the work waited for the heartbeat's session")
	pid := sessionPID()
	require.False(t, pid.Valid && int(pid.Int64) == workPID, "the lease is bound to the work's session")
	close(gate)
	deadline := time.Now().Add(30 * time.Second)
	for {
		pid = sessionPID()
		require.False(t, pid.Valid && int(pid.Int64) == workPID, "the lease is bound to the work's session")
		if pid.Valid {
			break
		}
		require.True(t, time.Now().Before(deadline), "the heartbeat's session was never bound to the lease")
		time.Sleep(10 * time.Millisecond)
	}
	var app string
	require.NoError(t, obs.QueryRowContext(ctx, "SELECT state FROM pg_stat_activity WHERE pid = $1", pid.Int64).Scan(&app))
	require.False(t, l.Lost(), "the holder lost its lease: %v", l.LostError())
}
