package lock_test

import (
	"context"
	"database/sql"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/mysql"
	"github.com/fleetgate/fleetgate/internal/lock"
)

func mariadb(t *testing.T) bundle {
	db, err := mysql.Open(dbtest.MariaDB(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	tables, _ := driver.NewTables("fleetgate_migrations")
	d := mysql.New(tables)
	require.NoError(t, d.EnsureTables(context.Background(), db))
	return bundle{d, db}
}

// On MariaDB, where nothing can be listened for, a waiter sleeps on the
// holder's named lock and gets the lock when the holder releases it, not
// at its next poll: with a poll of 30 s (a first retry 15 s at the
// earliest) it has the lock within a few seconds of the release.
func TestMySQLWaiterWakesAtReleaseNotAtPoll(t *testing.T) {
	t.Parallel()
	b := mariadb(t)
	ctx := context.Background()
	holder, err := lock.Acquire(ctx, b.d, b.db, actor("a", 1), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	// As the executor does: the work takes the acquiring session, and the
	// heartbeat's own session, renewing at once, binds the lease and takes
	// the named lock (the driver's TryAcquire leaves both to the renewal).
	work := holder.TakeConn()
	require.NotNil(t, work)
	defer work.Close()
	require.NoError(t, holder.AwaitMoved(ctx))
	var workID int64
	require.NoError(t, work.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&workID))
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		var sess sql.NullInt64
		var woken bool // the named lock (wake.go) is the bound session's
		require.NoError(t, b.db.QueryRowContext(ctx, `SELECT session_id, IS_USED_LOCK(CONCAT('fleetgate:', DATABASE(), '.fleetgate_lock/migrate')) <=> session_id
			FROM fleetgate_lock WHERE holder IS NOT NULL`).Scan(&sess, &woken))
		require.False(t, sess.Valid && sess.Int64 == workID, "the lease is bound to the work's session")
		if sess.Valid && woken {
			break
		}
		require.True(t, time.Now().Before(deadline), "the lease was never bound to the heartbeat's session with its named lock")
	}

	type got struct {
		l   *lock.Lease
		err error
		at  time.Time
	}
	ch := make(chan got, 1)
	go func() {
		l, err := lock.Acquire(ctx, b.d, b.db, actor("b", 2), lock.Options{TTL: 10 * time.Second, Poll: 30 * time.Second, Timeout: 2 * time.Minute})
		ch <- got{l, err, time.Now()}
	}()
	blocked := func() bool {
		var n int
		require.NoError(t, b.db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = DATABASE() AND STATE = 'User lock'").Scan(&n))
		return n == 1
	}
	for deadline := time.Now().Add(time.Minute); !blocked(); time.Sleep(20 * time.Millisecond) {
		require.True(t, time.Now().Before(deadline), "the waiter never blocked on the holder's named lock")
	}
	released := time.Now()
	require.NoError(t, holder.Release(ctx))
	r := <-ch
	require.NoError(t, r.err)
	t.Logf("the waiter had the lock %v after the release", r.at.Sub(released).Round(time.Millisecond))
	require.Less(t, r.at.Sub(released), 10*time.Second, "the waiter waited for its poll, not for the release")
	h, err := b.d.ReadHolder(ctx, b.db)
	require.NoError(t, err)
	require.Equal(t, "b", h.Host)
	require.NoError(t, r.l.Release(ctx))
}

// refusingWake is the MySQL driver on a server that refuses named locks
// (Galera), counting the waits it was asked for.
type refusingWake struct {
	*mysql.Driver
	waits atomic.Int32
}

func (r *refusingWake) WaitRelease(ctx context.Context, conn *sql.Conn, timeout time.Duration) (bool, bool, error) {
	r.waits.Add(1)
	return false, false, errors.New("Error 1235: This version of MariaDB doesn't yet support 'GET_LOCK in cluster (WSREP_ON=ON)'")
}

// Where the server refuses the named lock, a waiter asks once, then polls
// as before, and still gets the lock after the release.
func TestMySQLWaiterPollsWhereNamedLocksAreRefused(t *testing.T) {
	t.Parallel()
	b := mariadb(t)
	ctx := context.Background()
	holder, err := lock.Acquire(ctx, b.d, b.db, actor("a", 1), lock.Options{TTL: 10 * time.Second})
	require.NoError(t, err)
	tables, _ := driver.NewTables("fleetgate_migrations")
	d := &refusingWake{Driver: mysql.New(tables)}
	_, err = lock.Acquire(ctx, d, b.db, actor("b", 2), lock.Options{Poll: 20 * time.Millisecond, Timeout: time.Second})
	require.ErrorIs(t, err, lock.ErrTimeout)
	require.EqualValues(t, 1, d.waits.Load(), "the waiter kept asking for a named lock the server refuses")
	require.NoError(t, holder.Release(ctx))
	l, err := lock.Acquire(ctx, d, b.db, actor("b", 2), lock.Options{Poll: 20 * time.Millisecond, Timeout: 30 * time.Second})
	require.NoError(t, err)
	require.NoError(t, l.Release(ctx))
}
