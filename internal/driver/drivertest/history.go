package drivertest

import (
	"database/sql"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// History rows come back as they were written, in version order; full
// reads add the stored SQL; a rollback removes the row.
func historyRoundTrip(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)
	rev := &history.Applied{Version: 7, Name: "create users", Checksum: "c7", Phase: "pre",
		UpSQL: "CREATE TABLE dt_users (id integer);\n-- it's quoted: 'x'", DownSQL: "DROP TABLE dt_users;", HasDown: true, DownChecksum: "d7",
		DurationMS: 42, Actor: history.Actor{OSUser: "deployer", Host: "web-1", PID: 31337, DeployID: "r-1", ToolVersion: "v1.2.3"},
		Complete: true, StatementChecksums: []string{"s1", "s2"}}
	irr := &history.Applied{Version: 3, Name: "backfill", Checksum: "c3", Phase: "post", UpSQL: "SELECT 3",
		DurationMS: 9, Actor: actor("web-2"), Complete: true}
	require.NoError(t, migrate(t, d, c, record("a", gen, rev, event(history.KindApply, 7)), "CREATE TABLE dt_users (id integer)"))
	require.NoError(t, migrate(t, d, c, record("a", gen, irr, event(history.KindApply, 3))))

	same := func(want *history.Applied, got history.Applied, cols driver.Columns) {
		t.Helper()
		require.Equal(t, want.Version, got.Version)
		require.Equal(t, want.Name, got.Name)
		require.Equal(t, want.Checksum, got.Checksum)
		require.Equal(t, want.Phase, got.Phase)
		require.True(t, got.Complete)
		require.Zero(t, got.StatementsDone)
		if cols == driver.PlanColumns {
			// Only what planning needs is read: nothing else may cost the
			// read of every start.
			require.Equal(t, want.DownChecksum, got.DownChecksum)
			require.Equal(t, history.Applied{Version: got.Version, Name: got.Name, Checksum: got.Checksum, Phase: got.Phase,
				Complete: got.Complete, StatementsDone: got.StatementsDone, DownChecksum: got.DownChecksum}, got, "PlanColumns read more than planning needs")
			return
		}
		require.Equal(t, want.HasDown, got.HasDown)
		require.Equal(t, want.DownChecksum, got.DownChecksum)
		require.Equal(t, want.DurationMS, got.DurationMS)
		require.Equal(t, want.Actor, got.Actor)
		require.Equal(t, gen, got.LockGeneration)
		require.False(t, got.Adopted)
		require.False(t, got.AppliedAt.IsZero(), "no applied_at")
		if cols == driver.ScriptColumns {
			require.Equal(t, want.UpSQL, got.UpSQL)
			require.Equal(t, want.DownSQL, got.DownSQL)
		} else {
			require.Empty(t, got.UpSQL+got.DownSQL, "RowColumns read the scripts")
		}
	}
	for _, cols := range []driver.Columns{driver.PlanColumns, driver.RowColumns, driver.ScriptColumns} {
		rows, err := d.ReadApplied(ctx, tg.DB, cols)
		require.NoError(t, err)
		require.Len(t, rows, 2)
		same(irr, rows[0], cols)
		same(rev, rows[1], cols)
	}

	// A rollback deletes the row in the transaction that reverts it.
	tx, err := d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.NoError(t, tx.Exec(ctx, "DROP TABLE dt_users"))
	require.NoError(t, tx.DeleteApplied(ctx, 7))
	require.NoError(t, tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour, Event: event(history.KindRollback, 7)}))
	rows, err := d.ReadApplied(ctx, tg.DB, driver.ScriptColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, int64(3), rows[0].Version)
	require.ErrorIs(t, tx.Exec(ctx, "SELECT 1"), sql.ErrTxDone, "a statement ran after the commit")

	// A rolled back transaction leaves nothing, and the transaction is
	// over: nothing more runs in it.
	tx, err = d.Begin(ctx, c, nil)
	require.NoError(t, err)
	require.NoError(t, tx.DeleteApplied(ctx, 3))
	require.NoError(t, tx.Rollback(ctx))
	require.ErrorIs(t, tx.DeleteApplied(ctx, 3), sql.ErrTxDone, "a statement ran after the rollback")
	require.ErrorIs(t, tx.Exec(ctx, "SELECT 1"), sql.ErrTxDone, "a statement ran after the rollback")
	require.ErrorIs(t, tx.Commit(ctx, record("a", gen, applied(8, true), nil)), sql.ErrTxDone, "a commit after the rollback")
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1, "a rolled back delete removed the row")
}

