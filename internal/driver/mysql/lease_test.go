package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

const (
	leaseTable = "`fleetgate_lock`"
	lockName   = "migrations"
)

// leaseDB opens the test's MariaDB database as root (URL form), with the
// lease table ready.
func leaseDB(t *testing.T) (*sql.DB, string) {
	t.Helper()
	raw := dbtest.MariaDB(t)
	target, err := ParseURL(raw)
	require.NoError(t, err)
	db := sql.OpenDB(mustConnector(t, target.Config))
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, EnsureLease(t.Context(), db, leaseTable, lockName))
	return db, raw
}

func conn(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func acq(token string, ttl time.Duration, sessionBound bool) Acquire {
	return Acquire{Token: token, Host: "h", PID: 1, DeployID: "d", TTL: ttl, SessionBound: sessionBound}
}

// waitAcquire retries TryAcquire until it succeeds or the deadline passes.
func waitAcquire(t *testing.T, c *sql.Conn, a Acquire, within time.Duration) int64 {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		gen, _, err := TryAcquire(t.Context(), c, leaseTable, lockName, a)
		require.NoError(t, err)
		if gen > 0 {
			return gen
		}
		require.True(t, time.Now().Before(deadline), "%s did not get the lease within %s", a.Token, within)
		time.Sleep(50 * time.Millisecond)
	}
}

func TestLeaseExclusive(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	a, b := conn(t, db), conn(t, db)
	gen, _, err := TryAcquire(t.Context(), a, leaseTable, lockName, acq("A", time.Minute, false))
	require.NoError(t, err)
	require.EqualValues(t, 1, gen)
	gen, h, err := TryAcquire(t.Context(), b, leaseTable, lockName, acq("B", time.Minute, false))
	require.NoError(t, err)
	require.Zero(t, gen)
	require.NotNil(t, h)
	require.Equal(t, "A", h.Token)
	require.EqualValues(t, 1, h.Generation)
	require.NoError(t, Renew(t.Context(), a, leaseTable, lockName, "A", 1, time.Minute))
	require.ErrorIs(t, Renew(t.Context(), b, leaseTable, lockName, "B", 1, time.Minute), ErrLeaseLost)
	// A release by a token that does not hold the lease changes nothing.
	require.NoError(t, Release(t.Context(), b, leaseTable, lockName, "B", 1))
	h, err = ReadHolder(t.Context(), b, leaseTable, lockName)
	require.NoError(t, err)
	require.Equal(t, "A", h.Token)
	require.NoError(t, Release(t.Context(), a, leaseTable, lockName, "A", 1))
	gen, _, err = TryAcquire(t.Context(), b, leaseTable, lockName, acq("B", time.Minute, false))
	require.NoError(t, err)
	require.EqualValues(t, 2, gen)
}

// A waiter's try never queues behind the holder's open migration
// transaction, which locks the lease row from its fence to its commit:
// it reports the lease busy at once. (InnoDB would otherwise make it wait
// up to innodb_lock_wait_timeout, 50 s, longer than this test's context.)
func TestTryAcquireNeverBlocks(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	a, b := conn(t, db), conn(t, db)
	gen, _, err := TryAcquire(t.Context(), a, leaseTable, lockName, acq("A", time.Minute, false))
	require.NoError(t, err)
	tx, err := a.BeginTx(t.Context(), nil)
	require.NoError(t, err)
	defer func() { _ = tx.Rollback() }()
	require.NoError(t, Fence(t.Context(), tx, leaseTable, lockName, "A", gen, time.Minute))

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	gen2, h, err := TryAcquire(ctx, b, leaseTable, lockName, acq("B", time.Minute, false))
	require.NoError(t, err, "the try waited for the holder's transaction")
	require.Zero(t, gen2)
	require.NotNil(t, h, "the holder is read without waiting too")
	require.Equal(t, "A", h.Token)
	require.NoError(t, tx.Commit())
}

// After the lease expires another runner takes it over with the next
// generation, and the old holder can commit nothing: its fence fails
// inside its transaction, and a history row written with FenceColumn is
// refused by the server even without that check. Its data change is
// rolled back with it.
func TestLeaseExpiryTakeoverFencesStaleHolder(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	_, err := db.ExecContext(ctx, "CREATE TABLE work (id INT PRIMARY KEY)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "CREATE TABLE history (version BIGINT PRIMARY KEY, lock_generation BIGINT NOT NULL)")
	require.NoError(t, err)
	a, b := conn(t, db), conn(t, db)
	genA, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", time.Second, false))
	require.NoError(t, err)
	require.EqualValues(t, 1, genA)

	genB := waitAcquire(t, b, acq("B", time.Minute, false), 30*time.Second)
	require.EqualValues(t, 2, genB)

	// The stale holder's migration transaction, checked by Fence.
	tx, err := a.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO work VALUES (1)")
	require.NoError(t, err)
	require.ErrorIs(t, Fence(ctx, tx, leaseTable, lockName, "A", genA, time.Minute), ErrLeaseLost)
	require.NoError(t, tx.Rollback())

	// The same, relying only on the server: the history insert fails.
	tx, err = a.BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO work VALUES (2)")
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO history (version, lock_generation) VALUES (7, "+FenceColumn(leaseTable)+")", lockName, "A", genA)
	require.Error(t, err)
	require.True(t, IsFenceViolation(err), "%v", err)
	require.NoError(t, tx.Rollback())

	require.ErrorIs(t, Renew(ctx, a, leaseTable, lockName, "A", genA, time.Minute), ErrLeaseLost)
	require.NoError(t, Release(ctx, a, leaseTable, lockName, "A", genA))

	// The new holder commits through the same fence.
	tx, err = b.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, Fence(ctx, tx, leaseTable, lockName, "B", genB, time.Minute))
	_, err = tx.ExecContext(ctx, "INSERT INTO work VALUES (3)")
	require.NoError(t, err)
	_, err = tx.ExecContext(ctx, "INSERT INTO history (version, lock_generation) VALUES (7, "+FenceColumn(leaseTable)+")", lockName, "B", genB)
	require.NoError(t, err)
	require.NoError(t, tx.Commit())

	var ids []int
	rows, err := db.QueryContext(ctx, "SELECT id FROM work ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var id int
		require.NoError(t, rows.Scan(&id))
		ids = append(ids, id)
	}
	require.NoError(t, rows.Err())
	require.Equal(t, []int{3}, ids, "only the holder's work is committed")
	var hg int64
	require.NoError(t, db.QueryRowContext(ctx, "SELECT lock_generation FROM history WHERE version = 7").Scan(&hg))
	require.Equal(t, genB, hg)
	h, err := ReadHolder(ctx, db, leaseTable, lockName)
	require.NoError(t, err)
	require.Equal(t, "B", h.Token, "the stale holder's release did not free the new holder's lease")
}

