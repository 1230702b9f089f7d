package sqlite_test

import (
	"database/sql"
	"testing"

	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	_ "github.com/fleetgate/fleetgate/internal/driver/sqlite"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }

// A file of its own per case; read-only credentials are the same file
// opened read-only. SQLite has no server sessions to end.
func TestConformance(t *testing.T) {
	t.Parallel()
	drivertest.Run(t, func(t testing.TB) *drivertest.Target {
		url := dbtest.SQLite(t)
		tg := drivertest.OpenURL(t, url)
		tg.ReadOnly = func(t testing.TB) *sql.DB { return drivertest.OpenURL(t, url+"?mode=ro").DB }
		return tg
	})
}
