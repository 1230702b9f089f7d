package driver_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// A driver without notifications leaves the Listener polling: Sleep is the
// pause, and ends with ctx.
func TestListenerPollsWithoutNotifier(t *testing.T) {
	t.Parallel()
	tables, _ := driver.NewTables("fleetgate_migrations")
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/n.db")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	defer conn.Close()

	var ln driver.Listener
	require.ErrorIs(t, ln.Listen(t.Context(), sqlite.New(tables), conn), driver.ErrNoNotifications)
	require.False(t, ln.Listening())
	got, err := ln.Sleep(t.Context(), time.Millisecond)
	require.NoError(t, err)
	require.False(t, got)

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = ln.Sleep(ctx, time.Hour)
	require.ErrorIs(t, err, context.Canceled)
}

// On PostgreSQL an announcement ends Sleep; a session that breaks while
// listening is reported (not as ctx's end) and the Listener polls after it;
// Unlisten keeps the session and stops the announcements.
func TestListenerPostgres(t *testing.T) {
	t.Parallel()
	tables, _ := driver.NewTables("fleetgate_migrations")
	d := postgres.New(tables)
	db, err := sql.Open("pgx", dbtest.Postgres(t))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	notify := func() {
		_, err := db.ExecContext(ctx, "SELECT pg_notify($1, 'test')", d.Channel())
		require.NoError(t, err)
	}

	t.Run("Wakes", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var ln driver.Listener
		require.NoError(t, ln.Listen(ctx, d, conn))
		require.True(t, ln.Listening())
		notify()
		// An hour's pause that ends is the announcement's doing.
		got, err := ln.Sleep(ctx, time.Hour)
		require.NoError(t, err)
		require.True(t, got)

		ln.Unlisten(ctx)
		require.False(t, ln.Listening())
		notify()
		got, err = ln.Sleep(ctx, 100*time.Millisecond)
		require.NoError(t, err)
		require.False(t, got)
		// The session is still the caller's, and usable.
		require.NoError(t, conn.PingContext(ctx))
	})

	t.Run("Broken", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var pid int
		require.NoError(t, conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid))
		var ln driver.Listener
		require.NoError(t, ln.Listen(ctx, d, conn))
		_, err = db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
		require.NoError(t, err)
		_, err = ln.Sleep(ctx, time.Hour)
		require.Error(t, err)
		require.NoError(t, ctx.Err())
		require.False(t, ln.Listening(), "a broken session is still counted on")
	})

	t.Run("Cancelled", func(t *testing.T) {
		conn, err := db.Conn(ctx)
		require.NoError(t, err)
		defer conn.Close()
		var ln driver.Listener
		require.NoError(t, ln.Listen(ctx, d, conn))
		cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = ln.Sleep(cctx, time.Hour)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})
}
