package main

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// A migration that commits between the warm-up's prepare and its
// execution (a rollback's DROP COLUMN while an older instance starts, seen
// in TestDeployRollbackDrill) makes that execution fail with a stale plan.
// The instance still starts: the warm-up prepares again. Here the
// statements are prepared by a first warm-up, the column dropped, and the
// second warm-up meets the stale plans on every connection.
func TestWarmSurvivesAStalePlan(t *testing.T) {
	url := dbtest.Postgres(t)
	cfg, err := pgxpool.ParseConfig(url)
	require.NoError(t, err)
	cfg.MaxConns = 3
	ctx := t.Context()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	require.NoError(t, err)
	defer pool.Close()
	_, err = pool.Exec(ctx, "CREATE TABLE people (id bigint PRIMARY KEY, name text, full_name text)")
	require.NoError(t, err)
	a := &app{version: "v1", pool: pool}
	require.NoError(t, a.warm(ctx, 3))
	_, err = pool.Exec(ctx, "ALTER TABLE people DROP COLUMN full_name")
	require.NoError(t, err)
	require.NoError(t, a.warm(ctx, 3), "the warm-up stopped at a stale plan")
}
