package fleetgate_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// TestOnSchemaChange: a registered instance's hook hears, from its
// heartbeat, of a migration another process applies while it runs, and of
// its rollback; it is not called while nothing changes.
func TestOnSchemaChange(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := dbtest.Postgres(t)
	cfg := &fleetgate.Config{InstanceTTL: 3 * time.Second}
	app, err := fleetgate.Open(ctx, url, files(2), cfg)
	require.NoError(t, err)
	defer app.Close()
	_, err = app.Up(ctx, nil)
	require.NoError(t, err)
	reg, err := app.Register(ctx)
	require.NoError(t, err)
	defer reg.Close()
	require.True(t, reg.Registered)
	seen := make(chan []int64, 8)
	require.NoError(t, reg.OnSchemaChange(ctx, func(applied []int64) { seen <- applied }))

	next, err := fleetgate.Open(ctx, url, files(3), cfg)
	require.NoError(t, err)
	defer next.Close()
	_, err = next.Up(ctx, nil)
	require.NoError(t, err)
	select {
	case got := <-seen:
		require.Equal(t, []int64{1, 2, 3}, got)
	case <-time.After(30 * time.Second):
		t.Fatal("the hook did not hear of migration 3")
	}
	_, err = next.Down(ctx, &fleetgate.DownOpts{Steps: 1})
	require.NoError(t, err)
	select {
	case got := <-seen:
		require.Equal(t, []int64{1, 2}, got)
	case <-time.After(30 * time.Second):
		t.Fatal("the hook did not hear of the rollback")
	}
	require.Empty(t, seen, "called once per change")
}
