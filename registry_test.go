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
	"github.com/fleetgate/fleetgate/internal/fleet"
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

// TestRegistryReapsLongDead on both engines: an entry whose heartbeat
// stopped more than ReapTTLs x InstanceTTL ago is deleted by the next up
// that migrates, and by the contract's gate; an entry stale for less
// stays, and is still reported as stale.
func TestRegistryReapsLongDead(t *testing.T) {
	t.Parallel()
	v1 := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (id integer);\n")}}
	v2 := fstest.MapFS{"1_t.sql": v1["1_t.sql"], "2_u.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE u (id integer);\n")}}
	v3 := fstest.MapFS{"1_t.sql": v1["1_t.sql"], "2_u.sql": v2["2_u.sql"],
		"3_c.sql": {Data: []byte("-- fleetgate:phase post\n-- fleetgate:up\nCREATE TABLE c (id integer);\n")}}
	const ttl = 3 * time.Second
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			url := b.url(t)
			cfg := &fleetgate.Config{InstanceTTL: ttl}
			m, err := fleetgate.Open(ctx, url, v1, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { m.Close() })
			_, err = m.Up(ctx, nil)
			require.NoError(t, err)
			db, _, err := fleetgate.OpenDB(url)
			require.NoError(t, err)
			t.Cleanup(func() { db.Close() })

			// Copies of a real entry whose heartbeat stopped s seconds ago.
			reg, err := m.Register(ctx)
			require.NoError(t, err)
			ago := func(id string, s int) {
				q := `INSERT INTO fleetgate_instances SELECT $1, host, pid, deploy_id, build, versions, max_version, started_at,
					clock_timestamp() - make_interval(secs => $2) FROM fleetgate_instances WHERE instance_id = $3`
				if b.name == "SQLite" {
					q = `INSERT INTO fleetgate_instances SELECT ?1, host, pid, deploy_id, build, versions, max_version, started_at,
						last_seen - ?2 * 1000 FROM fleetgate_instances WHERE instance_id = ?3`
				}
				_, err := db.ExecContext(ctx, q, id, s, reg.ID)
				require.NoError(t, err)
			}
			longDead := int(fleet.ReapTTLs*ttl/time.Second) + 30
			ago("dead", longDead)
			ago("stale", 2*int(ttl/time.Second))
			require.NoError(t, reg.Close())
			ids := func() []string {
				rows, err := db.QueryContext(ctx, "SELECT instance_id FROM fleetgate_instances ORDER BY instance_id")
				require.NoError(t, err)
				defer rows.Close()
				var out []string
				for rows.Next() {
					var id string
					require.NoError(t, rows.Scan(&id))
					out = append(out, id)
				}
				require.NoError(t, rows.Err())
				return out
			}
			require.Equal(t, []string{"dead", "stale"}, ids())

			// status only reads: both still there, both stale.
			fl, err := m.Fleet(ctx)
			require.NoError(t, err)
			require.Len(t, fl.Stale, 2)
			require.Equal(t, []string{"dead", "stale"}, ids())

			m2, err := fleetgate.Open(ctx, url, v2, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { m2.Close() })
			res, err := m2.Up(ctx, nil)
			require.NoError(t, err)
			require.Equal(t, []int64{2}, res.Applied)
			require.Equal(t, []string{"stale"}, ids(), "up removes the long-dead entry only")
			fl, err = m2.Fleet(ctx)
			require.NoError(t, err)
			require.Len(t, fl.Stale, 1)
			require.Equal(t, "stale", fl.Stale[0].ID, "the merely stale entry is still reported as stale")
			require.Empty(t, fl.Builds, "and holds nothing back")

			// up --phase post reaps too (its gate reads the registry).
			ago("dead2", longDead)
			m3, err := fleetgate.Open(ctx, url, v3, cfg)
			require.NoError(t, err)
			t.Cleanup(func() { m3.Close() })
			res, err = m3.Up(ctx, &fleetgate.UpOpts{Phase: fleetgate.PhasePost, Timeout: 5 * time.Second})
			require.NoError(t, err)
			require.Equal(t, []int64{3}, res.Applied)
			require.Equal(t, []string{"stale"}, ids())
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
