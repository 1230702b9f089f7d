package fleetgate_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func files(n int) fstest.MapFS {
	fsys := fstest.MapFS{
		"1_counter.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n-- fleetgate:down\nDROP TABLE counter;\n")},
	}
	for i := 2; i <= n; i++ {
		body := fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i)
		if i == n/2 {
			body = "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n"
		}
		fsys[fmt.Sprintf("%03d_m%d.sql", i, i)] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

type backend struct {
	name string
	url  func(t *testing.T) string
}

var backends = []backend{
	{"Postgres", func(t *testing.T) string { return dbtest.Postgres(t) }},
	{"SQLite", func(t *testing.T) string { return dbtest.SQLite(t) }},
}

// The lock contract: N migrators (separate connection pools, as separate
// processes would have) race; all succeed, each migration lands once.
func TestLockContract(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			const n = 8
			errs := make([]error, n)
			applied := make([]int, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					m, err := fleetgate.Open(ctx, url, files(20), nil)
					if err != nil {
						errs[i] = err
						return
					}
					defer m.Close()
					res, err := m.Up(ctx, nil)
					errs[i] = err
					if res != nil {
						applied[i] = len(res.Applied)
					}
				})
			}
			wg.Wait()
			total := 0
			for i := range n {
				require.NoError(t, errs[i], "migrator %d", i)
				total += applied[i]
			}
			require.Equal(t, 20, total, "every migration applied by exactly one migrator")
			m, err := fleetgate.Open(ctx, url, files(20), nil)
			require.NoError(t, err)
			defer m.Close()
			var c int
			require.NoError(t, m.DB().QueryRow("SELECT n FROM counter").Scan(&c))
			require.Equal(t, 1, c)
			st, err := m.Status(ctx)
			require.NoError(t, err)
			require.Len(t, st.Migrations, 20)
			require.Nil(t, st.Lock)
			for _, s := range st.Migrations {
				require.Equal(t, fleetgate.StateApplied, s.State)
			}
		})
	}
}

func TestStatusAndHistory(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			m, err := fleetgate.Open(ctx, url, files(6), &fleetgate.Config{DeployID: "deploy-42"})
			require.NoError(t, err)
			defer m.Close()

			st, err := m.Status(ctx)
			require.NoError(t, err, "status on an untouched database must not fail")
			require.Len(t, st.Migrations, 6)
			require.Equal(t, fleetgate.StatePending, st.Migrations[0].State)

			res, err := m.Up(ctx, &fleetgate.UpOpts{To: 4})
			require.NoError(t, err)
			require.Equal(t, []int64{1, 2, 3, 4}, res.Applied)
			res, err = m.Up(ctx, &fleetgate.UpOpts{To: 4})
			require.NoError(t, err)
			require.True(t, res.UpToDate)

			evs, err := m.History(ctx, nil)
			require.NoError(t, err)
			require.Len(t, evs, 4)
			require.Equal(t, int64(4), evs[0].Version, "newest first")
			require.Equal(t, "apply", evs[0].Kind)
			require.Equal(t, "deploy-42", evs[0].DeployID)
			host, _ := os.Hostname()
			require.Equal(t, host, evs[0].Host)
			require.Equal(t, os.Getpid(), evs[0].PID)

			only, err := m.History(ctx, &fleetgate.HistoryOpts{Version: 2})
			require.NoError(t, err)
			require.Len(t, only, 1)

			// The stored row keeps the scripts and the actor.
			var up, down, deploy string
			require.NoError(t, m.DB().QueryRow("SELECT up_sql, coalesce(down_sql, ''), deploy_id FROM fleetgate_migrations WHERE version = 2").Scan(&up, &down, &deploy))
			require.Contains(t, up, "CREATE TABLE t2")
			require.Contains(t, down, "DROP TABLE t2")
			require.Equal(t, "deploy-42", deploy)
		})
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			url := b.url(t)
			ctx := context.Background()
			fsys := fstest.MapFS{
				"1_a.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE a (id integer);\n")},
				"2_b.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE b (id integer);\nINSERT INTO a VALUES (1);\nINSERT INTO nope VALUES (1);\n")},
			}
			m, err := fleetgate.Open(ctx, url, fsys, nil)
			require.NoError(t, err)
			defer m.Close()
			_, err = m.Up(ctx, nil)
			var me *fleetgate.MigrationError
			require.ErrorAs(t, err, &me)
			require.Equal(t, int64(2), me.Version)
			require.Equal(t, 4, me.Line)
			require.Equal(t, 2, me.Index)
			require.Equal(t, 1, fleetgate.ExitCode(err))
			var n int
			require.NoError(t, m.DB().QueryRow("SELECT count(*) FROM a").Scan(&n))
			require.Zero(t, n, "the failed migration's insert survived")
			require.Error(t, m.DB().QueryRow("SELECT count(*) FROM b").Scan(&n), "table b survived")
			evs, err := m.History(ctx, &fleetgate.HistoryOpts{Version: 2})
			require.NoError(t, err)
			require.Len(t, evs, 1)
			require.Equal(t, "failure", evs[0].Kind)
			require.Equal(t, 4, evs[0].StatementLine)
			require.Contains(t, evs[0].Statement, "INSERT INTO nope")
		})
	}
}

func TestNewOnCallerDB(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("sqlite", "file:"+t.TempDir()+"/x.db")
	require.NoError(t, err)
	defer db.Close()
	m, err := fleetgate.New(db, fleetgate.SQLite, files(3), nil)
	require.NoError(t, err)
	res, err := m.Up(context.Background(), nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, 3)
	require.NoError(t, m.Close())
	require.NoError(t, db.Ping(), "Close must not close a caller's database")
}

func TestExitCodes(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0, fleetgate.ExitCode(nil))
	require.Equal(t, 3, fleetgate.ExitCode(fleetgate.ErrTimeout))
	require.Equal(t, 4, fleetgate.ExitCode(fleetgate.ErrDatabaseAhead))
	require.Equal(t, 1, fleetgate.ExitCode(fleetgate.ErrLockLost))
	require.Equal(t, 2, fleetgate.ExitCode(&fleetgate.ConfigError{Setting: "--dir"}))
	_, err := fleetgate.Open(context.Background(), "nosuch://x", files(1), nil)
	require.Equal(t, 2, fleetgate.ExitCode(err))
}
