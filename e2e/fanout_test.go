package e2e

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The scale of the fan-out tests. CI runs them small; the full
// scale (200 databases, 1,000 schemas) is FLEETGATE_FANOUT_DBS=200
// FLEETGATE_FANOUT_SCHEMAS=1000, and bench/run.sh measures it.
func fanScale(t *testing.T, env string, def int) int {
	if v := os.Getenv(env); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, env)
		return n
	}
	return def
}

// tenantSet is ten migrations for tenants that already hold a legacy
// table: 5 copies it through a division that a tenant with v = -1 fails,
// 7 counts its runs, and (sleep) each may pause, so that a kill lands
// mid fan-out. No name is qualified: in a schema fan-out each lands in its
// schema.
func tenantSet(sleep string) map[string]string {
	files := map[string]string{}
	for i := 1; i <= 10; i++ {
		body := fmt.Sprintf("CREATE TABLE t%d (id integer);\n", i)
		switch i {
		case 1:
			body = "CREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n"
		case 5:
			body = "CREATE TABLE t5 (id integer NOT NULL);\nINSERT INTO t5 SELECT 100 / (v + 1) FROM legacy;\n"
		case 7:
			body = "UPDATE counter SET n = n + 1 WHERE n >= 0;\n"
		}
		if sleep != "" {
			body += "SELECT " + sleep + ";\n"
		}
		files[fmt.Sprintf("%04d_m%d.sql", i, i)] = "-- fleetgate:up\n" + body
	}
	return files
}

// sampler counts the server's fleetgate sessions matching where, every
// few milliseconds, until stop; stop returns the highest count.
func sampler(t *testing.T, admin *sql.DB, where string) (stop func() int) {
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

// tenantDBs creates n databases with a legacy row (v = -1 in bad, 1 in the
// others) and returns their URLs and a targets file listing them with the
// password as ${FG_TENANT_PW}.
func tenantDBs(t *testing.T, n, bad int) (urls []string, file string) {
	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)
	var b strings.Builder
	b.WriteString("# one line per tenant\n")
	for i := range n {
		u := srv.Database(t)
		v := 1
		if i == bad {
			v = -1
		}
		db := openDB(t, u)
		_, err := db.Exec(fmt.Sprintf("CREATE TABLE legacy (v integer); INSERT INTO legacy VALUES (%d)", v))
		require.NoError(t, err)
		db.Close()
		urls = append(urls, u)
		b.WriteString(strings.Replace(u, "postgres://postgres@", "postgres://postgres:${FG_TENANT_PW}@", 1) + "\n")
	}
	file = filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(b.String()), 0o600))
	return urls, file
}

// queryOnce runs one query returning an integer on its own connection,
// closed at once: a test over hundreds of databases must not keep a pool
// open per database (the server allows 300 sessions).
func queryOnce(t *testing.T, url, q string) int {
	t.Helper()
	db := openDB(t, url)
	defer db.Close()
	return queryInt(t, db, q)
}

// dbName is the database of a dbtest URL, as a fan-out names it.
func dbName(u string) string {
	u, _, _ = strings.Cut(u, "?")
	return u[strings.LastIndex(u, "/")+1:]
}

func dbNames(urls []string) string {
	q := make([]string, len(urls))
	for i, u := range urls {
		q[i] = "'" + dbName(u) + "'"
	}
	return "datname IN (" + strings.Join(q, ",") + ")"
}

