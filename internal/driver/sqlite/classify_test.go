package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Real SQLite errors land in their classes with their result code kept,
// and a second writer that finds the write lock held is ErrBusy.
func TestClasses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "x.db")
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	defer db.Close()
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	_, err = db.ExecContext(ctx, "CREATE TABLE t (id integer PRIMARY KEY, u text UNIQUE)")
	require.NoError(t, err)
	_, err = db.ExecContext(ctx, "INSERT INTO t VALUES (1, 'a')")
	require.NoError(t, err)

	for name, tc := range map[string]struct {
		stmt  string
		class error
	}{
		"PrimaryKey":  {"INSERT INTO t VALUES (1, 'b')", driver.ErrExists},
		"Unique":      {"INSERT INTO t VALUES (2, 'a')", driver.ErrExists},
		"NoSuchTable": {"SELECT * FROM nope", driver.ErrNotExist},
		"TableExists": {"CREATE TABLE t (id integer)", nil},
		"SyntaxError": {"SELEC 1", nil},
	} {
		_, raw := db.ExecContext(ctx, tc.stmt)
		require.Error(t, raw, name)
		err := translate(raw)
		var se *driver.StatementError
		require.ErrorAs(t, err, &se, name)
		require.NotEmpty(t, se.SQLState, name)
		for _, c := range []error{driver.ErrTransient, driver.ErrBusy, driver.ErrPermission, driver.ErrLockTimeout, driver.ErrExists, driver.ErrNotExist} {
			require.Equal(t, c == tc.class, errors.Is(err, c), "%s is %v", name, c)
			require.Equal(t, c == tc.class, driver.Is(d, raw, c), "raw %s is %v", name, c)
		}
	}

	// A second connection without a busy timeout finds the write lock held.
	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, "INSERT INTO t VALUES (3, 'c')")
	require.NoError(t, err)
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(0)")
	require.NoError(t, err)
	defer other.Close()
	_, err = other.ExecContext(ctx, "INSERT INTO t VALUES (4, 'd')")
	require.Error(t, err)
	require.True(t, driver.Is(d, err, driver.ErrBusy), "%v", err)
	require.ErrorIs(t, translate(err), driver.ErrBusy)
	require.True(t, d.Capabilities().SingleWriter)
}
