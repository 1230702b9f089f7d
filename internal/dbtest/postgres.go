package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the admin pool
	"github.com/stretchr/testify/require"
)

// pgBinDirs are where PostgreSQL 15's server binaries are looked for before
// PATH. Debian's postgresql-15 package puts them in the first.
var pgBinDirs = []string{"/usr/lib/postgresql/15/bin"}

// adminTimeout bounds each administrative statement (CREATE/DROP DATABASE,
// roles), so a wedged server fails the test instead of hanging it.
const adminTimeout = time.Minute

// startTimeout bounds how long a server may take to accept connections.
const startTimeout = 2 * time.Minute

// PGServer is a PostgreSQL cluster the tests of this binary share: a
// throwaway one this package started, or the one TEST_POSTGRES_URL names.
type PGServer struct {
	// Host and Port are where the server listens (127.0.0.1 and a free port
	// for a throwaway server).
	Host string
	Port int
	// SuperURL connects as a superuser to the maintenance database, e.g.
	// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
	SuperURL string
	// BinDir holds the PostgreSQL 15 client binaries on this machine
	// (pg_dump, psql), for tests that compare dumps; "" if there are none.
	BinDir string

	admin *sql.DB  // superuser pool on the maintenance database
	proc  *process // nil for an external server; see Restart
	// data and cred are the data directory and OS user of a throwaway
	// server, for Restart.
	data string
	cred *syscall.Credential
	mu   sync.Mutex // serialises Restart
	// createOpts ends CREATE DATABASE. From PostgreSQL 15 on, FILE_COPY
	// (the pre-15 behaviour) creates and drops a small database in about
	// half the time of the WAL_LOG default when fsync is off.
	createOpts string
}

var startPostgresOnce = sync.OnceValues(func() (*PGServer, error) {
	if raw := os.Getenv("TEST_POSTGRES_URL"); raw != "" {
		return externalPostgres(raw)
	}
	return startPostgres("postgres")
})

// StartPostgres returns the binary's shared PostgreSQL server, starting it
// on first use. With TEST_POSTGRES_URL set (a postgres:// URL of a superuser)
// it uses that server. Otherwise it runs initdb in a temporary directory (as
// the postgres OS user when we are root) and starts PostgreSQL 15 on a free
// loopback port with durability turned off for speed. Failures, including
// the server log's last lines, are returned, and the same error is returned
// to every later call.
func StartPostgres() (*PGServer, error) {
	if isStopped() {
		return nil, errStopped
	}
	return startPostgresOnce()
}

func startPostgres(name string) (*PGServer, error) {
	initdb, err := findBinary(binPaths(pgBinDirs, "initdb"), "initdb")
	if err != nil {
		return nil, fmt.Errorf("dbtest: PostgreSQL 15 initdb: %w; install it with scripts/setup.sh or set TEST_POSTGRES_URL", err)
	}
	binDir := filepath.Dir(initdb)
	cred, err := serviceUser("postgres", "PostgreSQL")
	if err != nil {
		return nil, err
	}
	dir, err := serverDir(name, cred)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	out, err := runOnce(ctx, dir, cred, initdb,
		"-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	if err != nil {
		return nil, fmt.Errorf("dbtest: initdb %s: %w\n--- initdb output ---\n%s", data, err, tail(out, 30))
	}
	if err := writeFileAs(filepath.Join(data, "pg_hba.conf"), []byte(pgHBA), cred); err != nil {
		return nil, fmt.Errorf("dbtest: %w", err)
	}

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		p, err := startProcess("postgres", dir, cred, syscall.SIGQUIT, syscall.SIGQUIT,
			filepath.Join(binDir, "postgres"), postgresArgs(data, port)...)
		if err != nil {
			return nil, err
		}
		srv := &PGServer{
			Host:     "127.0.0.1",
			Port:     port,
			SuperURL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
			BinDir:   binDir,
			proc:     p,
			data:     data,
			cred:     cred,
		}
		lastErr = srv.waitReady(startTimeout)
		if lastErr == nil {
			srv.createOpts = " STRATEGY FILE_COPY"
			return srv, srv.openAdmin()
		}
		inUse := p.addrInUse()
		_ = p.stopAndForget()
		if !inUse {
			break
		}
	}
	return nil, lastErr
}

