package mysql

import (
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// The server error numbers the conformance suite cannot provoke on one
// server map to their classes; a table a migration creates that exists
// already is a failed migration, never ErrExists (which the executor
// reads as "recorded by another runner" and skips).
func TestClassify(t *testing.T) {
	t.Parallel()
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	for n, want := range map[uint16]error{
		1146: driver.ErrNotExist, 1062: driver.ErrExists, 1050: nil, 1044: driver.ErrPermission, 1045: driver.ErrPermission,
		1142: driver.ErrPermission, 1205: driver.ErrLockTimeout, 3572: driver.ErrLockTimeout, 1213: driver.ErrTransient,
		2006: driver.ErrTransient, 2013: driver.ErrTransient, 1927: driver.ErrTransient, 1040: driver.ErrBusy, 1064: nil,
	} {
		err := &mysql.MySQLError{Number: n, Message: "m"}
		require.Equal(t, want, d.Classify(err), "error %d", n)
		var se *driver.StatementError
		require.ErrorAs(t, translate(err), &se)
		require.Equal(t, want, se.Class, "error %d", n)
		require.Contains(t, se.Error(), "Error ", "error %d", n)
	}
	require.Equal(t, driver.ErrTransient, d.Classify(mysql.ErrInvalidConn))
	require.True(t, driver.IsTransient(d, mysql.ErrInvalidConn))
}
