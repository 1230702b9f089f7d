package e2e

import (
	"database/sql"
	"fmt"
	"math/rand/v2"
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
	require.True(t, myTableExists(t, db, "fleetgate_instances"), "wait and run registered their instance in the registry")
	require.Positive(t, myCount(t, db, "SELECT count(*) FROM fleetgate_instances WHERE max_version = 2"))

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

// crashSet is a MySQL migration set whose DDL takes long enough that a
// kill lands inside statements: a 30,000-row table altered with table
// copies, an index build, a rename, and data statements among them that
// must run exactly once.
func crashSet() map[string]string {
	return map[string]string{
		"1_big.sql": "-- fleetgate:up\n" +
			"CREATE TABLE big (id int PRIMARY KEY AUTO_INCREMENT, v varchar(100) NOT NULL);\n" +
			"INSERT INTO big (v) WITH RECURSIVE s (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 99)\n" +
			"  SELECT CONCAT('row-', a.n, '-', b.n, '-', c.n) FROM s a, s b, (SELECT n FROM s WHERE n < 3) c;\n" +
			"CREATE TABLE counter (n int NOT NULL);\n" +
			"INSERT INTO counter VALUES (0);\n",
		"2_reshape.sql": "-- fleetgate:allow require-online-alter the test copies big on purpose, so that a kill or a pause lands during the DDL\n" +
			"-- fleetgate:up\n" +
			"ALTER TABLE big ADD COLUMN a int, ALGORITHM=COPY;\n" +
			"CREATE INDEX big_v ON big (v);\n" +
			"ALTER TABLE big ADD COLUMN b int NOT NULL DEFAULT 0, ALGORITHM=COPY;\n" +
			"UPDATE counter SET n = n + 1;\n" +
			"CREATE TABLE side (id int);\n" +
			"INSERT INTO side VALUES (1);\n" +
			"ALTER TABLE big DROP COLUMN a, ALGORITHM=COPY;\n" +
			"RENAME TABLE side TO side2;\n" +
			"ALTER TABLE big RENAME INDEX big_v TO big_v2;\n",
		"3_more.sql": "-- fleetgate:up\n" +
			"CREATE TABLE t3 (id int);\n" +
			"UPDATE counter SET n = n + 10;\n",
	}
}

// requireCrashSetApplied checks the database against crashSet: every
// table, column and index exactly as the files say, each data statement
// applied once, the history complete.
func requireCrashSetApplied(t *testing.T, db *sql.DB) {
	t.Helper()
	require.Equal(t, 3, myCount(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"), "history rows")
	require.Equal(t, 30000, myCount(t, db, "SELECT count(*) FROM big"))
	require.False(t, myColumnExists(t, db, "big", "a"), "column a was dropped")
	require.True(t, myColumnExists(t, db, "big", "b"))
	require.False(t, myIndexExists(t, db, "big", "big_v"), "index big_v was renamed")
	require.True(t, myIndexExists(t, db, "big", "big_v2"))
	require.False(t, myTableExists(t, db, "side"), "side was renamed")
	require.Equal(t, 1, myCount(t, db, "SELECT count(*) FROM side2"), "the insert into side ran more (or less) than once")
	require.True(t, myTableExists(t, db, "t3"))
	require.Equal(t, 11, myCount(t, db, "SELECT n FROM counter"), "a data statement ran more (or less) than once")
	require.Equal(t, 0, myCount(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
}

// kill -9 at a random moment during multi-statement DDL migrations: a
// plain re-run waits for the orphaned statement, reads from the catalog
// whether it took effect, and finishes with every statement applied once
// and no manual step. FLEETGATE_E2E_MYSQL_TRIALS=20 is the run.
func TestMySQLKillDuringDDL(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, crashSet())
	// How long an undisturbed run takes here, so that kills land across
	// the whole of it.
	calib := mariadbURL(t)
	r := fg(t, nil, "up", "-d", calib, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	requireCrashSetApplied(t, openDB(t, calib))
	window := r.Elapsed
	trials := mysqlTrials(t, 4)
	// A run that finished before its kill proves nothing and does not
	// count: it is tried again with a shorter window, since this run was
	// quicker than the calibration (a machine's load changes under a
	// test), up to three attempts per kill wanted.
	kills, inspected, attempts := 0, 0, 0
	for kills < trials && attempts < 3*trials {
		attempts++
		t.Run(fmt.Sprintf("Attempt%d", attempts), func(t *testing.T) {
			url := mariadbURL(t)
			db := openDB(t, url)
			p := start(t, nil, "up", "-d", url, "--dir", dir)
			// Within three quarters of the undisturbed run, so that a
			// run that is quicker this time is still killed.
			time.Sleep(time.Duration(rand.N(int64(window) * 3 / 4)))
			if err := syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL); err != nil {
				require.ErrorIs(t, err, syscall.ESRCH, "it had finished already")
			}
			if res := p.wait(t, 30*time.Second); res.Code == 137 {
				kills++
			} else {
				require.Equal(t, 0, res.Code, res.String())
				window = window * 2 / 3
			}
			again := fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, again.Code, again.String())
			if strings.Contains(again.Stderr, "read from the catalog") {
				inspected++
			}
			requireCrashSetApplied(t, db)
		})
	}
	t.Logf("undisturbed run %v; %d of %d attempts killed a running migrator; %d re-runs settled the DDL statement in flight from the catalog",
		r.Elapsed.Round(time.Millisecond), kills, attempts, inspected)
	require.Equal(t, trials, kills, "too few attempts killed a running migrator to prove anything")
}

const mysqlHotTable = "-- fleetgate:up\nCREATE TABLE hot (id int PRIMARY KEY, v varchar(50));\n" +
	"INSERT INTO hot WITH RECURSIVE s (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 99)\n" +
	"  SELECT a.n * 10 + b.n, CONCAT('v', a.n) FROM s a, (SELECT n FROM s WHERE n < 10) b;\n"

// holdMySQLReadLock opens a transaction that has read hot, as a long
// report or a forgotten client session does: it holds a shared metadata
// lock on hot until it ends, and an ALTER TABLE queues behind it.
func holdMySQLReadLock(t testing.TB, db *sql.DB) *blocker {
	t.Helper()
	ctx := t.Context()
	conn, err := db.Conn(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	b := &blocker{conn: conn}
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT CONNECTION_ID()").Scan(&b.pid))
	_, err = conn.ExecContext(ctx, "BEGIN")
	require.NoError(t, err)
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT count(*) FROM hot").Scan(&n))
	return b
}

// An ALTER TABLE behind an open application transaction on MariaDB: it
// waits for the metadata lock at most lock_wait_timeout (--lock-timeout)
// each time, so the application's reads, queued behind the ALTER's
// pending lock, never stall much longer than that; the migration is
// retried and lands once the blocker is gone, and each timed-out attempt
// names the blocking session. The longest read is logged; the assertion
// is only a sanity ceiling (the target, lock_wait_timeout + 0.5 s, is a
// measurement, not a test).
func TestMySQLAlterBehindOpenTransaction(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const lockTimeout = time.Second
	dir := writeFiles(t, map[string]string{
		"0001_hot.sql":        mysqlHotTable,
		"0002_add_column.sql": "-- fleetgate:up\nALTER TABLE hot ADD COLUMN note varchar(20), ALGORITHM=INSTANT;\n",
	})
	url := mariadbURL(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	rd := startReader(t, db)
	b := holdMySQLReadLock(t, db)
	up := start(t, nil, "up", "-d", url, "--dir", dir, "--lock-timeout", lockTimeout.String())
	const timedOut = "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2 AND error LIKE '%lock wait timeout%'"
	waitFor(t, 2*time.Minute, func() bool { return queryInt(t, db, timedOut) >= 3 })
	released := b.release(t)
	res := up.wait(t, time.Minute)
	maxWait, reads := rd.finish()
	require.Equal(t, 0, res.Code, res.String())
	t.Logf("longest application read of hot: %v over %d reads (lock_wait_timeout %v, target %v)", maxWait, reads, lockTimeout, lockTimeout+500*time.Millisecond)
	require.GreaterOrEqual(t, reads, 30, "the application reader did not run throughout")
	require.Less(t, maxWait, 3*lockTimeout, "an application read waited behind the migration far past lock_wait_timeout")

	require.True(t, myColumnExists(t, db, "hot", "note"))
	var appliedAt int64
	require.NoError(t, db.QueryRow("SELECT CAST(UNIX_TIMESTAMP(at) * 1000000 AS SIGNED) FROM fleetgate_events WHERE kind = 'apply' AND version = 2").Scan(&appliedAt))
	require.True(t, time.UnixMicro(appliedAt).After(released.Add(-100*time.Millisecond)), "applied at %v, blocker released at %v", time.UnixMicro(appliedAt), released)
	attempts := queryInt(t, db, timedOut)
	require.GreaterOrEqual(t, attempts, 3)
	require.Equal(t, attempts, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2 AND error LIKE ?",
		fmt.Sprintf("%%waited for pid %d (%%idle in transaction%%", b.pid)), "every attempt names the blocker")
	require.Contains(t, res.Stderr, "lock timeout, retrying")
}

// When the retries run out, the error names the blocking session: thread
// id, user, host, what it does and since when.
func TestMySQLLockTimeoutNamesBlocker(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_hot.sql":        mysqlHotTable,
		"0002_add_column.sql": "-- fleetgate:up\nALTER TABLE hot ADD COLUMN note varchar(20), ALGORITHM=INSTANT;\n",
	})
	url := mariadbURL(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())
	b := holdMySQLReadLock(t, db)
	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--lock-timeout", "1s", "--lock-retries", "1")
	b.release(t)
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "0002_add_column.sql:2")
	require.Contains(t, r.Stderr, "Lock wait timeout")
	require.Contains(t, r.Stderr, fmt.Sprintf("waited for pid %d (application_name \"\", user root, client 127.0.0.1:", b.pid))
	require.Contains(t, r.Stderr, "state idle in transaction")
	require.Contains(t, r.Stderr, "transaction started ")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND version = 2"))
	require.False(t, myColumnExists(t, db, "hot", "note"))
}

// A statement whose effect information_schema does not show (MODIFY
// COLUMN) was running when its runner was killed: the re-run waits for
// the orphaned statement, cannot tell whether it took effect, and stops
// with exit 4 naming the statement and resolve, changing nothing; after
// `resolve --retry-from` the next up finishes, and the decision is in the
// audit log.
func TestMySQLUndecidableDDLNeedsResolve(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, map[string]string{
		"1_big.sql": "-- fleetgate:up\n" +
			"CREATE TABLE big (id int PRIMARY KEY AUTO_INCREMENT, v varchar(100) NOT NULL);\n" +
			"INSERT INTO big (v) WITH RECURSIVE s (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 99)\n" +
			"  SELECT CONCAT('row-', a.n, '-', b.n, '-', c.n) FROM s a, s b, (SELECT n FROM s WHERE n < 5) c;\n",
		"2_widen.sql": "-- fleetgate:allow require-online-alter the test copies big on purpose, so that a kill or a pause lands during the DDL\n" +
			"-- fleetgate:allow change-column-type a widening no code can notice\n" +
			"-- fleetgate:up\n" +
			"ALTER TABLE big MODIFY v varchar(200) NOT NULL, ALGORITHM=COPY;\n" +
			"CREATE TABLE after_widen (id int);\n",
	})
	url := mariadbURL(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	p := start(t, nil, "up", "-d", url, "--dir", dir)
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE big MODIFY%'") == 1
	})
	require.NoError(t, syscall.Kill(p.cmd.Process.Pid, syscall.SIGKILL))
	p.wait(t, 10*time.Second)

	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 4, r.Code, r.String())
	require.Contains(t, r.Stderr, "2_widen.sql")
	require.Contains(t, r.Stderr, "statement 1 (line 4) was running when the earlier attempt stopped")
	require.Contains(t, r.Stderr, "fleetgate resolve 2 --retry-from 1")
	require.Contains(t, r.Stderr, "--retry-from 2")
	require.False(t, myTableExists(t, db, "after_widen"), "the migration went on past the undecided statement")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE big MODIFY%'"),
		"the orphaned ALTER was not waited for")
	// The orphan finished the change; the operator says so.
	require.Equal(t, 200, queryInt(t, db, "SELECT CHARACTER_MAXIMUM_LENGTH FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'big' AND COLUMN_NAME = 'v'"))
	r = fg(t, nil, "resolve", "2", "--retry-from", "2", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.True(t, myTableExists(t, db, "after_widen"))
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'resolve' AND version = 2"))
}

