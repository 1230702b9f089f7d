// Package lock is fleetgate's migration lock: a lease kept in a row of the
// migrated database itself. docs/lock.md gives the protocol and the argument
// for each of its properties; in short:
//
//   - Acquire never blocks inside the database. It polls a single-statement
//     try-lock with jittered sleeps, so a waiter holds no snapshot that a
//     CREATE INDEX CONCURRENTLY in the holder would have to wait for.
//   - The lease names a holder token and a generation (the fencing token).
//     Every commit of a migration re-checks both inside its own transaction
//     (see driver.Driver.Commit), so a runner that lost the lock cannot
//     commit.
//   - A holder that stops renewing loses the lease after its TTL; a holder
//     whose database session (PostgreSQL, direct connections) or process
//     (SQLite, same host) is gone loses it at once.
//   - Losing the lock cancels Lease.Context with cause driver.ErrLockLost.
package lock
