package sqlite_test

import (
	"database/sql"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
	_ "modernc.org/sqlite"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

// open opens the file as fleetgate does: every pooled connection waits for
// the write lock up to 10 s.
func open(t testing.TB, path, mode string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?"+mode+"_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// Target opens a fresh SQLite file for one case.
func Target(t testing.TB) *drivertest.Target {
	path := strings.TrimPrefix(dbtest.SQLite(t), "sqlite:")
	tables, err := driver.NewTables("fleetgate_migrations")
	require.NoError(t, err)
	return &drivertest.Target{
		Driver:   sqlite.New(tables),
		DB:       open(t, path, ""),
		ReadOnly: func(t testing.TB) *sql.DB { return open(t, path, "mode=ro&") },
	}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.Run(t, Target)
}
