package drivertest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// allClasses are the classes of error that callers branch on (see
// driver.Is).
var allClasses = []error{driver.ErrTransient, driver.ErrBusy, driver.ErrPermission, driver.ErrLockTimeout, driver.ErrExists, driver.ErrNotExist}

// classes returns every class err falls in, as the driver reports them.
func classes(d driver.Driver, err error) []error {
	var out []error
	for _, c := range allClasses {
		if driver.Is(d, err, c) {
			out = append(out, c)
		}
	}
	return out
}

// classified asserts that err, provoked for real, is in class want and no
// other, and that a database error keeps the database's own error
// inside, its class set so that errors.Is finds it too.
func classified(t testing.TB, d driver.Driver, err, want error, what string) {
	t.Helper()
	require.Error(t, err, what)
	require.Equal(t, []error{want}, classes(d, err), "%s: %v", what, err)
	require.Equal(t, want == driver.ErrTransient, driver.IsTransient(d, err), "%s: IsTransient disagrees with the class: %v", what, err)
	var se *driver.StatementError
	if errors.As(err, &se) {
		require.NotEmpty(t, se.Message, what)
		require.NotNil(t, se.Unwrap(), "%s: the client library's error is not kept", what)
		require.ErrorIs(t, err, want, "%s: the StatementError does not carry its class", what)
	}
}

// statementError asserts that the database's own error came back as a
// *driver.StatementError.
func statementError(t testing.TB, err error, what string) {
	t.Helper()
	var se *driver.StatementError
	require.ErrorAs(t, err, &se, "%s: not a StatementError: %v", what, err)
}

// Each class is provoked for real and must be reported as that class and
// no other: a second history row of one version (exists), a missing table
// (does not exist), a row held past the lock timeout (lock timeout, or busy
// where writers wait for each other instead), a write with read-only
// credentials (permission), a statement on a killed session (transient).
func errorClasses(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)

	require.NoError(t, migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1))))
	err := migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1)))
	classified(t, d, err, driver.ErrExists, "a second history row of one version")
	statementError(t, err, "a second history row of one version")
	require.False(t, errors.Is(err, driver.ErrLockLost), "a duplicate row is not a lost lock")

	tx, err := d.Begin(ctx, c, nil)
	require.NoError(t, err)
	err = tx.Exec(ctx, "SELECT * FROM dt_no_such_table")
	classified(t, d, err, driver.ErrNotExist, "a missing table")
	statementError(t, err, "a missing table")
	require.NoError(t, tx.Rollback(ctx))

	_, err = tg.DB.ExecContext(ctx, "CREATE TABLE dt_locked (id integer PRIMARY KEY)")
	require.NoError(t, err)
	x, y := pin(t, tg.DB), pin(t, tg.DB)
	holder, err := d.Begin(ctx, x, nil)
	require.NoError(t, err)
	require.NoError(t, holder.Exec(ctx, "INSERT INTO dt_locked VALUES (1)"))
	switch caps := d.Capabilities(); {
	case caps.LockTimeout:
		waiter, err := d.Begin(ctx, y, &driver.TxOptions{LockTimeout: 200 * time.Millisecond})
		require.NoError(t, err)
		wctx, cancel := context.WithTimeout(ctx, patience)
		err = waiter.Exec(wctx, "INSERT INTO dt_locked VALUES (1)")
		cancel()
		classified(t, d, err, driver.ErrLockTimeout, "a row lock held past the lock timeout")
		statementError(t, err, "a row lock held past the lock timeout")
		_ = waiter.Rollback(ctx)

		// The same wait cut short by the caller's own deadline: that
		// deadline is final, so the error is not one to retry.
		z := pin(t, tg.DB)
		late, err := d.Begin(ctx, z, &driver.TxOptions{LockTimeout: patience})
		require.NoError(t, err)
		wctx, cancel = context.WithTimeout(ctx, 200*time.Millisecond)
		err = late.Exec(wctx, "INSERT INTO dt_locked VALUES (1)")
		cancel()
		require.Error(t, err, "a write past the caller's deadline")
		require.False(t, driver.Is(d, err, driver.ErrTransient), "the caller's deadline is counted as transient: %v", err)
		require.False(t, driver.IsTransient(d, err), "the caller's deadline is counted as transient: %v", err)
		_ = late.Rollback(ctx)
	case caps.SingleWriter:
		// No lock timeout: a writer waits for the other in the database's
		// busy handler, here cut short.
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		waiter, err := d.Begin(wctx, y, &driver.TxOptions{LockTimeout: 200 * time.Millisecond})
		if err == nil {
			err = waiter.Exec(wctx, "INSERT INTO dt_locked VALUES (1)")
			_ = waiter.Rollback(ctx)
		}
		cancel()
		// The wait ended at our deadline, which is final: busy, and not
		// transient (nothing to retry past the caller's deadline).
		require.Equal(t, []error{driver.ErrBusy}, classes(d, err), "a write while another connection writes, cut short by the caller's deadline: %v", err)
		require.False(t, driver.IsTransient(d, err), "a write while another connection writes is transient: %v", err)
	default:
		t.Errorf("%T has neither a lock timeout nor a single writer (Capabilities): a migration's wait for a lock would be unbounded", d)
	}
	require.NoError(t, holder.Rollback(ctx))

	if tg.ReadOnly != nil {
		ro := tg.ReadOnly(t)
		ok, err := d.TablesExist(ctx, ro)
		require.NoError(t, err, "read-only credentials cannot see the tables")
		require.True(t, ok)
		rows, err := d.ReadApplied(ctx, ro, false)
		require.NoError(t, err, "read-only credentials cannot read the history")
		require.Len(t, rows, 1)
		err = d.AppendEvent(ctx, ro, event(history.KindLockWait, 0))
		classified(t, d, err, driver.ErrPermission, "a write with read-only credentials")
		statementError(t, err, "a write with read-only credentials")
	} else {
		t.Logf("this setup has no read-only credentials (Target.ReadOnly): the permission class is proven by another setup")
	}

	if tg.KillSession != nil {
		k := pin(t, tg.DB)
		require.NoError(t, tg.KillSession(ctx, k))
		_, err := d.ReadHolder(ctx, k)
		classified(t, d, err, driver.ErrTransient, "a statement on a killed session")
	} else {
		t.Logf("this setup cannot end a session (Target.KillSession): the transient class is proven by another setup")
	}
}
