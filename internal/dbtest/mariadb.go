package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql" // database/sql driver "mysql" for the admin pool
	"github.com/stretchr/testify/require"
)

// mariadbdPaths and installDBPaths are where Debian's mariadb-server puts
// the server and its data directory initialiser.
var (
	mariadbdPaths  = []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"}
	installDBPaths = []string{"/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"}
)

// MariaDBServer is a MariaDB server the tests of this binary share: a
// throwaway one this package started, or the one TEST_MYSQL_URL names.
type MariaDBServer struct {
	// Host and Port are where the server listens (127.0.0.1 and a free port
	// for a throwaway server).
	Host string
	Port int
	// RootURL connects as a user who may create and drop databases, with no
	// database selected, e.g. mysql://root@127.0.0.1:PORT/.
	RootURL string

	admin *sql.DB
	proc  *process // nil for an external server
}

var startMariaDBOnce = sync.OnceValues(startMariaDB)

// StartMariaDB returns the binary's shared MariaDB server, starting it on
// first use. With TEST_MYSQL_URL set (a mysql:// URL of a user who may
// create databases) it uses that server. Otherwise it initialises a data
// directory with mariadb-install-db in a temporary directory and starts
// mariadbd on a free loopback port (as the mysql OS user when we are root),
// with durability turned off and utf8mb4 as the server's character set.
// Failures, including the server log's last lines, are returned, and the
// same error is returned to every later call.
func StartMariaDB() (*MariaDBServer, error) {
	if isStopped() {
		return nil, errStopped
	}
	return startMariaDBOnce()
}