// A runner paused (SIGSTOP) while its ALTER TABLE runs on the server, past
// its lease: the server finishes the ALTER; the runner that takes over
// ends the paused runner's idle session, reads from the catalog that the
// ALTER took effect, does not run it again, and finishes the migration;
// the paused runner, resumed, commits nothing.
func TestMySQLPausedDuringDDL(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	dir := writeFiles(t, map[string]string{
		"1_big.sql": "-- fleetgate:up\n" +
			"CREATE TABLE big (id int PRIMARY KEY AUTO_INCREMENT, v varchar(100) NOT NULL);\n" +
			"INSERT INTO big (v) WITH RECURSIVE s (n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n < 99)\n" +
			"  SELECT CONCAT('row-', a.n, '-', b.n, '-', c.n) FROM s a, s b, (SELECT n FROM s WHERE n < 3) c;\n",
		"2_add.sql": "-- fleetgate:allow require-online-alter the test copies big on purpose, so that a kill or a pause lands during the DDL\n" +
			"-- fleetgate:up\n" +
			"ALTER TABLE big ADD COLUMN a int, ALGORITHM=COPY;\n" +
			"CREATE TABLE after_add (id int);\n",
	})
	url := mariadbURL(t)
	db := openDB(t, url)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	a := start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s")
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'ALTER TABLE big ADD COLUMN a%'") == 1
	})
	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGSTOP))
	defer syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT)
	waitFor(t, time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL AND expires_at < NOW(6)") == 1
	})

	b := fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, b.Code, b.String())
	require.True(t, myColumnExists(t, db, "big", "a"))
	require.True(t, myTableExists(t, db, "after_add"))

	require.NoError(t, syscall.Kill(a.cmd.Process.Pid, syscall.SIGCONT))
	ra := a.wait(t, time.Minute)
	require.Equal(t, 1, ra.Code, ra.String())
	require.Contains(t, ra.Stderr, "lost the migration lock")
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2"))
	var gen int64
	require.NoError(t, db.QueryRow("SELECT lock_generation FROM fleetgate_migrations WHERE version = 2").Scan(&gen))
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'apply' AND version = 2 AND lock_generation = ?", gen))
	require.Contains(t, b.Stderr, "read from the catalog", "the ALTER's effect was not read from the catalog")
}

