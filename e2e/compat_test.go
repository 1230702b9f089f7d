package e2e

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The compat fixtures (testdata/compat/<tool>) are one schema story of 44
// migrations written the way each tool's users write them; README.md there
// maps every construct to its files. These tests run the real
// tools, at the versions the benchmark pins, against the same PostgreSQL.

// peerBin installs the peer tools once per test binary with the
// benchmark's installer, bench/install-peers.sh, at the versions it pins
// (idempotent: a few `go version -m` calls when they are there; a first run
// builds them through the Go module proxy). A tool that cannot be
// installed fails the tests that need it: they never skip.
var peerBin = sync.OnceValues(func() (string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", err
	}
	script := filepath.Join(root, "bench", "install-peers.sh")
	out, err := exec.Command("bash", script).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%s: %v\n%s", script, err, out)
	}
	return filepath.Join(root, "bench", ".bin"), nil
})

// compatTool is one peer tool and its fixture.
type compatTool struct {
	name string // as --from and --format spell it
	dir  string // the fixture
	// irreversible is the version without a down section (0: none, dbmate
	// requires a down in every file).
	irreversible int64
	// failingDown is the version whose down fails while a note has no body.
	failingDown int64
}

var compatTools = []compatTool{
	{name: "golang-migrate", dir: "../testdata/compat/golang-migrate", irreversible: 10, failingDown: 51},
	{name: "goose", dir: "../testdata/compat/goose", irreversible: 20230108022733, failingDown: 20230113010822},
	{name: "dbmate", dir: "../testdata/compat/dbmate", failingDown: 20240218233822},
}

// peer runs the real tool to apply every migration in dir.
func (c compatTool) peer(t *testing.T, dir, url string) {
	t.Helper()
	bin, err := peerBin()
	require.NoError(t, err, "installing the peer tools (the compat tests need them; they do not skip)")
	var cmd *exec.Cmd
	switch c.name {
	case "golang-migrate":
		cmd = exec.Command(filepath.Join(bin, "migrate"), "-path", dir, "-database", url, "up")
	case "goose":
		cmd = exec.Command(filepath.Join(bin, "goose"), "-dir", dir, "postgres", url, "up")
	case "dbmate":
		cmd = exec.Command(filepath.Join(bin, "dbmate"), "--url", url, "--migrations-dir", dir, "--no-dump-schema", "migrate")
	}
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", c.name, out)
}

var versionRE = regexp.MustCompile(`^([0-9]+)_`)

// versions lists the fixture's versions in order.
func (c compatTool) versions(t *testing.T) []int64 {
	t.Helper()
	entries, err := os.ReadDir(c.dir)
	require.NoError(t, err)
	seen := map[int64]bool{}
	var out []int64
	for _, e := range entries {
		m := versionRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		v, err := strconv.ParseInt(m[1], 10, 64)
		require.NoError(t, err)
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// upTo copies the fixture's files of versions up to v into a new directory.
func (c compatTool) upTo(t *testing.T, v int64) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(c.dir)
	require.NoError(t, err)
	for _, e := range entries {
		m := versionRE.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		if n, _ := strconv.ParseInt(m[1], 10, 64); n <= v {
			data, err := os.ReadFile(filepath.Join(c.dir, e.Name()))
			require.NoError(t, err)
			require.NoError(t, os.WriteFile(filepath.Join(dir, e.Name()), data, 0o644))
		}
	}
	return dir
}

// compatDump is pg_dump --schema-only of everything but fleetgate's and
// the peer tools' own tables; nothing else is normalised (a fixed
// --restrict-key keeps the \restrict lines of current pg_dump releases
// equal between dumps).
func compatDump(t *testing.T, url string) string {
	t.Helper()
	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)
	pgDump := "/usr/lib/postgresql/15/bin/pg_dump"
	if srv.BinDir != "" {
		pgDump = filepath.Join(srv.BinDir, "pg_dump")
	}
	out, err := exec.Command(pgDump, "--schema-only", "--restrict-key=fleetgatecompat",
		"-T", "fleetgate_migrations", "-T", "fleetgate_events", "-T", "fleetgate_events_id_seq", "-T", "fleetgate_lock", "-T", "fleetgate_instances",
		"-T", "schema_migrations", "-T", "goose_db_version", "-T", "goose_db_version_id_seq", "-d", url).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("pg_dump: %v: %s", err, ee.Stderr)
	}
	require.NoError(t, err)
	dump := string(out)
	require.Contains(t, dump, "CREATE TABLE", "dump of %s is empty", url)
	for _, own := range []string{"fleetgate_", "schema_migrations", "goose_db_version"} {
		if strings.Contains(dump, own) {
			t.Fatalf("the dump shows %s, which is excluded:\n%s", own, dump)
		}
	}
	return dump
}

