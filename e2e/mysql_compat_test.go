package e2e

import (
	"database/sql"
	"errors"
	"net/url"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The MySQL compat fixtures (testdata/compat/mysql/<tool>) are one schema
// story of 16 migrations in each tool's MySQL layout: golang-migrate's and
// dbmate's files are sent whole with multiStatements (trigger, function
// and procedure bodies without DELIMITER, which neither tool supports),
// goose's wrap those bodies in StatementBegin/End. The real tools and
// fleetgate apply them to MariaDB 10.11 and must leave the same schema.
var mysqlCompatTools = []compatTool{
	{name: "golang-migrate", dir: "../testdata/compat/mysql/golang-migrate"},
	{name: "goose", dir: "../testdata/compat/mysql/goose"},
	{name: "dbmate", dir: "../testdata/compat/mysql/dbmate"},
}

// mysqlHalf is how many versions the old tool applies before fleetgate
// adopts them: the first data migration is among them, the second is not.
const mysqlHalf = 8

// peerMySQL runs the real tool to apply every migration in dir to the
// MariaDB database of url (mysql://user@host:port/db), spelling the
// database the way each tool wants it.
func (c compatTool) peerMySQL(t *testing.T, dir, raw string) {
	t.Helper()
	bin, err := peerBin()
	require.NoError(t, err, "installing the peer tools (the compat tests need them; they do not skip)")
	dsn, err := dbtest.MySQLDSN(raw)
	require.NoError(t, err)
	var cmd *exec.Cmd
	switch c.name {
	case "golang-migrate":
		// golang-migrate's mysql:// is the driver's DSN behind the scheme;
		// multi-statement files need multiStatements.
		cmd = exec.Command(filepath.Join(bin, "migrate"), "-path", dir, "-database", "mysql://"+dsn+"?multiStatements=true", "up")
	case "goose":
		cmd = exec.Command(filepath.Join(bin, "goose"), "-dir", dir, "mysql", dsn+"?parseTime=true", "up")
	case "dbmate":
		cmd = exec.Command(filepath.Join(bin, "dbmate"), "--url", raw, "--migrations-dir", dir, "--no-dump-schema", "migrate")
	}
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s: %s", c.name, out)
}

// openMySQL opens a dbtest MariaDB URL with database/sql.
func openMySQL(t testing.TB, raw string) *sql.DB {
	t.Helper()
	dsn, err := dbtest.MySQLDSN(raw)
	require.NoError(t, err)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

var autoIncrementRE = regexp.MustCompile(` AUTO_INCREMENT=[0-9]+`)

// mysqlOwnTables are fleetgate's and the peer tools' own tables, left out
// of the compared schema.
var mysqlOwnTables = []string{"fleetgate_migrations", "fleetgate_events", "fleetgate_lock", "fleetgate_instances",
	"schema_migrations", "goose_db_version"}

// mysqlDump is `mysqldump --no-data --routines` of the database, without
// fleetgate's and the tools' own tables (--ignore-table) and without the
// comments naming the host, database and dump time (--skip-comments).
// The one thing normalised is each table's AUTO_INCREMENT=n counter, which
// says how many rows were ever inserted, not what the schema is.
func mysqlDump(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	db := strings.TrimPrefix(u.Path, "/")
	args := []string{"--no-data", "--routines", "--triggers", "--skip-comments", "--skip-dump-date",
		"--protocol=tcp", "-h", u.Hostname(), "-P", u.Port(), "-u", u.User.Username()}
	if pw, ok := u.User.Password(); ok {
		args = append(args, "-p"+pw)
	}
	for _, tbl := range mysqlOwnTables {
		args = append(args, "--ignore-table="+db+"."+tbl)
	}
	out, err := exec.Command("mysqldump", append(args, db)...).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("mysqldump: %v: %s", err, ee.Stderr)
	}
	require.NoError(t, err)
	dump := autoIncrementRE.ReplaceAllString(string(out), "")
	require.Contains(t, dump, "CREATE TABLE", "dump of %s is empty", u.Redacted())
	for _, own := range mysqlOwnTables {
		if strings.Contains(dump, own) {
			t.Fatalf("the dump shows %s, which is excluded:\n%s", own, dump)
		}
	}
	return dump
}

// TestCompatFixturesMySQL: each MySQL fixture, applied by fleetgate from
// the same directory, gives the very schema the real tool gives on
// MariaDB, with each data migration applied once; a second up is a no-op.
func TestCompatFixturesMySQL(t *testing.T) {
	t.Parallel()
	for _, c := range mysqlCompatTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			versions := c.versions(t)
			require.Len(t, versions, 16)

			peerURL := dbtest.MariaDB(t)
			c.peerMySQL(t, c.dir, peerURL)
			url := dbtest.MariaDB(t)
			r := fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			want := mysqlDump(t, peerURL)
			for _, s := range []string{"TRIGGER accounts_updated_at", "FUNCTION `order_total`", "PROCEDURE `archive_orders`", "VIEW `open_accounts`", "FULLTEXT KEY"} {
				require.Contains(t, want, s, "the peer's schema lacks %s", s)
			}
			requireSameDump(t, want, mysqlDump(t, url), "fleetgate and %s on MariaDB", c.name)

			db := openMySQL(t, url)
			require.Equal(t, len(versions), queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete AND NOT adopted"))
			require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "each data migration applied once")
			require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM products WHERE name IN ('it''s a \"widget\"; really', 'back\\\\slash # not a comment')"),
				"strings with quotes, semicolons and backslashes arrive as the tool sends them")
			r = fg(t, nil, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, len(versions), queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"))

			// fleetgate kept the tool's own table in step: the real tool,
			// run on fleetgate's database, finds nothing to apply.
			c.peerMySQL(t, c.dir, url)
			require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "%s re-applied a data migration fleetgate had applied", c.name)
			requireSameDump(t, want, mysqlDump(t, url), "%s after fleetgate", c.name)

			// down reverts with each file's own down and moves the tool's
			// table back with it: the real tool then re-applies exactly
			// what was reverted, and the schema is the same again.
			target := versions[9]
			r = fg(t, nil, "down", "-d", url, "--dir", c.dir, "--to", strconv.FormatInt(target, 10))
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, target, int64(queryInt(t, db, "SELECT max(version) FROM fleetgate_migrations")))
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the second data migration's down undid its +1")
			c.peerMySQL(t, c.dir, url)
			require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "%s re-applied the second data migration once", c.name)
			requireSameDump(t, want, mysqlDump(t, url), "%s re-applying what fleetgate reverted", c.name)
		})
	}
}
