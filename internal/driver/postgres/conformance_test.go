package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

// openPool opens url as fleetgate does (simple protocol: nothing prepared
// to strand on a pooler's server connections).
func openPool(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url+"&default_query_exec_mode=simple_protocol")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func newDriver(t testing.TB) *postgres.Driver {
	tables, err := driver.NewTables("fleetgate_migrations")
	require.NoError(t, err)
	return postgres.New(tables)
}

// killSession terminates conn's backend from another session of db and
// waits until the server no longer lists it.
func killSession(db *sql.DB) func(ctx context.Context, conn *sql.Conn) error {
	return func(ctx context.Context, conn *sql.Conn) error {
		var pid int
		if err := conn.QueryRowContext(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
			return fmt.Errorf("find the session's pid: %w", err)
		}
		if _, err := db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid); err != nil {
			return fmt.Errorf("terminate backend %d: %w", pid, err)
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1", pid).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
		}
		return fmt.Errorf("backend %d still listed 30s after its termination", pid)
	}
}

// A direct session: the database tracks it, and read-only credentials can
// be made.
func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.Run(t, func(t testing.TB) *drivertest.Target {
		url := dbtest.Postgres(t)
		db := openPool(t, url)
		return &drivertest.Target{
			Driver:      newDriver(t),
			DB:          db,
			KillSession: killSession(db),
			ReadOnly: func(t testing.TB) *sql.DB {
				role := "dt_ro_" + strings.ToLower(rand.Text()[:8])
				return openPool(t, dbtest.CreateRole(t, url, role, "pw-"+role, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+role))
			},
		}
	})
}

// Through PgBouncer in transaction pooling: no session is the client's own.
func TestConformancePgBouncer(t *testing.T) {
	t.Parallel()
	drivertest.Run(t, func(t testing.TB) *drivertest.Target {
		return &drivertest.Target{Driver: newDriver(t), DB: openPool(t, dbtest.PgBouncer(t, dbtest.Postgres(t)))}
	})
}
