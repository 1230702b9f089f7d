package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// waitResult is one WaitRelease call run in the background.
type waitResult struct {
	woke, blocked bool
	err           error
	took          time.Duration
}

// waitInBackground starts WaitRelease on c and returns once c's session
// is blocked in GET_LOCK (the server lists it in the state "User lock"),
// so that what the test does next happens while it waits.
func waitInBackground(t *testing.T, db *sql.DB, c *sql.Conn, timeout time.Duration) <-chan waitResult {
	t.Helper()
	var id int64
	require.NoError(t, c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id))
	out := make(chan waitResult, 1)
	go func() {
		start := time.Now()
		woke, blocked, err := WaitRelease(context.Background(), c, leaseTable, lockName, timeout)
		out <- waitResult{woke, blocked, err, time.Since(start)}
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ? AND STATE = 'User lock'", id).Scan(&n))
		if n == 1 {
			return out
		}
		select {
		case r := <-out:
			t.Fatalf("WaitRelease returned before it blocked: woke=%v blocked=%v err=%v after %v", r.woke, r.blocked, r.err, r.took)
		default:
		}
		require.True(t, time.Now().Before(deadline), "WaitRelease never blocked on the named lock")
		time.Sleep(10 * time.Millisecond)
	}
}

// A waiter blocks until the holder releases the lease, however long its
// timeout: the release wakes it, not the end of its wait. The holder's
// named lock is gone with the release, so the next holder takes it.
func TestWaitReleaseWakesAtRelease(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	a, b := conn(t, db), conn(t, db)
	genA, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", time.Hour, true))
	require.NoError(t, err)

	const long = time.Hour
	w := waitInBackground(t, db, b, long)
	require.NoError(t, Release(ctx, a, leaseTable, lockName, "A", genA))
	r := <-w
	require.NoError(t, r.err)
	require.True(t, r.blocked)
	require.True(t, r.woke, "the release did not wake the waiter (it waited %v)", r.took)

	genB, _, err := TryAcquire(ctx, b, leaseTable, lockName, acq("B", time.Hour, true))
	require.NoError(t, err)
	require.Positive(t, genB)
	var holder sql.NullInt64
	k, args := wakeName(leaseTable, lockName)
	require.NoError(t, b.QueryRowContext(ctx, "SELECT IS_USED_LOCK(n) FROM "+k, args...).Scan(&holder))
	var idB int64
	require.NoError(t, b.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&idB))
	require.Equal(t, idB, holder.Int64, "the new holder's session does not hold the named lock")
}

// A holder that dies (its session ends: the server closes a crashed
// runner's connection) wakes the waiters at once, although its lease row
// stands; the lease row alone still decides when it may be taken over.
func TestWaitReleaseWakesAtHolderSessionEnd(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	a, b := conn(t, db), conn(t, db)
	_, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", time.Hour, true))
	require.NoError(t, err)
	var idA int64
	require.NoError(t, a.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&idA))

	w := waitInBackground(t, db, b, time.Hour)
	_, err = db.ExecContext(ctx, fmt.Sprintf("KILL %d", idA))
	require.NoError(t, err)
	r := <-w
	require.NoError(t, r.err)
	require.True(t, r.woke, "the holder's session ended and the waiter slept on (%v)", r.took)
	h, err := ReadHolder(ctx, b, leaseTable, lockName)
	require.NoError(t, err)
	require.Equal(t, "A", h.Token, "the wake-up changed the lease")

	// With the holder's session gone, nothing is left to block on: the
	// waiter polls, it does not spin on a free named lock.
	woke, blocked, err := WaitRelease(ctx, b, leaseTable, lockName, time.Hour)
	require.NoError(t, err)
	require.False(t, blocked)
	require.False(t, woke)
}

// A waiter blocks only on the named lock of the very session the lease
// records: not for a holder that took the lease on a shared session
// (ProxySQL; it holds no named lock), not when no one holds the lease,
// and not when another session holds the name (a paused former holder):
// none of them would ever wake it.
func TestWaitReleaseOnlyForTheHoldersSession(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	a, b, stale := conn(t, db), conn(t, db), conn(t, db)

	woke, blocked, err := WaitRelease(ctx, b, leaseTable, lockName, time.Hour)
	require.NoError(t, err)
	require.False(t, blocked || woke, "blocked on a free lease")

	genA, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", time.Hour, false))
	require.NoError(t, err)
	woke, blocked, err = WaitRelease(ctx, b, leaseTable, lockName, time.Hour)
	require.NoError(t, err)
	require.False(t, blocked || woke, "blocked on a holder that is not bound to its session")
	require.NoError(t, Release(ctx, a, leaseTable, lockName, "A", genA))

	k, args := wakeName(leaseTable, lockName)
	var got int
	require.NoError(t, stale.QueryRowContext(ctx, "SELECT GET_LOCK(n, 0) FROM "+k, args...).Scan(&got))
	require.Equal(t, 1, got)
	start := time.Now()
	genA, _, err = TryAcquire(ctx, a, leaseTable, lockName, acq("A", time.Hour, true))
	require.NoError(t, err)
	require.Positive(t, genA)
	t.Logf("a new holder waited %v for a named lock that another session keeps", time.Since(start))
	woke, blocked, err = WaitRelease(ctx, b, leaseTable, lockName, time.Hour)
	require.NoError(t, err)
	require.False(t, blocked || woke, "blocked on a named lock that is not the holder's")
}

