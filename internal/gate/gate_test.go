package gate_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/fstest"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
	"github.com/fleetgate/fleetgate/internal/gate"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// No goroutine of a wait or a probe (the listening session's, a read that
// outlived its probe) is left once the tests and the servers are done.
// glog's flush daemon is started by its package init (the MySQL checks'
// parser links it into the root package) and lives for the process.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(dbtest.M(m), goleak.IgnoreTopFunction("github.com/golang/glog.(*fileSink).flushDaemon"))
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// chain is migrations 1..n, each creating table tN.
func chain(n int) fstest.MapFS {
	fsys := fstest.MapFS{}
	for i := 1; i <= n; i++ {
		fsys[fmt.Sprintf("%d_t%d.sql", i, i)] = &fstest.MapFile{Data: []byte(fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n", i))}
	}
	return fsys
}

func local(t *testing.T, fsys fstest.MapFS) []*source.Migration {
	t.Helper()
	ms, err := source.Load(fsys, ".")
	require.NoError(t, err)
	return ms
}

func tables() driver.Tables {
	tb, _ := driver.NewTables("fleetgate_migrations")
	return tb
}

// sqliteDB is a SQLite file (the dbtest URL) for the gate and for the
// fleetgate Migrator that sets up its history.
func sqliteDB(t *testing.T) (string, *sql.DB) {
	url := dbtest.SQLite(t)
	db, err := sql.Open("sqlite", "file:"+strings.TrimPrefix(url, "sqlite:")+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return url, db
}

func up(t *testing.T, url string, fsys fstest.MapFS, to int64) {
	t.Helper()
	m, err := fleetgate.Open(t.Context(), url, fsys, nil)
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Up(t.Context(), &fleetgate.UpOpts{To: to})
	require.NoError(t, err)
}

// A wait's own deadline names what is pending; the caller's deadline is the
// caller's error, never a *TimeoutError.
func TestWaitDeadlines(t *testing.T) {
	t.Parallel()
	url, db := sqliteDB(t)
	up(t, url, chain(3), 1)
	r := &gate.Reader{D: sqlite.New(tables()), Local: local(t, chain(3))}
	o := gate.Options{PollInterval: 20 * time.Millisecond, ReportEvery: -1}

	o.Timeout = 200 * time.Millisecond
	res, err := gate.Wait(t.Context(), db, quiet, r, o)
	var te *gate.TimeoutError
	require.ErrorAs(t, err, &te)
	require.Equal(t, []int64{2, 3}, te.Pending)
	require.Nil(t, te.Holder)
	require.NoError(t, te.Err)
	require.GreaterOrEqual(t, res.Reads, 2, "polled only once in 200ms at 20ms")

	o.Timeout = 0
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	_, err = gate.Wait(ctx, db, quiet, r, o)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.False(t, errors.As(err, &te), "the caller's deadline became the wait's own")
}

// An applied migration that was edited can never become ready: the wait
// ends at once with the ValidationError instead of retrying it.
func TestWaitValidationErrorEndsAtOnce(t *testing.T) {
	t.Parallel()
	url, db := sqliteDB(t)
	up(t, url, chain(2), 0)
	edited := chain(2)
	edited["1_t1.sql"] = &fstest.MapFile{Data: []byte("-- fleetgate:up\nCREATE TABLE t1 (id bigint);\n")}
	r := &gate.Reader{D: sqlite.New(tables()), Local: local(t, edited)}
	res, err := gate.Wait(t.Context(), db, quiet, r, gate.Options{PollInterval: time.Millisecond, ReportEvery: -1})
	var ve *plan.ValidationError
	require.ErrorAs(t, err, &ve)
	require.Equal(t, 1, res.Reads)
}

// A listening session that the server ends is replaced: the wait goes on,
// listens again on a new session, and a commit's notification ends it.
func TestWaitSurvivesListenerLoss(t *testing.T) {
	t.Parallel()
	url := dbtest.Postgres(t)
	up(t, url, chain(2), 1)
	admin, err := sql.Open("pgx", url)
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	db, err := sql.Open("pgx", url+"&application_name=gate_waiter")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx := t.Context()
	r := &gate.Reader{D: postgres.New(tables()), Local: local(t, chain(2))}

	type result struct {
		res *gate.Result
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Polls are a minute apart: only a notification ends this wait soon.
		res, err := gate.Wait(ctx, db, quiet, r, gate.Options{PollInterval: time.Minute, ReportEvery: -1, Timeout: 2 * time.Minute})
		done <- result{res, err}
	}()

	// The waiter's listening session is the one that reads the history:
	// it subscribes first, then reads on it.
	listener := func(not int) int {
		deadline := time.Now().Add(30 * time.Second)
		for {
			var pid int
			err := admin.QueryRowContext(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = 'gate_waiter'
				AND state = 'idle' AND query LIKE 'SELECT version,%' AND pid <> $1`, not).Scan(&pid)
			if err == nil {
				return pid
			}
			require.ErrorIs(t, err, sql.ErrNoRows)
			require.True(t, time.Now().Before(deadline), "no listening session")
			time.Sleep(10 * time.Millisecond)
		}
	}
	pid := listener(0)
	_, err = admin.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
	require.NoError(t, err)
	listener(pid)
	up(t, url, chain(2), 0)
	got := <-done
	require.NoError(t, got.err)
	require.True(t, got.res.Notified, "%+v", got.res)
}

// Concurrent probes share one read; a probe that gives up gets its own
// answer at once while the read goes on; within MinInterval the answer
// comes from memory; once ready, OnReady runs once and no read follows.
func TestProbe(t *testing.T) {
	t.Parallel()
	_, db := sqliteDB(t)
	var reads atomic.Int32
	release := make(chan struct{})
	var readyCalls atomic.Int32
	var empty bool // after the first read: the build ships nothing, so it is ready
	var mu sync.Mutex
	p := &gate.Probe{D: sqlite.New(tables()), DB: db, MinInterval: time.Hour, CheckTimeout: time.Minute,
		Migrations: func() ([]*source.Migration, error) {
			reads.Add(1)
			<-release
			mu.Lock()
			defer mu.Unlock()
			if empty {
				return nil, nil
			}
			return local(t, chain(2)), nil
		},
		OnReady: func(context.Context) { readyCalls.Add(1) },
	}

	first := make(chan gate.State, 1)
	go func() { first <- p.State(t.Context()) }()
	deadline := time.Now().Add(30 * time.Second)
	for reads.Load() == 0 {
		require.True(t, time.Now().Before(deadline))
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			require.Equal(t, gate.State{Error: "probe cancelled before the check ended"}, p.State(ctx))
		})
	}
	cancel()
	wg.Wait()
	require.EqualValues(t, 1, reads.Load(), "concurrent probes each read")
	close(release)
	require.Equal(t, gate.State{Pending: []int64{1, 2}}, <-first)
	require.Equal(t, gate.State{Pending: []int64{1, 2}}, p.State(t.Context()), "within MinInterval")
	require.EqualValues(t, 1, reads.Load())

	p.MinInterval = 0 // only the test changes it, between reads
	mu.Lock()
	empty = true
	mu.Unlock()
	for range 3 {
		require.Equal(t, gate.State{Ready: true}, p.State(t.Context()))
	}
	require.EqualValues(t, 2, reads.Load(), "read again once ready")
	require.EqualValues(t, 1, readyCalls.Load())
}

func TestTransient(t *testing.T) {
	t.Parallel()
	d := sqlite.New(tables())
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"Network", fmt.Errorf("read history: %w", syscall.ECONNREFUSED), true},
		{"TransientClass", &driver.StatementError{SQLState: "57P03", Class: driver.ErrTransient}, true},
		{"Busy", &driver.StatementError{SQLState: "5", Class: driver.ErrBusy}, true},
		{"Permission", &driver.StatementError{SQLState: "42501", Class: driver.ErrPermission}, false},
		{"Unclassified", &driver.StatementError{SQLState: "42P01"}, false},
		{"Validation", fmt.Errorf("plan: %w", &plan.ValidationError{}), false},
		{"Source", &source.Error{File: "1_a.sql", Msg: "bad"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, gate.Transient(d, tt.err))
		})
	}
}
