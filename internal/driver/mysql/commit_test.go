package mysql

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// The fence of a commit is the history row's own INSERT ... SELECT from
// the lease row (write). It must hold the lease row until the commit,
// whatever the session's isolation level: under READ COMMITTED (a URL can
// set it) a plain INSERT ... SELECT reads without locking, and a waiter
// could take an expired lease over between the fence and the COMMIT, so
// that both the stale holder and the new one commit.
func TestFencedWriteHoldsTheLeaseUntilCommit(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	require.NoError(t, d.EnsureTables(ctx, db))
	a, b := pinned(t, db), pinned(t, db)
	_, err := a.ExecContext(ctx, "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED")
	require.NoError(t, err)

	actor := history.Actor{OSUser: "u", Host: "h", PID: 1, ToolVersion: "test"}
	genA, _, err := d.TryAcquire(ctx, a, &driver.AcquireParams{Token: "a", Actor: actor, TTL: 300 * time.Millisecond})
	require.NoError(t, err)
	require.Positive(t, genA)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		h, err := d.ReadHolder(ctx, db)
		require.NoError(t, err)
		if h.Now.After(h.ExpiresAt) {
			break
		}
		require.True(t, time.Now().Before(deadline), "the lease of 300ms has not expired after 30s")
	}

	// The expired lease was not taken over, so its holder may still
	// commit; from its fence on, nobody may take the lease over.
	row := &history.Applied{Version: 1, Name: "one", Checksum: "c", Phase: "pre", UpSQL: "SELECT 1", Complete: true, Actor: actor}
	rec := &driver.Record{Token: "a", Generation: genA, TTL: time.Minute, Applied: row,
		Event: &history.Event{Kind: history.KindApply, Version: 1, Name: "one", Direction: "up", Actor: actor}}
	open, err := d.Begin(ctx, a, nil)
	require.NoError(t, err)
	require.NoError(t, d.write(ctx, open, rec))
	genB, h, err := d.TryAcquire(ctx, b, &driver.AcquireParams{Token: "b", Actor: actor, TTL: time.Minute})
	require.NoError(t, err)
	require.Zero(t, genB, "the lease was taken over between the fence and the commit")
	require.NotNil(t, h)
	_, err = open.(*tx).ExecContext(ctx, "COMMIT")
	require.NoError(t, err)

	genB, _, err = d.TryAcquire(ctx, b, &driver.AcquireParams{Token: "b", Actor: actor, TTL: time.Minute})
	require.NoError(t, err)
	require.Greater(t, genB, genA, "the expired lease is free once the commit is done")

	// From now on the stale holder's fenced writes land nowhere, in a
	// transaction or in autocommit.
	late := *row
	late.Version = 2
	open, err = d.Begin(ctx, a, nil)
	require.NoError(t, err)
	require.ErrorIs(t, open.Commit(ctx, &driver.Record{Token: "a", Generation: genA, TTL: time.Minute, Applied: &late}), driver.ErrLockLost)
	partial := late
	partial.Complete, partial.StatementsDone, partial.Running = false, 1, true
	require.ErrorIs(t, d.SaveProgress(ctx, a, &driver.Record{Token: "a", Generation: genA, TTL: time.Minute, Applied: &partial}), driver.ErrLockLost)
	var rows, events int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM fleetgate_migrations), (SELECT count(*) FROM fleetgate_events)").Scan(&rows, &events))
	require.Equal(t, 1, rows, "history rows: the commit before the takeover only")
	require.Equal(t, 1, events, "events: the commit before the takeover only")
}

