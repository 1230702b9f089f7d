package postgres_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
)

// A URL without sslmode means "prefer": TLS if the server offers it, else
// plain. pgx asks for TLS on one TCP connection and, refused, opens a
// second one for plain, so every session against a server without TLS
// cost the server two connections (and a backend forked for nothing).
// Once one connection of the pool learnt that the server refuses TLS,
// the next ones go plain at once.
func TestPreferLearnsThatTheServerRefusesTLS(t *testing.T) {
	t.Parallel()
	wc, through := dbtest.NewWireCounter(t, dbtest.Postgres(t))
	u, err := url.Parse(through)
	require.NoError(t, err)
	q := u.Query()
	q.Del("sslmode")
	u.RawQuery = q.Encode()
	db, err := postgres.Open(u.String(), func(s string) string { return s })
	require.NoError(t, err)
	defer db.Close()
	db.SetMaxIdleConns(0) // every query below opens a session of its own
	const sessions = 5
	for range sessions {
		var ssl bool
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()").Scan(&ssl))
		require.False(t, ssl, "the harness server has no TLS")
	}
	// The first session's refused TLS request is the one extra.
	require.Len(t, wc.Conns(), sessions+1, "TCP connections for %d sessions", sessions)
}
