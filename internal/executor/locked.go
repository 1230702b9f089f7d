package executor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
)

// LockedOptions configure one lease-scoped piece of work.
type LockedOptions struct {
	// Lock configures the wait for the lock, Recheck included.
	Lock lock.Options
	// Ensure, when set, runs before the lock is sought (creating or
	// upgrading fleetgate's tables).
	Ensure func(ctx context.Context) error
	Actor  history.Actor
	Logger *slog.Logger
	// RecordWaitOver: a wait for the lock longer than this is recorded as
	// a lock_wait event once the lock is held.
	RecordWaitOver time.Duration
	// Verb says in the lost-lock message what the work commits: "applied"
	// (up), "reverted" (down); "" for work that commits once at its end.
	Verb string
}

// Session is what work under the lease is given.
type Session struct {
	Lease *lock.Lease
	// Conn is the pinned connection the work runs on; the lease renews on
	// a connection of its own.
	Conn *sql.Conn
	// Done are the versions the work committed so far; a lost-lock error
	// names them.
	Done []int64

	d driver.Driver
}

// Commit runs fn in one transaction on the session's connection, tied to
// the lease, and commits it with rec, which fn may fill: fenced, so that
// nothing is committed once the lease is lost. An error from fn rolls
// back.
func (s *Session) Commit(ctx context.Context, fn func(ctx context.Context, tx driver.Tx, rec *driver.Record) error) error {
	wctx, cancel := s.Bind(ctx)
	defer cancel()
	tx, err := s.d.Begin(wctx, s.Conn, &driver.TxOptions{IdleTimeout: s.Lease.TTL})
	if err != nil {
		return err
	}
	rec := s.Lease.Record()
	rec.Notify = true
	if err := fn(wctx, tx, &rec); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return err
	}
	return tx.Commit(wctx, &rec)
}

// Bind returns ctx ended also when the lease is lost (with the lease's
// cause), for work that does not go through a Runner.
func (s *Session) Bind(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.Lease.Context(), func() { cancel(context.Cause(s.Lease.Context())) })
	return wctx, func() { stop(); cancel(context.Canceled) }
}

// Locked is the one way fleetgate works under the migration lock: ensure
// the tables, acquire the lease (waiting while another runner holds it),
// record a long wait, pin a working connection, run fn, translate a lost
// lock into one error that says what this runner committed, and release.
// ran is false when the lock's Recheck found nothing left to do, and fn
// did not run.
func Locked(ctx context.Context, d driver.Driver, db *sql.DB, o LockedOptions, fn func(ctx context.Context, s *Session) error) (ran bool, err error) {
	if o.Ensure != nil {
		if err := o.Ensure(ctx); err != nil {
			return false, err
		}
	}
	lease, err := lock.Acquire(ctx, d, db, o.Actor, o.Lock)
	if err != nil || lease == nil {
		return false, err
	}
	defer func() {
		if rerr := lease.Release(ctx); rerr != nil {
			o.Logger.WarnContext(ctx, "could not release the lock; it expires on its own", slog.String("error", rerr.Error()))
		}
	}()
	// The work runs on the session that took the lock; the heartbeat
	// moves to a new one meanwhile (see Lease.TakeConn).
	conn := lease.TakeConn()
	if conn == nil {
		if conn, err = driver.Conn(ctx, db); err != nil {
			return true, fmt.Errorf("connect: %w", err)
		}
	}
	defer conn.Close()
	// The one place the move is awaited, before any of the work: no
	// migration statement may run on the session the lease records, and
	// where the move is awaited at all (a driver that cannot bind the
	// lease at renewal: SQLite) its renewal is a write, beside which even
	// a read fails with "database is locked" on a database whose
	// connections have no busy timeout (a caller's own *sql.DB).
	// Elsewhere this returns at once.
	if err := lease.AwaitMoved(ctx); err != nil {
		return true, err
	}
	if o.RecordWaitOver > 0 && lease.Waited > o.RecordWaitOver {
		ev := &history.Event{Kind: history.KindLockWait, LockWaitMS: lease.Waited.Milliseconds(), Actor: o.Actor, LockGeneration: lease.Gen}
		if err := d.AppendEvent(ctx, conn, ev); err != nil {
			o.Logger.WarnContext(ctx, "could not record the lock wait", slog.String("error", err.Error()))
		}
	}
	s := &Session{Lease: lease, Conn: conn, d: d}
	err = fn(ctx, s)
	if err != nil && (lease.Lost() || errors.Is(err, driver.ErrLockLost)) {
		err = lostLock(ctx, d, db, lease, o.Verb, s.Done, err)
	}
	return true, err
}

// lostLock explains a lost lease with only what is known: how it was lost
// (the lease's own cause), what this runner committed before, and what
// became of the migration in flight, read back from the history once its
// server session is known to have stopped. A runner that cannot tell says
// so rather than guessing.
func lostLock(ctx context.Context, d driver.Driver, db *sql.DB, lease *lock.Lease, verb string, done []int64, err error) error {
	cause := lease.LostError()
	if cause == nil {
		cause = driver.ErrLockLost // the fence refused a commit before the heartbeat noticed
	}
	var parts []string
	if len(done) > 0 {
		parts = append(parts, fmt.Sprintf("this runner %s %s before", verb, history.VersionList(done)))
	}
	var le *LockLostError
	if errors.As(err, &le) && le.Version != 0 {
		parts = append(parts, inFlight(ctx, d, db, lease, verb, le))
	} else if len(done) == 0 {
		parts = append(parts, "this runner committed nothing")
	}
	return fmt.Errorf("%w; %s", cause, strings.Join(parts, "; "))
}

// inFlight says what became of the migration that ran when the lease was
// lost.
func inFlight(ctx context.Context, d driver.Driver, db *sql.DB, lease *lock.Lease, verb string, le *LockLostError) string {
	v := le.Version
	if !le.Ended {
		return fmt.Sprintf("version %d: its server session could not be confirmed stopped, so it may still commit; `fleetgate status` shows whether it did", v)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rows, err := d.ReadApplied(rctx, db, driver.RowColumns)
	if err != nil {
		return fmt.Sprintf("version %d: its statement was stopped, but whether it committed first is unknown (the history could not be read: %v); `fleetgate status` shows it", v, err)
	}
	var row *history.Applied
	for i := range rows {
		if rows[i].Version == v && rows[i].Complete {
			row = &rows[i]
		}
	}
	up := verb != "reverted"
	switch {
	case up && row != nil && row.LockGeneration == lease.Gen:
		return fmt.Sprintf("version %d was committed by this runner just before the loss was noticed", v)
	case up && row != nil:
		return fmt.Sprintf("version %d was stopped and not committed by this runner; another runner applied it since", v)
	case up:
		return fmt.Sprintf("version %d was stopped and not committed", v)
	case row != nil:
		return fmt.Sprintf("version %d was stopped and not reverted", v)
	default:
		return fmt.Sprintf("version %d is no longer applied (reverted by this runner just before the loss was noticed, or by another runner since)", v)
	}
}