// A password in any of the MySQL URL forms never reaches stdout or stderr,
// on success or on any failure path.
func TestMySQLPasswordNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = "Zq7-sentinel_PW"
	url := dbtest.MariaDB(t)
	admin := openDB(t, url)
	dbName := url[strings.LastIndex(url, "/")+1:]
	user := "pw_" + strings.TrimPrefix(dbName, "fleetgate_test_")
	for _, q := range []string{
		fmt.Sprintf("CREATE USER '%s'@'%%' IDENTIFIED BY '%s'", user, secret),
		fmt.Sprintf("GRANT ALL ON `%s`.* TO '%s'@'%%'", dbName, user),
	} {
		_, err := admin.Exec(q)
		require.NoError(t, err, q)
	}
	t.Cleanup(func() { _, _ = admin.Exec(fmt.Sprintf("DROP USER IF EXISTS '%s'@'%%'", user)) })
	withPW := strings.Replace(url, "mysql://root@", "mysql://"+user+":"+secret+"@", 1)
	require.NotEqual(t, url, withPW)
	maria := strings.Replace(withPW, "mysql://", "mariadb://", 1)
	hostPort := strings.TrimPrefix(url[:strings.LastIndex(url, "/")], "mysql://root@")
	tcpForm := "mysql://" + user + ":" + secret + "@tcp(" + hostPort + ")/" + dbName
	wrongPW := strings.Replace(withPW, ":"+secret+"@", ":"+secret+"x@", 1)
	refused := "mysql://" + user + ":" + secret + "@127.0.0.1:1/db"
	refusedTCP := "mysql://" + user + ":" + secret + "@tcp(127.0.0.1:1)/db"
	noDB := strings.Replace(withPW, "/fleetgate_test_", "/nope_", 1)
	good := writeFiles(t, map[string]string{"1_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (0);\n"})
	bad := writeFiles(t, map[string]string{"1_bad.sql": "-- fleetgate:up\nSELECT * FROM missing_" + secret + ";\n"})
	runs := []struct {
		name string
		args []string
	}{
		{"Up", []string{"up", "-d", maria, "--dir", good}},
		{"GolangMigrateForm", []string{"status", "--json", "-d", tcpForm, "--dir", good}},
		{"HistoryJSON", []string{"history", "--json", "-d", withPW, "--dir", good}},
		{"WrongPassword", []string{"up", "-d", wrongPW, "--dir", good}},
		{"ConnectionRefused", []string{"up", "-d", refused, "--dir", good, "--log-format", "json"}},
		{"ConnectionRefusedTCPForm", []string{"up", "-d", refusedTCP, "--dir", good}},
		{"UnknownDatabase", []string{"up", "-d", noDB, "--dir", good}},
		{"MalformedPort", []string{"up", "-d", "mysql://" + user + ":" + secret + "@h:33x6/db", "--dir", good}},
		{"MalformedTCPForm", []string{"up", "-d", "mysql://" + user + ":" + secret + "@tcp(h:3306/db", "--dir", good}},
		{"SQLError", []string{"up", "-d", tcpForm, "--dir", bad}},
	}
	failures := 0
	for _, rn := range runs {
		r := fg(t, nil, rn.args...)
		if r.Code != 0 {
			failures++
		}
		if rn.name == "Up" || rn.name == "GolangMigrateForm" || rn.name == "HistoryJSON" {
			require.Equal(t, 0, r.Code, "%s: %s", rn.name, r)
		}
		for _, out := range []string{r.Stdout, r.Stderr} {
			require.NotContains(t, out, "Zq7-sentinel", "%s leaked the password:\n%s", rn.name, r)
		}
		require.NotEmpty(t, r.Stdout+r.Stderr, rn.name)
	}
	require.Equal(t, 7, failures, "the failure paths did not fail")
}

