package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// The plan read (every start of every instance reads it) returns what
// the full row read returns of each row, in version order, across the
// pages it scans into (more rows than one page holds, and a page's
// worth exactly).
func TestReadPlanColumnsAsRows(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 256, 600} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			db, err := sql.Open("sqlite", "file:"+filepath.Join(t.TempDir(), "x.db"))
			require.NoError(t, err)
			defer db.Close()
			d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l", Instances: "i"})
			require.NoError(t, d.EnsureTables(ctx, db))
			for v := n; v >= 1; v-- { // inserted out of order: the read orders them
				_, err := db.ExecContext(ctx, `INSERT INTO m (version, name, checksum, phase, up_sql, down_sql, down_checksum, reversible,
					applied_at, duration_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete,
					statements_done, adopted) VALUES (?, ?, ?, ?, '', '', ?, 1, 0, 0, '', '', 0, '', '', 1, ?, ?, 0)`,
					v, fmt.Sprintf("m%d", v), fmt.Sprintf("sum%d", v), []string{"pre", "post"}[v%2], fmt.Sprintf("down%d", v), v%7 != 0, v%5)
				require.NoError(t, err)
			}
			plan, err := d.ReadApplied(ctx, db, driver.PlanColumns)
			require.NoError(t, err)
			rows, err := d.ReadApplied(ctx, db, driver.RowColumns)
			require.NoError(t, err)
			require.Len(t, plan, n)
			require.Len(t, rows, n)
			for i, r := range rows {
				require.Equal(t, int64(i+1), r.Version)
				require.Equal(t, history.Applied{Version: r.Version, Name: r.Name, Checksum: r.Checksum, Phase: r.Phase,
					Complete: r.Complete, StatementsDone: r.StatementsDone, DownChecksum: r.DownChecksum}, plan[i])
			}
		})
	}
}
