package fleetgate_test

import (
	"context"
	"embed"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

//go:embed testdata/compat/goose/*.sql
var embedded embed.FS

// TestEmbedWithoutDir: an embed.FS keeps the directories of its pattern, so
// without Config.Dir the source's root holds only "testdata/". That is an
// error naming what it found, not an "up to date" on an empty schema.
func TestEmbedWithoutDir(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.SQLite(t)
	m, err := fleetgate.Open(ctx, url, embedded, nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Up(ctx, nil)
	var ce *fleetgate.ConfigError
	require.ErrorAs(t, err, &ce)
	require.Equal(t, 2, fleetgate.ExitCode(err))
	require.ErrorContains(t, err, "no migration files in .")
	require.ErrorContains(t, err, "subdirectories testdata/")
	_, err = m.Wait(ctx, &fleetgate.WaitOpts{})
	require.ErrorAs(t, err, &ce, "wait does not open the gate either")
	st, err := m.Status(ctx)
	require.Error(t, err)
	require.Nil(t, st)

	m2, err := fleetgate.Open(ctx, url, embedded, &fleetgate.Config{Dir: "testdata/compat/goose"})
	require.NoError(t, err)
	defer m2.Close()
	p, err := m2.PlanUp(ctx, nil)
	require.NoError(t, err)
	require.NotEmpty(t, p.Migrations)
	// AllowEmpty accepts it.
	m3, err := fleetgate.Open(ctx, url, embedded, &fleetgate.Config{AllowEmpty: true})
	require.NoError(t, err)
	defer m3.Close()
	res, err := m3.Up(ctx, nil)
	require.NoError(t, err)
	require.True(t, res.UpToDate)
}
