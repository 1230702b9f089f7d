package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// mariadbURL is a fresh MariaDB database as a mariadb:// URL, the form a
// deploy config of a MariaDB fleet carries.
func mariadbURL(t *testing.T) string {
	return strings.Replace(dbtest.MariaDB(t), "mysql://", "mariadb://", 1)
}

// mysqlTrials is how many times the MySQL race and crash tests repeat:
// few in the normal suite, the full count with
// FLEETGATE_E2E_MYSQL_TRIALS (scripts/soak.sh style runs).
func mysqlTrials(t *testing.T, normal int) int {
	if v := os.Getenv("FLEETGATE_E2E_MYSQL_TRIALS"); v != "" {
		n, err := strconv.Atoi(v)
		require.NoError(t, err, "FLEETGATE_E2E_MYSQL_TRIALS")
		return n
	}
	return normal
}

// myCount counts what information_schema says about the test database.
func myCount(t *testing.T, db *sql.DB, q string, args ...any) int {
	t.Helper()
	return queryInt(t, db, q, args...)
}

func myTableExists(t *testing.T, db *sql.DB, table string) bool {
	return myCount(t, db, "SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?", table) == 1
}

func myColumnExists(t *testing.T, db *sql.DB, table, col string) bool {
	return myCount(t, db, "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND COLUMN_NAME = ?", table, col) == 1
}

func myIndexExists(t *testing.T, db *sql.DB, table, idx string) bool {
	return myCount(t, db, "SELECT count(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND INDEX_NAME = ?", table, idx) == 1
}

// The everyday commands on a mariadb:// URL: wait holds back while
// migrations are pending, up applies DDL and data statements (split by
// MySQL's rules: a backslash-escaped quote, # comments), status and wait
// see the result, run starts the app, down reverts.
func TestMySQLCommands(t *testing.T) {
	t.Parallel()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, map[string]string{
		"1_users.sql": "-- fleetgate:up\n" +
			"CREATE TABLE users (id int PRIMARY KEY, email varchar(100));\n" +
			"INSERT INTO users VALUES (1, 'a@example.com');\n" +
			"# a MySQL comment; with a semicolon\n" +
			"ALTER TABLE users ADD COLUMN name varchar(50);\n" +
			"CREATE INDEX users_email ON users (email);\n" +
			"-- fleetgate:down\nDROP TABLE users;\n",
		"2_data.sql": "-- fleetgate:up\n" +
			"INSERT INTO users VALUES (2, 'b@example.com', 'it\\'s; fine');\n" +
			"UPDATE users SET name = 'first' WHERE id = 1;\n" +
			"-- fleetgate:down\nDELETE FROM users WHERE id = 2;\nUPDATE users SET name = NULL WHERE id = 1;\n",
	})

	r := fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "1s")
	require.NotEqual(t, 0, r.Code, "wait returned while migrations were pending: %s", r)

	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myColumnExists(t, db, "users", "name"))
	require.True(t, myIndexExists(t, db, "users", "users_email"))
	require.Equal(t, 2, myCount(t, db, "SELECT count(*) FROM users"))
	var name string
	require.NoError(t, db.QueryRow("SELECT name FROM users WHERE id = 2").Scan(&name))
	require.Equal(t, "it's; fine", name, "the backslash escape was split or sent wrongly")
	require.Equal(t, 2, myCount(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	require.Equal(t, 2, myCount(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"))
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))

	r = fg(t, nil, "status", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stdout, "users")
	require.Contains(t, r.Stdout, "data")

	r = fg(t, nil, "wait", "-d", url, "--dir", dir, "--timeout", "10s")
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "run", "-d", url, "--dir", dir, "--", "sh", "-c", "exit 7")
	require.Equal(t, 7, r.Code, r.String())

	r = fg(t, nil, "down", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 1, myCount(t, db, "SELECT count(*) FROM users"))
	require.Equal(t, 1, myCount(t, db, "SELECT count(*) FROM fleetgate_migrations"))
	r = fg(t, nil, "down", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.False(t, myTableExists(t, db, "users"))
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_migrations"))
	require.Equal(t, 2, myCount(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'rollback'"))

	// golang-migrate's form of the same database works unchanged.
	gm := strings.Replace(strings.Replace(url, "mariadb://", "mysql://", 1), "@127.0.0.1:", "@tcp(127.0.0.1:", 1)
	gm = strings.Replace(gm, "/fleetgate_test_", ")/fleetgate_test_", 1)
	r = fg(t, nil, "up", "-d", gm, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 2, myCount(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// The fleet promise on MariaDB: 32 instances run `up` at the same moment
// over DDL migrations with a data migration among them; every one exits 0,
// the data migration runs once, and the history is complete.
func TestRaceMySQL(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, raceSet(50, 25, 0, ""))
	for trial := range mysqlTrials(t, 3) {
		t.Run(fmt.Sprintf("Trial%d", trial), func(t *testing.T) {
			url := mariadbURL(t)
			for i, r := range race(t, 32, nil, "up", "-d", url, "--dir", dir) {
				require.Equal(t, 0, r.Code, "process %d: %s", i, r)
			}
			db := openDB(t, url)
			requireExactlyOnce(t, db, 50)
			for v := 2; v <= 50; v++ {
				if v != 25 {
					require.True(t, myTableExists(t, db, "t"+strconv.Itoa(v)), "version %d", v)
				}
			}
			require.Equal(t, 50, myCount(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply'"), "one apply event per migration")
			require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "lock row still held")
		})
	}
}

// A runner paused (SIGSTOP) past its lease, in the middle of a data
// statement, loses the lock to another runner; when it resumes it commits
// nothing and says so.
func TestMySQLPausedHolderLosesLock(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, map[string]string{
		"1_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
		"2_data.sql":    "-- fleetgate:up\nUPDATE counter SET n = n + 1 WHERE SLEEP(2) = 0;\n",
	})
	url := mariadbURL(t)
	db := openDB(t, url)
	a := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s")
	running := "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'UPDATE counter SET n = n + 1%' AND COMMAND = 'Query'"
	waitFor(t, 30*time.Second, func() bool { return queryInt(t, db, running) == 1 })
	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP))
	defer syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT)
	// Past A's lease, by the database's clock.
	waitFor(t, time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL AND expires_at < NOW(6)") == 1
	})

	b := fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, b.Code, b.String())
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))

	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT))
	ra := a.wait(t, time.Minute)
	require.Equal(t, 1, ra.Code, ra.String())
	require.Contains(t, ra.Stderr, "lost the migration lock")
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "the paused runner committed its data migration")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
}
