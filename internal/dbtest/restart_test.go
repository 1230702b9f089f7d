package dbtest_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// Not parallel: a restart breaks every connection of the binary, and the
// parallel tests run only after the sequential ones.
func TestPostgresRestart(t *testing.T) {
	heavy(t)
	if os.Getenv("TEST_POSTGRES_URL") != "" {
		t.Skip("TEST_POSTGRES_URL names a server this package did not start, and cannot restart")
	}
	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)
	db := open(t, "pgx", dbtest.Postgres(t))
	_, err = db.ExecContext(t.Context(), "CREATE TABLE kept (id int); INSERT INTO kept VALUES (1)")
	require.NoError(t, err)
	var before int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT pg_backend_pid()").Scan(&before))

	for _, mode := range []string{"fast", "immediate"} {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
		require.NoError(t, srv.Restart(ctx, mode), mode)
		cancel()
		// A pooled connection that the restart ended may be handed out
		// once more before the pool notices (pgx checks a connection only
		// after it idled a second), so the first query may meet 57P01.
		var n, pid int
		var qerr error
		require.Eventually(t, func() bool {
			qerr = db.QueryRowContext(t.Context(), "SELECT count(*), pg_backend_pid() FROM kept").Scan(&n, &pid)
			return qerr == nil
		}, 30*time.Second, 20*time.Millisecond, "%s: %v", mode, qerr)
		require.Equal(t, 1, n, "the table did not survive a %s restart", mode)
		require.NotEqual(t, before, pid, "the connection survived a %s restart", mode)
		before = pid
	}
	require.Error(t, srv.Restart(t.Context(), "slow"))
}