// Named locks are server-wide, but each database's lease has its own: a
// release in one database wakes no waiter of another on the same server.
func TestWaitReleaseIsPerDatabase(t *testing.T) {
	t.Parallel()
	db1, _ := leaseDB(t)
	db2, _ := leaseDB(t)
	ctx := t.Context()
	a1, b1, a2 := conn(t, db1), conn(t, db1), conn(t, db2)
	_, _, err := TryAcquire(ctx, a1, leaseTable, lockName, acq("A1", time.Hour, true))
	require.NoError(t, err)
	gen2, _, err := TryAcquire(ctx, a2, leaseTable, lockName, acq("A2", time.Hour, true))
	require.NoError(t, err)
	require.Positive(t, gen2, "the other database's lease is its own")

	w := waitInBackground(t, db1, b1, 2*time.Second)
	require.NoError(t, Release(ctx, a2, leaseTable, lockName, "A2", gen2))
	r := <-w
	require.NoError(t, r.err)
	require.True(t, r.blocked)
	require.False(t, r.woke, "a release in another database woke the waiter")
}

// The name fits MySQL's 64 characters whatever the database and table
// are called, and stays readable where it can.
func TestWakeNameFits(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	name := func(table string) string {
		k, args := wakeName(table, "migrate")
		var n string
		require.NoError(t, db.QueryRowContext(ctx, "SELECT n FROM "+k, args...).Scan(&n))
		return n
	}
	var dbName string
	require.NoError(t, db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&dbName))
	require.Equal(t, "fleetgate:"+dbName+".fleetgate_lock/migrate", name("`fleetgate_lock`"))
	require.Equal(t, "fleetgate:app.fleetgate_lock/migrate", name("`app`.`fleetgate_lock`"))
	long := name("`" + strings.Repeat("s", 64) + "`.`" + strings.Repeat("t", 55) + "`")
	require.LessOrEqual(t, len(long), 64)
	require.True(t, strings.HasPrefix(long, "fleetgate:"), long)
	require.NotEqual(t, long, name("`"+strings.Repeat("s", 64)+"`.`"+strings.Repeat("u", 55)+"`"))
}

// questions is how many statements c's session has received so far
// (the server's own count, less the one that asks).
func questions(t *testing.T, c *sql.Conn) int {
	t.Helper()
	var name string
	var n int
	require.NoError(t, c.QueryRowContext(t.Context(), "SHOW SESSION STATUS LIKE 'Questions'").Scan(&name, &n))
	return n
}

// The driver's TryAcquire leaves the named lock to the renewal: the
// lock package hands the acquiring session to the work at once
// (lock.Lease.TakeConn) and renews on the heartbeat's own session, which
// takes the named lock there (followWake). Taken on the acquiring session
// too, it cost a GET_LOCK (waiting up to a second behind a waiter
// passing it on) and a RELEASE_LOCK per acquisition, and woke every
// waiter once for nothing. Renewing on the acquiring session itself (a
// lease whose session is not taken) takes it there.
func TestDriverTryAcquireLeavesTheNamedLockToTheRenewal(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	require.NoError(t, d.EnsureTables(ctx, db))
	a, hb, w := pinned(t, db), pinned(t, db), pinned(t, db)
	holderOf := func() sql.NullInt64 {
		t.Helper()
		k, args := wakeName(d.lock, lockRow)
		var id sql.NullInt64
		require.NoError(t, db.QueryRowContext(ctx, "SELECT IS_USED_LOCK(n) FROM "+k, args...).Scan(&id))
		return id
	}
	session := func(c *sql.Conn) int64 {
		t.Helper()
		var id int64
		require.NoError(t, c.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id))
		return id
	}

	p := &driver.AcquireParams{Token: "a", Actor: history.Actor{Host: "h", PID: 1}, TTL: time.Hour, SessionBound: d.SessionIsDirect(ctx, a)}
	require.True(t, p.SessionBound, "a direct connection to the test server is not seen as direct")
	before := questions(t, a)
	gen, _, err := d.TryAcquire(ctx, a, p)
	require.NoError(t, err)
	require.Positive(t, gen)
	d.LetGoOfWake(ctx, a)
	// The unlocked read, and the locking transaction of five.
	require.Equal(t, 6, questions(t, a)-before-1, "statements the acquisition and the hand-over of its session sent")
	require.False(t, holderOf().Valid, "the acquiring session took the named lock")

	// The heartbeat's renewal binds the lease to its session and takes
	// the named lock there, and a waiter blocks on it.
	require.NoError(t, d.Renew(ctx, hb, "a", gen, time.Hour, 0))
	require.Equal(t, session(hb), holderOf().Int64, "the renewal did not take the named lock on its session")
	woke, blocked, err := d.WaitRelease(ctx, w, time.Second)
	require.NoError(t, err)
	require.True(t, blocked, "a waiter did not block on the holder's named lock")
	require.False(t, woke)
	require.NoError(t, d.Release(ctx, hb, "a", gen))
	require.False(t, holderOf().Valid, "the release kept the named lock")

	// A lease that stays on its acquiring session takes it at the first
	// renewal there.
	gen, _, err = d.TryAcquire(ctx, a, &driver.AcquireParams{Token: "b", Actor: p.Actor, TTL: time.Hour, SessionBound: true})
	require.NoError(t, err)
	require.Positive(t, gen)
	require.NoError(t, d.Renew(ctx, a, "b", gen, time.Hour, 0))
	require.Equal(t, session(a), holderOf().Int64, "the renewal on the acquiring session did not take the named lock")
	require.NoError(t, d.Release(ctx, a, "b", gen))
}
