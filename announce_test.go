package fleetgate_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// A run announces its last commit and its release, not each migration: on
// PostgreSQL every NOTIFY wakes every listening session of the database,
// and a fleet of lock waiters listens for the release the whole run. A
// `wait` for the run's schema still wakes on the last commit.
func TestUpAnnouncesOnlyItsLastCommit(t *testing.T) {
	t.Parallel()
	url := dbtest.Postgres(t)
	ctx := t.Context()
	m := open(t, url, 1)
	_, err := m.Up(ctx, nil) // creates the tables; its announcements are not read
	require.NoError(t, err)

	c, err := pgx.Connect(ctx, url)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close(context.WithoutCancel(ctx)) })
	_, err = c.Exec(ctx, `LISTEN "fleetgate_migrations"`)
	require.NoError(t, err)

	res, err := open(t, url, 4).Up(ctx, nil)
	require.NoError(t, err)
	require.Equal(t, []int64{2, 3, 4}, res.Applied)

	// Everything the run sent, up to its release (sent last).
	var got []string
	for len(got) == 0 || got[len(got)-1] != "released" {
		wctx, cancel := context.WithTimeout(ctx, time.Minute)
		n, err := c.WaitForNotification(wctx)
		cancel()
		require.NoError(t, err, "announcements so far: %v", got)
		got = append(got, n.Payload)
	}
	require.Equal(t, []string{"4", "released"}, got)
}
