package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
)

// A migration statement that is stopped is cancelled on the server. Through
// PgBouncer 1.18 (Debian 12's) the pooler itself dies when a client closes
// its cancel connection before the pooler has finished forwarding it
// (pgbouncer/pgbouncer#801): after that every client of the pooler gets
// "connection refused". So fleetgate lets a cancel request it has sent run
// to its end instead of dropping it once the statement has returned.
func TestCancelThroughPgBouncerKeepsItAlive(t *testing.T) {
	t.Parallel()
	url := dbtest.PgBouncer(t, dbtest.Postgres(t))
	db, err := postgres.Open(url, func(s string) string { return s })
	require.NoError(t, err)
	defer db.Close()

	// At most the pooler's pool size (4): a cancel for a client still queued
	// for a server connection waits for one.
	const workers, each = 4, 15
	db.SetMaxOpenConns(workers)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				ctx, cancel := context.WithTimeout(driver.CancelOnServer(t.Context()), time.Duration(5+i%7)*time.Millisecond)
				_, err := db.ExecContext(ctx, "SELECT pg_sleep(5)")
				cancel()
				if err == nil {
					errs <- context.DeadlineExceeded
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err, "a cancelled pg_sleep(5) returned without an error")
	}
	// The pooler still accepts a new client and serves it.
	fresh, err := postgres.Open(url, func(s string) string { return s })
	require.NoError(t, err)
	defer fresh.Close()
	var one int
	require.NoError(t, fresh.QueryRowContext(t.Context(), "SELECT 1").Scan(&one), "PgBouncer no longer serves new clients after the cancels")
}
