package dbtest_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// proxied connects through fp and returns the connection with the proxy's
// handle on it, found from the server's side (inet_client_port).
func proxied(t *testing.T, fp *dbtest.FaultProxy, url string) (*pgx.Conn, *dbtest.FaultConn) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	var port int
	require.NoError(t, conn.QueryRow(ctx, "SELECT inet_client_port()").Scan(&port))
	fc := fp.Conn(port)
	require.NotNil(t, fc, "no proxied connection has server-side port %d", port)
	return conn, fc
}

func ping(conn *pgx.Conn, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var one int
	return conn.QueryRow(ctx, "SELECT 1").Scan(&one)
}

// A fault applied to one connection leaves the proxy's other connections
// alone; that is what lets a test break a runner's lock session and not
// its migration connection.
func TestFaultProxyPerConnection(t *testing.T) {
	t.Parallel()
	direct := dbtest.Postgres(t)
	fp, url := dbtest.FaultProxyFor(t, direct)
	a, fa := proxied(t, fp, url)
	b, fb := proxied(t, fp, url)
	require.NotEqual(t, fa.ClientPort, fb.ClientPort)

	t.Run("Blackhole", func(t *testing.T) {
		require.NoError(t, fa.Apply(dbtest.Blackhole()))
		err := ping(a, 500*time.Millisecond)
		require.Error(t, err, "a blackholed connection answered")
		require.NoError(t, ping(b, 10*time.Second), "the other connection was hit too")
	})

	t.Run("Latency", func(t *testing.T) {
		require.NoError(t, fb.Apply(dbtest.Latency(150*time.Millisecond, 0)))
		start := time.Now()
		require.NoError(t, ping(b, 30*time.Second))
		// One round trip crosses the toxic twice.
		require.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond)
		fb.Heal()
		require.NoError(t, ping(b, 10*time.Second))
		require.False(t, fb.Closed(), "healing latency closed the connection")
	})

	t.Run("Trickle", func(t *testing.T) {
		c, fc := proxied(t, fp, url)
		// About 400 bytes per second each way.
		require.NoError(t, fc.Apply(dbtest.Trickle(4, 10*time.Millisecond)))
		q := "SELECT length('" + strings.Repeat("x", 400) + "')"
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		var n int
		require.NoError(t, c.QueryRow(ctx, q).Scan(&n))
		require.Equal(t, 400, n)
		require.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond)
	})

	t.Run("Reset", func(t *testing.T) {
		c, fc := proxied(t, fp, url)
		var pid int
		require.NoError(t, c.QueryRow(t.Context(), "SELECT pg_backend_pid()").Scan(&pid))
		done := make(chan error, 1)
		go func() {
			_, err := c.Exec(context.Background(), "SELECT pg_sleep(30)")
			done <- err
		}()
		admin := open(t, "pgx", direct)
		waitActive := time.Now().Add(30 * time.Second)
		for {
			var n int
			require.NoError(t, admin.QueryRowContext(t.Context(),
				"SELECT count(*) FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", pid).Scan(&n))
			if n == 1 {
				break
			}
			require.True(t, time.Now().Before(waitActive), "the statement never started")
			time.Sleep(20 * time.Millisecond)
		}
		fc.Reset()
		select {
		case err := <-done:
			require.Error(t, err, "the client did not see its connection reset")
		case <-time.After(10 * time.Second):
			t.Fatal("the client did not see its connection reset within 10s")
		}
		require.True(t, fc.Closed())
		require.NoError(t, ping(b, 10*time.Second), "the other connection was hit too")
	})

	t.Run("HealBlackholeCloses", func(t *testing.T) {
		fa.Heal()
		require.True(t, fa.Closed())
		require.Error(t, ping(a, 5*time.Second))
	})
}

// A proxy-wide fault reaches connections made after it, as a network
// partition would.
func TestFaultProxyApplyAll(t *testing.T) {
	t.Parallel()
	fp, url := dbtest.FaultProxyFor(t, dbtest.Postgres(t))
	before, _ := proxied(t, fp, url)
	require.NoError(t, fp.ApplyAll(dbtest.Blackhole()))
	require.Error(t, ping(before, 500*time.Millisecond))

	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	_, err := pgx.Connect(ctx, url)
	require.Error(t, err, "a connection made during a partition got through")

	fp.HealAll()
	after, _ := proxied(t, fp, url)
	require.NoError(t, ping(after, 10*time.Second))
}
