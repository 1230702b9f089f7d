package e2e

import (
	"encoding/json"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The seed's builds: v2 ships migrations 1-5, v1 (the build a deploy is
// reverted to) only 1-3. Migration 5 adds a column and changes data, so
// reverting it twice, or not at all, shows in the balances.
var seedV2 = map[string]string{
	"1_accounts.sql": `-- fleetgate:up
CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, balance bigint NOT NULL);
INSERT INTO accounts VALUES (1, 'ann@example.com', 100), (2, 'bob@example.com', 250);
-- fleetgate:down
DROP TABLE accounts;
`,
	"2_orders.sql": `-- fleetgate:up
CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts (id), total bigint NOT NULL);
-- fleetgate:down
DROP TABLE orders;
`,
	"3_orders_account_idx.sql": `-- fleetgate:allow require-concurrent-index orders is empty when this runs in the tests
-- fleetgate:up
CREATE INDEX orders_account_idx ON orders (account_id);
-- fleetgate:down
DROP INDEX orders_account_idx;
`,
	"4_invoices.sql": `-- fleetgate:up
CREATE TABLE invoices (id bigint PRIMARY KEY, order_id bigint NOT NULL REFERENCES orders (id), issued_at timestamptz NOT NULL DEFAULT now());
-- fleetgate:down
DROP TABLE invoices;
`,
	"5_balance_cents.sql": `-- fleetgate:up
ALTER TABLE accounts ADD COLUMN currency text NOT NULL DEFAULT 'EUR';
UPDATE accounts SET balance = balance * 100;
-- fleetgate:down
UPDATE accounts SET balance = balance / 100;
ALTER TABLE accounts DROP COLUMN currency;
`,
}

// build returns the directory of a build holding the given seed files,
// with optional replacements.
func build(t *testing.T, names []string, replace map[string]string) string {
	t.Helper()
	files := map[string]string{}
	for _, n := range names {
		files[n] = seedV2[n]
		if r, ok := replace[n]; ok {
			files[n] = r
		}
	}
	return writeFiles(t, files)
}

var (
	v1Files = []string{"1_accounts.sql", "2_orders.sql", "3_orders_account_idx.sql"}
	v2Files = append(append([]string{}, v1Files...), "4_invoices.sql", "5_balance_cents.sql")
)

// schemaDump is pg_dump --schema-only of the user's objects (fleetgate's
// own tables excluded), without the per-run \restrict keys of newer
// pg_dump releases.
func schemaDump(t *testing.T, url string) string {
	t.Helper()
	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)
	pgDump := "/usr/lib/postgresql/15/bin/pg_dump"
	if srv.BinDir != "" {
		pgDump = filepath.Join(srv.BinDir, "pg_dump")
	}
	out, err := exec.Command(pgDump, "--schema-only", "--no-owner", "--no-privileges", "-T", "fleetgate_*", "-d", url).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("pg_dump: %v: %s", err, ee.Stderr)
	}
	require.NoError(t, err)
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, `\restrict`) || strings.HasPrefix(l, `\unrestrict`) {
			continue
		}
		keep = append(keep, l)
	}
	dump := strings.Join(keep, "\n")
	require.Contains(t, dump, "CREATE TABLE", "dump of %s is empty", url)
	require.NotContains(t, dump, "fleetgate_", "fleetgate's tables are excluded")
	return dump
}

// freshV1Dump is the schema a database migrated by v1 alone has.
func freshV1Dump(t *testing.T) string {
	t.Helper()
	url := dbtest.Postgres(t)
	r := fg(t, nil, "up", "-d", url, "--dir", build(t, v1Files, nil))
	require.Equal(t, 0, r.Code, r.String())
	return schemaDump(t, url)
}

func requireBalances(t *testing.T, url string, want string) {
	t.Helper()
	var got string
	require.NoError(t, openDB(t, url).QueryRow("SELECT string_agg(id || '=' || balance, ',' ORDER BY id) FROM accounts").Scan(&got))
	require.Equal(t, want, got)
}

func appliedVersions(t *testing.T, url string) string {
	t.Helper()
	var got string
	require.NoError(t, openDB(t, url).QueryRow("SELECT string_agg(version::text, ',' ORDER BY version) FROM fleetgate_migrations").Scan(&got))
	return got
}

