package mysql_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/fleet"
)

// registry is the MySQL driver's registry on a fresh MariaDB database.
func registry(t *testing.T) (driver.Registry, *drivertest.Target, string) {
	t.Helper()
	raw := dbtest.MariaDB(t)
	tg := drivertest.OpenURL(t, strings.Replace(raw, "mysql://", "mariadb://", 1))
	reg, ok := tg.Driver.(driver.Registry)
	require.True(t, ok, "the MySQL driver keeps the instance registry")
	return reg, tg, raw
}

func instance(id string, versions ...int64) *fleet.Instance {
	return &fleet.Instance{ID: id, Host: "host-" + id, PID: 4242, DeployID: "deploy-" + id, Build: fleet.Fingerprint(versions),
		Versions: versions, MaxVersion: versions[len(versions)-1]}
}

func byID(t *testing.T, all []fleet.Instance, id string) fleet.Instance {
	t.Helper()
	for _, in := range all {
		if in.ID == id {
			return in
		}
	}
	require.Failf(t, "instance not in the registry", "%s in %+v", id, all)
	return fleet.Instance{}
}

// TestRegistryLifecycle: the registry's statements on MariaDB, checked by
// reading the table back: a missing table reads as none (with the clock),
// registering creates it, a heartbeat moves last_seen on the server's
// clock, re-registering replaces the entry, removing and reaping delete
// exactly the rows they name.
func TestRegistryLifecycle(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg, tg, _ := registry(t)

	all, now, err := reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err, "a missing registry reads as empty")
	require.Empty(t, all)
	require.WithinDuration(t, time.Now(), now, time.Minute, "the database clock comes back even without the table")

	// No EnsureRegistry first: the insert creates the table on demand.
	a := instance("a", 1, 2, 3, 20240101120000)
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, a))
	require.NoError(t, reg.EnsureRegistry(ctx, tg.DB), "creating it again is a no-op")
	b := instance("b", 1, 2)
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, b))

	all, now, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, all, 2)
	got := byID(t, all, "a")
	require.Equal(t, a.Versions, got.Versions, "the versions round-trip")
	require.Equal(t, a.Build, got.Build)
	require.Equal(t, int64(20240101120000), got.MaxVersion)
	require.Equal(t, "host-a", got.Host)
	require.Equal(t, 4242, got.PID)
	require.Equal(t, "deploy-a", got.DeployID)
	require.False(t, got.LastSeen.After(now), "last seen %v is after the clock %v", got.LastSeen, now)
	require.Equal(t, got.StartedAt, got.LastSeen)
	require.True(t, got.Ships(2) && !got.Ships(4))

	found, err := reg.TouchInstance(ctx, tg.DB, "a")
	require.NoError(t, err)
	require.True(t, found)
	all, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	touched := byID(t, all, "a")
	require.True(t, touched.LastSeen.After(got.LastSeen), "the heartbeat moved last_seen: %v -> %v", got.LastSeen, touched.LastSeen)
	require.Equal(t, got.StartedAt, touched.StartedAt)
	found, err = reg.TouchInstance(ctx, tg.DB, "nobody")
	require.NoError(t, err)
	require.False(t, found, "a heartbeat of a reaped entry says so")

	// The same id again (after a reap, the heartbeat re-registers).
	a2 := instance("a", 1, 2, 3, 4)
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, a2))
	all, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, all, 2, "one row per id")
	require.Equal(t, []int64{1, 2, 3, 4}, byID(t, all, "a").Versions)

	require.NoError(t, reg.RemoveInstance(ctx, tg.DB, "b"))
	all, now, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, all, 1)
	seen := all[0].LastSeen

	require.NoError(t, reg.ReapInstances(ctx, tg.DB, seen), "reaping keeps what was seen at the cut-off")
	all, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.NoError(t, reg.ReapInstances(ctx, tg.DB, now.Add(time.Millisecond)))
	all, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Empty(t, all, "reaped")
}

// TestRegistryExpiresSilentInstance: an entry whose heartbeat stopped is
// live for one TTL by the database's clock, then stale.
func TestRegistryExpiresSilentInstance(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg, tg, _ := registry(t)
	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, instance("silent", 1)))
	const ttl = time.Second
	all, now, err := reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	live, stale := fleet.Live(all, now, ttl)
	require.Len(t, live, 1)
	require.Empty(t, stale)
	deadline := time.Now().Add(30 * time.Second)
	for {
		all, now, err = reg.ReadInstances(ctx, tg.DB)
		require.NoError(t, err)
		if now.Sub(all[0].LastSeen) > ttl {
			break
		}
		require.True(t, time.Now().Before(deadline), "the database clock did not pass the TTL")
		time.Sleep(50 * time.Millisecond)
	}
	live, stale = fleet.Live(all, now, ttl)
	require.Empty(t, live)
	require.Len(t, stale, 1)
}

