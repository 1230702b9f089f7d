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
//   - A holder that stops renewing loses the lease after its TTL. One whose
//     database session is gone (PostgreSQL, direct connections) loses it
//     once the lease has also gone unrenewed for min(TTL/2, 5 s); one whose
//     process is gone loses it at once, where that is provable (same boot,
//     same PID namespace, no session the database tracks).
//   - A broken heartbeat session is replaced and the lease renewed there;
//     an unreachable database is retried until the lease would have
//     expired.
//   - Losing the lock cancels Lease.Context with cause driver.ErrLockLost.
package lock