// The seed's rollback: v2 is applied; eight instances of v1 run
// `down --unknown` at the same moment. 5 and 4 are reverted exactly once,
// with the scripts stored in the database, every process exits 0, and the
// schema is that of a database v1 alone migrated. The history says who,
// where and when.
func TestSeedRollback(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	schema := loadSchema(t)
	want := freshV1Dump(t)
	url := dbtest.Postgres(t)
	v2, v1 := build(t, v2Files, nil), build(t, v1Files, nil)
	r := fg(t, []string{"FLEETGATE_DEPLOY_ID=deploy-v2"}, "up", "-d", url, "--dir", v2)
	require.Equal(t, 0, r.Code, r.String())
	requireBalances(t, url, "1=10000,2=25000")
	require.NotEqual(t, want, schemaDump(t, url))

	start := time.Now()
	results := race(t, 8, []string{"FLEETGATE_DEPLOY_ID=revert-to-v1"}, "down", "--unknown", "-d", url, "--dir", v1)
	elapsed := time.Since(start)
	reverters := 0
	for i, r := range results {
		require.Equal(t, 0, r.Code, "process %d: %s", i, r)
		if strings.Contains(r.Stderr, "done reverted=") {
			reverters++
		}
	}
	t.Logf("8 concurrent down --unknown: %v wall, %d process(es) reverted, slowest %v", elapsed.Round(time.Millisecond), reverters, slowest(results))
	require.Equal(t, "1,2,3", appliedVersions(t, url))
	requireBalances(t, url, "1=100,2=250")
	require.Equal(t, want, schemaDump(t, url), "schema after the rollback differs from v1's")

	evs := requireValidHistory(t, schema, url, v1)
	var rollbacks []map[string]any
	for _, e := range evs {
		if e["kind"] == "rollback" {
			rollbacks = append(rollbacks, e)
		}
		require.NotEqual(t, "failure", e["kind"], "no instance failed: %v", e)
	}
	require.Len(t, rollbacks, 2, "each reverted exactly once")
	// Newest first: 4 was reverted after 5.
	require.Equal(t, json.Number("4"), rollbacks[0]["version"])
	require.Equal(t, json.Number("5"), rollbacks[1]["version"])
	for _, e := range rollbacks {
		require.Equal(t, "down", e["direction"])
		require.Contains(t, e["file"], "stored down script of ")
		requireWho(t, e, "revert-to-v1", start)
	}
	// The applies stay in the log: nothing is erased by a rollback.
	require.Len(t, filterKind(evs, "apply"), 5)

	// The text history shows both, with who and where.
	r = fg(t, nil, "history", "-d", url, "--dir", v1, "--version", "5")
	require.Equal(t, 0, r.Code, r.String())
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	require.Len(t, lines, 3, r.Stdout)
	require.Contains(t, lines[1], "rollback")
	require.Contains(t, lines[1], "5 balance_cents")
	require.Contains(t, lines[1], "revert-to-v1")
	require.Contains(t, lines[1], "postgres@")

	// And v2 can go forward again: the reverted migrations are pending.
	r = fg(t, nil, "up", "-d", url, "--dir", v2)
	require.Equal(t, 0, r.Code, r.String())
	requireBalances(t, url, "1=10000,2=25000")
}

func filterKind(evs []map[string]any, kind string) []map[string]any {
	var out []map[string]any
	for _, e := range evs {
		if e["kind"] == kind {
			out = append(out, e)
		}
	}
	return out
}

func slowest(rs []result) time.Duration {
	var m time.Duration
	for _, r := range rs {
		m = max(m, r.Elapsed)
	}
	return m.Round(time.Millisecond)
}

