package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// downSet is n reversible migrations, each creating a table.
func downSet(n int) map[string]string {
	files := map[string]string{}
	for i := 1; i <= n; i++ {
		files[fmt.Sprintf("%04d_t%d.sql", i, i)] = fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id int);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i)
	}
	return files
}

// versionList is the applied versions, comma-separated (string_agg is
// PostgreSQL only).
func versionList(t *testing.T, url string) string {
	t.Helper()
	db := openDB(t, url)
	rows, err := db.Query("SELECT version FROM fleetgate_migrations ORDER BY version")
	require.NoError(t, err)
	defer rows.Close()
	var vs []string
	for rows.Next() {
		var v int
		require.NoError(t, rows.Scan(&v))
		vs = append(vs, fmt.Sprint(v))
	}
	require.NoError(t, rows.Err())
	return strings.Join(vs, ",")
}

// Many instances run `down --version 8` at once: exactly one step is
// reverted in total, whenever each instance starts, and the history has
// one rollback. (Plain `down`, one step as each process reads the history,
// reverted 2 steps of 8 processes on PostgreSQL and 5 of 32 on SQLite:
// a process that starts after another finished cannot tell its intent
// from a second command.)
func TestDownConcurrentOneStep(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, downSet(8))
	for _, n := range []int{8, 32} {
		for _, eng := range []string{"postgres", "sqlite"} {
			t.Run(fmt.Sprintf("%s%d", eng, n), func(t *testing.T) {
				url := dbtest.SQLite(t)
				if eng == "postgres" {
					url = dbtest.Postgres(t)
				}
				r := fg(t, nil, "up", "-d", url, "--dir", dir)
				require.Equal(t, 0, r.Code, r.String())
				rs := race(t, n, nil, "down", "--version", "8", "-d", url, "--dir", dir)
				reverted := 0
				for _, r := range rs {
					require.Equal(t, 0, r.Code, r.String())
					reverted += strings.Count(r.Stderr, " rolled back version=")
				}
				require.Equal(t, "1,2,3,4,5,6,7", versionList(t, url))
				require.Equal(t, 1, reverted, "processes that reverted something")
				db := openDB(t, url)
				require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'rollback'"))
				require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM t7"), "t7 is still there")
			})
		}
	}
}

// down --version V names the newest applied version or nothing: an older
// one is refused (exit 4) and nothing changes.
func TestDownVersionNotNewest(t *testing.T) {
	engines(t, func(t *testing.T, url string) {
		dir := writeFiles(t, downSet(3))
		r := fg(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, nil, "down", "--version", "2", "-d", url, "--dir", dir)
		require.Equal(t, 4, r.Code, r.String())
		require.Contains(t, r.Stderr, "applied migration 3_t3 is newer")
		require.Equal(t, "1,2,3", versionList(t, url))
		r = fg(t, nil, "down", "--version", "3", "--steps", "1", "-d", url, "--dir", dir)
		require.Equal(t, 2, r.Code, r.String())
		require.Equal(t, "1,2,3", versionList(t, url))
	})
}
