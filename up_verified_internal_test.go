package fleetgate

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// verifiedFiles: 1 and 2 applied as they are, 3 pending. 2 needs no
// transaction because of its statement (not a directive), so an applied
// 2 is verified without being parsed and comes back without knowing it.
var verifiedFiles = fstest.MapFS{
	"1_a.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE a (id int);\n-- fleetgate:down\nDROP TABLE a;\n")},
	"2_b.sql": {Data: []byte("-- fleetgate:up\nCREATE INDEX CONCURRENTLY a_id ON a (id);\n-- fleetgate:down\nDROP INDEX CONCURRENTLY a_id;\n")},
	"3_c.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE c (id int);\n-- fleetgate:down\nDROP TABLE c;\n")},
}

// planUp plans from what LoadVerified returned without parsing the
// applied files as long as the rows are those it verified against, and
// from every file parsed when later rows would have it run or judge an
// unparsed migration: the plan is then the one the parsed files give.
func TestPlanUpParsesWhatItRuns(t *testing.T) {
	t.Parallel()
	full, _, err := source.LoadDialect(verifiedFiles, ".", source.FormatAuto, Postgres)
	require.NoError(t, err)
	require.True(t, full[1].NoTransaction)
	complete := func(vs ...int) []plan.Applied {
		var out []plan.Applied
		for _, v := range vs {
			mg := full[v-1]
			out = append(out, plan.Applied{Version: mg.Version, Name: mg.Name, Checksum: mg.Checksum, Phase: "pre", Complete: true})
		}
		return out
	}
	newVerified := func(t *testing.T) (*Migrator, []*source.Migration) {
		m, err := New(nil, Postgres, verifiedFiles, &Config{})
		require.NoError(t, err)
		local, format, err := m.verifiedMigrations(func() map[int64]source.Applied {
			return map[int64]source.Applied{1: {Checksum: full[0].Checksum, DownChecksum: full[0].DownChecksum},
				2: {Checksum: full[1].Checksum, DownChecksum: full[1].DownChecksum}}
		})
		require.NoError(t, err)
		require.Equal(t, source.FormatFleetgate, format)
		require.True(t, local[0].Unparsed && local[1].Unparsed && !local[2].Unparsed)
		return m, local
	}
	t.Run("RowsAsVerified", func(t *testing.T) {
		t.Parallel()
		m, local := newVerified(t)
		got, p, err := m.planUp(local, complete(1, 2), plan.Options{})
		require.NoError(t, err)
		require.Len(t, p.Steps, 1)
		require.Equal(t, full[2], p.Steps[0].Migration)
		require.True(t, got[0].Unparsed, "planned from the fully parsed files although nothing needed them")
		require.Nil(t, m.local, "parsed every file for a plan that runs only the pending one")
	})
	cases := []struct {
		name string
		rows []plan.Applied
	}{
		// Another runner rolled 2 back between the first read and the
		// lock: it runs now, so it must be parsed (and its down script
		// recorded).
		{"RolledBackMeanwhile", complete(1)},
		// 2 was rolled back and half applied again from other text: a
		// no-transaction migration may resume, which its parsed
		// statements decide; unparsed it would read as "modified".
		{"PartlyAppliedMeanwhile", append(complete(1), plan.Applied{Version: 2, Name: "b", Checksum: "other", Phase: "pre"})},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m, local := newVerified(t)
			want, wantErr := plan.Build(full, c.rows, plan.Options{})
			require.NoError(t, wantErr)
			_, p, err := m.planUp(local, c.rows, plan.Options{})
			require.NoError(t, err)
			require.Equal(t, want, p)
			require.NoError(t, mustBeParsed(p))
			require.NotNil(t, p.Steps[0].Migration.Down)
		})
	}
}

