package mysql_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/fleet"
)

// The instance registry on MariaDB: created on first registration, rows
// replaced by ID, touched, removed and reaped by the database's clock; a
// role that may only read gets ErrNoRegistry.
func TestRegistry(t *testing.T) {
	t.Parallel()
	raw := dbtest.MariaDB(t)
	tg := drivertest.OpenURL(t, raw)
	reg, ok := tg.Driver.(driver.Registry)
	require.True(t, ok)
	ctx := t.Context()

	none, now, err := reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err, "a missing table reads as none")
	require.Empty(t, none)
	require.WithinDuration(t, time.Now(), now, time.Minute)

	a := &fleet.Instance{ID: "a", Host: "web-1", PID: 10, DeployID: "d1", Build: "b1", Versions: []int64{1, 2}, MaxVersion: 2}
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, a))
	a.Build, a.Versions, a.MaxVersion = "b2", []int64{1, 2, 3}, 3
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, a), "a second registration of one ID replaces it")
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, &fleet.Instance{ID: "b", Host: "web-2", PID: 11, DeployID: "d1", Build: "b1",
		Versions: []int64{1, 2}, MaxVersion: 2}))
	got, now, err := reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "b2", got[0].Build)
	require.Equal(t, []int64{1, 2, 3}, got[0].Versions)
	require.False(t, got[0].LastSeen.After(now))

	ok, err = reg.TouchInstance(ctx, tg.DB, "a")
	require.NoError(t, err)
	require.True(t, ok)
	ok, err = reg.TouchInstance(ctx, tg.DB, "gone")
	require.NoError(t, err)
	require.False(t, ok)

	require.NoError(t, reg.ReapInstances(ctx, tg.DB, now.Add(-time.Hour)))
	got, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, got, 2, "reaped live instances")
	require.NoError(t, reg.RemoveInstance(ctx, tg.DB, "a"))
	require.NoError(t, reg.ReapInstances(ctx, tg.DB, now.Add(time.Hour)))
	got, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Empty(t, got)

	ro := drivertest.OpenURL(t, readOnlyUser(t, tg.DB, raw)).DB
	err = reg.RegisterInstance(ctx, ro, a)
	require.ErrorIs(t, err, driver.ErrNoRegistry)
}
