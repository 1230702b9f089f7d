package fleetgate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// tenantFiles are ten migrations for a tenant whose database (or schema)
// already has a legacy table: 5 copies it through a division that a
// tenant with bad data (v = -1) fails (PostgreSQL: division by zero;
// SQLite: its NULL quotient breaks NOT NULL), 7 counts its runs in counter, the others create tables. No name is
// qualified: in a schema fan-out they land in the tenant's schema.
func tenantFiles() fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= 10; i++ {
		body := fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n", i)
		switch i {
		case 1:
			body = "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n"
		case 5:
			body = "-- fleetgate:up\nCREATE TABLE t5 (id integer NOT NULL);\nINSERT INTO t5 SELECT 100 / (v + 1) FROM legacy;\n"
		case 7:
			body = "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n"
		}
		fsys[fmt.Sprintf("%04d_m%d.sql", i, i)] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// upAll is the TargetFunc of these tests: Up, reporting what it applied.
func upAll(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
	res, err := m.Up(ctx, nil)
	if res == nil {
		return fleetgate.TargetOutcome{}, err
	}
	return fleetgate.TargetOutcome{Applied: res.Applied, LockWait: res.LockWait}, err
}

// peakConns samples the server's fleetgate connections to the database
// until stop is called, and returns the highest count seen.
func peakConns(t *testing.T, admin *sql.DB, where string) (stop func() int) {
	var peak atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			var n int64
			if err := admin.QueryRow("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fleetgate' AND " + where).Scan(&n); err == nil && n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	})
	return func() int { close(done); wg.Wait(); return int(peak.Load()) }
}

