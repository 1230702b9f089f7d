package fleetgate_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// lockedBuffer is a log sink that goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, body := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(body)}
	}
	return fsys
}

// tables creates t1..tn, each reversible; 1 also keeps a counter that the
// data migration dataAt increments (and its down decrements).
func tables(n int, dataAt int) map[string]string {
	files := map[string]string{}
	for i := 1; i <= n; i++ {
		body := fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i)
		switch i {
		case 1:
			body = "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n-- fleetgate:down\nDROP TABLE counter;\n"
		case dataAt:
			body = "-- fleetgate:up\nUPDATE counter SET n = n + 1;\n-- fleetgate:down\nUPDATE counter SET n = n - 1;\n"
		}
		files[fmt.Sprintf("%03d_m%d.sql", i, i)] = body
	}
	return files
}

type downBundle struct {
	url string
	ctx context.Context
	log *lockedBuffer
}

func (b *downBundle) open(t *testing.T, files map[string]string) *fleetgate.Migrator {
	t.Helper()
	m, err := fleetgate.Open(b.ctx, b.url, mapFS(files), &fleetgate.Config{DeployID: "test-deploy",
		Logger: slog.New(slog.NewTextHandler(b.log, nil)), PollInterval: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

func (b *downBundle) applied(t *testing.T, m *fleetgate.Migrator) []int64 {
	t.Helper()
	st, err := m.Status(b.ctx)
	require.NoError(t, err)
	out := []int64{}
	for _, s := range st.Migrations {
		if s.State != fleetgate.StatePending {
			out = append(out, s.Version)
		}
	}
	return out
}

func (b *downBundle) events(t *testing.T, m *fleetgate.Migrator, kind string) []fleetgate.Event {
	t.Helper()
	evs, err := m.History(b.ctx, nil)
	require.NoError(t, err)
	var out []fleetgate.Event
	for _, e := range evs {
		if e.Kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func TestDown(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			setup := func(t *testing.T, files map[string]string) (*downBundle, *fleetgate.Migrator) {
				t.Helper()
				b := &downBundle{url: be.url(t), ctx: context.Background(), log: &lockedBuffer{}}
				m := b.open(t, files)
				_, err := m.Up(b.ctx, nil)
				require.NoError(t, err)
				return b, m
			}

			t.Run("DefaultIsOneStep", func(t *testing.T) {
				t.Parallel()
				b, m := setup(t, tables(4, 0))
				res, err := m.Down(b.ctx, nil)
				require.NoError(t, err)
				require.Equal(t, []int64{4}, res.Reverted)
				require.Equal(t, int64(3), res.At)
				require.Equal(t, []int64{1, 2, 3}, b.applied(t, m))
				st, _ := m.Status(b.ctx)
				require.Equal(t, fleetgate.StatePending, st.Migrations[3].State)
				rb := b.events(t, m, "rollback")
				require.Len(t, rb, 1)
				require.Equal(t, "down", rb[0].Direction)
				require.Equal(t, int64(4), rb[0].Version)
				require.Equal(t, "test-deploy", rb[0].DeployID)
				require.NotZero(t, rb[0].PID)
				require.NotEmpty(t, rb[0].Host)
				require.NotZero(t, rb[0].LockGeneration)
				require.Error(t, m.DB().QueryRow("SELECT count(*) FROM t4").Scan(new(int)), "t4 dropped")
			})

			t.Run("StepsToAndAll", func(t *testing.T) {
				t.Parallel()
				b, m := setup(t, tables(6, 5))
				res, err := m.Down(b.ctx, &fleetgate.DownOpts{Steps: 2})
				require.NoError(t, err)
				require.Equal(t, []int64{6, 5}, res.Reverted)
				var n int
				require.NoError(t, m.DB().QueryRow("SELECT n FROM counter").Scan(&n))
				require.Zero(t, n, "data migration reverted once")
				res, err = m.Down(b.ctx, &fleetgate.DownOpts{To: 2})
				require.NoError(t, err)
				require.Equal(t, []int64{4, 3}, res.Reverted)
				require.Equal(t, int64(2), res.At)
				res, err = m.Down(b.ctx, &fleetgate.DownOpts{To: 2})
				require.NoError(t, err)
				require.True(t, res.NothingToDo)
				res, err = m.Down(b.ctx, &fleetgate.DownOpts{All: true})
				require.NoError(t, err)
				require.Equal(t, []int64{2, 1}, res.Reverted)
				require.Zero(t, res.At)
				res, err = m.Down(b.ctx, nil)
				require.NoError(t, err)
				require.True(t, res.NothingToDo)
				// And forward again: reverting made them pending, nothing is stuck.
				up, err := m.Up(b.ctx, nil)
				require.NoError(t, err)
				require.Len(t, up.Applied, 6)
			})

			t.Run("ConflictingOptions", func(t *testing.T) {
				t.Parallel()
				b, m := setup(t, tables(2, 0))
				for _, o := range []*fleetgate.DownOpts{{Steps: 1, To: 1}, {Unknown: true, All: true}, {Steps: -1}, {To: -2}} {
					_, err := m.Down(b.ctx, o)
					require.Equal(t, 2, fleetgate.ExitCode(err), "%+v: %v", o, err)
				}
				require.Equal(t, []int64{1, 2}, b.applied(t, m))
			})

			t.Run("UnknownUsesStoredScripts", func(t *testing.T) {
				t.Parallel()
				b, _ := setup(t, tables(5, 5))
				old := b.open(t, tables(3, 0))
				res, err := old.Down(b.ctx, &fleetgate.DownOpts{Unknown: true})
				require.NoError(t, err)
				require.Equal(t, []int64{5, 4}, res.Reverted)
				require.Contains(t, b.log.String(), "script=stored")
				var n int
				require.NoError(t, old.DB().QueryRow("SELECT n FROM counter").Scan(&n))
				require.Zero(t, n)
				res, err = old.Down(b.ctx, &fleetgate.DownOpts{Unknown: true})
				require.NoError(t, err)
				require.True(t, res.NothingToDo, "idempotent")
				require.Equal(t, int64(3), res.At)
			})

			t.Run("IrreversibleInTheWay", func(t *testing.T) {
				t.Parallel()
				files := tables(5, 0)
				files["004_m4.sql"] = "-- fleetgate:up\nCREATE TABLE t4 (id integer);\n"
				b, m := setup(t, files)
				before := b.events(t, m, "")
				_, err := b.open(t, tables(3, 0)).Down(b.ctx, &fleetgate.DownOpts{Unknown: true})
				var ie *fleetgate.IrreversibleError
				require.ErrorAs(t, err, &ie)
				require.Equal(t, 1, fleetgate.ExitCode(err))
				require.Contains(t, err.Error(), "4_m4")
				require.Equal(t, []int64{1, 2, 3, 4, 5}, b.applied(t, m), "nothing reverted, not even 5")
				require.NoError(t, m.DB().QueryRow("SELECT count(*) FROM t5").Scan(new(int)))
				require.Equal(t, before, b.events(t, m, ""), "no event either")
			})

			t.Run("FileDownWinsAndIsNamed", func(t *testing.T) {
				t.Parallel()
				files := tables(2, 0)
				files["002_m2.sql"] = "-- fleetgate:up\nCREATE TABLE t2 (id integer);\n-- fleetgate:down\nDROP TABLE no_such_table;\n"
				b, m := setup(t, files)
				_, err := m.Down(b.ctx, nil)
				var me *fleetgate.MigrationError
				require.ErrorAs(t, err, &me)
				require.Contains(t, err.Error(), "the database is at version 2")
				require.Contains(t, err.Error(), "no_such_table")
				require.Equal(t, 1, fleetgate.ExitCode(err))
				fail := b.events(t, m, "failure")
				require.Len(t, fail, 1)
				require.Equal(t, "down", fail[0].Direction)
				require.Equal(t, 4, fail[0].StatementLine)
				require.Contains(t, fail[0].Statement, "DROP TABLE no_such_table")
				require.Equal(t, []int64{1, 2}, b.applied(t, m))

				files["002_m2.sql"] = "-- fleetgate:up\nCREATE TABLE t2 (id integer);\n-- fleetgate:down\nDROP TABLE t2;\n"
				fixed := b.open(t, files)
				res, err := fixed.Down(b.ctx, nil)
				require.NoError(t, err)
				require.Equal(t, []int64{2}, res.Reverted)
				require.Contains(t, b.log.String(), "differs from the one stored")
				require.Len(t, b.events(t, m, "failure"), 1, "the failure stays in the log")
			})

			t.Run("IfAhead", func(t *testing.T) {
				t.Parallel()
				b, _ := setup(t, tables(5, 4))
				old := b.open(t, tables(3, 0))
				res, err := old.Up(b.ctx, nil)
				require.NoError(t, err)
				require.Equal(t, []int64{4, 5}, res.Ahead)
				require.Contains(t, b.log.String(), "4_m4 5_m5")
				_, err = old.Up(b.ctx, &fleetgate.UpOpts{IfAhead: fleetgate.IfAheadFail})
				require.ErrorIs(t, err, fleetgate.ErrDatabaseAhead)
				require.Equal(t, 4, fleetgate.ExitCode(err))
				_, err = old.Up(b.ctx, &fleetgate.UpOpts{IfAhead: "sideways"})
				require.Equal(t, 2, fleetgate.ExitCode(err))
				res, err = old.Up(b.ctx, &fleetgate.UpOpts{IfAhead: fleetgate.IfAheadRollback})
				require.NoError(t, err)
				require.Equal(t, []int64{5, 4}, res.RolledBack)
				require.True(t, res.UpToDate)
				require.Equal(t, []int64{1, 2, 3}, b.applied(t, old))
				var n int
				require.NoError(t, old.DB().QueryRow("SELECT n FROM counter").Scan(&n))
				require.Zero(t, n)
			})
		})
	}
}

// Eight instances run `down --steps 1` against the same history while a
// ninth holds the lock: each decides "back to version 4" before waiting,
// so together they revert one step, not eight.
func TestConcurrentDownStepsRevertOneStep(t *testing.T) {
	t.Parallel()
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			t.Parallel()
			b := &downBundle{url: be.url(t), ctx: context.Background(), log: &lockedBuffer{}}
			m := b.open(t, tables(5, 5))
			_, err := m.Up(b.ctx, nil)
			require.NoError(t, err)
			hold := holdLock(t, m, be.name)

			const n = 8
			logs := make([]*lockedBuffer, n)
			results := make([]*fleetgate.DownResult, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				logs[i] = &lockedBuffer{}
				mi, err := fleetgate.Open(b.ctx, b.url, mapFS(tables(5, 5)), &fleetgate.Config{
					Logger: slog.New(slog.NewTextHandler(logs[i], nil)), PollInterval: 50 * time.Millisecond})
				require.NoError(t, err)
				t.Cleanup(func() { mi.Close() })
				wg.Go(func() { results[i], errs[i] = mi.Down(b.ctx, &fleetgate.DownOpts{Steps: 1}) })
			}
			// Every instance reports the holder once it has read the
			// history and waited a second.
			require.Eventually(t, func() bool {
				for _, l := range logs {
					if !strings.Contains(l.String(), "waiting for the migration lock") {
						return false
					}
				}
				return true
			}, 30*time.Second, 20*time.Millisecond)
			hold()
			wg.Wait()
			var reverted []int64
			for i := range n {
				require.NoError(t, errs[i], "instance %d", i)
				reverted = append(reverted, results[i].Reverted...)
				require.Equal(t, int64(4), results[i].At)
			}
			require.Equal(t, []int64{5}, reverted, "one step in total")
			require.Equal(t, []int64{1, 2, 3, 4}, b.applied(t, m))
			var c int
			require.NoError(t, m.DB().QueryRow("SELECT n FROM counter").Scan(&c))
			require.Zero(t, c)
			require.Len(t, b.events(t, m, "rollback"), 1)
		})
	}
}

