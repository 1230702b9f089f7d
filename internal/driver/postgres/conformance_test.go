package postgres_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	_ "github.com/fleetgate/fleetgate/internal/driver/postgres"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

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
		tg := drivertest.OpenURL(t, url)
		tg.KillSession = killSession(tg.DB)
		tg.ReadOnly = func(t testing.TB) *sql.DB {
			role := "dt_ro_" + strings.ToLower(rand.Text()[:8])
			return drivertest.OpenURL(t, dbtest.CreateRole(t, url, role, "pw-"+role, "GRANT SELECT ON ALL TABLES IN SCHEMA public TO "+role)).DB
		}
		return tg
	})
}

// Through PgBouncer in transaction pooling: no session is the client's own.
func TestConformancePgBouncer(t *testing.T) {
	t.Parallel()
	drivertest.Run(t, func(t testing.TB) *drivertest.Target {
		return drivertest.OpenURL(t, dbtest.PgBouncer(t, dbtest.Postgres(t)))
	})
}
