// Package pgxhook keeps applications that use pgx's default statement
// cache serving through schema changes.
//
// pgx prepares every query once per connection and executes the prepared
// statement afterwards. When a migration adds, drops or changes a column
// of a table such a statement reads with SELECT *, PostgreSQL refuses the
// next execution with SQLSTATE 0A000 "cached plan must not change result
// type": the statement's result type was fixed when it was prepared. pgx
// then drops that statement from the connection's cache, so the next
// execution on the same connection prepares it afresh and succeeds, but
// the one that failed has already failed: every connection of every
// running instance fails once per such statement, right after an expand
// migration commits.
//
// Query and Exec run a statement and, when it fails that way, run it
// once more on the same connection, whose cache pgx has just cleared of
// it. Nothing reached the application's caller, and the statement did
// not run (PostgreSQL refuses it before executing), so the retry is safe
// for writes too. A hook that resets the pool when the history changes
// (ResetOnChange) cannot give that guarantee on its own: between the
// migration's commit and the hook's next look at the history, requests
// meet the stale statements. It still helps statements that go through
// other code paths, and frees the server-side prepared statements.
package pgxhook

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// StalePlanCode is PostgreSQL's SQLSTATE for "cached plan must not change
// result type" (feature_not_supported).
const StalePlanCode = "0A000"

// IsStalePlan reports whether err is PostgreSQL refusing a prepared
// statement whose result type changed under it.
func IsStalePlan(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == StalePlanCode && pe.Message == "cached plan must not change result type"
}

// Query runs sql on one connection of pool and collects its rows with
// scan; a stale cached plan is retried once on the same connection.
func Query[T any](ctx context.Context, pool *pgxpool.Pool, scan pgx.RowToFunc[T], sql string, args ...any) ([]T, error) {
	var out []T
	err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		var err error
		for attempt := 0; ; attempt++ {
			var rows pgx.Rows
			rows, err = c.Query(ctx, sql, args...)
			if err == nil {
				// CollectRows closes rows, and pgx invalidates the
				// statement in this connection's cache on the error.
				out, err = pgx.CollectRows(rows, scan)
			}
			if attempt > 0 || !IsStalePlan(err) {
				return err
			}
		}
	})
	return out, err
}

// Exec runs sql on one connection of pool; a stale cached plan is retried
// once on the same connection.
func Exec(ctx context.Context, pool *pgxpool.Pool, sql string, args ...any) (pgconn.CommandTag, error) {
	var tag pgconn.CommandTag
	err := pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		var err error
		for attempt := 0; ; attempt++ {
			tag, err = c.Exec(ctx, sql, args...)
			// pgx drops the statement from the connection's cache on
			// any error.
			if attempt > 0 || !IsStalePlan(err) {
				return err
			}
		}
	})
	return tag, err
}

// ResetOnChange returns a schema-change hook (for
// fleetgate.Registration.OnSchemaChange) that closes pool's connections,
// so that new ones prepare their statements against the new schema.
// Connections in use are closed when they are released.
func ResetOnChange(pool *pgxpool.Pool) func(applied []int64) {
	return func([]int64) { pool.Reset() }
}