// A transactional migration's row is written once: a second commit of the
// same version (a runner that bypassed the lock) fails on the unique key,
// with ErrExists, and nothing of its transaction is committed. Only a
// no-transaction migration's row, which carries statement checksums, moves
// from partial to complete (noTxProgress).
func appliedOnce(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)
	// As the executor writes it: every statement of the file done.
	once := func(v int64) *history.Applied { a := applied(v, true); a.StatementsDone = 1; return a }
	require.NoError(t, migrate(t, d, c, record("a", gen, once(5), event(history.KindApply, 5)), "CREATE TABLE dt_once (id integer)"))
	err := migrate(t, d, c, record("a", gen, once(5), event(history.KindApply, 5)), "INSERT INTO dt_once (id) VALUES (1)")
	require.Error(t, err, "a second commit of a complete version succeeded")
	require.True(t, driver.Is(d, err, driver.ErrExists), "a second commit of a complete version: %v", err)
	var n int
	require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM dt_once").Scan(&n))
	require.Zero(t, n, "the refused commit's migration was committed")
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	evs, err := d.ReadEvents(ctx, tg.DB, 5, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, evs, 1, "the refused commit's event was committed")
	// The connection is usable afterwards: the failed commit rolled back.
	require.NoError(t, migrate(t, d, c, record("a", gen, once(6), event(history.KindApply, 6)), "INSERT INTO dt_once (id) VALUES (6)"))
	require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM dt_once").Scan(&n))
	require.Equal(t, 1, n)
}

// Events come back newest first with every field, filtered by version, time
// and count; one written with a commit carries the lock generation.
func eventsRoundTrip(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)
	wait := &history.Event{Kind: history.KindLockWait, LockWaitMS: 1500, Actor: actor("web-1")}
	require.NoError(t, d.AppendEvent(ctx, tg.DB, wait))
	apply := &history.Event{Kind: history.KindApply, Version: 1, Name: "one", Direction: "up", File: "migrations/1_one.sql",
		DurationMS: 12, LockWaitMS: 1500, Actor: actor("web-1")}
	require.NoError(t, migrate(t, d, c, record("a", gen, applied(1, true), apply)))
	fail := &history.Event{Kind: history.KindFailure, Version: 2, Name: "two", Direction: "up", Error: "relation \"x\" does not exist",
		Statement: "SELECT * FROM x", StatementLine: 4, File: "migrations/2_two.sql", DurationMS: 3, Actor: actor("web-2"), LockGeneration: gen}
	require.NoError(t, d.AppendEvent(ctx, tg.DB, fail))

	evs, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, evs, 3)
	for i, want := range []*history.Event{fail, apply, wait} {
		got := evs[i]
		require.Positive(t, got.ID)
		require.False(t, got.At.IsZero())
		if i > 0 {
			require.Less(t, got.ID, evs[i-1].ID, "not newest first")
			require.False(t, got.At.After(evs[i-1].At), "an older event has a later time")
		}
		w := *want
		w.ID, w.At, w.DBUser = got.ID, got.At, got.DBUser
		if want == apply {
			w.LockGeneration = gen // the commit stamps it
		}
		require.Equal(t, w, got)
	}

	only2, err := d.ReadEvents(ctx, tg.DB, 2, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, only2, 1)
	require.Equal(t, evs[0], only2[0])
	newest, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 1)
	require.NoError(t, err)
	require.Equal(t, evs[:1], newest)
	all, err := d.ReadEvents(ctx, tg.DB, 0, evs[2].At, 0)
	require.NoError(t, err)
	require.Len(t, all, 3, "since the oldest event's time")
	none, err := d.ReadEvents(ctx, tg.DB, 0, evs[0].At.Add(time.Hour), 0)
	require.NoError(t, err)
	require.Empty(t, none, "since an hour after the newest event")

	// Timestamp versions (goose, dbmate: 20240217224614) do not fit a
	// 32-bit integer; reading the events of one must not overflow.
	const big = int64(20240217224614)
	ts := &history.Event{Kind: history.KindFailure, Version: big, Name: "ts", Direction: "up", Error: "boom", Actor: actor("web-3")}
	require.NoError(t, d.AppendEvent(ctx, tg.DB, ts))
	onlyBig, err := d.ReadEvents(ctx, tg.DB, big, time.Time{}, 1)
	require.NoError(t, err, "reading the events of a timestamp version")
	require.Len(t, onlyBig, 1)
	require.Equal(t, big, onlyBig[0].Version)
}

