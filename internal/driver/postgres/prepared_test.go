package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/history"
)

// runOne commits one migration (its statements, its history row and its
// event) on c in scope, as the executor does.
func runOne(ctx context.Context, d driver.Driver, c *sql.Conn, scope any, token string, gen, v int64, stmts ...string) error {
	tx, err := d.Begin(ctx, c, &driver.TxOptions{LockTimeout: 2 * time.Second, IdleTimeout: time.Minute, Scope: scope})
	if err != nil {
		return err
	}
	for _, s := range stmts {
		if err := tx.Exec(ctx, s); err != nil {
			_ = tx.Rollback(ctx)
			return err
		}
	}
	actor := history.Actor{OSUser: "u", Host: "h", PID: 1, DeployID: "d", ToolVersion: "t"}
	a := &history.Applied{Version: v, Name: fmt.Sprintf("m%d", v), Checksum: "c", Phase: "pre", UpSQL: "up", DownSQL: "down", HasDown: true,
		DownChecksum: "dc", Actor: actor, Complete: true, StatementsDone: len(stmts)}
	ev := &history.Event{Kind: history.KindApply, Version: v, Name: a.Name, Direction: "up", File: "f.sql", Actor: actor}
	return tx.Commit(ctx, &driver.Record{Token: token, Generation: gen, TTL: time.Hour, Applied: a, Event: ev})
}

func prepared(t *testing.T, c *sql.Conn) []string {
	t.Helper()
	rows, err := c.QueryContext(t.Context(), "SELECT name FROM pg_prepared_statements ORDER BY name")
	require.NoError(t, err)
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		names = append(names, n)
	}
	require.NoError(t, rows.Err())
	return names
}

// On a session of its own, a run prepares its commit once and reuses it
// (the server then neither parses nor plans the fenced writes again); a
// new run prepares afresh, and a migration that drops the session's
// prepared statements still commits. Every commit writes its row and its
// event, and the fence still refuses a runner that lost the lock.
func TestCommitPreparedOnDirectSession(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	tg := drivertest.OpenURL(t, dbtest.Postgres(t))
	d := tg.Driver
	require.NoError(t, d.EnsureTables(ctx, tg.DB))
	c, err := driver.Conn(ctx, tg.DB)
	require.NoError(t, err)
	defer c.Close()
	require.True(t, d.SessionIsDirect(ctx, c), "the test server's session is not direct")
	gen, h, err := d.TryAcquire(ctx, c, &driver.AcquireParams{Token: "a", Actor: history.Actor{Host: "h"}, TTL: time.Hour, SessionBound: true})
	require.NoError(t, err)
	require.Nil(t, h)

	run1, run2 := new(int), new(int)
	for v := int64(1); v <= 3; v++ {
		require.NoError(t, runOne(ctx, d, c, run1, "a", gen, v, fmt.Sprintf("CREATE TABLE p%d (id integer)", v)))
	}
	require.Len(t, prepared(t, c), 1, "three commits of one run: one prepared statement, reused")

	// Another run on the same connection (back from the pool in between)
	// does not trust what the last one prepared.
	before := prepared(t, c)
	require.NoError(t, runOne(ctx, d, c, run2, "a", gen, 4, "CREATE TABLE p4 (id integer)"))
	after := prepared(t, c)
	require.Len(t, after, 1, "a new run prepares under a new name, and the last run's statement goes")
	require.NotEqual(t, before, after, "a new run reused the last run's statement")

	// A migration that drops every prepared statement of its session.
	require.NoError(t, runOne(ctx, d, c, run2, "a", gen, 5, "CREATE TABLE p5 (id integer)", "DEALLOCATE ALL"))
	require.NoError(t, runOne(ctx, d, c, run2, "a", gen, 6, "CREATE TABLE p6 (id integer)"))

	// Lost the lock: the prepared commit is fenced out like the simple one.
	other, err := driver.Conn(ctx, tg.DB)
	require.NoError(t, err)
	defer other.Close()
	_, err = tg.DB.ExecContext(ctx, `UPDATE fleetgate_lock SET expires_at = clock_timestamp() - interval '1 hour', session_pid = NULL`)
	require.NoError(t, err)
	genB, _, err := d.TryAcquire(ctx, other, &driver.AcquireParams{Token: "b", Actor: history.Actor{Host: "h2"}, TTL: time.Hour})
	require.NoError(t, err)
	require.Positive(t, genB, "the expired lease was not taken over")
	err = runOne(ctx, d, c, run2, "a", gen, 7, "CREATE TABLE p7 (id integer)")
	require.ErrorIs(t, err, driver.ErrLockLost)

	rows, err := d.ReadApplied(ctx, tg.DB, driver.ScriptColumns)
	require.NoError(t, err)
	require.Len(t, rows, 6)
	for i, r := range rows {
		require.Equal(t, int64(i+1), r.Version)
		require.True(t, r.Complete)
		require.Equal(t, gen, r.LockGeneration)
		require.Equal(t, "down", r.DownSQL)
	}
	evs, err := d.ReadEvents(ctx, tg.DB, 0, time.Time{}, 0)
	require.NoError(t, err)
	require.Len(t, evs, 6, "one event per committed migration, none for the fenced-out one")
	var n int
	require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'p7'").Scan(&n))
	require.Zero(t, n, "the fenced-out migration's table was committed")
}
