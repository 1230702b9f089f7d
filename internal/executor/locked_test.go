package executor_test

import (
	"context"
	"database/sql"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	_ "github.com/fleetgate/fleetgate/internal/driver/postgres"
	_ "github.com/fleetgate/fleetgate/internal/driver/sqlite"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
)

var setups = map[string]func(t *testing.T) string{
	"Postgres": func(t *testing.T) string { return dbtest.Postgres(t) },
	"SQLite":   func(t *testing.T) string { return dbtest.SQLite(t) },
}

func options(tg *drivertest.Target, host string) executor.LockedOptions {
	return executor.LockedOptions{
		Lock:   lock.Options{TTL: 10 * time.Second, Poll: 20 * time.Millisecond, Timeout: 30 * time.Second},
		Ensure: func(ctx context.Context) error { return tg.Driver.EnsureTables(ctx, tg.DB) },
		Actor:  history.Actor{OSUser: "test", Host: host, PID: os.Getpid(), ToolVersion: "test"},
		Logger: slog.New(slog.DiscardHandler),
		Verb:   "applied",
	}
}

// The work runs while this runner holds the lease, its commit is fenced by
// that lease, and the lock is free again when Locked returns.
func TestLockedRunsUnderTheLease(t *testing.T) {
	t.Parallel()
	for name, url := range setups {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := drivertest.OpenURL(t, url(t))
			d, ctx := tg.Driver, t.Context()
			var gen int64
			ran, err := executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
				h, err := d.ReadHolder(ctx, tg.DB)
				require.NoError(t, err)
				require.Equal(t, s.Lease.Token, h.Token, "the work ran without the lease")
				gen = s.Lease.Gen
				return s.Commit(ctx, func(ctx context.Context, tx driver.Tx, rec *driver.Record) error {
					rec.Applied = &history.Applied{Version: 1, Name: "one", Checksum: "c", Phase: "pre", UpSQL: "CREATE TABLE one (id integer)",
						Complete: true, Actor: history.Actor{Host: "a"}}
					return tx.Exec(ctx, "CREATE TABLE one (id integer)")
				})
			})
			require.NoError(t, err)
			require.True(t, ran)
			h, err := d.ReadHolder(ctx, tg.DB)
			require.NoError(t, err)
			require.Nil(t, h, "the lock is still held after Locked returned")
			rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, gen, rows[0].LockGeneration)
		})
	}
}

// A lease taken over under the work: its commit is refused, Locked says
// the lock was lost and what this runner committed, and its release leaves
// the new holder's lock alone.
func TestLockedLostLease(t *testing.T) {
	t.Parallel()
	for name, url := range setups {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := drivertest.OpenURL(t, url(t))
			d, ctx := tg.Driver, t.Context()
			thief, err := driver.Conn(ctx, tg.DB)
			require.NoError(t, err)
			defer thief.Close()
			ran, err := executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
				// Another runner proves this one dead and takes over.
				gen, _, err := d.TryAcquire(ctx, thief, &driver.AcquireParams{Token: "thief", TTL: time.Hour,
					Actor: history.Actor{Host: "b"}, StaleToken: s.Lease.Token})
				require.NoError(t, err)
				require.Positive(t, gen)
				return s.Commit(ctx, func(ctx context.Context, tx driver.Tx, rec *driver.Record) error {
					rec.Applied = &history.Applied{Version: 1, Name: "one", Checksum: "c", Phase: "pre", UpSQL: "SELECT 1",
						Complete: true, Actor: history.Actor{Host: "a"}}
					return tx.Exec(ctx, "SELECT 1")
				})
			})
			require.True(t, ran)
			require.ErrorIs(t, err, driver.ErrLockLost)
			require.Contains(t, err.Error(), "this runner committed nothing")
			rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
			require.NoError(t, err)
			require.Empty(t, rows, "the runner that lost its lease committed")
			h, err := d.ReadHolder(ctx, tg.DB)
			require.NoError(t, err)
			require.NotNil(t, h)
			require.Equal(t, "thief", h.Token, "the loser's release freed the new holder's lock")
		})
	}
}

// The work runs on the session that took the lock, and the lease is bound
// only to the heartbeat's own session: a migration never shares the
// session that waiters see as the holder's, so an operator or an
// idle-session killer that ends that session leaves the migration running
// and the lease held.
func TestLockedWorkSessionIsNotTheLeases(t *testing.T) {
	t.Parallel()
	tg := drivertest.OpenURL(t, dbtest.Postgres(t))
	d, ctx := tg.Driver, t.Context()
	ran, err := executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
		var work int
		require.NoError(t, s.Conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&work))
		require.NoError(t, s.Lease.AwaitMoved(ctx))
		// The lease records no session until the heartbeat has renewed on
		// its own (lock.Acquire), and never the work's.
		var lease int
		deadline := time.Now().Add(30 * time.Second)
		for {
			var pid sql.NullInt64
			require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT session_pid FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&pid))
			require.False(t, pid.Valid && int(pid.Int64) == work, "the lease is bound to the work's session")
			if pid.Valid {
				lease = int(pid.Int64)
				break
			}
			require.True(t, time.Now().Before(deadline), "the lease was never bound to the heartbeat's session")
			time.Sleep(10 * time.Millisecond)
		}
		var ended bool
		require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", lease).Scan(&ended))
		require.True(t, ended)
		require.NoError(t, s.Lease.Verify(ctx), "the lease was lost with its session")
		return s.Commit(ctx, func(ctx context.Context, tx driver.Tx, rec *driver.Record) error {
			rec.Applied = &history.Applied{Version: 1, Name: "one", Checksum: "c", Phase: "pre", UpSQL: "CREATE TABLE one (id integer)",
				Complete: true, Actor: history.Actor{Host: "a"}}
			return tx.Exec(ctx, "CREATE TABLE one (id integer)")
		})
	})
	require.NoError(t, err)
	require.True(t, ran)
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	h, err := d.ReadHolder(ctx, tg.DB)
	require.NoError(t, err)
	require.Nil(t, h, "the lock is still held after Locked returned")
}
