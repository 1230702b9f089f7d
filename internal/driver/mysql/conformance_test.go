package mysql_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	_ "github.com/fleetgate/fleetgate/internal/driver/mysql"
)

// killSession ends conn's session with KILL from another session of db
// and waits until the server no longer lists it.
func killSession(db *sql.DB) func(ctx context.Context, conn *sql.Conn) error {
	return func(ctx context.Context, conn *sql.Conn) error {
		var id int64
		if err := conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&id); err != nil {
			return fmt.Errorf("find the session's id: %w", err)
		}
		if _, err := db.ExecContext(ctx, fmt.Sprintf("KILL %d", id)); err != nil {
			return fmt.Errorf("kill session %d: %w", id, err)
		}
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var n int
			if err := db.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ?", id).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				return nil
			}
		}
		return fmt.Errorf("session %d still listed 30s after KILL", id)
	}
}

// readOnlyUser creates a user who may only read the test's database and
// returns a URL for it.
func readOnlyUser(t testing.TB, db *sql.DB, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	name := "dt_ro_" + strings.ToLower(rand.Text()[:8])
	pw := "pw-" + name
	dbName := strings.TrimPrefix(u.Path, "/")
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", name, pw),
		fmt.Sprintf("GRANT SELECT ON `%s`.* TO '%s'@'%%'", dbName, name),
	} {
		_, err := db.ExecContext(t.Context(), q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = db.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	u.User = url.UserPassword(name, pw)
	return u.String()
}

// Against MariaDB 10.11 on a direct TCP connection: the server lists the
// sessions, and read-only users can be made.
func TestConformance(t *testing.T) {
	t.Parallel()
	open := func(t testing.TB) *drivertest.Target {
		raw := dbtest.MariaDB(t)
		tg := drivertest.OpenURL(t, strings.Replace(raw, "mysql://", "mariadb://", 1))
		tg.KillSession = killSession(tg.DB)
		tg.ReadOnly = func(t testing.TB) *sql.DB { return drivertest.OpenURL(t, readOnlyUser(t, tg.DB, raw)).DB }
		return tg
	}
	for _, c := range drivertest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			t.Parallel()
			c.Run(t, open)
		})
	}
}
