package drivertest

import (
	"context"
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// prepare opens the case's target and creates fleetgate's tables.
func prepare(t testing.TB, open Opener) *Target {
	t.Helper()
	tg := open(t)
	require.NotNil(t, tg.Driver, "the setup gave no driver")
	require.NotNil(t, tg.DB, "the setup gave no database")
	require.NoError(t, tg.Driver.EnsureTables(t.Context(), tg.DB))
	return tg
}

// pin pins a connection of db for the test, the way the lock and the
// executor do.
func pin(t testing.TB, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := driver.Conn(t.Context(), db)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

func actor(host string) history.Actor {
	return history.Actor{OSUser: "drivertest", Host: host, PID: 4242, DeployID: "deploy-" + host, ToolVersion: "drivertest"}
}

// acquire takes the free lock for token on c, session-bound where c is a
// session of its own (as lock.Acquire does), and returns its generation.
func acquire(t testing.TB, d driver.Driver, c *sql.Conn, token string, ttl time.Duration) int64 {
	t.Helper()
	ctx := t.Context()
	gen, h, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: token, Actor: actor("host-" + token), TTL: ttl,
		SessionBound: d.SessionIsDirect(ctx, c)})
	require.NoError(t, err, "try-acquire of a free lock")
	require.Nil(t, h, "try-acquire of a free lock named a holder")
	require.Positive(t, gen, "a taken lock has a positive generation")
	return gen
}

// refused asserts that token cannot take the lock now, that the attempt
// returns well within patience (it never waits for the holder), and that it
// names the holder.
func refused(t testing.TB, d driver.Driver, c *sql.Conn, token, holder string) *driver.Holder {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	gen, h, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: token, Actor: actor("host-" + token), TTL: time.Hour,
		SessionBound: d.SessionIsDirect(ctx, c)})
	require.NoError(t, err, "try-acquire of a held lock (it must return, not wait)")
	require.Zero(t, gen, "%s took the lock that %s holds", token, holder)
	require.NotNil(t, h, "a refused try-acquire names the holder")
	require.Equal(t, holder, h.Token)
	require.Equal(t, "host-"+holder, h.Host)
	return h
}

// takeover polls try-acquire for token until it gets the lock; the caller
// says why it must become free.
func takeover(t testing.TB, d driver.Driver, c *sql.Conn, token string, why string) int64 {
	t.Helper()
	ctx := t.Context()
	deadline := time.Now().Add(patience)
	for {
		gen, _, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: token, Actor: actor("host-" + token), TTL: time.Hour,
			SessionBound: d.SessionIsDirect(ctx, c)})
		require.NoError(t, err)
		if gen > 0 {
			return gen
		}
		require.True(t, time.Now().Before(deadline), "the lock never became free: %s", why)
		time.Sleep(20 * time.Millisecond)
	}
}

func holder(t testing.TB, d driver.Driver, q driver.Querier) *driver.Holder {
	t.Helper()
	h, err := d.ReadHolder(t.Context(), q)
	require.NoError(t, err)
	return h
}

// Try-acquire takes a free lock and otherwise returns the holder at once:
// it never waits, not even for a holder's open transaction, and a refused
// attempt leaves nothing behind (no queue, no claim, the generation
// unchanged).
func tryAcquire(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	require.Nil(t, holder(t, d, tg.DB), "a new lock is free")
	a, b, c := pin(t, tg.DB), pin(t, tg.DB), pin(t, tg.DB)
	genA := acquire(t, d, a, "a", time.Hour)
	h := refused(t, d, b, "b", "a")
	require.Equal(t, genA, h.Generation)
	require.False(t, h.ExpiresAt.Before(h.Now.Add(50*time.Minute)), "the hour-long lease expires at %v (database clock %v)", h.ExpiresAt, h.Now)

	// The holder's migration transaction holds the lock row (its fence, or
	// a renewal inside it): a waiter still gets its answer at once.
	tx, err := d.Begin(ctx, a, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Exec(ctx, "SELECT 1"))
	require.NoError(t, d.Renew(ctx, a, "a", genA, time.Hour, 0))
	refused(t, d, b, "b", "a")
	require.NoError(t, tx.Rollback(ctx))

	refused(t, d, c, "c", "a")
	h = holder(t, d, tg.DB)
	require.Equal(t, "a", h.Token)
	require.Equal(t, genA, h.Generation, "refused attempts changed the generation")

	// No queue: after the release the latest asker, not the first, gets it.
	require.NoError(t, d.Release(ctx, tg.DB, "a", genA))
	require.Nil(t, holder(t, d, tg.DB), "a released lock is free")
	genC := acquire(t, d, c, "c", time.Hour)
	require.Greater(t, genC, genA, "each acquisition gets a new generation")
	refused(t, d, b, "b", "c")
	require.NoError(t, d.Release(ctx, tg.DB, "c", genC))
}

