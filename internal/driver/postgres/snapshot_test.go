package postgres_test

import (
	"database/sql"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/drivertest"
	"github.com/fleetgate/fleetgate/internal/history"
)

// snapshotBegins are the explicit blocks whose whole transaction reads one
// snapshot, kept verbatim by the runner as the migration's BEGIN.
var snapshotBegins = []string{
	"BEGIN ISOLATION LEVEL REPEATABLE READ",
	"BEGIN ISOLATION LEVEL SERIALIZABLE",
	"BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE",
}

func snapshotTarget(t *testing.T) (*drivertest.Target, *sql.Conn, *sql.Conn) {
	t.Helper()
	tg := drivertest.OpenURL(t, dbtest.Postgres(t))
	require.NoError(t, tg.Driver.EnsureTables(t.Context(), tg.DB))
	pin := func() *sql.Conn {
		c, err := driver.Conn(t.Context(), tg.DB)
		require.NoError(t, err)
		t.Cleanup(func() { c.Close() })
		return c
	}
	return tg, pin(), pin()
}

func snapshotRecord(token string, gen int64) *driver.Record {
	actor := history.Actor{OSUser: "test", Host: "h", PID: 1, DeployID: "d", ToolVersion: "test"}
	return &driver.Record{Token: token, Generation: gen, TTL: time.Hour,
		Applied: &history.Applied{Version: 1, Name: "snap", Checksum: "sum", Phase: "pre", UpSQL: "SELECT 1", Complete: true, Actor: actor},
		Event:   &history.Event{Kind: history.KindApply, Version: 1, Name: "snap", Direction: "up", Actor: actor}}
}

// A migration that is one REPEATABLE READ or SERIALIZABLE block reads a
// single snapshot for its whole length, and the heartbeat renews the lease
// (an UPDATE of the lock row) on another session meanwhile. The commit's
// fence must still see the lease as this runner's: a renewal changes
// neither the holder nor the generation. (A fence that locked the row
// against every change failed such a migration with "could not serialize
// access due to concurrent update" whenever it outlived one renewal, on
// every retry.)
func TestSnapshotTransactionOutlivesRenewals(t *testing.T) {
	t.Parallel()
	for _, begin := range snapshotBegins {
		t.Run(begin, func(t *testing.T) {
			t.Parallel()
			tg, runner, heartbeat := snapshotTarget(t)
			d, ctx := tg.Driver, t.Context()
			gen, h, err := d.TryAcquire(ctx, runner, &driver.AcquireParams{Token: "a", TTL: time.Hour})
			require.NoError(t, err)
			require.Nil(t, h)

			tx, err := d.Begin(ctx, runner, &driver.TxOptions{Begin: begin})
			require.NoError(t, err)
			require.NoError(t, tx.Exec(ctx, "CREATE TABLE snap (id int)")) // the snapshot is taken here
			require.NoError(t, d.Renew(ctx, heartbeat, "a", gen, time.Hour, 1))
			require.NoError(t, d.Renew(ctx, heartbeat, "a", gen, time.Hour, 1))
			require.NoError(t, tx.Exec(ctx, "INSERT INTO snap VALUES (1)"))
			require.NoError(t, tx.Commit(ctx, snapshotRecord("a", gen)), "the commit of a snapshot transaction after a renewal")

			var n int
			require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM snap").Scan(&n))
			require.Equal(t, 1, n)
			rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
			require.NoError(t, err)
			require.Len(t, rows, 1)
			require.Equal(t, gen, rows[0].LockGeneration)
		})
	}
}

// The same snapshot transaction is still fenced: once another runner has
// taken the expired lease over, the stale holder's commit fails and
// nothing of it stays, though its snapshot still shows the lease as its
// own. (It fails only because the takeover counts as a key update for the
// fence's FOR KEY SHARE: TryAcquire without its FOR UPDATE lets the stale
// holder commit here.)
func TestSnapshotTransactionFenced(t *testing.T) {
	t.Parallel()
	for _, begin := range snapshotBegins {
		t.Run(begin, func(t *testing.T) {
			t.Parallel()
			tg, stale, other := snapshotTarget(t)
			d, ctx := tg.Driver, t.Context()
			genA, _, err := d.TryAcquire(ctx, stale, &driver.AcquireParams{Token: "a", TTL: 200 * time.Millisecond})
			require.NoError(t, err)
			require.Positive(t, genA)

			tx, err := d.Begin(ctx, stale, &driver.TxOptions{Begin: begin})
			require.NoError(t, err)
			require.NoError(t, tx.Exec(ctx, "CREATE TABLE snap (id int)"))
			var genB int64
			for deadline := time.Now().Add(30 * time.Second); genB == 0; time.Sleep(20 * time.Millisecond) {
				require.True(t, time.Now().Before(deadline), "the 200ms lease was never taken over")
				genB, _, err = d.TryAcquire(ctx, other, &driver.AcquireParams{Token: "b", TTL: time.Hour})
				require.NoError(t, err)
			}
			require.Error(t, tx.Commit(ctx, snapshotRecord("a", genA)), "the stale holder committed")

			var n int
			require.NoError(t, tg.DB.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE tablename = 'snap'").Scan(&n))
			require.Zero(t, n, "the fenced-out migration's table exists")
			rows, err := d.ReadApplied(ctx, tg.DB, driver.RowColumns)
			require.NoError(t, err)
			require.Empty(t, rows, "the fenced-out holder left a history row")
			h, err := d.ReadHolder(ctx, tg.DB)
			require.NoError(t, err)
			require.Equal(t, "b", h.Token)
			require.Equal(t, genB, h.Generation)
		})
	}
}