// A MySQL file that manages its transaction itself (START TRANSACTION ...
// COMMIT) runs as that transaction, committed with its history row.
func TestMySQLOwnTransactionBlock(t *testing.T) {
	t.Parallel()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, map[string]string{
		"1_t.sql": "-- fleetgate:up\nCREATE TABLE t (id int PRIMARY KEY);\n",
		"2_block.sql": "-- fleetgate:up\nSTART TRANSACTION READ WRITE;\nINSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);\nCOMMIT;\n" +
			"BEGIN;\nINSERT INTO t VALUES (3);\nCOMMIT;\n",
	})
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--checks", "off")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 6, queryInt(t, db, "SELECT sum(id) FROM t"))
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}

// The guard against a mistyped --table on MariaDB: a database with tables
// but no history is refused without --init (nothing written), and once a
// history exists, a misspelt table name or a missing database is refused
// instead of starting a second history that would re-run every migration.
func TestMySQLTableGuard(t *testing.T) {
	t.Parallel()
	url := mariadbURL(t)
	db := openDB(t, url)
	dir := writeFiles(t, map[string]string{
		"1_a.sql":    "-- fleetgate:up\nCREATE TABLE a (id int PRIMARY KEY);\n",
		"2_seed.sql": "-- fleetgate:up\nINSERT INTO a VALUES (1);\n",
	})
	_, err := db.Exec("CREATE TABLE orders (id int PRIMARY KEY)")
	require.NoError(t, err)

	r := fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "1 tables (orders)")
	require.Contains(t, r.Stderr, "--init")
	require.False(t, myTableExists(t, db, "fleetgate_migrations"), "nothing written")
	require.False(t, myTableExists(t, db, "a"))

	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--init")
	require.Equal(t, 0, r.Code, r.String())
	require.Equal(t, 1, myCount(t, db, "SELECT count(*) FROM a"))

	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--table", "fleetgate_migratons")
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, "fleetgate_migrations (2 migrations)")
	require.False(t, myTableExists(t, db, "fleetgate_migratons"), "no second history")
	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--table", "nosuchdb.fleetgate_migrations")
	require.Equal(t, 2, r.Code, r.String())
	require.Contains(t, r.Stderr, `schema "nosuchdb" does not exist`)
	require.Zero(t, myCount(t, db, "SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'nosuchdb'"))
	require.Equal(t, 1, myCount(t, db, "SELECT count(*) FROM a"), "the data migration ran once")
}