// waitReady polls until the server accepts a connection, the postmaster
// exits or timeout passes; the start and Restart both use it.
func (s *PGServer) waitReady(timeout time.Duration) error {
	return s.proc.waitReady(timeout, func(ctx context.Context) error {
		conn, err := pgconn.Connect(ctx, s.SuperURL)
		if err != nil {
			return err
		}
		return conn.Close(ctx)
	})
}

// NewPostgres starts a PostgreSQL server of the test's own, for tests that
// restart it (Restart) and must not disturb the tests sharing the binary's
// server. It is stopped, by its pid, in t.Cleanup. It costs an initdb (a
// few seconds); use Postgres where a database of the shared server does.
// TEST_POSTGRES_URL does not apply: an external server cannot be restarted.
func NewPostgres(t testing.TB) *PGServer {
	t.Helper()
	srv, err := startPostgres(randomName("postgres-"))
	require.NoError(t, err, "dbtest: start a PostgreSQL server of the test's own")
	t.Cleanup(func() {
		_ = srv.admin.Close()
		if err := srv.proc.stopAndForget(); err != nil {
			t.Errorf("dbtest: %v", err)
		}
	})
	return srv
}

// Database creates a fresh database on s, dropped in t.Cleanup, and
// returns a superuser URL to it.
func (s *PGServer) Database(t testing.TB) string {
	t.Helper()
	name := randomName("fleetgate_test_")
	ctx, cancel := context.WithTimeout(t.Context(), adminTimeout)
	defer cancel()
	_, err := s.admin.ExecContext(ctx, "CREATE DATABASE "+name+s.createOpts)
	require.NoError(t, err, "dbtest: create database %s", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if _, err := s.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return s.DatabaseURL(name)
}

// pgHBA lets the superuser in without a password, over loopback TCP only,
// and makes every other role (CreateRole) give its password, so tests of
// credentials see real authentication failures.
const pgHBA = `# Written by fleetgate's internal/dbtest.
host all postgres 127.0.0.1/32 trust
host all all      127.0.0.1/32 scram-sha-256
`

// postgresArgs are the server's settings: loopback only, no Unix socket,
// and no durability (a crash loses nothing a test needs).
func postgresArgs(data string, port int) []string {
	args := []string{"-D", data, "-p", strconv.Itoa(port)}
	for _, kv := range []string{
		"listen_addresses=127.0.0.1",
		"unix_socket_directories=",
		"fsync=off",
		"synchronous_commit=off",
		"full_page_writes=off",
		"wal_level=minimal",
		"max_wal_senders=0",
		"max_connections=300",
		"shared_buffers=32MB",
		"autovacuum=off", // saves CPU on small CI machines; tests don't need it
		"log_min_messages=warning",
		"log_min_error_statement=panic", // don't echo failing test statements
	} {
		args = append(args, "-c", kv)
	}
	return args
}

func externalPostgres(raw string) (*PGServer, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return nil, fmt.Errorf("dbtest: TEST_POSTGRES_URL must be a postgres:// URL of a superuser")
	}
	cfg, err := pgconn.ParseConfig(raw)
	if err != nil {
		return nil, fmt.Errorf("dbtest: TEST_POSTGRES_URL: %w", err)
	}
	srv := &PGServer{Host: cfg.Host, Port: int(cfg.Port), SuperURL: raw}
	if initdb, err := findBinary(binPaths(pgBinDirs, "pg_dump"), "pg_dump"); err == nil {
		srv.BinDir = filepath.Dir(initdb)
	}
	if err := srv.openAdmin(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var version int
	if err := srv.admin.QueryRowContext(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		return nil, fmt.Errorf("dbtest: TEST_POSTGRES_URL: %w", err)
	}
	if version >= 150000 {
		srv.createOpts = " STRATEGY FILE_COPY"
	}
	return srv, nil
}

func (s *PGServer) openAdmin() error {
	db, err := sql.Open("pgx", s.SuperURL)
	if err != nil {
		return fmt.Errorf("dbtest: %w", err)
	}
	db.SetMaxIdleConns(4)
	s.admin = db
	return addCloser(db.Close)
}

// DatabaseURL returns SuperURL with its database replaced by name.
func (s *PGServer) DatabaseURL(name string) string {
	u, err := url.Parse(s.SuperURL)
	if err != nil { // SuperURL was parsed when the server started
		panic(err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// Postgres creates a fresh, empty database for the test on the shared
// server (StartPostgres), drops it WITH (FORCE) in t.Cleanup, and returns a
// superuser URL to it. It is a database rather than a schema because
// fleetgate's own tables live in the default schema and tests compare
// pg_dump output. The test fails if the server cannot be had.
func Postgres(t testing.TB) string {
	t.Helper()
	srv, err := StartPostgres()
	require.NoError(t, err, "dbtest: no PostgreSQL server")
	return srv.Database(t)
}

// CreateRole creates a login role name with password on the shared server,
// runs grants (SQL statements, e.g. "GRANT SELECT ON ALL TABLES IN SCHEMA
// public TO reader") as superuser in dbURL's database, and returns dbURL
// with the role's credentials, for tests of restricted users. dbURL is a
// URL from Postgres(t). In t.Cleanup the role's privileges and objects in
// that database are dropped (DROP OWNED BY) and then the role itself; call
// it after Postgres(t) so this runs before the database is dropped.
//
// Roles belong to the whole cluster: name must be unique among the tests of
// the binary, and, when TEST_POSTGRES_URL points several test binaries at
// one server, across packages too (prefix it with the package's name).
// The password is checked (scram-sha-256), also on the throwaway server,
// where only the postgres superuser logs in without one.
//
// This differs from a bare CreateRole(t, name, password, grants...): the
// role needs a database to receive the grants, and returning its URL saves
// every caller rebuilding one.
func CreateRole(t testing.TB, dbURL, name, password string, grants ...string) string {
	t.Helper()
	srv, err := StartPostgres()
	require.NoError(t, err, "dbtest: no PostgreSQL server")
	u, err := url.Parse(dbURL)
	require.NoError(t, err, "dbtest: CreateRole: dbURL")
	dbName := strings.TrimPrefix(u.Path, "/")
	require.NotEmpty(t, dbName, "dbtest: CreateRole: dbURL %q names no database", u.Redacted())
	role := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(t.Context(), adminTimeout)
	defer cancel()
	_, err = srv.admin.ExecContext(ctx, "CREATE ROLE "+role+" LOGIN PASSWORD "+quoteLiteral(password))
	require.NoError(t, err, "dbtest: create role %s", name)

	// The grants run in the test's database, as superuser.
	db, err := sql.Open("pgx", srv.DatabaseURL(dbName))
	require.NoError(t, err)
	defer db.Close()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		// A new pool: the one above is closed by now.
		db, err := sql.Open("pgx", srv.DatabaseURL(dbName))
		if err == nil {
			defer db.Close()
			_, err = db.ExecContext(ctx, "DROP OWNED BY "+role)
		}
		if err != nil {
			t.Errorf("dbtest: drop objects and privileges of role %s in %s: %v", name, dbName, err)
		}
		if _, err := srv.admin.ExecContext(ctx, "DROP ROLE IF EXISTS "+role); err != nil {
			t.Errorf("dbtest: drop role %s: %v", name, err)
		}
	})
	for _, g := range grants {
		_, err := db.ExecContext(ctx, g)
		require.NoError(t, err, "dbtest: CreateRole %s: %s", name, g)
	}

	u.User = url.UserPassword(name, password)
	return u.String()
}

// quoteLiteral quotes s as a SQL string literal (standard_conforming_strings
// is on in every supported PostgreSQL).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// binPaths joins each dir with name.
func binPaths(dirs []string, name string) []string {
	out := make([]string, len(dirs))
	for i, d := range dirs {
		out[i] = filepath.Join(d, name)
	}
	return out
}
