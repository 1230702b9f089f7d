package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Fan-out over MariaDB databases, a database per tenant: each gets each
// migration exactly once, whether named by -d twice or listed in a
// targets file, and when two deploy pipelines run the same fan-out at
// once.

// myTenantSet is five MySQL migrations, DDL and data mixed: 1 creates the
// counter, 3 increments it among DDL (so it runs statement by statement),
// the others create tables.
func myTenantSet() map[string]string {
	files := map[string]string{}
	for i := 1; i <= 5; i++ {
		body := fmt.Sprintf("CREATE TABLE t%d (id integer);\n", i)
		switch i {
		case 1:
			body = "CREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n"
		case 3:
			body = "CREATE TABLE t3 (id integer);\nUPDATE counter SET n = n + 1;\nALTER TABLE t3 ADD COLUMN note varchar(20);\n"
		}
		files[fmt.Sprintf("%04d_m%d.sql", i, i)] = "-- fleetgate:up\n" + body
	}
	return files
}

// requireTenantOnce checks one tenant database: five migrations recorded
// once and complete, the increment run once, statement 3's column there.
func requireTenantOnce(t *testing.T, url string) {
	t.Helper()
	db := openDB(t, url)
	defer db.Close()
	require.Equal(t, 5, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"), url)
	require.Equal(t, 5, queryInt(t, db, "SELECT count(DISTINCT version) FROM fleetgate_migrations"), url)
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the increment ran more (or less) than once in %s", url)
	require.Equal(t, 5, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"), url)
	require.True(t, myColumnExists(t, db, "t3", "note"), url)
}

// TestMySQLFanOutTwoFlags: `up -d a -d b` migrates both databases, each
// once; a second run has nothing to do; status over both agrees.
func TestMySQLFanOutTwoFlags(t *testing.T) {
	t.Parallel()
	a, b := mariadbURL(t), mariadbURL(t)
	dir := writeFiles(t, myTenantSet())
	r := fg(t, nil, "up", "-d", a, "-d", b, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	requireTenantOnce(t, a)
	requireTenantOnce(t, b)
	r = fg(t, nil, "up", "-d", a, "-d", b, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	requireTenantOnce(t, a)
	requireTenantOnce(t, b)
	r = fg(t, nil, "status", "-d", a, "-d", b, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, "2 targets at 5\n", r.Stdout)
}

// TestMySQLFanOutTwoRunners: two pipelines fan out over the same tenant
// databases (a targets file) at the same moment: each database is
// migrated exactly once, both succeed, and their reports add up to each
// migration once.
func TestMySQLFanOutTwoRunners(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const n = 6
	var urls []string
	var list strings.Builder
	list.WriteString("# one MariaDB database per tenant\n")
	for range n {
		u := mariadbURL(t)
		urls = append(urls, u)
		list.WriteString(u + "\n")
	}
	file := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(file, []byte(list.String()), 0o600))
	dir := writeFiles(t, myTenantSet())

	rs := race(t, 2, nil, "up", "--targets", file, "--dir", dir, "--parallel", "3")
	for _, r := range rs {
		require.Equal(t, 0, r.Code, r)
	}
	for _, u := range urls {
		requireTenantOnce(t, u)
	}
	require.Equal(t, 5*n, appliedTotal(rs), "the runners' reports add up to each migration once")
	r := fg(t, nil, "status", "--targets", file, "--dir", dir)
	require.Equal(t, 0, r.Code, r)
	require.Equal(t, fmt.Sprintf("%d targets at 5\n", n), r.Stdout)
}
