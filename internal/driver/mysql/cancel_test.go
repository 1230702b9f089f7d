package mysql

import (
	"context"
	"database/sql"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// A statement whose context ends (a signal, a timeout) stops at once
// with the context's error, and its connection is not used again, as
// with go-sql-driver's own cancellation; idConn.ExecContext does it
// without go-sql-driver's watcher goroutine. Over TCP and over the Unix
// socket, the two networks fleetgate dials itself.
func TestExecEndsWithItsContext(t *testing.T) {
	t.Parallel()
	raw := dbtest.MariaDB(t)
	tcp, err := Open(raw, nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = tcp.Close() })
	var socket string
	require.NoError(t, tcp.QueryRowContext(t.Context(), "SELECT @@socket").Scan(&socket))
	u, err := url.Parse(raw)
	require.NoError(t, err)
	u.Host, u.RawQuery = "", url.Values{"socket": {socket}}.Encode()
	unix, err := Open(u.String(), nil)
	require.NoError(t, err)
	t.Cleanup(func() { _ = unix.Close() })

	for name, db := range map[string]*sql.DB{"tcp": tcp, "unix": unix} {
		t.Run(name, func(t *testing.T) {
			cut := func(ctx context.Context, want error) {
				t.Helper()
				c := pinned(t, db)
				var id int64
				require.NoError(t, c.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&id))
				start := time.Now()
				_, err := c.ExecContext(ctx, "DO SLEEP(60)")
				require.ErrorIs(t, err, want)
				require.Less(t, time.Since(start), 30*time.Second, "the statement ran on after its context ended")
				// The connection is gone for the client, and the pool
				// opens a new one.
				_, err = c.ExecContext(t.Context(), "DO 1")
				require.Error(t, err, "a connection whose statement was cut off was used again")
				var other int64
				require.NoError(t, db.QueryRowContext(t.Context(), "SELECT CONNECTION_ID()").Scan(&other))
				require.NotEqual(t, id, other)
			}
			ctx, cancel := context.WithCancel(t.Context())
			time.AfterFunc(300*time.Millisecond, cancel)
			cut(ctx, context.Canceled)
			ctx, cancel = context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			cut(ctx, context.DeadlineExceeded)

			// A context that ended before the statement: nothing is
			// sent, and the connection stays good.
			c := pinned(t, db)
			ctx, cancel = context.WithCancel(t.Context())
			cancel()
			_, err := c.ExecContext(ctx, "DO 1")
			require.ErrorIs(t, err, context.Canceled)
			_, err = c.ExecContext(t.Context(), "DO 1")
			require.NoError(t, err)
		})
	}
}

// BenchmarkExec is one autocommit statement per iteration on a pinned
// connection with a cancellable context, as every statement of a
// migration is sent: go test -bench Exec -run '^$' ./internal/driver/mysql.
// It reports this process's CPU time per statement too (cpu-ns/op),
// which a busy machine disturbs less than the wall time.
func BenchmarkExec(b *testing.B) {
	db, err := Open(dbtest.MariaDB(b), nil)
	require.NoError(b, err)
	defer db.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c, err := db.Conn(ctx)
	require.NoError(b, err)
	defer c.Close()
	cpu := func() time.Duration {
		var ru syscall.Rusage
		require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	for b.Loop() {
		if _, err := c.ExecContext(ctx, "DO 1"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(cpu()-start)/float64(b.N), "cpu-ns/op")
}
