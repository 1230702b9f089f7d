package fleetgate_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func TestWait(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()

			// Another migrator applies while we wait; on PostgreSQL the
			// commit's notification ends the wait, elsewhere a poll. The
			// migrator starts once the waiter has said that it waits (it
			// has read the history and found work pending).
			t.Run("WakesOnCommit", func(t *testing.T) {
				t.Parallel()
				url := b.url(t)
				ctx := t.Context()
				waiting := make(chan struct{})
				waiter := openLogged(t, url, 6, waiting)
				runner := open(t, url, 6)
				errc := make(chan error, 1)
				go func() {
					<-waiting
					_, err := runner.Up(ctx, nil)
					errc <- err
				}()
				// PostgreSQL must not need a poll: make polls rare. The
				// first progress line comes after a second; the next one
				// (which would wake the waiter, as a poll does) not for a
				// minute.
				poll := 200 * time.Millisecond
				if b.name == "Postgres" {
					poll = time.Minute
				}
				res, err := waiter.Wait(ctx, &fleetgate.WaitOpts{PollInterval: poll, ReportEvery: time.Minute})
				require.NoError(t, err)
				require.NoError(t, <-errc)
				require.GreaterOrEqual(t, res.Reads, 2, "the wait ended on its first read: %+v", res)
				require.Equal(t, b.name == "Postgres", res.Notified, "%+v", res)
			})

			t.Run("Timeout", func(t *testing.T) {
				t.Parallel()
				url := b.url(t)
				ctx := t.Context()
				_, err := open(t, url, 3).Up(ctx, &fleetgate.UpOpts{To: 1})
				require.NoError(t, err)
				start := time.Now()
				// Long enough for the first read of the history on a
				// loaded machine: a wait that times out before any read
				// cannot say what is pending (Pending is then empty).
				_, err = open(t, url, 3).Wait(ctx, &fleetgate.WaitOpts{Timeout: 2 * time.Second})
				require.ErrorIs(t, err, fleetgate.ErrTimeout)
				require.Equal(t, 3, fleetgate.ExitCode(err))
				var te *fleetgate.WaitTimeoutError
				require.ErrorAs(t, err, &te)
				require.Equal(t, []int64{2, 3}, te.Pending)
				// A sanity ceiling: Wait gives up at its timeout, not at
				// the caller's deadline.
				require.Less(t, time.Since(start), 30*time.Second)
			})

			t.Run("Cancelled", func(t *testing.T) {
				t.Parallel()
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				_, err := open(t, b.url(t), 3).Wait(ctx, nil)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.False(t, errors.Is(err, fleetgate.ErrTimeout), "the caller's deadline is not Wait's timeout")
			})

			// Waiting on a database fleetgate never touched reads it as
			// "nothing applied" and creates nothing.
			t.Run("NoTables", func(t *testing.T) {
				t.Parallel()
				url := b.url(t)
				m := open(t, url, 3)
				_, err := m.Wait(t.Context(), &fleetgate.WaitOpts{Timeout: 200 * time.Millisecond})
				require.ErrorIs(t, err, fleetgate.ErrTimeout)
				st, err := m.Status(t.Context())
				require.NoError(t, err)
				require.Len(t, st.Migrations, 3)
				var n int
				q := "SELECT count(*) FROM pg_tables WHERE tablename LIKE 'fleetgate%'"
				if b.name == "SQLite" {
					q = "SELECT count(*) FROM sqlite_master WHERE name LIKE 'fleetgate%'"
				}
				require.NoError(t, m.DB().QueryRowContext(t.Context(), q).Scan(&n))
				require.Zero(t, n)
			})

			t.Run("To", func(t *testing.T) {
				t.Parallel()
				url := b.url(t)
				_, err := open(t, url, 3).Up(t.Context(), &fleetgate.UpOpts{To: 2})
				require.NoError(t, err)
				_, err = open(t, url, 3).Wait(t.Context(), &fleetgate.WaitOpts{To: 2, Timeout: 5 * time.Second})
				require.NoError(t, err)
			})

			t.Run("Ahead", func(t *testing.T) {
				t.Parallel()
				url := b.url(t)
				_, err := open(t, url, 5).Up(t.Context(), nil)
				require.NoError(t, err)
				res, err := open(t, url, 3).Wait(t.Context(), &fleetgate.WaitOpts{Timeout: 5 * time.Second})
				require.NoError(t, err)
				require.Equal(t, []int64{4, 5}, res.Ahead)
			})

			t.Run("BadOptions", func(t *testing.T) {
				t.Parallel()
				m := open(t, b.url(t), 3)
				for _, o := range []fleetgate.WaitOpts{{To: -1}, {Timeout: -1}, {PollInterval: -1}} {
					_, err := m.Wait(t.Context(), &o)
					require.Equal(t, 2, fleetgate.ExitCode(err), "%+v: %v", o, err)
				}
			})
		})
	}
}

// Through PgBouncer in transaction pooling a LISTEN would stay behind on a
// shared server connection: Wait sees that the session is not its own and
// polls instead, leaving no listener on the server.
func TestWaitThroughPgBouncerPolls(t *testing.T) {
	t.Parallel()
	direct := dbtest.Postgres(t)
	pooled := dbtest.PgBouncer(t, direct)
	ctx := t.Context()
	waiting := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		<-waiting
		_, err := open(t, pooled, 3).Up(ctx, nil)
		errc <- err
	}()
	res, err := openLogged(t, pooled, 3, waiting).Wait(ctx, &fleetgate.WaitOpts{PollInterval: 200 * time.Millisecond, Timeout: time.Minute})
	require.NoError(t, err)
	require.NoError(t, <-errc)
	require.False(t, res.Notified)
	require.GreaterOrEqual(t, res.Reads, 2)
	admin := open(t, direct, 3).DB()
	var listeners int
	require.NoError(t, admin.QueryRowContext(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()
		AND query LIKE 'LISTEN%'`).Scan(&listeners))
	require.Zero(t, listeners, "a LISTEN went through the pooler")
}

// chain is migrations 1..n, each creating table tN, so that a shorter
// chain is an older build of a longer one.
func chain(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		fsys[fmt.Sprintf("%d_t%d.sql", i, i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n", i))}
	}
	return fsys
}

// openLogged is open with a logger that closes waiting at the first
// "waiting for the schema" line: the waiter has read the history, found work
// pending, and sleeps until a notification or its next poll.
func openLogged(t *testing.T, url string, n int, waiting chan struct{}) *fleetgate.Migrator {
	t.Helper()
	m, err := fleetgate.Open(t.Context(), url, chain(n), &fleetgate.Config{Logger: slog.New(&waitHook{once: &sync.Once{}, ch: waiting})})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

type waitHook struct {
	once *sync.Once
	ch   chan struct{}
}

func (h *waitHook) Enabled(context.Context, slog.Level) bool { return true }
func (h *waitHook) Handle(_ context.Context, r slog.Record) error {
	if r.Message == "waiting for the schema" {
		h.once.Do(func() { close(h.ch) })
	}
	return nil
}
func (h *waitHook) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *waitHook) WithGroup(string) slog.Handler      { return h }

// open returns a Migrator on url with chain(n), closed in Cleanup.
func open(t *testing.T, url string, n int) *fleetgate.Migrator {
	t.Helper()
	m, err := fleetgate.Open(t.Context(), url, chain(n), nil)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}
