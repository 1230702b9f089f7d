package dbtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/stretchr/testify/require"
)

// pgbouncerPaths are where the pgbouncer binary is looked for before PATH
// (/usr/sbin is not in most users' PATH).
var pgbouncerPaths = []string{"/usr/sbin/pgbouncer"}

// PgBouncer starts a PgBouncer for this test in front of dbURL (a URL from
// Postgres(t)) and returns the URL clients use: the same user and database,
// on PgBouncer's own free loopback port. It runs in transaction pooling mode
// with default_pool_size=4 and max_client_conn=500, trusting the one user
// in dbURL (the PgBouncer URL works for that user only), who is also its
// admin: the "pgbouncer" database on the same port answers SHOW POOLS. It
// runs as the postgres OS user when we are root, and is stopped by its pid
// (SIGTERM, then SIGKILL) in t.Cleanup, which fails the test, with the end
// of PgBouncer's log, if it had exited before.
//
// PgBouncer 1.18 does not keep prepared statements across transactions:
// pgx's default statement cache fails through it, which is what tests of
// the tool's PgBouncer handling want to see. A client that should just
// work adds default_query_exec_mode=exec (or simple_protocol) to the URL.
func PgBouncer(t testing.TB, dbURL string) string {
	t.Helper()
	u, err := url.Parse(dbURL)
	require.NoError(t, err, "dbtest: PgBouncer: dbURL")
	cfg, err := pgconn.ParseConfig(dbURL)
	require.NoError(t, err, "dbtest: PgBouncer: dbURL")
	bin, err := findBinary(pgbouncerPaths, "pgbouncer")
	require.NoError(t, err, "dbtest: pgbouncer is not installed; install it with scripts/setup.sh")
	cred, err := serviceUser("postgres", "PgBouncer")
	require.NoError(t, err)
	dir, err := serverDir(randomName("pgbouncer-"), cred)
	require.NoError(t, err)

	userlist := fmt.Sprintf("%s %s\n", quoteUserlist(cfg.User), quoteUserlist(cfg.Password))
	authFile := filepath.Join(dir, "userlist.txt")
	require.NoError(t, writeFileAs(authFile, []byte(userlist), cred), "dbtest: PgBouncer")

	var p *process
	var bouncerURL string
	for range portAttempts {
		port, err := freePort()
		require.NoError(t, err)
		ini := filepath.Join(dir, "pgbouncer.ini")
		conf := pgbouncerConfig(cfg, authFile, port)
		require.NoError(t, writeFileAs(ini, []byte(conf), cred), "dbtest: PgBouncer")
		p, err = startProcess("pgbouncer", dir, cred, syscall.SIGTERM, syscall.SIGTERM, bin, ini)
		require.NoError(t, err)

		bu := *u
		bu.Host = "127.0.0.1:" + strconv.Itoa(port)
		bouncerURL = bu.String()
		err = p.waitReady(startTimeout, func(ctx context.Context) error {
			conn, err := pgconn.Connect(ctx, bouncerURL)
			if err != nil {
				return err
			}
			return conn.Close(ctx)
		})
		if err == nil {
			break
		}
		inUse := p.addrInUse()
		_ = p.stopAndForget()
		p = nil
		if !inUse {
			require.NoError(t, err, "dbtest: PgBouncer")
		}
	}
	require.NotNil(t, p, "dbtest: PgBouncer: no free port after %d attempts", portAttempts)
	t.Cleanup(func() {
		// A pooler that died under the test shows there as "connection
		// refused" on its port; say so, with its own last words.
		select {
		case <-p.done:
			t.Errorf("%v", p.failure(fmt.Errorf("exited during the test: %v", p.waitErr)))
		default:
		}
		if err := p.stopAndForget(); err != nil {
			t.Errorf("dbtest: %v", err)
		}
		_ = os.RemoveAll(dir)
	})
	return bouncerURL
}

// pgbouncerConfig is the pgbouncer.ini for one test's database.
func pgbouncerConfig(cfg *pgconn.Config, authFile string, port int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[databases]\n%s = host=%s port=%d dbname=%s\n\n",
		cfg.Database, cfg.Host, cfg.Port, cfg.Database)
	fmt.Fprintf(&b, "[pgbouncer]\n")
	for _, kv := range [][2]string{
		{"listen_addr", "127.0.0.1"},
		{"listen_port", strconv.Itoa(port)},
		{"unix_socket_dir", ""},
		{"auth_type", "trust"},
		{"auth_file", authFile},
		{"admin_users", cfg.User},
		{"stats_users", cfg.User},
		{"pool_mode", "transaction"},
		{"default_pool_size", "4"},
		{"min_pool_size", "0"},
		{"reserve_pool_size", "0"},
		{"max_client_conn", "500"},
		{"ignore_startup_parameters", "extra_float_digits"},
		{"log_connections", "0"},
		{"log_disconnections", "0"},
	} {
		fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
	}
	return b.String()
}

// quoteUserlist quotes s for PgBouncer's auth_file.
func quoteUserlist(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
}
