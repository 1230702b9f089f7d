package e2e

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The fleet promise: any number of instances run `up` at the same moment;
// every one exits 0 and every migration, including a data migration, is
// applied exactly once.
func TestRacePostgres(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(50, 25, 0, ""))
	for trial := range 10 {
		for _, from := range []int{0, 24} {
			t.Run(fmt.Sprintf("Trial%dFrom%d", trial, from), func(t *testing.T) {
				url := dbtest.Postgres(t)
				if from > 0 {
					r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", fmt.Sprint(from))
					require.Equal(t, 0, r.Code, r.String())
				}
				for i, r := range race(t, 32, nil, "up", "-d", url, "--dir", dir) {
					require.Equal(t, 0, r.Code, "process %d: %s", i, r)
				}
				requireExactlyOnce(t, openDB(t, url), 50)
			})
		}
	}
}

func TestRaceSQLite(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(50, 25, 0, ""))
	for trial := range 10 {
		for _, from := range []int{0, 24} {
			t.Run(fmt.Sprintf("Trial%dFrom%d", trial, from), func(t *testing.T) {
				url := dbtest.SQLite(t)
				if from > 0 {
					r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", fmt.Sprint(from))
					require.Equal(t, 0, r.Code, r.String())
				}
				for i, r := range race(t, 8, nil, "up", "-d", url, "--dir", dir) {
					require.Equal(t, 0, r.Code, "process %d: %s", i, r)
				}
				requireExactlyOnce(t, openDB(t, url), 50)
			})
		}
	}
}

// Through PgBouncer in transaction pooling, session state does not stick to
// a client; the lock must still exclude, and must leave no advisory lock on
// the pooled server connections (checked while PgBouncer still runs).
func TestRacePgBouncer(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(50, 25, 0, ""))
	for trial := range 3 {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			direct := dbtest.Postgres(t)
			pooled := dbtest.PgBouncer(t, direct)
			for i, r := range race(t, 32, nil, "up", "-d", pooled, "--dir", dir) {
				require.Equal(t, 0, r.Code, "process %d: %s", i, r)
			}
			db := openDB(t, direct)
			requireExactlyOnce(t, db, 50)
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"),
				"advisory locks left on pooled server connections")
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock row still held")
		})
	}
}
