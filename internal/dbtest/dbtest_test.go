package dbtest_test

import (
	"database/sql"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// open opens dsn with driver and closes it when the test ends (before the
// database is dropped, as cleanups run last-in first-out).
func open(t *testing.T, driver, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(driver, dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// heavy skips, under -short, a test that starts a MariaDB server or
// restarts PostgreSQL: -short is the quick run of the unit tests and the
// in-process lock and driver suites, which need neither.
func heavy(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts or restarts a server of its own: runs without -short")
	}
}

func dbName(t *testing.T, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	return strings.TrimPrefix(u.Path, "/")
}

func TestPostgres(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.Postgres(t)
	db := open(t, "pgx", dbURL)

	var one int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)

	var current, user string
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT current_database(), current_user").Scan(&current, &user))
	require.Equal(t, dbName(t, dbURL), current)
	require.True(t, strings.HasPrefix(current, "fleetgate_test_"), current)
	require.Equal(t, "postgres", user)

	var tables int
	require.NoError(t, db.QueryRowContext(t.Context(),
		"SELECT count(*) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')").Scan(&tables))
	require.Zero(t, tables, "a fresh database has no tables")
}

func TestPostgresDistinctDatabases(t *testing.T) {
	t.Parallel()

	urlA, urlB := dbtest.Postgres(t), dbtest.Postgres(t)
	require.NotEqual(t, dbName(t, urlA), dbName(t, urlB))

	dbA, dbB := open(t, "pgx", urlA), open(t, "pgx", urlB)
	_, err := dbA.ExecContext(t.Context(), "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)
	var n int
	require.NoError(t, dbB.QueryRowContext(t.Context(),
		"SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'").Scan(&n))
	require.Zero(t, n)
}

func TestPostgresDroppedAtCleanup(t *testing.T) {
	t.Parallel()

	var name string
	// Not parallel: t.Run must return only after the subtest's cleanups ran.
	t.Run("Inner", func(t *testing.T) {
		dbURL := dbtest.Postgres(t)
		name = dbName(t, dbURL)
		// An open session must not keep the database from being dropped.
		db := open(t, "pgx", dbURL)
		require.NoError(t, db.PingContext(t.Context()))
		db.SetMaxIdleConns(1)
	})

	srv, err := dbtest.StartPostgres()
	require.NoError(t, err)
	admin := open(t, "pgx", srv.SuperURL)
	var exists bool
	require.NoError(t, admin.QueryRowContext(t.Context(),
		"SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists))
	require.False(t, exists, "database %s still exists after the test", name)
}

func TestStartPostgresShared(t *testing.T) {
	t.Parallel()

	a, err := dbtest.StartPostgres()
	require.NoError(t, err)
	b, err := dbtest.StartPostgres()
	require.NoError(t, err)
	require.Same(t, a, b)
	require.Equal(t, "127.0.0.1", a.Host)
	require.NotZero(t, a.Port)
}

func TestCreateRole(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.Postgres(t)
	super := open(t, "pgx", dbURL)
	_, err := super.ExecContext(t.Context(), "CREATE TABLE things (id int); INSERT INTO things VALUES (1)")
	require.NoError(t, err)

	roleURL := dbtest.CreateRole(t, dbURL, "dbtest_reader", "s3cret'pw",
		"GRANT SELECT ON things TO dbtest_reader")
	u, err := url.Parse(roleURL)
	require.NoError(t, err)
	require.Equal(t, "dbtest_reader", u.User.Username())
	require.Equal(t, dbName(t, dbURL), dbName(t, roleURL))

	reader := open(t, "pgx", roleURL)
	var user string
	var n int
	require.NoError(t, reader.QueryRowContext(t.Context(), "SELECT current_user, count(*) FROM things").Scan(&user, &n))
	require.Equal(t, "dbtest_reader", user)
	require.Equal(t, 1, n)

	_, err = reader.ExecContext(t.Context(), "INSERT INTO things VALUES (2)")
	var pgErr *pgconn.PgError
	require.True(t, errors.As(err, &pgErr), "want a PgError, got %v", err)
	require.Equal(t, "42501", pgErr.Code, "insufficient_privilege")

	u.User = url.UserPassword("dbtest_reader", "wrong")
	err = open(t, "pgx", u.String()).PingContext(t.Context())
	require.True(t, errors.As(err, &pgErr), "want a PgError, got %v", err)
	require.Equal(t, "28P01", pgErr.Code, "invalid_password")
}

func TestPgBouncer(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.Postgres(t)
	bouncerURL := dbtest.PgBouncer(t, dbURL)
	direct, err := url.Parse(dbURL)
	require.NoError(t, err)
	bouncer, err := url.Parse(bouncerURL)
	require.NoError(t, err)
	require.NotEqual(t, direct.Port(), bouncer.Port())
	require.Equal(t, direct.Path, bouncer.Path)

	// exec mode: no named prepared statements, which transaction pooling
	// would lose between transactions.
	db := open(t, "pgx", withParam(t, bouncerURL, "default_query_exec_mode", "exec"))
	for range 10 {
		var current string
		require.NoError(t, db.QueryRowContext(t.Context(), "SELECT current_database()").Scan(&current))
		require.Equal(t, dbName(t, dbURL), current)
	}

	// It really is PgBouncer: its admin console lists our database's pool,
	// in transaction mode.
	admin := withParam(t, bouncerURL, "default_query_exec_mode", "simple_protocol")
	au, err := url.Parse(admin)
	require.NoError(t, err)
	au.Path = "/pgbouncer"
	rows, err := open(t, "pgx", au.String()).QueryContext(t.Context(), "SHOW POOLS")
	require.NoError(t, err)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var found bool
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := map[string]string{}
		for i, c := range cols {
			row[c] = vals[i].String
		}
		if row["database"] == dbName(t, dbURL) {
			found = true
			require.Equal(t, "transaction", row["pool_mode"])
		}
	}
	require.NoError(t, rows.Err())
	require.True(t, found, "SHOW POOLS lists no pool for %s", dbName(t, dbURL))
}

func withParam(t *testing.T, rawURL, key, value string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestSQLite(t *testing.T) {
	t.Parallel()

	dbURL := dbtest.SQLite(t)
	path, ok := strings.CutPrefix(dbURL, "sqlite:")
	require.True(t, ok, dbURL)
	require.True(t, strings.HasPrefix(path, "/"), "absolute path: %s", path)

	db := open(t, "sqlite", path)
	_, err := db.ExecContext(t.Context(), "CREATE TABLE t (id integer); INSERT INTO t VALUES (1)")
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT count(*) FROM t").Scan(&n))
	require.Equal(t, 1, n)
}

func TestMariaDB(t *testing.T) {
	heavy(t)
	t.Parallel()

	urlA, urlB := dbtest.MariaDB(t), dbtest.MariaDB(t)
	require.NotEqual(t, dbName(t, urlA), dbName(t, urlB))
	require.True(t, strings.HasPrefix(urlA, "mysql://"), urlA)

	dsnA, err := dbtest.MySQLDSN(urlA)
	require.NoError(t, err)
	dsnB, err := dbtest.MySQLDSN(urlB)
	require.NoError(t, err)
	dbA, dbB := open(t, "mysql", dsnA), open(t, "mysql", dsnB)

	var one int
	require.NoError(t, dbA.QueryRowContext(t.Context(), "SELECT 1").Scan(&one))
	require.Equal(t, 1, one)

	var current, charset string
	require.NoError(t, dbA.QueryRowContext(t.Context(), "SELECT DATABASE(), @@character_set_database").Scan(&current, &charset))
	require.Equal(t, dbName(t, urlA), current)
	require.Equal(t, "utf8mb4", charset)

	_, err = dbA.ExecContext(t.Context(), "CREATE TABLE only_in_a (id int)")
	require.NoError(t, err)
	var n int
	require.NoError(t, dbB.QueryRowContext(t.Context(),
		"SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'only_in_a'").Scan(&n))
	require.Zero(t, n)
}

func TestMariaDBDroppedAtCleanup(t *testing.T) {
	heavy(t)
	t.Parallel()

	var name string
	// Not parallel: t.Run must return only after the subtest's cleanups ran.
	t.Run("Inner", func(t *testing.T) {
		// Registered first so it runs last: the transaction is still open,
		// holding a metadata lock, when the database is dropped.
		var tx *sql.Tx
		t.Cleanup(func() {
			if tx != nil {
				_ = tx.Rollback()
			}
		})
		dbURL := dbtest.MariaDB(t)
		name = dbName(t, dbURL)
		dsn, err := dbtest.MySQLDSN(dbURL)
		require.NoError(t, err)
		db := open(t, "mysql", dsn)
		_, err = db.ExecContext(t.Context(), "CREATE TABLE held (id int)")
		require.NoError(t, err)
		tx, err = db.BeginTx(t.Context(), nil)
		require.NoError(t, err)
		_, err = tx.ExecContext(t.Context(), "INSERT INTO held VALUES (1)")
		require.NoError(t, err)
	})

	srv, err := dbtest.StartMariaDB()
	require.NoError(t, err)
	dsn, err := dbtest.MySQLDSN(srv.RootURL)
	require.NoError(t, err)
	var n int
	require.NoError(t, open(t, "mysql", dsn).QueryRowContext(t.Context(),
		"SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?", name).Scan(&n))
	require.Zero(t, n, "database %s still exists after the test", name)
}

func TestMySQLDSN(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name, url, want string
	}{
		{"RootNoPassword", "mysql://root@127.0.0.1:3307/db", "root@tcp(127.0.0.1:3307)/db"},
		{"PasswordAndParams", "mysql://u:p%40ss@db.example:3306/x?parseTime=true", "u:p@ss@tcp(db.example:3306)/x?parseTime=true"},
		{"DefaultPort", "mysql://u@localhost/x", "u@tcp(localhost:3306)/x"},
		{"NoDatabase", "mysql://root@127.0.0.1:3307/", "root@tcp(127.0.0.1:3307)/"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := dbtest.MySQLDSN(tt.url)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}

	_, err := dbtest.MySQLDSN("postgres://x@y/z")
	require.Error(t, err)
}
