package e2e

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// TestAdoptMySQL: the real golang-migrate, goose and dbmate applied the
// first mysqlHalf migrations of their MySQL fixture to MariaDB; adopt
// reads their own history table, records that half once (a second adopt
// records nothing), and up applies only the other half, leaving the
// schema the tool itself would have made.
func TestAdoptMySQL(t *testing.T) {
	t.Parallel()
	for _, c := range mysqlCompatTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			versions := c.versions(t)
			url := dbtest.MariaDB(t)
			c.peerMySQL(t, c.upTo(t, versions[mysqlHalf-1]), url)

			r := fg(t, nil, "adopt", "--from", c.name, "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Contains(t, r.Stdout, fmt.Sprintf("%d versions applied by %s, %d recorded now as adopted; %d pending for up",
				mysqlHalf, c.name, mysqlHalf, len(versions)-mysqlHalf))
			r = fg(t, nil, "adopt", "--from", c.name, "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Contains(t, r.Stdout, "all recorded already", "adopt is idempotent")

			r = fg(t, nil, "status", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, mysqlHalf, strings.Count(r.Stdout, "applied (adopted)"), r.Stdout)

			// The pending half has a pre-phase DROP COLUMN that the checks
			// enforce on a database with history; this fleet applies it.
			r = fg(t, warnChecks, "up", "-d", url, "--dir", c.dir)
			require.Equal(t, 0, r.Code, r.String())

			db := openMySQL(t, url)
			require.Equal(t, mysqlHalf, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE adopted AND complete"))
			require.Equal(t, len(versions)-mysqlHalf, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE NOT adopted AND complete"))
			require.Equal(t, mysqlHalf, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'adopt'"))
			require.Equal(t, len(versions)-mysqlHalf, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"), "up applied exactly the other half")
			require.Equal(t, 2, queryInt(t, db, "SELECT n FROM counter"), "each data migration applied once, by one tool")
			require.Equal(t, 0, queryInt(t, db, `SELECT count(*) FROM fleetgate_migrations a JOIN fleetgate_migrations b
				ON a.adopted AND NOT b.adopted AND a.version > b.version`), "every adopted version is older than every applied one")

			peerURL := dbtest.MariaDB(t)
			c.peerMySQL(t, c.dir, peerURL)
			requireSameDump(t, mysqlDump(t, peerURL), mysqlDump(t, url), "%s, then adopt and up", c.name)
		})
	}
}

// TestAdoptMySQLDirty: golang-migrate failed part way through a MySQL
// migration and left its version dirty; adopt refuses with exit 4 and
// writes nothing. dbmate's schema_migrations read as golang-migrate's (or
// the reverse) is refused with exit 2.
func TestAdoptMySQLDirty(t *testing.T) {
	t.Parallel()
	c := mysqlCompatTools[0]
	url := dbtest.MariaDB(t)
	c.peerMySQL(t, c.upTo(t, 2), url)
	db := openMySQL(t, url)
	_, err := db.Exec("UPDATE schema_migrations SET version = 3, dirty = 1")
	require.NoError(t, err)

	r := fg(t, nil, "adopt", "--from", "golang-migrate", "-d", url, "--dir", c.dir)
	require.Equal(t, 4, r.Code, r.String())
	require.Contains(t, r.Stderr, "golang-migrate left version 3 dirty")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'fleetgate_migrations'"), "nothing written")

	r = fg(t, nil, "adopt", "--from", "dbmate", "-d", url, "--dir", c.dir)
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "has a dirty column")

	d := mysqlCompatTools[2]
	durl := dbtest.MariaDB(t)
	d.peerMySQL(t, d.upTo(t, d.versions(t)[1]), durl)
	r = fg(t, nil, "adopt", "--from", "golang-migrate", "-d", durl, "--dir", c.dir)
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "no column dirty")
}