// An irreversible migration among those to revert stops the rollback
// before anything changes: exit 1, and the message names it.
func TestDownIrreversibleInTheWay(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	v2 := build(t, v2Files, map[string]string{"4_invoices.sql": "-- fleetgate:up\nCREATE TABLE invoices (id bigint PRIMARY KEY);\n"})
	r := fg(t, nil, "up", "-d", url, "--dir", v2)
	require.Equal(t, 0, r.Code, r.String())
	snap := snapshot(t, db)
	for _, args := range [][]string{{"--unknown"}, {"--steps", "2"}, {"--to", "3"}} {
		r = fg(t, nil, append([]string{"down", "-d", url, "--dir", build(t, v1Files, nil)}, args...)...)
		require.Equal(t, 1, r.Code, "%v: %s", args, r)
		require.Contains(t, r.Stderr, "fleetgate: cannot roll back 4_invoices")
		require.Contains(t, r.Stderr, "irreversible")
		require.Contains(t, r.Stderr, "nothing was changed")
		require.Equal(t, snap, snapshot(t, db), "%v changed the database", args)
	}
	requireBalances(t, url, "1=10000,2=25000")
	// One step (5 alone) is not in its way.
	r = fg(t, nil, "down", "-d", url, "--dir", build(t, v1Files, nil))
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, "1,2,3,4", appliedVersions(t, url))
}

// An older build's `up` against a newer database: by default it warns,
// naming the unknown migrations, and exits 0; --if-ahead=fail exits 4;
// --if-ahead=rollback reverts them (once, however many instances) and then
// reports ready.
func TestUpOlderBuildIfAhead(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	want := freshV1Dump(t)
	url := dbtest.Postgres(t)
	v2, v1 := build(t, v2Files, nil), build(t, v1Files, nil)
	r := fg(t, nil, "up", "-d", url, "--dir", v2)
	require.Equal(t, 0, r.Code, r.String())

	r = fg(t, nil, "up", "-d", url, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "warn: database is ahead of this build")
	require.Contains(t, r.Stderr, `unknown="4_invoices 5_balance_cents"`)
	require.Equal(t, "1,2,3,4,5", appliedVersions(t, url))

	r = fg(t, nil, "up", "-d", url, "--dir", v1, "--if-ahead=fail")
	require.Equal(t, 4, r.Code, r.String())
	require.Contains(t, r.Stderr, "fleetgate: database is ahead of this build: applied migrations 4_invoices, 5_balance_cents")
	require.Equal(t, "1,2,3,4,5", appliedVersions(t, url))

	r = fg(t, nil, "up", "-d", url, "--dir", v1, "--if-ahead=sideways")
	require.Equal(t, 2, r.Code, r.String())

	results := race(t, 4, nil, "up", "-d", url, "--dir", v1, "--if-ahead=rollback")
	for i, r := range results {
		require.Equal(t, 0, r.Code, "process %d: %s", i, r)
		require.Contains(t, r.Stderr, "schema is up to date", "process %d reports ready: %s", i, r)
	}
	require.Equal(t, "1,2,3", appliedVersions(t, url))
	requireBalances(t, url, "1=100,2=250")
	require.Equal(t, want, schemaDump(t, url))
	db := openDB(t, url)
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'rollback'"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure'"))

	r = fg(t, nil, "status", "--json", "-d", url, "--dir", v1)
	require.Equal(t, 0, r.Code, r.String())
	require.NotContains(t, r.Stdout, `"ahead"`)
	require.NotContains(t, r.Stdout, `"pending"`)
}

// A failing down records a failure event, keeps what it could not revert,
// and says which version the database is at.
func TestDownFailureStatesVersion(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	url := dbtest.Postgres(t)
	v2 := build(t, v2Files, map[string]string{"4_invoices.sql": "-- fleetgate:up\nCREATE TABLE invoices (id bigint PRIMARY KEY);\n-- fleetgate:down\nDROP TABLE invoices;\nDROP TABLE invoices_archive;\n"})
	r := fg(t, nil, "up", "-d", url, "--dir", v2)
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "down", "--unknown", "-d", url, "--dir", build(t, v1Files, nil))
	require.Equal(t, 1, r.Code, r.String())
	for _, w := range []string{"stored down script of 4_invoices:2", "invoices_archive", "42P01",
		"the database is at version 4", "reverted before the failure: 5"} {
		require.Contains(t, r.Stderr, w)
	}
	require.Equal(t, "1,2,3,4", appliedVersions(t, url))
	db := openDB(t, url)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'invoices'"), "invoices kept: its down rolled back as a whole")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND direction = 'down' AND version = 4 AND statement_line = 2"))
}