func pinned(t *testing.T, db *sql.DB) *sql.Conn {
	t.Helper()
	c, err := db.Conn(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The runner sets the lock timeout before every DDL statement, and the
// driver skips the SET when it set the same value before (SetLockTimeout).
// A migration's own statement may change the variable in between; the
// next DDL statement must still run under the configured timeout.
func TestLockTimeoutSurvivesTheMigrationsOwnSet(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	c := pinned(t, db)
	waits := func() (lock, row int) {
		t.Helper()
		require.NoError(t, c.QueryRowContext(ctx, "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout").Scan(&lock, &row))
		return lock, row
	}
	require.NoError(t, d.SetLockTimeout(ctx, c, 2*time.Second))
	require.NoError(t, d.Exec(ctx, c, "CREATE TABLE lt_one (id int)"))
	require.NoError(t, d.SetLockTimeout(ctx, c, 2*time.Second))
	lock, row := waits()
	require.Equal(t, []int{2, 2}, []int{lock, row})

	// In a migration transaction (a data statement)...
	tx, err := d.Begin(ctx, c, &driver.TxOptions{LockTimeout: 2 * time.Second})
	require.NoError(t, err)
	require.NoError(t, tx.Exec(ctx, "SET SESSION lock_wait_timeout = 77, innodb_lock_wait_timeout = 78"))
	require.NoError(t, tx.Rollback(ctx))
	require.NoError(t, d.SetLockTimeout(ctx, c, 2*time.Second))
	lock, row = waits()
	require.Equal(t, []int{2, 2}, []int{lock, row}, "the lock timeouts after the migration's own SET in a transaction")

	// ... and in autocommit.
	require.NoError(t, d.Exec(ctx, c, "SET SESSION lock_wait_timeout = 77"))
	require.NoError(t, d.SetLockTimeout(ctx, c, 2*time.Second))
	lock, _ = waits()
	require.Equal(t, 2, lock, "the lock timeout after the migration's own SET in autocommit")
	require.NoError(t, d.SetLockTimeout(ctx, c, 5*time.Second))
	lock, row = waits()
	require.Equal(t, []int{5, 5}, []int{lock, row}, "a new timeout")
}

// driverDB is the driver for the default tables on a fresh MariaDB
// database, opened as fleetgate opens it.
func driverDB(t *testing.T) (*Driver, *sql.DB) {
	t.Helper()
	db, err := Open(dbtest.MariaDB(t), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	tables, err := driver.NewTables("fleetgate_migrations")
	require.NoError(t, err)
	return New(tables), db
}

// An up asks whether the tables exist and then makes sure they do
// (fleetgate's ensureTables): on a database that has them, with the lock
// row, the second costs no statement, and the first is one. Every racer
// of a fleet pays these. Where the lock row is missing, EnsureTables
// still puts it in.
func TestTablesExistThenEnsureTablesIsOneStatement(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	db.SetMaxOpenConns(1) // every statement on one session, counted there
	sent := func() int {
		t.Helper()
		var name string
		var n int
		require.NoError(t, db.QueryRowContext(ctx, "SHOW SESSION STATUS LIKE 'Questions'").Scan(&name, &n))
		return n
	}
	ok, err := d.TablesExist(ctx, db)
	require.NoError(t, err)
	require.False(t, ok)
	require.NoError(t, d.EnsureTables(ctx, db))

	before := sent()
	ok, err = d.TablesExist(ctx, db)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, d.EnsureTables(ctx, db))
	require.Equal(t, 1, sent()-before-1, "statements TablesExist and EnsureTables sent on a database that has the tables")

	_, err = db.ExecContext(ctx, "DELETE FROM fleetgate_lock")
	require.NoError(t, err)
	ok, err = d.TablesExist(ctx, db)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, d.EnsureTables(ctx, db))
	var n int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT count(*) FROM fleetgate_lock WHERE name = 'migrate'").Scan(&n))
	require.Equal(t, 1, n, "EnsureTables did not put the missing lock row in")
}

// The record of a DDL migration (its statements committed on their own,
// so its transaction runs nothing else) commits in one round trip on the
// side session kept for fleetgate's own batches: the migration's session
// sends nothing, where it sent BEGIN, the history row, the event and
// COMMIT. The rows land, fenced, and a batch that fails leaves nothing
// behind: no event without its row, and no transaction left open on the
// side session holding the lease row.
func TestDDLRecordCommitsInOneRoundTrip(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	require.NoError(t, d.EnsureTables(ctx, db))
	c, other := pinned(t, db), pinned(t, db)
	actor := history.Actor{OSUser: "u", Host: "h", PID: 1, ToolVersion: "test"}
	gen, _, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: "a", Actor: actor, TTL: time.Hour})
	require.NoError(t, err)
	require.Positive(t, gen)
	rec := func(version int64) *driver.Record {
		return &driver.Record{Token: "a", Generation: gen, TTL: time.Hour,
			Applied: &history.Applied{Version: version, Name: "ddl", Checksum: "c", Phase: "pre", UpSQL: "CREATE TABLE x (id int)", Complete: true, Actor: actor},
			Event:   &history.Event{Kind: history.KindApply, Version: version, Name: "ddl", Direction: "up", Actor: actor}}
	}
	counts := func() (rows, events int) {
		t.Helper()
		require.NoError(t, db.QueryRowContext(ctx, "SELECT (SELECT count(*) FROM fleetgate_migrations), (SELECT count(*) FROM fleetgate_events)").Scan(&rows, &events))
		return rows, events
	}

	before := questions(t, c)
	tx, err := d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx, rec(1)))
	require.Equal(t, 0, questions(t, c)-before-1, "statements the migration's session sent for the record")
	rows, events := counts()
	require.Equal(t, []int{1, 1}, []int{rows, events})

	// Version 1 again, complete: its INSERT fails on the primary key, the
	// server runs none of the rest, and the batch is rolled back.
	tx, err = d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.Error(t, tx.Commit(ctx, rec(1)))
	rows, events = counts()
	require.Equal(t, []int{1, 1}, []int{rows, events}, "a failed batch left rows behind")
	// The lease row is not held by a transaction left open: a locking
	// read that skips locked rows finds it.
	otx, err := other.BeginTx(ctx, nil)
	require.NoError(t, err)
	var n int
	require.NoError(t, otx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT name FROM fleetgate_lock FOR UPDATE SKIP LOCKED) l").Scan(&n))
	require.NoError(t, otx.Rollback())
	require.Equal(t, 1, n, "the failed batch left the lease row locked")

	tx, err = d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx, rec(2)))
	rows, events = counts()
	require.Equal(t, []int{2, 2}, []int{rows, events})
}