// holdLock marks the lock as held by a runner on another host, as a
// migrating instance elsewhere would; the returned func frees it.
func holdLock(t *testing.T, m *fleetgate.Migrator, backend string) func() {
	t.Helper()
	q := `UPDATE fleetgate_lock SET holder = 'elsewhere', generation = generation + 1, host = 'other-host', pid = 1,
		deploy_id = 'other', acquired_at = clock_timestamp(), renewed_at = clock_timestamp(),
		expires_at = clock_timestamp() + interval '5 minutes'`
	if backend == "SQLite" {
		now := `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`
		q = `UPDATE fleetgate_lock SET holder = 'elsewhere', generation = generation + 1, host = 'other-host', pid = 1,
			deploy_id = 'other', acquired_at = ` + now + `, renewed_at = ` + now + `, expires_at = ` + now + ` + 300000`
	}
	_, err := m.DB().Exec(q)
	require.NoError(t, err)
	return func() {
		_, err := m.DB().Exec(`UPDATE fleetgate_lock SET holder = NULL, expires_at = NULL`)
		require.NoError(t, err)
	}
}

// A down queued behind a long transaction gives up its table lock after
// lock_timeout and retries with backoff, as an up does, so application
// queries never queue behind it; each timed-out attempt is in the log.
func TestDownRetriesLockTimeout(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	url := backends[0].url(t) // PostgreSQL: SQLite has no lock_timeout
	log := &lockedBuffer{}
	m, err := fleetgate.Open(ctx, url, mapFS(tables(3, 0)), &fleetgate.Config{
		Logger: slog.New(slog.NewTextHandler(log, nil)), LockTimeout: 100 * time.Millisecond, LockRetries: 20})
	require.NoError(t, err)
	defer m.Close()
	_, err = m.Up(ctx, nil)
	require.NoError(t, err)

	// The application's long transaction reads t3.
	app, err := m.DB().BeginTx(ctx, nil)
	require.NoError(t, err)
	_, err = app.Exec("SELECT count(*) FROM t3")
	require.NoError(t, err)

	done := make(chan error, 1)
	var res *fleetgate.DownResult
	go func() {
		var err error
		res, err = m.Down(ctx, nil)
		done <- err
	}()
	require.Eventually(t, func() bool {
		evs, err := m.History(ctx, &fleetgate.HistoryOpts{Version: 3})
		return err == nil && len(evs) > 0 && evs[0].Kind == "failure"
	}, 30*time.Second, 20*time.Millisecond)
	require.NoError(t, app.Commit())
	require.NoError(t, <-done)
	require.Equal(t, []int64{3}, res.Reverted)

	evs, err := m.History(ctx, &fleetgate.HistoryOpts{Version: 3})
	require.NoError(t, err)
	require.Equal(t, "rollback", evs[0].Kind)
	fails := 0
	for _, e := range evs[1:] {
		if e.Kind == "failure" {
			fails++
			require.Equal(t, "down", e.Direction)
			require.Contains(t, e.Error, "55P03")
		}
	}
	require.Positive(t, fails)
	require.Contains(t, log.String(), "lock timeout, retrying")
}
