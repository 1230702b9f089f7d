package e2e

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// result is one finished fleetgate process.
type result struct {
	Code           int
	Stdout, Stderr string
	Elapsed        time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %s\nstderr: %s", r.Code, r.Elapsed, r.Stdout, r.Stderr)
}

// proc is a fleetgate process started by a test; Cleanup kills it by pid
// if the test ends first.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	start          time.Time
	done           chan struct{}
	res            result
}

func start(t testing.TB, env []string, args ...string) *proc {
	return startAt(t, time.Time{}, env, args...)
}

// startAt starts fleetgate so that it begins executing at the instant at
// (zero: now).
func startAt(t testing.TB, at time.Time, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	if at.IsZero() {
		p.cmd = exec.Command(bin, args...)
	} else {
		self, err := os.Executable()
		require.NoError(t, err)
		p.cmd = exec.Command(self, append([]string{bin}, args...)...)
		env = append(env, execAtEnv+"="+strconv.FormatInt(at.UnixNano(), 10))
	}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	// Own process group, so a kill reaches nothing but this process tree.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	p.start = time.Now()
	go func() {
		err := p.cmd.Wait()
		p.res = result{Code: exitCode(err), Stdout: p.stdout.String(), Stderr: p.stderr.String(), Elapsed: time.Since(p.start)}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

func (p *proc) wait(t testing.TB, timeout time.Duration) result {
	t.Helper()
	select {
	case <-p.done:
		return p.res
	case <-time.After(timeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
		t.Fatalf("fleetgate %v did not finish in %v\n%s", p.cmd.Args[1:], timeout, p.res)
		return result{}
	}
}

func (p *proc) signal(sig syscall.Signal) { _ = p.cmd.Process.Signal(sig) }

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return ee.ExitCode()
	}
	return -1
}

// cleanEnv is the environment of a fleetgate process: the test's own,
// without any fleetgate or database variables that would change behaviour.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "FLEETGATE_") || k == "DATABASE_URL" || strings.HasPrefix(k, "PG") {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// fg runs fleetgate to completion.
func fg(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return start(t, env, args...).wait(t, 2*time.Minute)
}

// race starts n fleetgate processes released at the same instant and waits
// for all of them.
func race(t testing.TB, n int, env []string, args ...string) []result {
	t.Helper()
	at := time.Now().Add(300*time.Millisecond + time.Duration(n)*5*time.Millisecond)
	ps := make([]*proc, n)
	for i := range ps {
		ps[i] = startAt(t, at, env, args...)
	}
	out := make([]result, n)
	for i, p := range ps {
		out[i] = p.wait(t, 3*time.Minute)
	}
	return out
}

// writeFiles writes migration files into a new directory.
func writeFiles(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	return dir
}

// raceSet is n migrations: 1 creates the counter, dataAt increments it,
// every other one creates a table.
func raceSet(n, dataAt int, sleepAt int, sleep string) map[string]string {
	files := map[string]string{}
	for i := 1; i <= n; i++ {
		var body string
		switch i {
		case 1:
			body = "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n-- fleetgate:down\nDROP TABLE counter;\n"
		case dataAt:
			body = "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n-- fleetgate:down\nUPDATE counter SET n = n - 1;\n"
		case sleepAt:
			body = fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\nSELECT %s;\n-- fleetgate:down\nDROP TABLE t%d;\n", i, sleep, i)
		default:
			body = fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i)
		}
		files[fmt.Sprintf("%04d_m%d.sql", i, i)] = body
	}
	return files
}

// openDB opens a fleetgate-style URL with database/sql for checks.
func openDB(t testing.TB, url string) *sql.DB {
	t.Helper()
	var db *sql.DB
	var err error
	if rest, ok := strings.CutPrefix(url, "sqlite:"); ok {
		db, err = sql.Open("sqlite", "file:"+strings.TrimPrefix(rest, "//")+"?_pragma=busy_timeout(10000)")
	} else if rest, ok := strings.CutPrefix(url, "mariadb:"); ok || strings.HasPrefix(url, "mysql:") {
		if ok {
			url = "mysql:" + rest
		}
		dsn, derr := dbtest.MySQLDSN(url)
		require.NoError(t, derr)
		db, err = sql.Open("mysql", dsn)
	} else {
		sep := "?"
		if strings.Contains(url, "?") {
			sep = "&"
		}
		db, err = sql.Open("pgx", url+sep+"default_query_exec_mode=simple_protocol")
	}
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func queryInt(t testing.TB, db *sql.DB, q string, args ...any) int {
	t.Helper()
	var n int
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, db.QueryRowContext(ctx, q, args...).Scan(&n), q)
	return n
}

// requireExactlyOnce checks the oracle after a race: every migration
// recorded once and complete, the data migration applied once.
func requireExactlyOnce(t testing.TB, db *sql.DB, n int) {
	t.Helper()
	require.Equal(t, n, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"), "history rows")
	require.Equal(t, n, queryInt(t, db, "SELECT count(DISTINCT version) FROM fleetgate_migrations"), "distinct versions")
	require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "data migration applied exactly once")
}

// parallelLimit keeps heavy multi-process tests from running together on
// a 2-core machine, where they would only measure each other.
var heavy sync.Mutex