// requireSameDump compares two schema dumps and, when they differ, shows
// the lines only one of them has instead of both dumps whole.
func requireSameDump(t *testing.T, want, got string, msg string, args ...any) {
	t.Helper()
	if want == got {
		return
	}
	count := map[string]int{}
	for _, l := range strings.Split(want, "\n") {
		count[l]++
	}
	for _, l := range strings.Split(got, "\n") {
		count[l]--
	}
	var only []string
	for l, n := range count {
		switch {
		case n > 0:
			only = append(only, fmt.Sprintf("- %s (x%d)", l, n))
		case n < 0:
			only = append(only, fmt.Sprintf("+ %s (x%d)", l, -n))
		}
	}
	sort.Strings(only)
	t.Fatalf("%s: the schemas differ (-peer +fleetgate):\n%s", fmt.Sprintf(msg, args...), strings.Join(only, "\n"))
}

// TestCompatFixtures: each fixture, applied by fleetgate from the same
// directory, gives the very schema the real tool gives; then down reverts
// version by version with each file's own down, stops at a failing down
// with the database at a stated version, goes on once the data allows it,
// and stops before an irreversible migration.
func TestCompatFixtures(t *testing.T) {
	t.Parallel()
	for _, c := range compatTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			versions := c.versions(t)
			require.GreaterOrEqual(t, len(versions), 40, "the fixture has at least 40 migrations")

			peerURL := dbtest.Postgres(t)
			c.peer(t, c.dir, peerURL)
			url := dbtest.Postgres(t)
			r := fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			requireSameDump(t, compatDump(t, peerURL), compatDump(t, url), "fleetgate and %s", c.name)

			db := openDB(t, url)
			require.Equal(t, len(versions), queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete AND NOT adopted"))
			require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "each data migration applied once")
			r = fg(t, nil, "validate", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			r = fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())

			// down: the version below the failing one's down is where the
			// first attempt stops, with the failure recorded.
			target := c.irreversible
			if target == 0 {
				target = versions[9]
			}
			_, err := db.Exec("INSERT INTO notes (body) VALUES (NULL)")
			require.NoError(t, err)
			r = fg(t, nil, "down", "-d", url, "--dir", c.dir, "--to", strconv.FormatInt(target, 10))
			require.Equal(t, 1, r.Code, r.String())
			require.Contains(t, r.Stderr, fmt.Sprintf("the database is at version %d", c.failingDown))
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND direction = 'down' AND version = $1", c.failingDown))
			require.Equal(t, c.failingDown, int64(queryInt(t, db, "SELECT max(version) FROM fleetgate_migrations")))

			_, err = db.Exec("DELETE FROM notes WHERE body IS NULL")
			require.NoError(t, err)
			r = fg(t, nil, "down", "-d", url, "--dir", c.dir, "--to", strconv.FormatInt(target, 10))
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, target, int64(queryInt(t, db, "SELECT max(version) FROM fleetgate_migrations")))
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the empty down is a no-op, the other data down undid its +1")
			lowURL := dbtest.Postgres(t)
			c.peer(t, c.upTo(t, target), lowURL)
			requireSameDump(t, compatDump(t, lowURL), compatDump(t, url), "after down --to %d", target)

			if c.irreversible == 0 {
				r = fg(t, nil, "down", "-d", url, "--dir", c.dir, "--to", "0")
				require.Equal(t, 0, r.Code, r.String())
				require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))
				return
			}
			r = fg(t, nil, "down", "-d", url, "--dir", c.dir)
			require.Equal(t, 1, r.Code, r.String())
			require.Contains(t, r.Stderr, "irreversible")
			require.Contains(t, r.Stderr, fmt.Sprintf("cannot roll back %d_", c.irreversible))
			require.Equal(t, target, int64(queryInt(t, db, "SELECT max(version) FROM fleetgate_migrations")))
		})
	}
}

// noChecks turns the checks off through the environment, as a fleet would
// set FLEETGATE_CHECKS: these tests are about transactions, and a resumed
// run finds a database that already has migrations applied, where the
// checks are enforced.
var noChecks = []string{"FLEETGATE_CHECKS=off"}

// twoBlocks is a golang-migrate directory whose second migration manages
// two transactions itself: the first block counts, the second waits in the
// database (long enough to be killed in) and then marks the file done.
func twoBlocks(t *testing.T, sleep string) string {
	return writeFiles(t, map[string]string{
		"1_setup.up.sql": "CREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\nCREATE TABLE done (at timestamptz);\nCREATE TABLE gate (open boolean);\n",
		"2_two_blocks.up.sql": "BEGIN;\nUPDATE counter SET n = n + 1;\nCOMMIT;\n\n" +
			"BEGIN;\nSELECT " + sleep + ";\n-- fails until the gate is open; an error, like a kill, must not re-run the first block\n" +
			"SELECT 1 / (SELECT count(*)::int FROM gate WHERE open);\nINSERT INTO done VALUES (now());\nCOMMIT;\n",
	})
}