// A session-bound lease whose session is alive is respected until it
// expires, renewed or not; once its session is gone (killed, as a crashed
// runner's is closed by the server) a waiter takes it over after the
// short grace, long before the lease would expire.
func TestLeaseSessionLiveness(t *testing.T) {
	t.Parallel()
	db, _ := leaseDB(t)
	ctx := t.Context()
	a, b := conn(t, db), conn(t, db)
	const ttl = 4 * time.Second // grace: min(ttl/2, 5 s) = 2 s
	genA, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", ttl, true))
	require.NoError(t, err)
	h, err := ReadHolder(ctx, b, leaseTable, lockName)
	require.NoError(t, err)
	var idA int64
	require.NoError(t, a.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&idA))
	require.Equal(t, idA, h.SessionID)

	// Alive and past the grace, not yet expired: still A's.
	time.Sleep(2500 * time.Millisecond)
	gen, _, err := TryAcquire(ctx, b, leaseTable, lockName, acq("B", time.Minute, true))
	require.NoError(t, err)
	require.Zero(t, gen, "a live session's lease was taken before it expired")

	// A's session ends; A renews no more. B takes over before the expiry.
	require.NoError(t, Renew(ctx, a, leaseTable, lockName, "A", genA, ttl))
	h, err = ReadHolder(ctx, b, leaseTable, lockName)
	require.NoError(t, err)
	expires := h.ExpiresAt
	_, err = db.ExecContext(ctx, fmt.Sprintf("KILL %d", idA))
	require.NoError(t, err)
	genB := waitAcquire(t, b, acq("B", time.Minute, true), 30*time.Second)
	require.Equal(t, genA+1, genB)
	var now float64
	require.NoError(t, b.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&now))
	require.True(t, time.UnixMicro(int64(now*1e6)).Before(expires), "taken over only at expiry, not when the session ended")
}

// An account that cannot see the holder's session in the process list
// (another user, no PROCESS privilege) must not judge it dead: it waits
// for the lease to expire.
func TestLeaseSessionInvisibleWaitsForExpiry(t *testing.T) {
	t.Parallel()
	db, raw := leaseDB(t)
	ctx := t.Context()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	dbName := strings.TrimPrefix(u.Path, "/")
	user := "w" + strings.TrimPrefix(dbName, "fleetgate_test_")
	user = user[:min(len(user), 32)]
	_, err = db.ExecContext(ctx, fmt.Sprintf("CREATE USER '%s'@'127.0.0.1' IDENTIFIED BY 'pw-%s'", user, user))
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), fmt.Sprintf("DROP USER '%s'@'127.0.0.1'", user)) })
	_, err = db.ExecContext(ctx, fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'127.0.0.1'", dbName, user))
	require.NoError(t, err)
	other, err := ParseURL(fmt.Sprintf("mysql://%s:pw-%s@%s/%s", user, user, u.Host, dbName))
	require.NoError(t, err)
	odb := sql.OpenDB(mustConnector(t, other.Config))
	t.Cleanup(func() { _ = odb.Close() })

	a, b := conn(t, db), conn(t, odb)
	const ttl = 3 * time.Second
	genA, _, err := TryAcquire(ctx, a, leaseTable, lockName, acq("A", ttl, true))
	require.NoError(t, err)
	var idA int64
	require.NoError(t, a.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&idA))
	_, err = db.ExecContext(ctx, fmt.Sprintf("KILL %d", idA))
	require.NoError(t, err)
	h, err := ReadHolder(ctx, b, leaseTable, lockName)
	require.NoError(t, err)
	genB := waitAcquire(t, b, acq("B", time.Minute, true), 30*time.Second)
	require.Equal(t, genA+1, genB)
	var now float64
	require.NoError(t, b.QueryRowContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))").Scan(&now))
	require.False(t, time.UnixMicro(int64(now*1e6)).Before(h.ExpiresAt), "an invisible session was judged dead before the lease expired")
}
