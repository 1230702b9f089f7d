package e2e

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// peerVersion asks the real tool (on MariaDB, built with its MySQL
// driver) which version the database is at, the way a team switching back
// would: golang-migrate's `version`, goose's `version`, and for dbmate
// (which has no such command) the newest applied file in `status`.
func (c compatTool) peerVersion(t *testing.T, dir, url string) int64 {
	t.Helper()
	bin, err := peerBin()
	require.NoError(t, err, "installing the peer tools (the legacy table tests need them; they do not skip)")
	// Each tool's spelling of the database: PostgreSQL's URL as it is;
	// MariaDB's as a mysql:// URL or a go-sql-driver DSN.
	migrateURL, gooseDialect, gooseConn, dbmateURL := url, "postgres", url, url
	if strings.HasPrefix(url, "mariadb://") {
		raw := strings.Replace(url, "mariadb://", "mysql://", 1)
		dsn, err := dbtest.MySQLDSN(raw)
		require.NoError(t, err)
		migrateURL, gooseDialect, gooseConn, dbmateURL = "mysql://"+dsn, "mysql", dsn+"?parseTime=true", raw
	}
	var cmd *exec.Cmd
	var re *regexp.Regexp
	switch c.name {
	case "golang-migrate":
		cmd = exec.Command(filepath.Join(bin, "migrate"), "-path", dir, "-database", migrateURL, "version")
		re = regexp.MustCompile(`(?m)^([0-9]+)\s*$`)
	case "goose":
		cmd = exec.Command(filepath.Join(bin, "goose"), "-dir", dir, gooseDialect, gooseConn, "version")
		re = regexp.MustCompile(`version:? ([0-9]+)`)
	case "dbmate":
		cmd = exec.Command(filepath.Join(bin, "dbmate"), "--url", dbmateURL, "--migrations-dir", dir, "status")
		re = regexp.MustCompile(`(?m)^\[X\] ([0-9]+)_`)
	}
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", c.name, out)
	all := re.FindAllStringSubmatch(string(out), -1)
	require.NotEmpty(t, all, "%s reported no version:\n%s", c.name, out)
	v, err := strconv.ParseInt(all[len(all)-1][1], 10, 64)
	require.NoError(t, err)
	return v
}

// TestLegacyTableInStep: after fleetgate applies a golang-migrate, goose
// or dbmate directory, the real tool reports the same version and its own
// up changes nothing; after a fleetgate down it reports the version below.
// A team can switch back at any moment, and code that reads the tool's
// table sees the truth.
func TestLegacyTableInStep(t *testing.T) {
	t.Parallel()
	for _, c := range compatTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			versions := c.versions(t)
			newest := versions[len(versions)-1]
			url := dbtest.Postgres(t)
			r := fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, newest, c.peerVersion(t, c.dir, url))

			before := compatDump(t, url)
			db := openDB(t, url)
			counter := queryInt(t, db, "SELECT n FROM counter")
			c.peer(t, c.dir, url) // its own up: nothing to do
			requireSameDump(t, before, compatDump(t, url), "%s up after fleetgate up", c.name)
			require.Equal(t, counter, queryInt(t, db, "SELECT n FROM counter"), "%s ran a data migration again", c.name)

			r = fg(t, nil, "down", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, versions[len(versions)-2], c.peerVersion(t, c.dir, url), "after fleetgate down")
			r = fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, newest, c.peerVersion(t, c.dir, url), "after fleetgate up again")
		})
	}
}

// TestLegacyTableAlteredByMigrations: a project adds a column to
// golang-migrate's schema_migrations in one migration (DDL, committed on
// its own on MySQL) and sets it in a later one (a data version its code
// reads). On a fresh database fleetgate creates the table before the first
// migration, all migrations apply, and keeping the version in step leaves
// the project's column alone.
func TestLegacyTableAlteredByMigrations(t *testing.T) {
	t.Parallel()
	for _, e := range []struct {
		name string
		url  func(t *testing.T) string
		// peer asks the real golang-migrate the version.
		peer func(t *testing.T, dir, url string) int64
	}{
		{"postgres", func(t *testing.T) string { return dbtest.Postgres(t) }, compatTools[0].peerVersion},
		{"mariadb", mariadbURL, compatTools[0].peerVersion},
	} {
		t.Run(e.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, map[string]string{
				"1_items.up.sql":          "CREATE TABLE items (id bigint PRIMARY KEY);\n",
				"1_items.down.sql":        "DROP TABLE items;\n",
				"2_data_version.up.sql":   "ALTER TABLE schema_migrations ADD COLUMN data_version integer NOT NULL DEFAULT 0;\n",
				"2_data_version.down.sql": "ALTER TABLE schema_migrations DROP COLUMN data_version;\n",
				"3_backfill.up.sql":       "INSERT INTO items VALUES (1);\nUPDATE schema_migrations SET data_version = 7;\n",
				"3_backfill.down.sql":     "DELETE FROM items;\n",
			})
			url := e.url(t)
			r := fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			db := openDB(t, url)
			// golang-migrate keeps one row, and a dirty one is a failure,
			// not a version.
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM schema_migrations"))
			require.Equal(t, 3, queryInt(t, db, "SELECT version FROM schema_migrations WHERE NOT dirty"))
			require.Equal(t, 7, queryInt(t, db, "SELECT data_version FROM schema_migrations"))
			require.Equal(t, int64(3), e.peer(t, dir, url))

			r = fg(t, nil, "down", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM schema_migrations"))
			require.Equal(t, 2, queryInt(t, db, "SELECT version FROM schema_migrations WHERE NOT dirty"))
			require.Equal(t, 7, queryInt(t, db, "SELECT data_version FROM schema_migrations"))

			// off leaves the table alone.
			r = fg(t, nil, "up", "-d", url, "--dir", dir, "--legacy-table", "off")
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, 2, queryInt(t, db, "SELECT version FROM schema_migrations"))
		})
	}
}

// TestLegacyTableNotTheTools: a schema_migrations that is dbmate's (one
// text column) where golang-migrate's is expected is refused before any
// migration runs, naming the table and the way out.
func TestLegacyTableNotTheTools(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"1_items.up.sql": "CREATE TABLE items (id bigint PRIMARY KEY);\n",
	})
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	_, err := db.Exec("CREATE TABLE schema_migrations (version varchar PRIMARY KEY)")
	require.NoError(t, err)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--init")
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "schema_migrations is not golang-migrate's history table")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'items'"))
	require.True(t, strings.Contains(r.Stderr, "legacy"), r.Stderr)
}