// TestRegistryReadOnlyRole: a user that may only read gets ErrNoRegistry
// (the library reports it as unregistered), not another error; it still
// reads the registry.
func TestRegistryReadOnlyRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg, tg, raw := registry(t)
	ro := drivertest.OpenURL(t, readOnlyUser(t, tg.DB, raw)).DB
	require.ErrorIs(t, reg.EnsureRegistry(ctx, ro), driver.ErrNoRegistry, "it may not create the table")
	require.ErrorIs(t, reg.RegisterInstance(ctx, ro, instance("ro", 1)), driver.ErrNoRegistry)

	require.NoError(t, reg.RegisterInstance(ctx, tg.DB, instance("rw", 1)))
	err := reg.RegisterInstance(ctx, ro, instance("ro", 1))
	require.ErrorIs(t, err, driver.ErrNoRegistry, "it may not write the table")
	all, _, err := reg.ReadInstances(ctx, ro)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.Equal(t, "rw", all[0].ID)
}

// TestRegistryCreatedConcurrently: the first instances of a fleet create
// the table at once; none fails.
func TestRegistryCreatedConcurrently(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg, tg, _ := registry(t)
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { errs[i] = reg.RegisterInstance(ctx, tg.DB, instance(string(rune('a'+i)), 1)) })
	}
	wg.Wait()
	require.NoError(t, errors.Join(errs...))
	all, _, err := reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Len(t, all, len(errs))
}

// TestRegistryGatesContractOnMariaDB through the library: a registered
// instance of the old build holds a post-phase migration back (a
// FleetError, exit 3, naming it); once it closes its registration, the
// contract is applied.
func TestRegistryGatesContractOnMariaDB(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	v1 := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (id integer, name text);\n")}}
	v2 := fstest.MapFS{
		"1_t.sql":    v1["1_t.sql"],
		"2_drop.sql": {Data: []byte("-- fleetgate:phase post\n-- fleetgate:up\nCREATE TABLE contracted (id integer);\n")},
	}
	url := strings.Replace(dbtest.MariaDB(t), "mysql://", "mariadb://", 1)
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
	require.True(t, fl.Supported)
	require.Len(t, fl.Builds, 1)
	require.Equal(t, []int64{2}, fl.Builds[0].Blocks, "the old build holds back 2")

	_, err = next.Up(ctx, &fleetgate.UpOpts{Phase: fleetgate.PhasePost, Timeout: 500 * time.Millisecond})
	var fe *fleetgate.FleetError
	require.ErrorAs(t, err, &fe)
	require.ErrorIs(t, err, fleetgate.ErrTimeout)
	require.Equal(t, 3, fleetgate.ExitCode(err))
	require.Len(t, fe.Instances, 1)
	require.Equal(t, reg.ID, fe.Instances[0].ID)
	st, err := next.Status(ctx)
	require.NoError(t, err)
	require.Len(t, st.Migrations, 2)
	require.Equal(t, fleetgate.StatePending, st.Migrations[1].State, "the contract ran while the old build was registered")

	require.NoError(t, reg.Close())
	res, err := next.Up(ctx, &fleetgate.UpOpts{Phase: fleetgate.PhasePost, Timeout: 30 * time.Second})
	require.NoError(t, err)
	require.Equal(t, []int64{2}, res.Applied)
	fl, err = next.Fleet(ctx)
	require.NoError(t, err)
	require.Empty(t, fl.Builds, "Close removed the entry")
}

// TestRegistryLeastPrivilegeRole: a user that may only read and write the
// registry table (no CREATE, nothing else) registers, heartbeats, reads
// and deregisters; creating the table that exists is no error for it, so
// the migrating role needs no CREATE once the table is there either.
func TestRegistryLeastPrivilegeRole(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	reg, tg, raw := registry(t)
	require.NoError(t, reg.EnsureRegistry(ctx, tg.DB))
	u, err := url.Parse(raw)
	require.NoError(t, err)
	name := "dt_reg_" + strings.ToLower(rand.Text()[:8])
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY 'pw-%s'", name, name),
		fmt.Sprintf("GRANT SELECT, INSERT, UPDATE, DELETE ON `%s`.`fleetgate_instances` TO '%s'@'%%'", strings.TrimPrefix(u.Path, "/"), name),
	} {
		_, err := tg.DB.ExecContext(ctx, q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() {
		_, _ = tg.DB.ExecContext(context.Background(), fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", name))
	})
	u.User = url.UserPassword(name, "pw-"+name)
	app := drivertest.OpenURL(t, strings.Replace(u.String(), "mysql://", "mariadb://", 1)).DB

	require.NoError(t, reg.EnsureRegistry(ctx, app), "the table exists: nothing to create")
	require.NoError(t, reg.RegisterInstance(ctx, app, instance("app", 1, 2)))
	found, err := reg.TouchInstance(ctx, app, "app")
	require.NoError(t, err)
	require.True(t, found)
	all, _, err := reg.ReadInstances(ctx, app)
	require.NoError(t, err)
	require.Len(t, all, 1)
	require.NoError(t, reg.RemoveInstance(ctx, app, "app"))
	all, _, err = reg.ReadInstances(ctx, tg.DB)
	require.NoError(t, err)
	require.Empty(t, all)
}
