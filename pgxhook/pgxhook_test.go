package pgxhook_test

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/pgxhook"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// stalePool is a one-connection pool (pgx's default statement cache) whose
// connection has prepared `SELECT * FROM t` and `INSERT INTO t`, after
// which t gains a column: what an expand migration does to a running
// instance.
func stalePool(t *testing.T) (*pgxpool.Pool, string) {
	ctx := context.Background()
	cfg, err := pgxpool.ParseConfig(dbtest.Postgres(t))
	require.NoError(t, err)
	cfg.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(pool.Close)
	_, err = pool.Exec(ctx, "CREATE TABLE t (id int PRIMARY KEY, name text); INSERT INTO t VALUES (1, 'ada')")
	require.NoError(t, err)
	const q = "SELECT * FROM t WHERE id = $1"
	rows, err := pool.Query(ctx, q, 1)
	require.NoError(t, err)
	_, err = pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ALTER TABLE t ADD COLUMN full_name text")
	require.NoError(t, err)
	return pool, q
}

// Without the hook the cached statement fails once (0A000), which is the
// problem; the next execution on the connection, re-prepared, succeeds.
func TestStalePlanFailsWithoutHook(t *testing.T) {
	pool, q := stalePool(t)
	rows, err := pool.Query(context.Background(), q, 1)
	if err == nil {
		_, err = pgx.CollectRows(rows, pgx.RowToMap)
	}
	require.Error(t, err)
	require.True(t, pgxhook.IsStalePlan(err), "%v", err)
}

// Query retries on the same connection and returns the new columns.
func TestQueryRetriesStalePlan(t *testing.T) {
	pool, q := stalePool(t)
	rows, err := pgxhook.Query(context.Background(), pool, pgx.RowToMap, q, 1)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "ada", rows[0]["name"])
	require.Contains(t, rows[0], "full_name")
}

// Exec retries too: an INSERT ... RETURNING * has a result type as well.
func TestExecRetriesStalePlan(t *testing.T) {
	ctx := context.Background()
	pool, _ := stalePool(t)
	const ins = "INSERT INTO t (id, name) VALUES ($1, 'x') RETURNING *"
	_, err := pool.Exec(ctx, "ALTER TABLE t DROP COLUMN full_name")
	require.NoError(t, err)
	_, err = pgxhook.Exec(ctx, pool, ins, 2)
	require.NoError(t, err)
	_, err = pool.Exec(ctx, "ALTER TABLE t ADD COLUMN full_name text")
	require.NoError(t, err)
	_, err = pool.Exec(ctx, ins, 3)
	require.True(t, pgxhook.IsStalePlan(err), "without the hook: %v", err)
	_, err = pgxhook.Exec(ctx, pool, ins, 4)
	require.NoError(t, err, "the first failure invalidated it; this one re-prepares")
	_, err = pool.Exec(ctx, "ALTER TABLE t ADD COLUMN nick text")
	require.NoError(t, err)
	_, err = pgxhook.Exec(ctx, pool, ins, 5)
	require.NoError(t, err)
	require.Equal(t, 3, countRows(t, pool))
}

func countRows(t *testing.T, pool *pgxpool.Pool) int {
	var n int
	require.NoError(t, pool.QueryRow(context.Background(), "SELECT count(*) FROM t WHERE id > 1").Scan(&n))
	return n
}

// ResetOnChange closes the pool's connections, so the next query prepares
// against the new schema.
func TestResetOnChange(t *testing.T) {
	pool, q := stalePool(t)
	pgxhook.ResetOnChange(pool)([]int64{2})
	rows, err := pool.Query(context.Background(), q, 1)
	require.NoError(t, err)
	_, err = pgx.CollectRows(rows, pgx.RowToMap)
	require.NoError(t, err)
}
