package main

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/go-sql-driver/mysql"
)

// myServer is a throwaway MariaDB server in a temp dir, stopped by pid:
// the MariaDB scenarios' counterpart of server.
type myServer struct{ *daemon }

var (
	mariadbdPaths  = []string{"/usr/sbin/mariadbd", "/usr/sbin/mysqld"}
	installDBPaths = []string{"/usr/bin/mariadb-install-db", "/usr/bin/mysql_install_db"}
)

func firstExisting(paths []string) (string, error) {
	for _, p := range paths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s exists (install mariadb-server)", strings.Join(paths, ", "))
}

// mariadbTuning makes the server as cheap as PostgreSQL's fsync=off: no
// flush at commit, small files, no native AIO (which runs out on a busy
// shared machine).
var mariadbTuning = []string{
	"--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0", "--sync-binlog=0",
	"--innodb-log-file-size=16M", "--innodb-buffer-pool-size=128M", "--innodb-use-native-aio=0",
	"--skip-log-bin", "--performance-schema=0",
}

// startMariaDB initialises a data directory in a new temp dir and starts
// mariadbd on a free loopback port with room for 600 connections (50
// racing tools, each with a pool).
func startMariaDB(ctx context.Context) (*myServer, error) {
	mariadbd, err := firstExisting(mariadbdPaths)
	if err != nil {
		return nil, err
	}
	installDB, err := firstExisting(installDBPaths)
	if err != nil {
		return nil, err
	}
	// mariadbd refuses to run as root without --user, and its files must
	// be the server's.
	cred, err := osCredential("mysql")
	if err != nil {
		return nil, err
	}
	d, err := newDaemon("mariadbd", "fleetgate-bench-mariadb-", syscall.SIGTERM, cred, "tmp")
	if err != nil {
		return nil, err
	}
	s := &myServer{d}
	root, tmp, data := s.root, filepath.Join(s.root, "tmp"), filepath.Join(s.root, "data")
	// "normal" root authentication: a password-less root for 127.0.0.1.
	install := exec.CommandContext(ctx, installDB, append([]string{"--no-defaults", "--datadir=" + data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"}, mariadbTuning...)...)
	install.Dir = root
	install.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := install.CombinedOutput(); err != nil {
		s.stop()
		return nil, fmt.Errorf("%s: %v\n%s", installDB, err, out)
	}
	// SIGKILL if the harness dies without stopping it.
	err = s.start(ctx, cred, syscall.SIGKILL, 60*time.Second, func(port int) *exec.Cmd {
		cmd := exec.Command(mariadbd, append([]string{"--no-defaults", "--datadir=" + data, "--tmpdir=" + tmp,
			"--socket=" + filepath.Join(root, "mysqld.sock"), "--pid-file=" + filepath.Join(root, "mariadbd.pid"),
			"--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1", "--skip-name-resolve",
			"--max-connections=600", "--character-set-server=utf8mb4", "--collation-server=utf8mb4_general_ci",
			"--innodb-fast-shutdown=2"}, mariadbTuning...)...)
		cmd.Dir = root
		return cmd
	}, func(ctx context.Context) error {
		db, err := sql.Open("mysql", s.dsn(""))
		if err == nil {
			err = db.PingContext(ctx)
			db.Close()
		}
		return err
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// dsn is go-sql-driver/mysql's form of database db ("" for none).
func (s *myServer) dsn(db string) string {
	c := mysql.NewConfig()
	c.User, c.Net, c.Addr, c.DBName = "root", "tcp", fmt.Sprintf("127.0.0.1:%d", s.port), db
	return c.FormatDSN()
}

// toolURL is database db as tool t is told it: fleetgate and dbmate take
// mysql://user@host:port/db; golang-migrate takes the driver's DSN behind
// mysql:// (with multiStatements, for its files of several statements);
// goose takes the DSN itself.
func (s *myServer) toolURL(t *tool, db string) string {
	switch t.Format {
	case "goose":
		return fmt.Sprintf("root@tcp(127.0.0.1:%d)/%s?parseTime=true", s.port, db)
	case "migrate":
		return fmt.Sprintf("mysql://root@tcp(127.0.0.1:%d)/%s?multiStatements=true", s.port, db)
	}
	return fmt.Sprintf("mysql://root@127.0.0.1:%d/%s", s.port, db)
}

// verifyMySQL is verify on MariaDB: the schema holds exactly the first
// e.Upto migrations, and the tool's version table records them once.
func verifyMySQL(ctx context.Context, t *tool, dsn string, e expectation) (dbState, error) {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return dbState{}, err
	}
	defer db.Close()
	var s dbState
	var hasCounter int
	err = db.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME LIKE 't\_%'),
		(SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME LIKE 'c\_%'),
		(SELECT count(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'counter')`).Scan(&s.Tables, &s.Columns, &hasCounter)
	if err != nil {
		return s, err
	}
	s.Counter = -1
	if hasCounter > 0 {
		if err := db.QueryRowContext(ctx, `SELECT COALESCE(SUM(n), 0) FROM counter`).Scan(&s.Counter); err != nil {
			return s, err
		}
	}
	if s.Tables != e.Tables || s.Columns != e.Columns || s.Counter != e.Counter {
		return s, fmt.Errorf("schema: %d tables, %d columns, counter %d; want %d, %d, %d",
			s.Tables, s.Columns, s.Counter, e.Tables, e.Columns, e.Counter)
	}
	return s, verifyMySQLVersions(ctx, t, db, e.Upto)
}

// verifyMySQLVersions is verifyVersionTable in MySQL's SQL.
func verifyMySQLVersions(ctx context.Context, t *tool, db *sql.DB, n int) error {
	var rows, distinct, maxV int64
	switch t.Format {
	case "fleetgate":
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version), COALESCE(MAX(version), 0) FROM fleetgate_migrations`).Scan(&rows, &distinct, &maxV); err != nil {
			return fmt.Errorf("fleetgate_migrations: %w", err)
		}
	case "goose":
		var notApplied int64
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version_id), COALESCE(MAX(version_id), 0), COALESCE(SUM(is_applied = 0), 0)
			FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &distinct, &maxV, &notApplied); err != nil {
			return fmt.Errorf("goose_db_version: %w", err)
		}
		if notApplied > 0 {
			return fmt.Errorf("goose_db_version: %d rows with is_applied = false", notApplied)
		}
	case "migrate":
		var version int64
		var dirty bool
		if err := db.QueryRowContext(ctx, `SELECT (SELECT count(*) FROM schema_migrations), version, dirty <> 0 FROM schema_migrations LIMIT 1`).Scan(&rows, &version, &dirty); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		if rows != 1 || version != int64(n) || dirty {
			return fmt.Errorf("schema_migrations: %d rows, version %d, dirty %v; want 1 row, version %d, clean", rows, version, dirty, n)
		}
		return nil
	case "dbmate":
		if err := db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version), COALESCE(MAX(CAST(version AS UNSIGNED)), 0) FROM schema_migrations`).Scan(&rows, &distinct, &maxV); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
	default:
		return fmt.Errorf("unknown tool %s", t.Name)
	}
	if rows != int64(n) || distinct != int64(n) || maxV != int64(n) {
		return fmt.Errorf("version table: %d rows, %d distinct versions, max %d; want %d, %d, %d", rows, distinct, maxV, n, n, n)
	}
	return nil
}

// effectPresentMySQL is effectPresent on MariaDB.
func (h *harness) effectPresentMySQL(ctx context.Context, db string, m migration) (bool, error) {
	var present bool
	var err error
	switch m.Kind {
	case "counter", "table":
		err = h.myAdmin.QueryRowContext(ctx, `SELECT count(*) > 0 FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?`, db, m.Table).Scan(&present)
	case "column":
		err = h.myAdmin.QueryRowContext(ctx, `SELECT count(*) > 0 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND COLUMN_NAME = ?`, db, m.Table, m.Column).Scan(&present)
	case "data":
		err = h.myAdmin.QueryRowContext(ctx, "SELECT COALESCE((SELECT n FROM `"+db+"`.counter WHERE id = 1), 0) > 0").Scan(&present)
	}
	return present, err
}

// sleepingMySQL counts the sessions on db running the kill scenario's
// SLEEP; the monitor's own session has no database, so its query (which
// also says SLEEP) is not counted.
func (h *harness) sleepingMySQL(ctx context.Context, db string) (int, error) {
	var n int
	err := h.myMonitor.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = ? AND INFO LIKE '%SLEEP(%'`, db).Scan(&n)
	return n, err
}
