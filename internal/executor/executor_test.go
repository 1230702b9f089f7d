package executor_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Outcomes of one migration's commit, on each engine: the row of a runner
// that bypassed the lock makes this one a skip (its own copy rolls back),
// while a unique violation of the migration's own statement is its
// failure, and stops the run.
func TestUpUniqueViolations(t *testing.T) {
	t.Parallel()
	for name, url := range setups {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			tg := drivertest.OpenURL(t, url(t))
			d, ctx := tg.Driver, t.Context()
			parse := func(file, body string) plan.Step {
				m, err := source.Parse(file, []byte(body))
				require.NoError(t, err)
				return plan.Step{Migration: m}
			}
			one := parse("1_one.sql", "-- fleetgate:up\nCREATE TABLE IF NOT EXISTS one (id integer PRIMARY KEY);\n")
			dup := parse("2_dup.sql", "-- fleetgate:up\nINSERT INTO one VALUES (2);\nINSERT INTO one VALUES (1);\n")
			after := parse("3_after.sql", "-- fleetgate:up\nCREATE TABLE after_dup (id integer);\n")
			var res *executor.Result
			var upErr error
			_, err := executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
				// Another runner's row for version 1, written past the lock.
				require.NoError(t, s.Commit(ctx, func(ctx context.Context, tx driver.Tx, rec *driver.Record) error {
					rec.Applied = history.NewApplied(one.Migration, history.Actor{Host: "b"}, 0, true, 1, false)
					require.NoError(t, tx.Exec(ctx, "CREATE TABLE one (id integer PRIMARY KEY)"))
					return tx.Exec(ctx, "INSERT INTO one VALUES (1)")
				}))
				r := &executor.Runner{D: d, Conn: s.Conn, Lease: s.Lease, Actor: history.Actor{Host: "a"}, Logger: slog.New(slog.DiscardHandler)}
				res, upErr = r.Up(ctx, []plan.Step{one, dup, after})
				return nil
			})
			require.NoError(t, err)
			require.Equal(t, []int64{1}, res.Skipped, "the row written meanwhile")
			require.Empty(t, res.Applied)
			var se *executor.StepError
			require.ErrorAs(t, upErr, &se)
			require.Equal(t, int64(2), se.Version)
			require.Equal(t, 3, se.Line)
			rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, "b", rows[0].Actor.Host)
			var n int
			require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM one").Scan(&n))
			require.Equal(t, 1, n, "the failed migration's first insert stayed")
		})
	}
}

// The history and the event of a migration count all of its time, its
// last statement's included, and a lease taken over while its statement
// runs commits nothing of it: the fence refuses the commit.
func TestUpTimedAndFenced(t *testing.T) {
	t.Parallel()
	tg := drivertest.OpenURL(t, dbtest.Postgres(t))
	d, ctx := tg.Driver, t.Context()
	m, err := source.Parse("1_slow.sql", []byte("-- fleetgate:up\nCREATE TABLE slow (id integer);\nSELECT pg_sleep(0.3);\n"))
	require.NoError(t, err)
	runner := func(s *executor.Session) *executor.Runner {
		return &executor.Runner{D: d, Conn: s.Conn, Lease: s.Lease, Actor: history.Actor{Host: "a"}, Logger: slog.New(slog.DiscardHandler)}
	}
	_, err = executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
		res, err := runner(s).Up(ctx, []plan.Step{{Migration: m}})
		require.Equal(t, []int64{1}, res.Applied)
		return err
	})
	require.NoError(t, err)
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.GreaterOrEqual(t, rows[0].DurationMS, int64(300), "the history lost the last statement's time")
	evs, err := d.ReadEvents(ctx, tg.DB, 1, time.Time{}, 10)
	require.NoError(t, err)
	require.NotEmpty(t, evs)
	require.Equal(t, history.KindApply, evs[len(evs)-1].Kind)
	require.GreaterOrEqual(t, evs[len(evs)-1].DurationMS, int64(300), "the event lost the last statement's time")

	// Taken over while its only statement runs.
	m2, err := source.Parse("2_taken.sql", []byte("-- fleetgate:up\nCREATE TABLE taken AS SELECT 1 AS one FROM pg_sleep(0.5);\n"))
	require.NoError(t, err)
	thief, err := driver.Conn(ctx, tg.DB)
	require.NoError(t, err)
	defer thief.Close()
	_, err = executor.Locked(ctx, d, tg.DB, options(tg, "a"), func(ctx context.Context, s *executor.Session) error {
		go func() {
			time.Sleep(100 * time.Millisecond)
			_, _, _ = d.TryAcquire(context.WithoutCancel(ctx), thief, &driver.AcquireParams{Token: "thief", TTL: time.Hour,
				Actor: history.Actor{Host: "b"}, StaleToken: s.Lease.Token})
		}()
		res, err := runner(s).Up(ctx, []plan.Step{{Migration: m2}})
		require.Empty(t, res.Applied)
		return err
	})
	require.ErrorIs(t, err, driver.ErrLockLost)
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1, "the runner that lost its lease committed")
	var exists bool
	require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT to_regclass('taken') IS NOT NULL").Scan(&exists))
	require.False(t, exists, "the migration of a lost lease committed")
}