// Every write the driver offers only ever adds events: what was logged
// before stays, unchanged, below newer IDs.
func eventsAppendOnly(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	c := pin(t, tg.DB)
	gen := acquire(t, d, c, "a", time.Hour)
	log := []history.Event{}
	step := func(what string, added int, write func() error) {
		t.Helper()
		require.NoError(t, write(), what)
		evs, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 0)
		require.NoError(t, err, what)
		require.Len(t, evs, len(log)+added, "%s: events added", what)
		require.Equal(t, log, append([]history.Event{}, evs[added:]...), "%s changed or removed earlier events", what)
		if len(log) > 0 && added > 0 {
			require.Greater(t, evs[added-1].ID, log[0].ID, "%s: a new event has an older id", what)
		}
		log = evs
	}
	step("append", 1, func() error { return d.AppendEvent(ctx, tg.DB, event(history.KindLockWait, 0)) })
	step("apply", 1, func() error {
		return migrate(t, d, c, record("a", gen, applied(1, true), event(history.KindApply, 1)))
	})
	step("progress", 0, func() error {
		p := applied(2, false)
		p.StatementsDone = 1
		return d.SaveProgress(ctx, c, record("a", gen, p, nil))
	})
	step("progress with an event", 1, func() error {
		p := applied(2, false)
		p.StatementsDone = 2
		return d.SaveProgress(ctx, c, record("a", gen, p, event(history.KindFailure, 2)))
	})
	step("resolve", 1, func() error {
		tx, err := d.Begin(ctx, c, nil)
		if err != nil {
			return err
		}
		if err := tx.DeleteProgress(ctx, 2); err != nil {
			return errors.Join(err, tx.Rollback(ctx))
		}
		return tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour, Event: event(history.KindResolve, 2)})
	})
	step("rollback", 1, func() error {
		tx, err := d.Begin(ctx, c, nil)
		if err != nil {
			return err
		}
		if err := tx.DeleteApplied(ctx, 1); err != nil {
			return errors.Join(err, tx.Rollback(ctx))
		}
		return tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour, Event: event(history.KindRollback, 1)})
	})
	if ad, ok := d.(driver.Adopter); ok {
		step("adopt", 1, func() error {
			tx, err := d.Begin(ctx, c, nil)
			if err != nil {
				return err
			}
			a := applied(5, true)
			a.Adopted = true
			if _, err := ad.InsertAdopted(ctx, tx, gen, []driver.Adopted{{Row: *a, Event: *event(history.KindAdopt, 5)}}); err != nil {
				return errors.Join(err, tx.Rollback(ctx))
			}
			return tx.Commit(ctx, &driver.Record{Token: "a", Generation: gen, TTL: time.Hour})
		})
	}
	step("failed commit", 0, func() error {
		err := migrate(t, d, c, record("a", gen+1, applied(9, true), event(history.KindApply, 9)))
		require.ErrorIs(t, err, driver.ErrLockLost)
		return nil
	})
	step("lock loss", 1, func() error { return d.AppendEvent(ctx, tg.DB, event(history.KindLockLost, 0)) })
}