// A database per tenant: the canary stops the run at the bad tenant
// before the rest start; --keep-going finishes every other tenant exactly
// once, names the bad one and exits 1; the server never sees more than two
// sessions per running target.
func TestFanOutTenantDatabases(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	n := fanScale(t, "FLEETGATE_FANOUT_DBS", 16)
	const bad, parallel = 1, 4
	urls, file := tenantDBs(t, n, bad)
	dir := writeFiles(t, tenantSet(""))
	env := []string{"FG_TENANT_PW=Zq7-sentinel_PW"} // trust auth: carried, not checked
	name := func(i int) string { return dbName(urls[i]) }

	r := fg(t, env, "up", "--targets", file, "--dir", dir, "--init", "--canary", "3", "--keep-going")
	require.Equal(t, 1, r.Code, r)
	require.Contains(t, r.Stderr, name(bad)+": FAILED (exit 1)")
	require.Contains(t, r.Stderr, fmt.Sprintf("up over %d targets: 1 ok, 1 failed, %d not started", n, n-2), r)
	for i := 2; i < n; i++ {
		require.Zero(t, queryOnce(t, urls[i], "SELECT count(*) FROM pg_tables WHERE tablename = 'fleetgate_migrations'"), "canary let %s run", name(i))
	}

	mon := openDB(t, urls[0])
	mon.SetMaxOpenConns(1)
	stop := sampler(t, mon, dbNames(urls))
	r = start(t, env, "up", "--targets", file, "--dir", dir, "--init", "--canary", "1", "--keep-going", "--parallel", strconv.Itoa(parallel), "--log-format", "json").wait(t, 10*time.Minute)
	peak := stop()
	require.Equal(t, 1, r.Code, r)
	t.Logf("%d databases, parallel %d: %v, peak %d fleetgate sessions", n, parallel, r.Elapsed, peak)
	require.LessOrEqual(t, peak, 2*parallel, "sessions above parallel + lock sessions")
	require.Equal(t, n+2, strings.Count(r.Stderr, "\n"), "one JSON record per target, the summary and the error:\n%s", r.Stderr)
	require.Equal(t, n, strings.Count(r.Stderr, `"msg":"target up"`))
	require.Contains(t, r.Stderr, `"exit_code":1,"failed":1,"failures":[{"error":`)
	require.Contains(t, r.Stderr, `"target":"`+name(bad)+`"`)
	require.NotContains(t, r.Stderr, "Zq7-sentinel")
	for i, u := range urls {
		if i == bad {
			require.Equal(t, 4, queryOnce(t, u, "SELECT count(*) FROM fleetgate_migrations"))
			continue
		}
		require.Equal(t, 10, queryOnce(t, u, "SELECT count(*) FILTER (WHERE complete) FROM fleetgate_migrations"), name(i))
		require.Equal(t, 1, queryOnce(t, u, "SELECT n FROM counter"), name(i))
	}

	r = fg(t, env, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, fmt.Sprintf("%d targets at 10\n1 target failed at 5: %s\n", n-1, name(bad)), r.Stdout)
	r = fg(t, env, "validate", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	r = fg(t, env, "wait", "--targets", file, "--dir", dir, "--timeout", "2s", "--poll", "100ms")
	require.Equal(t, 3, r.Code, "the bad tenant never becomes ready: %s", r)
	require.Contains(t, r.Stderr, name(bad))
}

// status over targets reads each target's last failure from its events:
// a tenant whose migration 5 failed shows as failed at 5, by name, and
// --json carries the failure (version, statement, error); once the
// tenant's data is fixed and up succeeds, the failure is settled and the
// tenant joins the others.
func TestFanOutStatusFailures(t *testing.T) {
	t.Parallel()
	const n, bad = 3, 1
	urls, file := tenantDBs(t, n, bad)
	dir := writeFiles(t, tenantSet(""))
	env := []string{"FG_TENANT_PW=x"}
	r := fg(t, env, "up", "--targets", file, "--dir", dir, "--init", "--keep-going")
	require.Equal(t, 1, r.Code, r)

	r = fg(t, env, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, fmt.Sprintf("%d targets at 10\n1 target failed at 5: %s\n", n-1, dbName(urls[bad])), r.Stdout)

	type row struct {
		Target  string
		At      int64
		Pending []int64
		Failure *struct {
			Kind, Direction, Error, Statement string
			Version                           int64
			StatementLine                     int `json:"statement_line"`
		}
		Status struct{ Failure *struct{ Version int64 } }
	}
	matrix := func() map[string]row {
		r := fg(t, env, "status", "--targets", file, "--dir", dir, "--json")
		require.Equal(t, 0, r.Code, r)
		var out struct{ Targets []row }
		require.NoError(t, json.Unmarshal([]byte(r.Stdout), &out), r.Stdout)
		require.Len(t, out.Targets, n)
		m := map[string]row{}
		for _, t := range out.Targets {
			m[t.Target] = t
		}
		return m
	}
	m := matrix()
	for i, u := range urls {
		got := m[dbName(u)]
		if i != bad {
			require.Nil(t, got.Failure, dbName(u))
			require.EqualValues(t, 10, got.At)
			continue
		}
		require.NotNil(t, got.Failure, "the matrix lacks the failure: %+v", got)
		require.Equal(t, "failure", got.Failure.Kind)
		require.Equal(t, "up", got.Failure.Direction)
		require.EqualValues(t, 5, got.Failure.Version)
		require.Contains(t, got.Failure.Error, "division by zero")
		require.Contains(t, got.Failure.Statement, "100 / (v + 1)")
		require.Equal(t, 3, got.Failure.StatementLine, "the file's line of the INSERT")
		require.NotNil(t, got.Status.Failure, "status --json of the one database carries it too")
		require.EqualValues(t, 4, got.At)
		require.Equal(t, []int64{5, 6, 7, 8, 9, 10}, got.Pending)
	}

	r = fg(t, nil, "status", "-d", urls[bad], "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Contains(t, r.Stdout, "last attempt failed applying 5 m5 at ")
	require.Contains(t, r.Stdout, "division by zero")

	db := openDB(t, urls[bad])
	_, err := db.Exec("UPDATE legacy SET v = 1")
	require.NoError(t, err)
	db.Close()
	r = fg(t, env, "up", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	r = fg(t, env, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, fmt.Sprintf("%d targets at 10\n", n), r.Stdout, "a settled failure still shows")
	for name, got := range matrix() {
		require.Nil(t, got.Failure, name)
	}
	require.Equal(t, 1, queryOnce(t, urls[bad], "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 5"),
		"the failure stays in the log")
}

// The input of a fan-out is checked before any database is touched: a bad
// line is named by file:line, exit 2.
func TestFanOutBadTargetsFile(t *testing.T) {
	url := dbtest.Postgres(t)
	dir := writeFiles(t, tenantSet(""))
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte("# tenants\n"+url+"\n\npostgres://postgres:${FG_NOPE}@127.0.0.1/x\n"), 0o600))
	r := fg(t, nil, "up", "--targets", file, "--dir", dir, "--init")
	require.Equal(t, 2, r.Code, r)
	require.Contains(t, r.Stderr, file+":4: ${FG_NOPE} is not set")
	require.Zero(t, queryInt(t, openDB(t, url), "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "a database was touched")
	r = fg(t, nil, "history", "-d", url, "-d", url, "--dir", dir)
	require.Equal(t, 2, r.Code, r)
	r = fg(t, nil, "up", "-d", url, "--schemas", "tenant_*", "--targets", file, "--dir", dir)
	require.Equal(t, 2, r.Code, r)
}

// tenantSchemas creates n schemas with a legacy row each in one database.
func tenantSchemas(t *testing.T, n int) (url string, admin *sql.DB) {
	url = dbtest.Postgres(t)
	admin = openDB(t, url)
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "CREATE SCHEMA tenant_%04d; CREATE TABLE tenant_%04d.legacy (v integer); INSERT INTO tenant_%04d.legacy VALUES (1);\n", i, i, i)
	}
	_, err := admin.Exec(b.String())
	require.NoError(t, err)
	return url, admin
}

// requireSchemasOnce checks every schema: ten migrations recorded once and
// complete in its own history, the data migration run once, nothing in
// public.
func requireSchemasOnce(t *testing.T, admin *sql.DB, n int) {
	t.Helper()
	var bad []string
	rows, err := admin.Query(`SELECT n.nspname,
		(SELECT count(*) FROM pg_tables WHERE schemaname = n.nspname AND tablename = 'counter')
		FROM pg_namespace n WHERE n.nspname LIKE 'tenant\_%' ORDER BY 1`)
	require.NoError(t, err)
	var schemas []string
	for rows.Next() {
		var s string
		var has int
		require.NoError(t, rows.Scan(&s, &has))
		if has == 0 {
			bad = append(bad, s+" (no counter)")
			continue
		}
		schemas = append(schemas, s)
	}
	require.NoError(t, rows.Err())
	require.Empty(t, bad)
	require.Len(t, schemas, n)
	var q strings.Builder
	for i, s := range schemas {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, "SELECT '%s', (SELECT count(*) FROM %s.fleetgate_migrations WHERE complete), (SELECT count(DISTINCT version) FROM %s.fleetgate_migrations), (SELECT n FROM %s.counter)", s, s, s, s)
	}
	rows, err = admin.Query(q.String())
	require.NoError(t, err)
	for rows.Next() {
		var s string
		var complete, distinct, counter int
		require.NoError(t, rows.Scan(&s, &complete, &distinct, &counter))
		if complete != 10 || distinct != 10 || counter != 1 {
			bad = append(bad, fmt.Sprintf("%s: %d complete, %d distinct, counter %d", s, complete, distinct, counter))
		}
	}
	require.NoError(t, rows.Err())
	require.Empty(t, bad, "not exactly once")
	require.Zero(t, queryInt(t, admin, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"), "a migration ran outside its schema")
}

// A schema per tenant: every schema gets its ten migrations exactly once,
// in itself, and the server sees at most two sessions per running target.
func TestFanOutSchemas(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	n := fanScale(t, "FLEETGATE_FANOUT_SCHEMAS", 100)
	const parallel = 4
	url, admin := tenantSchemas(t, n)
	dir := writeFiles(t, tenantSet(""))
	stop := sampler(t, admin, "datname = current_database()")
	r := start(t, nil, "up", "-d", url, "--schemas", "tenant_*", "--dir", dir, "--init", "--parallel", strconv.Itoa(parallel)).wait(t, 15*time.Minute)
	peak := stop()
	require.Equal(t, 0, r.Code, r)
	t.Logf("%d schemas x 10 migrations, parallel %d: %v, peak %d fleetgate sessions", n, parallel, r.Elapsed, peak)
	require.LessOrEqual(t, peak, 2*parallel, "sessions above parallel + lock sessions")
	requireSchemasOnce(t, admin, n)
	r = fg(t, nil, "status", "-d", url, "--schemas-from", "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tenant%'", "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, fmt.Sprintf("%d targets at 10\n", n), r.Stdout)
}

// kill -9 of the runner mid fan-out, then the same command again: every
// schema completes, nothing twice.
func TestFanOutKilledThenRerun(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const n = 30
	url, admin := tenantSchemas(t, n)
	dir := writeFiles(t, tenantSet("pg_sleep(0.02)"))
	args := []string{"up", "-d", url, "--schemas", "tenant_*", "--dir", dir, "--init", "--parallel", "3"}
	p := start(t, nil, args...)
	// Kill once some schemas are done and others not begun.
	require.Eventually(t, func() bool {
		var done int
		_ = admin.QueryRow("SELECT count(*) FROM pg_tables WHERE tablename = 't10' AND schemaname LIKE 'tenant%'").Scan(&done)
		return done >= 3
	}, 2*time.Minute, 10*time.Millisecond, "no schema finished")
	require.NoError(t, syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL))
	killed := p.wait(t, time.Minute)
	require.Equal(t, 128+9, killed.Code, killed)
	require.Less(t, queryInt(t, admin, "SELECT count(*) FROM pg_tables WHERE tablename = 't10' AND schemaname LIKE 'tenant%'"), n, "the kill came after the end")
	r := fg(t, nil, args...)
	require.Equal(t, 0, r.Code, r)
	requireSchemasOnce(t, admin, n)
}

// Two deploy pipelines fan out over the same schemas at once: each schema
// is migrated exactly once and both succeed.
func TestFanOutTwoRunners(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const n = 30
	url, admin := tenantSchemas(t, n)
	dir := writeFiles(t, tenantSet(""))
	rs := race(t, 2, nil, "up", "-d", url, "--schemas", "tenant_*", "--dir", dir, "--init", "--parallel", "3")
	for _, r := range rs {
		require.Equal(t, 0, r.Code, r)
	}
	requireSchemasOnce(t, admin, n)
	require.Equal(t, 10*n, appliedTotal(rs), "the runners' reports add up to each migration once")
}

// appliedTotal adds up the migrations the fan-out runners' reports say
// they applied (their "<target>: ok, applied N" lines).
func appliedTotal(rs []result) int {
	var applied int
	for _, r := range rs {
		for _, l := range strings.Split(r.Stderr, "\n") {
			if _, rest, ok := strings.Cut(l, ": ok, applied "); ok {
				k, _ := strconv.Atoi(strings.Fields(rest)[0])
				applied += k
			}
		}
	}
	return applied
}