// Renew extends the lease and records the running version; it fails with
// ErrLockLost for any token or generation that does not hold the lock.
func renew(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	a := pin(t, tg.DB)
	gen := acquire(t, d, a, "a", 2*time.Second)
	before := holder(t, d, tg.DB)
	require.NoError(t, d.Renew(ctx, a, "a", gen, time.Hour, 5))
	h := holder(t, d, tg.DB)
	require.Equal(t, gen, h.Generation, "a renewal changed the generation")
	require.False(t, h.ExpiresAt.Before(h.Now.Add(50*time.Minute)), "renewed for an hour, the lease expires at %v (database clock %v)", h.ExpiresAt, h.Now)
	require.True(t, h.ExpiresAt.After(before.ExpiresAt))
	require.Equal(t, int64(5), h.CurrentVersion)
	require.False(t, h.CurrentStartedAt.IsZero(), "the running version has no start time")
	require.NoError(t, d.Renew(ctx, a, "a", gen, time.Hour, 0))
	require.Zero(t, holder(t, d, tg.DB).CurrentVersion, "between migrations nothing runs")

	require.ErrorIs(t, d.Renew(ctx, a, "thief", gen, time.Hour, 0), driver.ErrLockLost)
	require.ErrorIs(t, d.Renew(ctx, a, "a", gen+1, time.Hour, 0), driver.ErrLockLost)
	require.ErrorIs(t, d.Renew(ctx, a, "a", gen-1, time.Hour, 0), driver.ErrLockLost)
	require.Equal(t, "a", holder(t, d, tg.DB).Token)
	require.NoError(t, d.Release(ctx, tg.DB, "a", gen))
	require.ErrorIs(t, d.Renew(ctx, a, "a", gen, time.Hour, 0), driver.ErrLockLost, "renewed a released lock")
	require.Nil(t, holder(t, d, tg.DB), "a renewal after the release took the lock back")
}

// An expired lease is taken over, under a higher generation and not before
// it expired; from then on the stale holder can change nothing: its
// commits, progress records, renewals and releases all fail or do nothing.
func expiryTakeover(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	a, b := pin(t, tg.DB), pin(t, tg.DB)
	genA := acquire(t, d, a, "a", 500*time.Millisecond)
	hA := holder(t, d, tg.DB)
	genB := takeover(t, d, b, "b", "a lease of 500ms expired")
	require.Greater(t, genB, genA, "a takeover gets a higher generation")
	hB := holder(t, d, tg.DB)
	require.Equal(t, "b", hB.Token)
	require.False(t, hB.AcquiredAt.Before(hA.ExpiresAt), "taken over at %v, before the lease expired at %v", hB.AcquiredAt, hA.ExpiresAt)

	// The stale holder's work is fenced out, whatever shape it has; where
	// DDL is transactional, its schema change goes with it.
	err := migrate(t, d, a, record("a", genA, applied(1, true), event(history.KindApply, 1)), "CREATE TABLE dt_fenced (id integer)")
	require.ErrorIs(t, err, driver.ErrLockLost, "the stale holder committed a migration")
	if d.Capabilities().TransactionalDDL {
		_, err = tg.DB.ExecContext(ctx, "SELECT count(*) FROM dt_fenced")
		require.True(t, driver.Is(d, err, driver.ErrNotExist), "the fenced-out migration's table exists (transactional DDL): %v", err)
	}
	rollback := &driver.Record{Token: "a", Generation: genA, TTL: time.Hour, Event: event(history.KindRollback, 1)}
	require.ErrorIs(t, migrate(t, d, a, rollback), driver.ErrLockLost, "the stale holder committed a rollback")
	partial := applied(2, false)
	partial.StatementsDone = 1
	require.ErrorIs(t, d.SaveProgress(ctx, a, record("a", genA, partial, nil)), driver.ErrLockLost, "the stale holder recorded progress")
	require.ErrorIs(t, d.Renew(ctx, a, "a", genA, time.Hour, 0), driver.ErrLockLost)
	require.NoError(t, d.Release(ctx, tg.DB, "a", genA))
	require.Equal(t, "b", holder(t, d, tg.DB).Token, "the stale holder's release freed the new holder's lock")
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Empty(t, rows, "a fenced-out holder left history rows")
	evs, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 0)
	require.NoError(t, err)
	require.Empty(t, evs, "a fenced-out holder left events")

	// The new holder commits under its own generation, on the same
	// connection kind the stale one used.
	require.NoError(t, migrate(t, d, b, record("b", genB, applied(1, true), event(history.KindApply, 1)), "SELECT 1"))
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, genB, rows[0].LockGeneration)
}

