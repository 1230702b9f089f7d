package fleetgate_test

import (
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// What a migration costs on the wire, counted by a proxy that reads the
// protocol: psql applying BEGIN; stmt; COMMIT spends 3 round trips; a
// one-statement migration of fleetgate may spend no more, with its history
// row, its event and its fence in them. The lease is renewed by the
// heartbeat alone, on its own session: the migration's session, the one
// that took the lock (lock.Lease.TakeConn), never renews it (the fence
// only reads the lock row, locked).
func TestRoundTripsPerMigration(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	wc, url := dbtest.NewWireCounter(t, dbtest.Postgres(t))
	const n = 20
	fsys := fstest.MapFS{
		"001_first.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE first (id integer);\n-- fleetgate:down\nDROP TABLE first;\n")},
	}
	m, err := fleetgate.Open(ctx, url, fsys, nil)
	require.NoError(t, err)
	_, err = m.Up(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, m.Close())

	for i := 2; i <= n+1; i++ {
		fsys[fmt.Sprintf("%03d_t%d.sql", i, i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf(
			"-- fleetgate:up\nCREATE TABLE t%d (id integer);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i))}
	}
	m, err = fleetgate.Open(ctx, url, fsys, nil)
	require.NoError(t, err)
	defer m.Close()
	wc.Reset()
	res, err := m.Up(ctx, nil)
	require.NoError(t, err)
	require.Len(t, res.Applied, n)

	// The migration session is the one that sent the CREATE TABLEs; what
	// it sent before the first of them (taking the lock, re-reading the
	// history under it) is once per run.
	var mig *dbtest.WireConn
	before, total := 0, 0
	for _, c := range wc.Conns() {
		total += c.RoundTrips()
		for i, q := range c.Queries() {
			if strings.Contains(q, "CREATE TABLE t2 ") {
				mig, before = c, i
			}
		}
	}
	require.NotNil(t, mig, "no session sent the migrations")
	for _, q := range mig.Queries() {
		require.NotRegexp(t, `(?i)UPDATE\s+"fleetgate_lock"\s+SET\s+renewed_at`, q, "the migration session renewed the lease")
	}
	perMigration := float64(mig.RoundTrips()-before) / n
	t.Logf("round trips: %d on the migration session for %d migrations, %d of them before the first (%.2f per migration), %d on every session of the up",
		mig.RoundTrips(), n, before, perMigration, total)
	require.LessOrEqual(t, perMigration, 2.0, "more round trips per migration than the floor allows: %q", mig.Queries())
}

// A no-op up, which every instance of a fleet runs at every start, reads
// the history once, only the columns that planning and the checksum
// verification need, and takes no lock.
func TestNoopUpReadsOnlyWhatItNeeds(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	wc, url := dbtest.NewWireCounter(t, dbtest.Postgres(t))
	m, err := fleetgate.Open(ctx, url, files(10), nil)
	require.NoError(t, err)
	_, err = m.Up(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, m.Close())

	m, err = fleetgate.Open(ctx, url, files(10), nil)
	require.NoError(t, err)
	defer m.Close()
	wc.Reset()
	res, err := m.Up(ctx, nil)
	require.NoError(t, err)
	require.True(t, res.UpToDate)
	var queries []string
	for _, c := range wc.Conns() {
		queries = append(queries, c.Queries()...)
	}
	t.Logf("no-op up: %d queries: %q", len(queries), queries)
	require.Len(t, queries, 1, "a no-op up should read the history once and nothing else")
	for _, col := range []string{"applied_at", "up_sql", "down_sql", "host", "deploy_id", "lock_generation"} {
		require.NotContains(t, queries[0], col, "the no-op read loads a column planning does not need")
	}
	require.Contains(t, queries[0], "checksum", "the no-op must still verify every applied file's checksum")
}

// Before it takes the lock, an up that migrates makes sure of fleetgate's
// tables and of the instance registry, and reaps the registry: one read
// of what exists and one of the registry, where it asked five questions
// (whether the tables exist, twice; whether they have this release's
// columns; CREATE TABLE IF NOT EXISTS for the registry; the registry).
func TestUpEnsuresTablesInTwoQueries(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	wc, url := dbtest.NewWireCounter(t, dbtest.Postgres(t))
	m, err := fleetgate.Open(ctx, url, files(4), nil)
	require.NoError(t, err)
	_, err = m.Up(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, m.Close())

	m, err = fleetgate.Open(ctx, url, files(5), nil)
	require.NoError(t, err)
	defer m.Close()
	wc.Reset()
	res, err := m.Up(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{5}, res.Applied)
	var ensure []string
	for _, c := range wc.Conns() {
		for _, q := range c.Queries() {
			if strings.Contains(q, "to_regclass") || strings.Contains(q, "pg_attribute") || strings.Contains(q, "fleetgate_instances") {
				ensure = append(ensure, q)
			}
		}
	}
	require.Len(t, ensure, 2, "the tables and the registry cost more than two queries: %q", ensure)
}
