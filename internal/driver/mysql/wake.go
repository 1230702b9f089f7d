package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// MySQL has no notifications, so a waiter for the lease would learn of
// the release only at its next poll, up to a few polls late. Instead the
// holder's session also holds a named lock (GET_LOCK) for as long as it
// holds the lease, and a waiter blocks on that named lock for a while:
// the server hands it over the instant the holder lets go, or the moment
// the holder's session ends (a crashed runner's connection), and the
// waiter then polls the lease row at once.
//
// The named lock is only a wake-up hint, never the guard: who holds the
// lease, its fencing, a takeover of a dead holder and the expiry are the
// lease row's alone (lease.go). Where the hint is missing, waiters poll as
// before: the driver's holder takes it at its first renewal, not when it
// acquires (Driver.TryAcquire), and only on a session of its own (not
// through ProxySQL, whose multiplexing would hand it to another client);
// a heartbeat that reconnected renews on a new session without it; Galera
// refuses GET_LOCK. A waiter blocks only while the named lock is held by
// the very session the lease row records for the holder, so a stale
// session that still holds it (a paused former holder) or a holder
// without it never makes waiters block on the wrong thing or spin.
//
// A waiter never keeps the named lock: GET_LOCK and RELEASE_LOCK run in
// one statement, so the server passes the lock from waiter to waiter
// without a round trip to any client, and every waiter wakes.

// wakeTimeout is how long a new holder waits for the named lock: a former
// holder releases it just after the lease row, and waiters pass it on
// within the statement that got it.
const wakeTimeout = time.Second

// wakeName is a derived table with one column, n: the name of the named
// lock of the lease row lock in table (quoted, possibly qualified), and
// its arguments. Named locks are server-wide, so the name carries the
// database and the table: two fleets on one server never wake each other.
// MySQL allows 64 characters; a longer name is hashed.
func wakeName(table, lock string) (string, []any) {
	var schema any // NULL: the connection's database
	name := strings.Trim(table, "`")
	if i := strings.Index(table, "`.`"); i >= 0 {
		schema, name = strings.Trim(table[:i], "`"), strings.Trim(table[i+2:], "`")
	}
	return `(SELECT IF(CHAR_LENGTH(x) <= 64, x, CONCAT('fleetgate:', SHA1(x))) AS n
		FROM (SELECT CONCAT('fleetgate:', COALESCE(?, DATABASE(), ''), '.', ?, '/', ?) AS x) w) k`, []any{schema, name, lock}
}

// lockSeconds rounds a wait up to whole seconds, at least one: MySQL's
// GET_LOCK reads its timeout as an integer (MariaDB's would take a
// fraction), and a timeout of 0 would not wait at all.
func lockSeconds(d time.Duration) int64 {
	return max(1, int64(math.Ceil(d.Seconds())))
}

// holdWake takes the named lock on conn, the new holder's own session. It
// is best effort: without it waiters poll.
func holdWake(ctx context.Context, conn *sql.Conn, table, lock string) {
	k, args := wakeName(table, lock)
	var got sql.NullInt64
	_ = conn.QueryRowContext(ctx, `SELECT GET_LOCK(n, ?) FROM `+k, append([]any{lockSeconds(wakeTimeout)}, args...)...).Scan(&got)
}

// followWake makes the named lock follow a session-bound lease to conn,
// the session a renewal just bound it to (the heartbeat's own, after the
// session that took the lock went to the work: lock.Lease.TakeConn). It
// takes the lock without waiting: another session that still holds it (a
// former holder) is tried again at the next renewal. It reports whether
// conn holds it now; false also for a lease that is not session-bound.
func followWake(ctx context.Context, conn *sql.Conn, table, lock string) bool {
	k, args := wakeName(table, lock)
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, `SELECT IF(l.session_id IS NULL, NULL, IF(IS_USED_LOCK(k.n) <=> CONNECTION_ID(), 1, GET_LOCK(k.n, 0)))
		FROM `+table+` l, `+k+` WHERE l.name = ?`, append(args, lock)...).Scan(&got)
	return err == nil && got.Valid && got.Int64 == 1
}

// dropWake releases the named lock if conn's session holds it. Best
// effort, like holdWake: a session that cannot run it is broken, and a
// broken session's named lock is gone with it.
func dropWake(ctx context.Context, conn *sql.Conn, table, lock string) {
	k, args := wakeName(table, lock)
	var released sql.NullInt64
	_ = conn.QueryRowContext(ctx, `SELECT RELEASE_LOCK(n) FROM `+k, args...).Scan(&released)
}

// WaitRelease blocks on conn until the holder of lease row lock in table
// lets go (a release, or its session's end), ctx ends, or about timeout
// passes (whole seconds, at least one). woke reports the release. blocked
// is false, at once, when the holder's recorded session does not hold the
// named lock (see above): then nothing would wake the caller, who polls.
func WaitRelease(ctx context.Context, conn *sql.Conn, table, lock string, timeout time.Duration) (woke, blocked bool, err error) {
	k, args := wakeName(table, lock)
	var got sql.NullInt64
	err = conn.QueryRowContext(ctx, `SELECT CASE WHEN IS_USED_LOCK(n) = (SELECT session_id FROM `+table+` WHERE name = ? AND holder IS NOT NULL)
		THEN IF(GET_LOCK(n, ?), RELEASE_LOCK(n), 0) END FROM `+k,
		append([]any{lock, lockSeconds(timeout)}, args...)...).Scan(&got)
	if err != nil {
		return false, false, fmt.Errorf("wait for the lock's release: %w", err)
	}
	return got.Valid && got.Int64 == 1, got.Valid, nil
}

var _ driver.ReleaseWaiter = (*Driver)(nil)

// WaitRelease: see the package-level WaitRelease.
func (d *Driver) WaitRelease(ctx context.Context, conn *sql.Conn, timeout time.Duration) (woke, blocked bool, err error) {
	woke, blocked, err = WaitRelease(ctx, conn, d.lock, lockRow, timeout)
	return woke, blocked, translate(err)
}