// Where the database tracks the holder's session (a direct connection),
// the session's death frees the lock long before the lease would end.
// Where it does not (a pooler, SQLite), a closed connection proves nothing
// and the lease stands until it expires.
func sessionDeath(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	a, b := pin(t, tg.DB), pin(t, tg.DB)
	if d.Capabilities().SessionLiveness && d.SessionIsDirect(ctx, a) {
		require.NotNil(t, tg.KillSession, "the driver reports direct sessions, but the setup cannot end one (Target.KillSession)")
		acquire(t, d, a, "a", time.Hour)
		require.True(t, holder(t, d, tg.DB).SessionBound, "a lock taken on a direct session is not bound to it")
		refused(t, d, b, "b", "a")
		require.NoError(t, tg.KillSession(ctx, a))
		a.Close()
		takeover(t, d, b, "b", "the holder's session ended, and its lease of an hour must not keep the lock")
		return
	}
	// Long enough that the refusal below comes before the lease ends even
	// on a loaded machine.
	acquire(t, d, a, "a", 5*time.Second)
	hA := holder(t, d, tg.DB)
	require.False(t, hA.SessionBound, "a lock taken on a shared or untracked session claims to be bound to it")
	if tg.KillSession != nil {
		require.NoError(t, tg.KillSession(ctx, a))
	}
	a.Close()
	refused(t, d, b, "b", "a")
	takeover(t, d, b, "b", "a lease of 5s expired")
	hB := holder(t, d, tg.DB)
	require.False(t, hB.AcquiredAt.Before(hA.ExpiresAt), "a closed connection freed the lock at %v, before its lease expired at %v", hB.AcquiredAt, hA.ExpiresAt)
}

// A release frees the lock at once (the lease was an hour) and wakes
// listening waiters, as a commit that asks to notify does.
func releaseWakes(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	a, b, l := pin(t, tg.DB), pin(t, tg.DB), pin(t, tg.DB)
	n, notifies := d.(driver.Notifier)
	require.Equal(t, d.Capabilities().Notifications, notifies, "Capabilities().Notifications and implementing driver.Notifier disagree")
	listening := notifies && d.SessionIsDirect(ctx, l)
	if listening {
		require.NoError(t, n.Listen(ctx, l))
	} else {
		t.Logf("no notifications here (driver.Notifier: %v, direct session: %v): waiters poll", notifies, d.SessionIsDirect(ctx, l))
	}
	genA := acquire(t, d, a, "a", time.Hour)
	refused(t, d, b, "b", "a")
	if listening {
		got, err := n.WaitNotification(ctx, l, 50*time.Millisecond)
		require.NoError(t, err)
		require.False(t, got, "a notification before anything was released or committed")
	}
	require.NoError(t, d.Release(ctx, tg.DB, "a", genA))
	if listening {
		got, err := n.WaitNotification(ctx, l, patience)
		require.NoError(t, err)
		require.True(t, got, "the release woke no listener")
	}
	genB := acquire(t, d, b, "b", time.Hour)
	require.NoError(t, d.Release(ctx, tg.DB, "a", genA))
	require.Equal(t, "b", holder(t, d, tg.DB).Token, "a second release by the old holder freed the new holder's lock")

	// A session that listens for the release only (a waiter for the
	// lock) sleeps through the holder's commits, and wakes at its release.
	rn, releaseOnly := d.(driver.ReleaseNotifier)
	r := pin(t, tg.DB)
	releaseOnly = releaseOnly && listening
	if releaseOnly {
		require.NoError(t, rn.ListenRelease(ctx, r))
	}
	rec := record("b", genB, applied(1, true), event(history.KindApply, 1))
	rec.Notify = true
	require.NoError(t, migrate(t, d, b, rec, "SELECT 1"))
	if listening {
		got, err := n.WaitNotification(ctx, l, patience)
		require.NoError(t, err)
		require.True(t, got, "a commit that notifies woke no listener")
	}
	if releaseOnly {
		// The commit's announcement reached l above, so it was sent; had
		// it gone to r's channel too, it would be waiting there now.
		got, err := rn.WaitNotification(ctx, r, 50*time.Millisecond)
		require.NoError(t, err)
		require.False(t, got, "a commit woke a session that listens for the release only")
		require.NoError(t, d.Release(ctx, tg.DB, "b", genB))
		got, err = rn.WaitNotification(ctx, r, patience)
		require.NoError(t, err)
		require.True(t, got, "the release woke no session that listens for it")
	}
}

// migrate runs one migration transaction whole: its statements, then the
// commit of rec.
func migrate(t testing.TB, d driver.Driver, c *sql.Conn, rec *driver.Record, stmts ...string) error {
	ctx := t.Context()
	// One scope per pinned connection, as a run of the executor has: a
	// driver may prepare its commit on c and reuse it.
	tx, err := d.Begin(ctx, c, &driver.TxOptions{Scope: c})
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := tx.Exec(ctx, s); err != nil {
			return errors.Join(err, tx.Rollback(ctx))
		}
	}
	return tx.Commit(ctx, rec)
}

func record(token string, gen int64, a *history.Applied, ev *history.Event) *driver.Record {
	return &driver.Record{Token: token, Generation: gen, TTL: time.Hour, Applied: a, Event: ev}
}

func applied(v int64, complete bool) *history.Applied {
	return &history.Applied{Version: v, Name: "m" + string(rune('0'+v%10)), Checksum: "sum", Phase: "pre",
		UpSQL: "SELECT 1", Complete: complete, Actor: actor("host-m")}
}

func event(kind string, v int64) *history.Event {
	dir := "up"
	if kind == history.KindRollback {
		dir = "down"
	}
	return &history.Event{Kind: kind, Version: v, Name: "m", Direction: dir, Actor: actor("host-m")}
}
