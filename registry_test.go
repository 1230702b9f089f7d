package fleetgate_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// TestRegistryGatesContract on both engines, through the library: a
// registered instance of the old build holds a post-phase migration back
// (a FleetError that is an ErrTimeout, exit 3); once it closes its
// registration, the contract is applied.
func TestRegistryGatesContract(t *testing.T) {
	t.Parallel()
	v1 := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (id integer, name text);\n")}}
	v2 := fstest.MapFS{
		"1_t.sql":    v1["1_t.sql"],
		"2_drop.sql": {Data: []byte("-- fleetgate:phase post\n-- fleetgate:up\nCREATE TABLE contracted (id integer);\n")},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := b.url(t)
			cfg := &fleetgate.Config{InstanceTTL: 3 * time.Second}
			old, err := fleetgate.Open(ctx, url, v1, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { old.Close() })
			_, err = old.Up(ctx, nil)
			require.NoError(t, err)
			reg, err := old.Register(ctx)
			require.NoError(t, err)
			require.True(t, reg.Registered)

			next, err := fleetgate.Open(ctx, url, v2, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { next.Close() })
			fl, err := next.Fleet(ctx)
			require.NoError(t, err)
			require.Len(t, fl.Builds, 1)
			require.Equal(t, []int64{2}, fl.Builds[0].Blocks, "the old build holds back 2")

			_, err = next.Up(ctx, &fleetgate.UpOpts{Phase: fleetgate.PhasePost, Timeout: 500 * time.Millisecond})
			var fe *fleetgate.FleetError
			require.ErrorAs(t, err, &fe)
			require.True(t, errors.Is(err, fleetgate.ErrTimeout))
			require.Equal(t, 3, fleetgate.ExitCode(err))
			require.Len(t, fe.Instances, 1)
			require.Equal(t, reg.ID, fe.Instances[0].ID)

			require.NoError(t, reg.Close())
			res, err := next.Up(ctx, &fleetgate.UpOpts{Phase: fleetgate.PhasePost, Timeout: 5 * time.Second})
			require.NoError(t, err)
			require.Equal(t, []int64{2}, res.Applied)
			fl, err = next.Fleet(ctx)
			require.NoError(t, err)
			require.Empty(t, fl.Builds, "Close removed the entry")
		})
	}
}

// TestRegistryBeforeAnyUp: on a database where up never ran (no registry
// table yet), reading the fleet finds none, and registering creates the
// table where the role may, on both engines.
func TestRegistryBeforeAnyUp(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (id integer);\n")}}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m, err := fleetgate.Open(ctx, b.url(t), files, nil)
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			fl, err := m.Fleet(ctx)
			require.NoError(t, err, "a missing registry reads as an empty fleet")
			require.True(t, fl.Supported)
			require.Empty(t, fl.Builds)
			reg, err := m.Register(ctx)
			require.NoError(t, err)
			require.True(t, reg.Registered, "the registry table was created on demand")
			fl, err = m.Fleet(ctx)
			require.NoError(t, err)
			require.Len(t, fl.Builds, 1)
			require.NoError(t, reg.Close())
		})
	}
}

// TestFleetReadsNoLock: the fleet's view needs the history and the
// registry, not the lock row: credentials that may read those two (a
// dashboard's, a deploy script's) see which builds hold back a contract.
func TestFleetReadsNoLock(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	v1 := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (id integer);\n")}}
	v2 := fstest.MapFS{
		"1_t.sql":    v1["1_t.sql"],
		"2_drop.sql": {Data: []byte("-- fleetgate:phase post\n-- fleetgate:up\nCREATE TABLE contracted (id integer);\n")},
	}
	url := dbtest.Postgres(t)
	old, err := fleetgate.Open(ctx, url, v1, nil)
	require.NoError(t, err)
	t.Cleanup(func() { old.Close() })
	_, err = old.Up(ctx, nil)
	require.NoError(t, err)
	reg, err := old.Register(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { reg.Close() })

	role := "fleet_reader_" + strings.ToLower(rand.Text()[:8])
	roURL := dbtest.CreateRole(t, url, role, "pw-"+role, "GRANT SELECT ON fleetgate_migrations, fleetgate_instances TO "+role)
	reader, err := fleetgate.Open(ctx, roURL, v2, nil)
	require.NoError(t, err)
	t.Cleanup(func() { reader.Close() })
	_, err = reader.Status(ctx)
	require.Error(t, err, "the role can read the lock row: the test proves nothing")
	fl, err := reader.Fleet(ctx)
	require.NoError(t, err)
	require.Len(t, fl.Builds, 1)
	require.Equal(t, []int64{2}, fl.Builds[0].Blocks, "the old build holds back 2")
}