func startMariaDB() (*MariaDBServer, error) {
	if raw := os.Getenv("TEST_MYSQL_URL"); raw != "" {
		return externalMariaDB(raw)
	}
	mariadbd, err := findBinary(mariadbdPaths, "mariadbd", "mysqld")
	if err != nil {
		return nil, fmt.Errorf("dbtest: MariaDB server: %w; install mariadb-server with scripts/setup.sh or set TEST_MYSQL_URL", err)
	}
	installDB, err := findBinary(installDBPaths, "mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, fmt.Errorf("dbtest: MariaDB mariadb-install-db: %w; install mariadb-server with scripts/setup.sh or set TEST_MYSQL_URL", err)
	}
	cred, err := serviceUser("mysql", "MariaDB")
	if err != nil {
		return nil, err
	}
	dir, err := serverDir("mariadb", cred)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		return nil, fmt.Errorf("dbtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(tmp, int(cred.Uid), int(cred.Gid)); err != nil {
			return nil, fmt.Errorf("dbtest: %w", err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	// "normal" root authentication creates password-less root users for
	// localhost, 127.0.0.1 and ::1 instead of unix_socket-only root.
	out, err := runOnce(ctx, dir, cred, installDB, append([]string{
		"--no-defaults", "--datadir=" + data, "--auth-root-authentication-method=normal",
		"--skip-test-db", "--skip-name-resolve",
	}, mariadbTuning()...)...)
	if err != nil {
		return nil, fmt.Errorf("dbtest: %s --datadir=%s: %w\n--- output ---\n%s", installDB, data, err, tail(out, 30))
	}

	var lastErr error
	for range portAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := append([]string{
			"--no-defaults",
			"--datadir=" + data,
			"--tmpdir=" + tmp,
			"--socket=" + filepath.Join(dir, "mysqld.sock"),
			"--pid-file=" + filepath.Join(dir, "mariadbd.pid"),
			"--port=" + strconv.Itoa(port),
			"--bind-address=127.0.0.1",
			"--skip-name-resolve",
			"--max-connections=300",
			"--character-set-server=utf8mb4",
			"--collation-server=utf8mb4_general_ci",
			"--innodb-flush-log-at-trx-commit=0",
			"--innodb-fast-shutdown=2", // a throwaway server: no flush at shutdown
		}, mariadbTuning()...)
		// SIGKILL when the test binary dies: nothing in it is worth a clean shutdown.
		p, err := startProcess("mariadbd", dir, cred, syscall.SIGTERM, syscall.SIGKILL, mariadbd, args...)
		if err != nil {
			return nil, err
		}
		srv := &MariaDBServer{
			Host:    "127.0.0.1",
			Port:    port,
			RootURL: fmt.Sprintf("mysql://root@127.0.0.1:%d/", port),
			proc:    p,
		}
		if err := srv.openAdmin(); err != nil {
			_ = p.stopAndForget()
			return nil, err
		}
		lastErr = p.waitReady(startTimeout, srv.admin.PingContext)
		if lastErr == nil {
			return srv, nil
		}
		inUse := p.addrInUse()
		_ = srv.admin.Close()
		_ = p.stopAndForget()
		if !inUse {
			break
		}
	}
	return nil, lastErr
}

// mariadbTuning are settings for both bootstrap and server: small files,
// no fsync, no native AIO (which runs out on busy shared machines).
func mariadbTuning() []string {
	return []string{
		"--innodb-buffer-pool-size=32M",
		"--innodb-log-file-size=8M",
		"--innodb-doublewrite=0",
		"--innodb-flush-method=nosync",
		"--innodb-use-native-aio=0",
	}
}

func externalMariaDB(raw string) (*MariaDBServer, error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "mysql" {
		return nil, fmt.Errorf("dbtest: TEST_MYSQL_URL must be a mysql://user:password@host:port/ URL")
	}
	host, portStr, err := net.SplitHostPort(u.Host)
	if err != nil {
		host, portStr = u.Hostname(), "3306"
	}
	port, _ := strconv.Atoi(portStr)
	ru := *u
	ru.Path = "/"
	srv := &MariaDBServer{Host: host, Port: port, RootURL: ru.String()}
	if err := srv.openAdmin(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.admin.PingContext(ctx); err != nil {
		return nil, fmt.Errorf("dbtest: TEST_MYSQL_URL: %w", err)
	}
	return srv, nil
}

func (s *MariaDBServer) openAdmin() error {
	dsn, err := MySQLDSN(s.RootURL)
	if err != nil {
		return err
	}
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return fmt.Errorf("dbtest: %w", err)
	}
	db.SetMaxIdleConns(4)
	s.admin = db
	return addCloser(db.Close)
}

// DatabaseURL returns RootURL with name as its database.
func (s *MariaDBServer) DatabaseURL(name string) string {
	u, err := url.Parse(s.RootURL)
	if err != nil { // RootURL was parsed when the server started
		panic(err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String()
}

// MariaDB creates a fresh, empty utf8mb4 database for the test on the
// shared server (StartMariaDB), drops it in t.Cleanup (first killing the
// connections still using it, as PostgreSQL's WITH (FORCE) would), and
// returns a URL to it: mysql://root@127.0.0.1:PORT/fleetgate_test_xxx. The
// test fails if the server cannot be had. MySQLDSN turns the URL into a
// go-sql-driver/mysql DSN.
func MariaDB(t testing.TB) string {
	t.Helper()
	srv, err := StartMariaDB()
	require.NoError(t, err, "dbtest: no MariaDB server")
	name := randomName("fleetgate_test_")
	ctx, cancel := context.WithTimeout(t.Context(), adminTimeout)
	defer cancel()
	_, err = srv.admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4")
	require.NoError(t, err, "dbtest: create database %s", name)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
		defer cancel()
		if err := dropMariaDB(ctx, srv.admin, name); err != nil {
			t.Errorf("dbtest: drop database %s: %v", name, err)
		}
	})
	return srv.DatabaseURL(name)
}

// dropMariaDB kills the sessions using database name, which could hold
// metadata locks that block DROP DATABASE, then drops it.
func dropMariaDB(ctx context.Context, admin *sql.DB, name string) error {
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	rows, err := conn.QueryContext(ctx,
		"SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()", name)
	if err != nil {
		return err
	}
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		// The session may have ended meanwhile (error 1094, unknown thread).
		_, _ = conn.ExecContext(ctx, fmt.Sprintf("KILL %d", id))
	}
	_, err = conn.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	return err
}

// MySQLDSN converts a mysql://user:password@host:port/db?params URL (as
// MariaDB returns) into a go-sql-driver/mysql DSN,
// user:password@tcp(host:port)/db?params, for tests that open the database
// with database/sql themselves.
func MySQLDSN(rawURL string) (string, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", fmt.Errorf("dbtest: mysql URL: %w", err)
	}
	if u.Scheme != "mysql" {
		return "", fmt.Errorf("dbtest: mysql URL %q: scheme must be mysql", u.Redacted())
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "3306")
	}
	var userinfo string
	if u.User != nil {
		userinfo = u.User.Username()
		if pw, ok := u.User.Password(); ok {
			userinfo += ":" + pw
		}
		userinfo += "@"
	}
	dsn := fmt.Sprintf("%stcp(%s)/%s", userinfo, addr, strings.TrimPrefix(u.Path, "/"))
	if u.RawQuery != "" {
		dsn += "?" + u.RawQuery
	}
	return dsn, nil
}
