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

// The classes of error that callers branch on. Each is provoked for real,
// and the driver must place it in its class and no other, keeping the
// database's own error (a *driver.StatementError) inside.
const (
	classExists      = "already exists"
	classNotExist    = "does not exist"
	classLockTimeout = "lock timeout"
	classBusy        = "busy"
	classTransient   = "transient"
	classPermission  = "permission denied"
)

// classes returns every class err falls in, as the driver reports them.
func classes(d driver.Driver, err error) []string {
	var out []string
	if d.IsUniqueViolation(err) {
		out = append(out, classExists)
	}
	if d.IsLockTimeout(err) {
		out = append(out, classLockTimeout)
	}
	if b, ok := d.(driver.Busy); ok && b.IsBusy(err) {
		out = append(out, classBusy)
	}
	if driver.IsTransient(err) {
		out = append(out, classTransient)
	}
	return out
}

// classified asserts that err is in class want alone. A class that the
// interface cannot name yet (want == "") asserts that err is in none.
func classified(t testing.TB, d driver.Driver, err error, want string, what string) {
	t.Helper()
	require.Error(t, err, what)
	var expect []string
	if want != "" {
		expect = []string{want}
	}
	require.Equal(t, expect, classes(d, err), "%s: %v", what, err)
}

// keepsStatementError asserts that the database's own error is kept.
func keepsStatementError(t testing.TB, err error, what string) {
	t.Helper()
	var se *driver.StatementError
	require.ErrorAs(t, err, &se, "%s: the database's error is not kept", what)
	require.NotEmpty(t, se.Message, what)
	require.NotNil(t, se.Unwrap(), "%s: the client library's error is not kept", what)
}

func errorClasses(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)

	// Already exists: another runner recorded the version first.
	require.NoError(t, migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1))))
	err := migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1)))
	classified(t, d, err, classExists, "a second history row of one version")
	keepsStatementError(t, err, "a second history row of one version")
	require.False(t, errors.Is(err, driver.ErrLockLost), "a duplicate row is not a lost lock")

	// Does not exist: a statement naming a missing table.
	require.NoError(t, begin(t, d, c, nil))
	err = d.Exec(ctx, c, "SELECT * FROM dt_no_such_table")
	classified(t, d, err, "", "a missing table")
	keepsStatementError(t, err, "a missing table")
	require.NoError(t, d.Rollback(ctx, c))

	// Lock timeout: a statement waits for a row another transaction
	// holds. Where writers exclude each other the wait is for the write
	// lock, and ends busy.
	_, err = tg.DB.ExecContext(ctx, "CREATE TABLE dt_locked (id integer PRIMARY KEY)")
	require.NoError(t, err)
	x, y := pin(t, tg.DB), pin(t, tg.DB)
	require.NoError(t, begin(t, d, x, nil))
	require.NoError(t, d.Exec(ctx, x, "INSERT INTO dt_locked VALUES (1)"))
	if _, busy := d.(driver.Busy); busy {
		wctx, cancel := context.WithTimeout(ctx, time.Second)
		err = d.Begin(wctx, y, &driver.TxOptions{LockTimeout: 200 * time.Millisecond})
		if err == nil {
			err = d.Exec(wctx, y, "INSERT INTO dt_locked VALUES (1)")
		}
		cancel()
		classified(t, d, err, classBusy, "a write while another connection writes")
	} else {
		require.NoError(t, begin(t, d, y, &driver.TxOptions{LockTimeout: 200 * time.Millisecond}))
		wctx, cancel := context.WithTimeout(ctx, patience)
		err = d.Exec(wctx, y, "INSERT INTO dt_locked VALUES (1)")
		cancel()
		classified(t, d, err, classLockTimeout, "a row lock held past the lock timeout")
		keepsStatementError(t, err, "a row lock held past the lock timeout")
	}
	_ = d.Rollback(ctx, y)
	require.NoError(t, d.Rollback(ctx, x))

	// Permission denied: credentials that may read but not write.
	if tg.ReadOnly != nil {
		ro := tg.ReadOnly(t)
		ok, err := d.TablesExist(ctx, ro)
		require.NoError(t, err, "read-only credentials cannot see the tables")
		require.True(t, ok)
		rows, err := d.ReadApplied(ctx, ro, false)
		require.NoError(t, err, "read-only credentials cannot read the history")
		require.Len(t, rows, 1)
		err = d.AppendEvent(ctx, ro, event(history.KindLockWait, 0))
		classified(t, d, err, "", "a write with read-only credentials")
		keepsStatementError(t, err, "a write with read-only credentials")
	} else {
		t.Logf("this setup has no read-only credentials (Target.ReadOnly): the permission class is proven by another setup")
	}

	// Transient: the session broke under the connection.
	if tg.KillSession != nil {
		k := pin(t, tg.DB)
		require.NoError(t, tg.KillSession(ctx, k))
		_, err := d.ReadHolder(ctx, k)
		classified(t, d, err, classTransient, "a statement on a killed session")
	} else {
		t.Logf("this setup cannot end a session (Target.KillSession): the transient class is proven by another setup")
	}
}