// TestTwoBlocksKill: kill -9 while the second of two explicit transaction
// blocks runs, then up: the first block is not run twice, the second runs
// whole.
func TestTwoBlocksKill(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := twoBlocks(t, "pg_sleep(3)")
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	p := start(t, noChecks, "up", "-d", url, "--dir", dir)
	deadline := time.Now().Add(30 * time.Second)
	for {
		var n int
		err := db.QueryRow("SELECT n FROM counter").Scan(&n)
		if err == nil && n == 1 {
			break
		}
		require.True(t, time.Now().Before(deadline), "the first block never committed")
		time.Sleep(20 * time.Millisecond)
	}
	_, err := db.Exec("INSERT INTO gate VALUES (true)")
	require.NoError(t, err)
	time.Sleep(300 * time.Millisecond) // inside the 3 s sleep of the second block
	require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
	r := p.wait(t, 10*time.Second)
	require.Equal(t, 137, r.Code, r.String())
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM done"))
	require.Equal(t, 3, queryInt(t, db, "SELECT statements_done FROM fleetgate_migrations WHERE version = 2 AND NOT complete"),
		"progress recorded with the first block's commit, none inside the second")

	r = fg(t, noChecks, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the first block ran once")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM done"), "the second block ran whole")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// TestTwoBlocksFailure: the second block fails; the first stays committed
// and recorded, and the next up runs only the second.
func TestTwoBlocksFailure(t *testing.T) {
	t.Parallel()
	dir := twoBlocks(t, "1")
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, noChecks, "up", "-d", url, "--dir", dir)
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "2_two_blocks.up.sql:8")
	require.Contains(t, r.Stderr, "division by zero")
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2"))

	_, err := db.Exec("INSERT INTO gate VALUES (true)")
	require.NoError(t, err)
	r = fg(t, noChecks, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the committed first block is not run again")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM done"))
}

// TestOneBlockIsOneTransaction: a file that is one BEGIN ... COMMIT block
// commits with its history row: a failure inside it leaves nothing, not
// even the statements before the failure.
func TestOneBlockIsOneTransaction(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"1_block.up.sql": "BEGIN ISOLATION LEVEL SERIALIZABLE;\nCREATE TABLE a (id int);\nSELECT 1 / (SELECT count(*)::int FROM pg_tables WHERE tablename = 'b');\nCOMMIT;\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 1, r.Code, r.String())
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'a'"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations"))

	_, err := db.Exec("CREATE TABLE b (id int)")
	require.NoError(t, err)
	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete AND statements_done = 4"))
}

// TestChecksOnFreshDatabase: blocking check findings are warnings when up
// starts on a database with nothing applied (a fresh dev, CI or test
// database), enforced once something is applied; --checks and
// FLEETGATE_CHECKS override.
func TestChecksOnFreshDatabase(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"1_counter.up.sql": "CREATE TABLE counter (n integer NOT NULL);\n",
		"2_reset.up.sql":   "DELETE FROM counter;\n",
	})
	fresh := dbtest.Postgres(t)
	r := fg(t, []string{"FLEETGATE_CHECKS=enforce"}, "up", "-d", fresh, "--dir", dir)
	require.Equal(t, 5, r.Code, r.String())
	require.Contains(t, r.Stderr, "2_reset.up.sql:1:13 delete-without-where")
	r = fg(t, nil, "up", "-d", fresh, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "no migration applied yet: check findings are warnings")
	require.Contains(t, r.Stderr, "delete-without-where")

	used := dbtest.Postgres(t)
	r = fg(t, nil, "up", "-d", used, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "up", "-d", used, "--dir", dir)
	require.Equal(t, 5, r.Code, "enforced once something is applied: %s", r)
	r = fg(t, nil, "up", "-d", used, "--dir", dir, "--checks", "warn")
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "up", "-d", used, "--dir", dir, "--checks", "sometimes")
	require.Equal(t, 2, r.Code, r.String())
}

// TestFormatFlag: --format and FLEETGATE_FORMAT choose the format; a
// directory that mixes formats is an error naming the odd file. No
// database is needed to find out.
func TestFormatFlag(t *testing.T) {
	t.Parallel()
	goose := "../testdata/compat/goose"
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{args: []string{"--format", "dbmate", "--dir", goose}, want: "20230105093000_extensions.sql: missing -- migrate:up"},
		{env: []string{"FLEETGATE_FORMAT=golang-migrate"}, args: []string{"--dir", goose}, want: "not a golang-migrate file name"},
		{args: []string{"--format", "flyway", "--dir", goose}, want: `--format: unknown format "flyway"`},
		{args: []string{"--dir", writeFiles(t, map[string]string{
			"1_a.sql": "-- fleetgate:up\nSELECT 1;\n", "2_b.sql": "-- +goose Up\nSELECT 2;\n"})},
			want: "2_b.sql: a goose migration, but"},
	} {
		r := fg(t, tc.env, append([]string{"check"}, tc.args...)...)
		require.Equal(t, 2, r.Code, r.String())
		require.Contains(t, r.Stderr, tc.want)
	}
}