// A migration that runs outside a transaction records, in fenced
// transactions of their own, how many statements ran and which ones; a
// later runner resumes from that record, and the final commit turns the
// one row complete. A complete row is never turned back, and only a
// partial row can be abandoned.
func noTxProgress(t testing.TB, open Opener) {
	tg := prepare(t, open)
	d, ctx := tg.Driver, t.Context()
	a := pin(t, tg.DB)
	genA := acquire(t, d, a, "a", time.Hour)
	sums := []string{"k1", "k2", "k3"}
	part := func(done int) *history.Applied {
		p := applied(1, false)
		p.StatementsDone, p.StatementChecksums, p.Running = done, sums, true
		return p
	}
	_, ok, err := d.ReadProgress(ctx, tg.DB, 1)
	require.NoError(t, err)
	require.False(t, ok, "progress of a version never started")

	require.NoError(t, d.SaveProgress(ctx, a, record("a", genA, part(1), nil)))
	p, ok, err := d.ReadProgress(ctx, tg.DB, 1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 1, p.StatementsDone)
	require.Equal(t, sums, p.StatementChecksums)
	if _, tracks := d.(driver.Backends); tracks {
		require.Positive(t, p.RunningPID, "the session about to run the next statement is not recorded")
		require.False(t, p.RunningStart.IsZero())
	}
	rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.False(t, rows[0].Complete)
	require.Equal(t, 1, rows[0].StatementsDone)

	// The runner dies; the next one takes over and resumes.
	require.NoError(t, d.Release(ctx, tg.DB, "a", genA))
	b := pin(t, tg.DB)
	genB := acquire(t, d, b, "b", time.Hour)
	require.NoError(t, d.SaveProgress(ctx, b, record("b", genB, part(2), nil)))
	p, ok, err = d.ReadProgress(ctx, tg.DB, 1)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 2, p.StatementsDone)
	done := applied(1, true)
	done.StatementsDone, done.StatementChecksums = 3, sums
	require.NoError(t, migrate(t, d, b, record("b", genB, done, event(history.KindApply, 1))))
	_, ok, err = d.ReadProgress(ctx, tg.DB, 1)
	require.NoError(t, err)
	require.False(t, ok, "a complete migration still has progress")
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1, "resuming made a second row")
	require.True(t, rows[0].Complete)
	require.Equal(t, 3, rows[0].StatementsDone)
	require.Equal(t, genB, rows[0].LockGeneration)

	// A late progress record of the finished migration changes nothing.
	_ = d.SaveProgress(ctx, b, record("b", genB, part(1), nil))
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.True(t, rows[0].Complete, "a progress record turned a complete row partial")
	require.Equal(t, 3, rows[0].StatementsDone)

	// Only a partial row can be abandoned.
	require.NoError(t, d.SaveProgress(ctx, b, record("b", genB, func() *history.Applied { p := part(1); p.Version = 2; return p }(), nil)))
	tx, err := d.Begin(ctx, b, nil)
	require.NoError(t, err)
	require.Error(t, tx.DeleteProgress(ctx, 1), "abandoned a complete row")
	require.NoError(t, tx.Rollback(ctx))
	tx, err = d.Begin(ctx, b, nil)
	require.NoError(t, err)
	require.NoError(t, tx.DeleteProgress(ctx, 2))
	require.NoError(t, tx.Commit(ctx, &driver.Record{Token: "b", Generation: genB, TTL: time.Hour, Event: event(history.KindResolve, 2)}))
	rows, err = d.ReadApplied(ctx, tg.DB, driver.RowColumns)
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, int64(1), rows[0].Version)
}