// An up that applies what is pending onto applied migrations parses only
// the pending files and still keeps every promise: the history row holds
// both scripts of what it applied, the checks see the pending statements,
// and the other tool's history table is kept in step.
func TestUpOntoAppliedParsesOnlyPending(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("Recorded", func(t *testing.T) {
		t.Parallel()
		url := dbtest.Postgres(t)
		first, err := Open(ctx, url, verifiedFiles, &Config{Checks: ChecksOff})
		require.NoError(t, err)
		_, err = first.Up(ctx, &UpOpts{To: 2})
		first.Close()
		require.NoError(t, err)

		m, err := Open(ctx, url, verifiedFiles, nil)
		require.NoError(t, err)
		defer m.Close()
		res, err := m.Up(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, []int64{3}, res.Applied)
		require.Nil(t, m.local, "parsed the applied files")
		rows, err := m.d.ReadApplied(ctx, m.db, driver.ScriptColumns)
		require.NoError(t, err)
		require.Len(t, rows, 3)
		require.Equal(t, [3]any{true, "CREATE TABLE c (id int);\n", "DROP TABLE c;\n"}, [3]any{rows[2].Complete, rows[2].UpSQL, rows[2].DownSQL})
	})
	t.Run("Checked", func(t *testing.T) {
		t.Parallel()
		url := dbtest.Postgres(t)
		fsys := fstest.MapFS{"1_a.sql": verifiedFiles["1_a.sql"],
			"2_b.sql": {Data: []byte("-- fleetgate:up\nCREATE INDEX a_id ON a (id);\n")}}
		first, err := Open(ctx, url, fsys, nil)
		require.NoError(t, err)
		_, err = first.Up(ctx, &UpOpts{To: 1})
		first.Close()
		require.NoError(t, err)

		m, err := Open(ctx, url, fsys, nil)
		require.NoError(t, err)
		defer m.Close()
		_, err = m.Up(ctx, nil)
		var ce *CheckError
		require.ErrorAs(t, err, &ce)
		require.Equal(t, "require-concurrent-index", ce.Findings[0].Rule)
		rows, err := m.d.ReadApplied(ctx, m.db, driver.PlanColumns)
		require.NoError(t, err)
		require.Len(t, rows, 1)
	})
	t.Run("LegacyTable", func(t *testing.T) {
		t.Parallel()
		url := dbtest.Postgres(t)
		fsys := fstest.MapFS{
			"1_a.up.sql": {Data: []byte("CREATE TABLE a (id integer);\n")}, "1_a.down.sql": {Data: []byte("DROP TABLE a;\n")},
			"2_b.up.sql": {Data: []byte("CREATE TABLE b (id integer);\n")}, "2_b.down.sql": {Data: []byte("DROP TABLE b;\n")},
		}
		first, err := Open(ctx, url, fsys, &Config{Checks: ChecksOff})
		require.NoError(t, err)
		_, err = first.Up(ctx, &UpOpts{To: 1})
		first.Close()
		require.NoError(t, err)

		m, err := Open(ctx, url, fsys, &Config{Checks: ChecksOff})
		require.NoError(t, err)
		defer m.Close()
		res, err := m.Up(ctx, nil)
		require.NoError(t, err)
		require.Equal(t, []int64{2}, res.Applied)
		require.Nil(t, m.local, "parsed the applied files")
		var version int64
		var dirty bool
		require.NoError(t, m.db.QueryRowContext(ctx, "SELECT version, dirty FROM schema_migrations").Scan(&version, &dirty))
		require.Equal(t, [2]any{int64(2), false}, [2]any{version, dirty})
	})
}

// A migration that another runner rolls back while this one waits for
// the lock, after this one verified it as applied without parsing it, is
// applied from its parsed file: its statements run and its history row
// holds both scripts.
func TestUpRunsWhatWasRolledBackWhileWaiting(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	url := dbtest.Postgres(t)
	files := fstest.MapFS{"1_a.sql": verifiedFiles["1_a.sql"], "2_b.sql": verifiedFiles["3_c.sql"],
		"3_d.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE d (id int);\n-- fleetgate:down\nDROP TABLE d;\n")}}
	first, err := Open(ctx, url, files, &Config{Checks: ChecksOff})
	require.NoError(t, err)
	_, err = first.Up(ctx, &UpOpts{To: 2})
	require.NoError(t, err)
	defer first.Close()
	holder, err := lock.Acquire(ctx, first.d, first.db, history.Actor{Host: "holder", PID: 1}, lock.Options{TTL: time.Minute})
	require.NoError(t, err)
	released := false
	defer func() {
		if !released {
			holder.Release(ctx)
		}
	}()

	waiting := make(chan struct{}, 1)
	log := slog.New(onMessage{"waiting for the migration lock", waiting})
	m, err := Open(ctx, url, files, &Config{Checks: ChecksOff, Logger: log, PollInterval: MinPollInterval})
	require.NoError(t, err)
	defer m.Close()
	type upResult struct {
		res *UpResult
		err error
	}
	done := make(chan upResult, 1)
	go func() {
		res, err := m.Up(ctx, nil)
		done <- upResult{res, err}
	}()
	select {
	case <-waiting: // it read the history (1 and 2 applied) and waits
	case r := <-done:
		t.Fatalf("up ended without waiting for the lock: %+v %v", r.res, r.err)
	case <-time.After(time.Minute):
		t.Fatal("up did not wait for the lock")
	}
	// The rollback of 2, as Down does it under the lock.
	_, err = first.db.ExecContext(ctx, "DELETE FROM fleetgate_migrations WHERE version = 2")
	require.NoError(t, err)
	_, err = first.db.ExecContext(ctx, "DROP TABLE c")
	require.NoError(t, err)
	require.NoError(t, holder.Release(ctx))
	released = true

	r := <-done
	require.NoError(t, r.err)
	require.Equal(t, []int64{2, 3}, r.res.Applied)
	rows, err := m.d.ReadApplied(ctx, m.db, driver.ScriptColumns)
	require.NoError(t, err)
	require.Len(t, rows, 3)
	require.Equal(t, [2]string{"CREATE TABLE c (id int);\n", "DROP TABLE c;\n"}, [2]string{rows[1].UpSQL, rows[1].DownSQL})
	var tables int
	require.NoError(t, m.db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename IN ('c', 'd') AND schemaname = current_schema()").Scan(&tables))
	require.Equal(t, 2, tables)
}

// onMessage is a slog handler that signals once a record with msg is
// logged.
type onMessage struct {
	msg  string
	seen chan struct{}
}

func (h onMessage) Enabled(context.Context, slog.Level) bool { return true }
func (h onMessage) Handle(_ context.Context, r slog.Record) error {
	if strings.Contains(r.Message, h.msg) {
		select {
		case h.seen <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h onMessage) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h onMessage) WithGroup(string) slog.Handler      { return h }