func pgOpen(t *testing.T, url string) *sql.DB {
	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// Schema per tenant: every schema gets all ten migrations exactly once, in
// itself (search_path), with its own history tables; the bad tenant fails
// at 5 and --keep-going finishes the others; the server never sees more
// than two connections per running target.
func TestFanOutSchemas(t *testing.T) {
	url := dbtest.Postgres(t)
	admin := pgOpen(t, url)
	const n, parallel, bad = 40, 3, 17
	var schemas []fleetgate.Target
	for i := range n {
		s := fmt.Sprintf("tenant_%03d", i)
		v := 1
		if i == bad {
			v = -1
		}
		_, err := admin.Exec(fmt.Sprintf("CREATE SCHEMA %s; CREATE TABLE %s.legacy (v integer); INSERT INTO %s.legacy VALUES (%d)", s, s, s, v))
		require.NoError(t, err)
		schemas = append(schemas, fleetgate.Target{URL: url, Schema: s})
	}
	names, err := fleetgate.Schemas(t.Context(), admin, "tenant_*", "")
	require.NoError(t, err)
	require.Len(t, names, n)
	cfg := &fleetgate.Config{Init: true}

	// The canary case: the bad tenant is the second canary; nothing after it starts.
	canary := append([]fleetgate.Target{schemas[0], schemas[bad]}, schemas[1:bad]...)
	rep, err := fleetgate.FanOut(t.Context(), canary, tenantFiles(), cfg, &fleetgate.FanOutOpts{Canary: 2, Parallel: parallel, KeepGoing: true}, upAll)
	require.NoError(t, err)
	require.Equal(t, 1, rep.Done)
	require.Equal(t, 1, rep.Failed)
	require.Equal(t, len(canary)-2, rep.Skipped)
	require.Equal(t, 1, rep.ExitCode)
	require.Equal(t, fmt.Sprintf("tenant_%03d", bad), rep.Results[1].Target)
	require.Equal(t, []int64{1, 2, 3, 4}, rep.Results[1].Applied, "1-4 applied, 5 failed")
	require.False(t, tableExists(t, admin, "tenant_001", "fleetgate_migrations"), "a target after the failed canary was touched")

	// Keep going: all but the bad one finish.
	stop := peakConns(t, admin, "datname = current_database()")
	rep, err = fleetgate.FanOut(t.Context(), schemas, tenantFiles(), cfg, &fleetgate.FanOutOpts{Canary: 1, Parallel: parallel, KeepGoing: true}, upAll)
	peak := stop()
	require.NoError(t, err)
	require.Equal(t, n-1, rep.Done)
	require.Equal(t, 1, rep.Failed)
	require.Equal(t, 1, rep.ExitCode)
	require.Error(t, rep.Results[bad].Err)
	require.Contains(t, rep.Results[bad].Err.Error(), "division by zero")
	t.Logf("%d schemas, parallel %d: peak %d fleetgate connections", n, parallel, peak)
	require.LessOrEqual(t, peak, 2*parallel, "connections above parallel + lock sessions")
	require.Positive(t, peak)
	for i := range n {
		s := fmt.Sprintf("tenant_%03d", i)
		want := 10
		if i == bad {
			want = 4
		}
		require.Equal(t, want, qInt(t, admin, "SELECT count(*) FROM "+s+".fleetgate_migrations WHERE complete"), s)
		require.Equal(t, want, qInt(t, admin, "SELECT count(DISTINCT version) FROM "+s+".fleetgate_migrations"), s)
		if i != bad {
			require.Equal(t, 1, qInt(t, admin, "SELECT n FROM "+s+".counter"), s)
			require.True(t, tableExists(t, admin, s, "t10"))
		}
	}
	require.Zero(t, qInt(t, admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "a migration ran outside its schema")
	// search_path was SET LOCAL: no pooled session kept it.
	require.Equal(t, "\"$user\", public", qStr(t, admin, "SHOW search_path"))
}

// Database per tenant on SQLite and PostgreSQL: exactly once, the
// failure named, the rest finished with KeepGoing, and stopped without.
func TestFanOutDatabases(t *testing.T) {
	for _, b := range []struct {
		name string
		url  func(*testing.T) string
		open func(*testing.T, string) *sql.DB
	}{
		{"SQLite", func(t *testing.T) string { return dbtest.SQLite(t) }, sqliteOpen},
		{"Postgres", func(t *testing.T) string { return dbtest.Postgres(t) }, pgOpen},
	} {
		t.Run(b.name, func(t *testing.T) {
			const n, bad = 8, 5
			var targets []fleetgate.Target
			var dbs []*sql.DB
			for i := range n {
				url := b.url(t)
				db := b.open(t, url)
				v := 1
				if i == bad {
					v = -1
				}
				_, err := db.Exec("CREATE TABLE legacy (v integer)")
				require.NoError(t, err)
				_, err = db.Exec(fmt.Sprintf("INSERT INTO legacy VALUES (%d)", v))
				require.NoError(t, err)
				targets = append(targets, fleetgate.Target{URL: url})
				dbs = append(dbs, db)
			}
			cfg := &fleetgate.Config{Init: true}
			// Default: stop starting new targets after the failure.
			rep, err := fleetgate.FanOut(t.Context(), targets, tenantFiles(), cfg, &fleetgate.FanOutOpts{Parallel: 1}, upAll)
			require.NoError(t, err)
			require.Equal(t, bad, rep.Done)
			require.Equal(t, 1, rep.Failed)
			require.Equal(t, n-bad-1, rep.Skipped)
			require.False(t, rep.Results[bad+1].Started)
			var started []string
			rep, err = fleetgate.FanOut(t.Context(), targets, tenantFiles(), cfg, &fleetgate.FanOutOpts{Parallel: 3, KeepGoing: true,
				OnStart: func(_ int, name string) { started = append(started, name) }}, upAll)
			require.NoError(t, err)
			require.Equal(t, n-1, rep.Done)
			require.Equal(t, 1, rep.Failed)
			require.Equal(t, 1, rep.ExitCode)
			require.Len(t, started, n)
			require.NotContains(t, rep.Results[0].Target, "://", "targets are named by their database")
			for i, db := range dbs {
				if i == bad {
					require.Equal(t, 4, qInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
					continue
				}
				require.Equal(t, 10, qInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
				require.Equal(t, 1, qInt(t, db, "SELECT n FROM counter"))
				if i < bad {
					require.Empty(t, rep.Results[i].Applied, "applied by the first run")
				} else {
					require.Len(t, rep.Results[i].Applied, 10)
				}
			}
		})
	}
}

func TestFanOutBadTargets(t *testing.T) {
	ctx := context.Background()
	_, err := fleetgate.FanOut(ctx, []fleetgate.Target{{URL: "sqlite:/tmp/x.db", Schema: "s1"}}, tenantFiles(), nil, nil, upAll)
	require.ErrorContains(t, err, "PostgreSQL")
	require.Equal(t, 2, fleetgate.ExitCode(err))
	_, err = fleetgate.FanOut(ctx, []fleetgate.Target{{URL: "postgres://u:Zq7-sentinel_PW@127.0.0.1:1/x", Schema: "bad-name"}}, tenantFiles(), nil, nil, upAll)
	require.ErrorContains(t, err, "plain identifier")
	require.NotContains(t, err.Error(), "Zq7-sentinel")
}

func TestReadTargets(t *testing.T) {
	env := map[string]string{"TENANT_PW": "Zq7-sentinel_PW", "HOST": "127.0.0.1"}
	getenv := func(k string) string { return env[k] }
	urls, err := fleetgate.ReadTargets(strings.NewReader("# tenants\n\npostgres://app:${TENANT_PW}@${HOST}:5432/t1\n  sqlite:t2.db\n"), "t.txt", getenv)
	require.NoError(t, err)
	require.Equal(t, []string{"postgres://app:Zq7-sentinel_PW@127.0.0.1:5432/t1", "sqlite:t2.db"}, urls)
	for _, c := range []struct{ file, want string }{
		{"sqlite:a.db\npostgres://app:${NOPE}@h/db\n", "t.txt:2: ${NOPE} is not set"},
		{"sqlite:a.db\n\nmysqlx://h/db\n", "t.txt:3: unknown URL scheme"},
		{"postgres://app:${TENANT_PW}@h:notaport/db\n", "t.txt:1: malformed PostgreSQL URL"},
		{"# only comments\n", "t.txt: no database URL"},
		{"postgres://${1BAD}@h/db\n", "t.txt:1: \"1BAD\" is not a variable name"},
	} {
		_, err := fleetgate.ReadTargets(strings.NewReader(c.file), "t.txt", getenv)
		require.ErrorContains(t, err, c.want)
		require.NotContains(t, err.Error(), "Zq7-sentinel")
		require.Equal(t, 2, fleetgate.ExitCode(err))
	}
}

func sqliteOpen(t *testing.T, url string) *sql.DB {
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(strings.TrimPrefix(url, "sqlite:"), "//")+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func qInt(t *testing.T, db *sql.DB, q string) int {
	t.Helper()
	var n int
	require.NoError(t, db.QueryRow(q).Scan(&n), q)
	return n
}

func qStr(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(q).Scan(&s), q)
	return s
}

func tableExists(t *testing.T, db *sql.DB, schema, table string) bool {
	t.Helper()
	var ok bool
	require.NoError(t, db.QueryRow("SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = $2)", schema, table).Scan(&ok))
	return ok
}

// The new-history guard in a schema fan-out: the siblings' histories are
// expected, not a sign of a mistyped --table; a schema holding tables of
// its own but no history is still refused without Init.
func TestFanOutSchemasGuard(t *testing.T) {
	url := dbtest.Postgres(t)
	admin := pgOpen(t, url)
	_, err := admin.Exec("CREATE SCHEMA s1; CREATE SCHEMA s2; CREATE SCHEMA s3; CREATE TABLE s3.app (id integer)")
	require.NoError(t, err)
	fsys := fstest.MapFS{"1_a.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE a (id integer);\n")}}
	targets := []fleetgate.Target{{URL: url, Schema: "s1"}, {URL: url, Schema: "s2"}, {URL: url, Schema: "s3"}}
	rep, err := fleetgate.FanOut(t.Context(), targets, fsys, nil, &fleetgate.FanOutOpts{Parallel: 1, KeepGoing: true}, upAll)
	require.NoError(t, err)
	require.Equal(t, 2, rep.Done)
	require.NoError(t, rep.Results[1].Err, "s2 refused for s1's history")
	require.Equal(t, 2, rep.Results[2].ExitCode)
	require.ErrorContains(t, rep.Results[2].Err, "(app)")
	require.False(t, tableExists(t, admin, "s3", "a"))
}

// Through PgBouncer in transaction pooling mode, a schema fan-out lands
// every migration in its schema, and no server connection keeps the
// search_path afterwards (SET LOCAL ends with the transaction).
func TestFanOutSchemasThroughPgBouncer(t *testing.T) {
	direct := dbtest.Postgres(t)
	admin := pgOpen(t, direct)
	bouncer := dbtest.PgBouncer(t, direct)
	const n = 12
	var targets []fleetgate.Target
	for i := range n {
		s := fmt.Sprintf("tenant_%02d", i)
		_, err := admin.Exec("CREATE SCHEMA " + s + "; CREATE TABLE " + s + ".legacy (v integer); INSERT INTO " + s + ".legacy VALUES (1)")
		require.NoError(t, err)
		targets = append(targets, fleetgate.Target{URL: bouncer, Schema: s})
	}
	rep, err := fleetgate.FanOut(t.Context(), targets, tenantFiles(), &fleetgate.Config{Init: true}, &fleetgate.FanOutOpts{Parallel: 2}, upAll)
	require.NoError(t, err)
	require.Equal(t, n, rep.Done, "%v", rep.Results[0].Err)
	for i := range n {
		s := fmt.Sprintf("tenant_%02d", i)
		require.Equal(t, 10, qInt(t, admin, "SELECT count(*) FROM "+s+".fleetgate_migrations WHERE complete"), s)
		require.Equal(t, 1, qInt(t, admin, "SELECT n FROM "+s+".counter"), s)
	}
	require.Zero(t, qInt(t, admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "a migration ran outside its schema")
	via, err := sql.Open("pgx", bouncer+"&default_query_exec_mode=simple_protocol")
	require.NoError(t, err)
	defer via.Close()
	via.SetMaxOpenConns(8)
	var wg sync.WaitGroup
	paths := make([]string, 16)
	for i := range paths {
		wg.Go(func() { _ = via.QueryRow("SELECT current_setting('search_path') FROM pg_sleep(0.05)").Scan(&paths[i]) })
	}
	wg.Wait()
	for _, p := range paths {
		require.Equal(t, "\"$user\", public", p, "a server connection kept a tenant's search_path")
	}
}
