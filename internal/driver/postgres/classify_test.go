package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Which failures up, down, wait and run ride out: a lost session, a server
// going down or starting up, and a session the server ended for idling in
// its transaction (a slow network), but never a plain SQL error, a timeout
// the operator set, or the caller's own cancellation.
func TestIsTransient(t *testing.T) {
	t.Parallel()
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	state := func(code string) error { return translate(&pgconn.PgError{Code: code, Message: "m"}) }
	for code, want := range map[string]bool{
		"08006": true, "57P01": true, "57P02": true, "57P03": true, "25P03": true,
		"42P01": false, "57014": false, "23505": false, "40001": false,
	} {
		require.Equal(t, want, driver.IsTransient(d, state(code)), code)
		require.Equal(t, want, driver.IsTransient(d, &pgconn.PgError{Code: code}), "raw "+code)
	}
	require.True(t, driver.IsTransient(d, errors.New("FATAL: the database system is starting up")))
	require.False(t, driver.IsTransient(d, context.Canceled))
	require.False(t, driver.IsTransient(d, nil))
}

// Each class is reachable with errors.Is on what translate returns, the
// SQLSTATE and the pgx error are kept, and a code of no class has none.
func TestClasses(t *testing.T) {
	t.Parallel()
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	for code, want := range map[string]error{
		"08006": driver.ErrTransient, "53300": driver.ErrBusy, "42501": driver.ErrPermission,
		"55P03": driver.ErrLockTimeout, "23505": driver.ErrExists, "42P07": nil,
		"42P01": driver.ErrNotExist, "42601": nil,
	} {
		pe := &pgconn.PgError{Code: code, Message: "m"}
		err := translate(pe)
		var se *driver.StatementError
		require.ErrorAs(t, err, &se, code)
		require.Equal(t, code, se.SQLState)
		var got *pgconn.PgError
		require.ErrorAs(t, err, &got, code)
		for _, c := range []error{driver.ErrTransient, driver.ErrBusy, driver.ErrPermission, driver.ErrLockTimeout, driver.ErrExists, driver.ErrNotExist} {
			require.Equal(t, c == want, errors.Is(err, c), "%s is %v", code, c)
			require.Equal(t, c == want, driver.Is(d, pe, c), "raw %s is %v", code, c)
		}
	}
}