// A migration that turned autocommit off leaves its session's progress
// row in an open transaction, holding the row the commit's batch (on the
// side session) must update. The batch waits only briefly for it, rolls
// back, and the record commits on the migration's own session, as it did
// before there was a batch.
func TestDDLRecordCommitsPastTheMigrationsOpenTransaction(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	d, db := driverDB(t)
	require.NoError(t, d.EnsureTables(ctx, db))
	c := pinned(t, db)
	actor := history.Actor{OSUser: "u", Host: "h", PID: 1, ToolVersion: "test"}
	gen, _, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: "a", Actor: actor, TTL: time.Hour})
	require.NoError(t, err)
	require.NoError(t, d.Exec(ctx, c, "SET autocommit = 0"))
	row := &history.Applied{Version: 1, Name: "ddl", Checksum: "c", Phase: "pre", UpSQL: "SET autocommit = 0;\nCREATE TABLE x (id int)",
		Complete: false, StatementsDone: 1, Running: true, StatementChecksums: []string{"s1", "s2"}, Actor: actor}
	require.NoError(t, d.SaveProgress(ctx, c, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour, Applied: row}))

	done := *row
	done.Complete, done.Running, done.StatementsDone = true, false, 2
	tx, err := d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour, Applied: &done,
		Event: &history.Event{Kind: history.KindApply, Version: 1, Name: "ddl", Direction: "up", Actor: actor}}))
	var complete bool
	var events int
	require.NoError(t, db.QueryRowContext(ctx, "SELECT (SELECT complete FROM fleetgate_migrations WHERE version = 1), (SELECT count(*) FROM fleetgate_events)").Scan(&complete, &events))
	require.True(t, complete, "the record did not land")
	require.Equal(t, 1, events)
}
