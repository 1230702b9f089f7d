// Package executor runs planned migrations on one pinned connection while a
// lease is held. Each transactional migration commits together with its
// history row and its event, fenced by the lease; a no-transaction
// migration records its progress after every statement, so a crash resumes
// at the first statement not recorded as done.
package executor

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/legacy"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// StepError is a migration that failed: which file, which statement, and
// the database's error.
type StepError struct {
	Version   int64
	Name      string
	File      string
	Line      int // line of the failing statement in File, 0 if none
	Index     int // 0-based statement index, -1 when not a statement
	Statement string
	Err       error
	// atCommit: the commit failed, after every statement ran (see Up).
	atCommit bool
}

func (e *StepError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: statement %d: %v", e.File, e.Line, e.Index+1, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *StepError) Unwrap() error { return e.Err }

// Options tune a run.
type Options struct {
	// LockTimeout bounds each wait for a table lock (PostgreSQL). 0: none.
	LockTimeout time.Duration
	// LockRetries is how often a migration that hit LockTimeout is retried.
	LockRetries int
	// Progress, when set, is called every ProgressEvery while a statement
	// runs, with the elapsed time and, on PostgreSQL, what it waits for and
	// how far an index build has got.
	Progress      func(Progress)
	ProgressEvery time.Duration
}

// Runner applies steps.
type Runner struct {
	D      driver.Driver
	Conn   *sql.Conn
	Lease  *lock.Lease
	Actor  history.Actor
	Logger *slog.Logger
	Opts   Options
	// Monitor is a connection pool other than Conn from which running
	// statements are watched: the sessions a lock wait is blocked by, and
	// index build progress. nil: not watched.
	Monitor driver.Querier
	// Legacy is another tool's history table kept in step with fleetgate's
	// (see internal/legacy); nil: none.
	Legacy *legacy.Table

	session      driver.Session // of Conn, see settle
	sessionKnown bool
	// inFlight is the version whose next statement an interrupted runner
	// had recorded as running in autocommit (see resumeAt), 0 for none.
	inFlight int64
	// quiet: the migration being applied is not the run's last, so its
	// commit is not announced (see Up).
	quiet bool
	// scope is TxOptions.Scope of this run's migration transactions: set
	// when Up has more than one step, where a driver's prepared commit
	// pays for itself; nil for a single migration, which would only pay
	// the preparing.
	scope any
}

// runs numbers the runs of this process, for TxOptions.Scope.
var runs atomic.Uint64

// Result is what a run did.
type Result struct {
	Applied []int64
	Skipped []int64 // recorded by another runner meanwhile
}

// Up applies steps in order and stops at the first failure.
func (r *Runner) Up(ctx context.Context, steps []plan.Step) (*Result, error) {
	res := &Result{}
	r.noteSession()
	if len(steps) > 0 {
		if err := r.ensureLegacy(ctx); err != nil {
			return res, err
		}
	}
	if len(steps) > 1 {
		r.scope = runs.Add(1) // distinct per run: the connection is ours until Up returns
		defer func() { r.scope = nil }()
	}
	for i, st := range steps {
		if err := r.leaseErr(); err != nil {
			return res, err
		}
		r.Lease.SetCurrent(st.Migration.Version)
		// Only the run's last commit is announced, then the release: on
		// PostgreSQL every NOTIFY wakes every listening session of the
		// database (lock waiters listening for the release included),
		// and with a fleet waiting that slowed each commit of the run.
		// A waiter needs the history only once it stops changing.
		r.quiet = i < len(steps)-1
		err := r.apply(ctx, st, i == 0)
		r.Lease.SetCurrent(0)
		switch {
		case err == nil:
			res.Applied = append(res.Applied, st.Migration.Version)
		case committedBefore(r.D, err):
			// Only possible if the lock was bypassed; the row proves the
			// migration is applied, and our copy rolled back.
			res.Skipped = append(res.Skipped, st.Migration.Version)
		default:
			return res, err
		}
	}
	return res, nil
}

// committedBefore: err is the commit's unique violation, so the history
// row of the migration is there already. A statement's own unique
// violation is the migration's failure.
func committedBefore(d driver.Driver, err error) bool {
	var se *StepError
	return errors.As(err, &se) && se.atCommit && driver.Is(d, err, driver.ErrExists)
}

func (r *Runner) leaseErr() error {
	if r.Lease.Lost() {
		return driver.ErrLockLost
	}
	return nil
}

// workCtx ends when the caller's ctx ends or the lease is lost, so a runner
// that lost the lock stops its running statement at once.
func (r *Runner) workCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(driver.CancelOnServer(ctx))
	stop := context.AfterFunc(r.Lease.Context(), func() { cancel(context.Cause(r.Lease.Context())) })
	return wctx, func() { stop(); cancel(context.Canceled) }
}

func (r *Runner) applied(m *source.Migration, dur time.Duration, complete bool, done int) *history.Applied {
	return history.NewApplied(m, r.Actor, dur, complete, done, m.NoTransaction)
}

// record is the fenced record of an up commit that counts done statements
// of m as done. The commit that completes m also carries its apply event
// and, unless a later migration of the run follows (quiet), announces it.
func (r *Runner) record(m *source.Migration, start time.Time, complete bool, done int) driver.Record {
	rec := r.Lease.Record()
	rec.Applied = r.applied(m, time.Since(start), complete, done)
	if complete {
		rec.Event = r.event(history.KindApply, m, time.Since(start))
		rec.Notify = !r.quiet
	}
	return rec
}

func (r *Runner) event(kind string, m *source.Migration, dur time.Duration) *history.Event {
	return &history.Event{Kind: kind, Version: m.Version, Name: m.Name, Direction: "up", File: m.File,
		DurationMS: dur.Milliseconds(), Actor: r.Actor}
}

func (r *Runner) apply(ctx context.Context, st plan.Step, first bool) error {
	m := st.Migration
	r.Logger.InfoContext(ctx, "applying", slog.Int64("version", m.Version), slog.String("name", m.Name))
	start := time.Now()
	var err error
	if m.NoTransaction {
		err = r.applyNoTx(ctx, st, start)
	} else {
		err = r.applyTx(ctx, m, start, first)
	}
	if err != nil {
		r.recordFailure(ctx, m, err, time.Since(start))
		return err
	}
	r.Logger.InfoContext(ctx, "applied", slog.Int64("version", m.Version), slog.String("name", m.Name),
		slog.Duration("duration", time.Since(start).Round(time.Millisecond)))
	return nil
}

func (r *Runner) applyTx(ctx context.Context, m *source.Migration, start time.Time, first bool) error {
	return r.retryLockTimeout(ctx, m.Version, func() error { return r.applyTxOnce(ctx, m, start, first) },
		func(err error) { r.recordFailure(ctx, m, err, time.Since(start)) })
}

// retryLockTimeout runs once until it succeeds, fails with anything but a
// lock timeout, or has been retried LockRetries times. Each timed-out
// attempt is reported to failed (which records it) before the backoff. Ups
// and downs share it, so both behave the same behind a long transaction.
func (r *Runner) retryLockTimeout(ctx context.Context, version int64, once func() error, failed func(error)) error {
	for attempt := 0; ; attempt++ {
		err := once()
		if err == nil || !driver.Is(r.D, err, driver.ErrLockTimeout) || attempt >= r.Opts.LockRetries {
			return err
		}
		// Back off with jitter so the blocking transaction can finish and
		// the application's queued queries drain between attempts.
		backoff := min(100*time.Millisecond<<attempt, 5*time.Second)
		backoff = backoff/2 + rand.N(backoff)
		r.Logger.WarnContext(ctx, "lock timeout, retrying", slog.Int64("version", version),
			slog.Int("attempt", attempt+1), slog.Duration("backoff", backoff.Round(time.Millisecond)))
		failed(err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
	}
}

func (r *Runner) applyTxOnce(ctx context.Context, m *source.Migration, start time.Time, first bool) error {
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	// A file that is one explicit BEGIN ... COMMIT block runs as that very
	// transaction, opened with its own BEGIN and committed with the history
	// row instead of its COMMIT.
	begin, stmts := m.Up.TxBody()
	tx, err := r.D.Begin(wctx, r.Conn, &driver.TxOptions{LockTimeout: r.Opts.LockTimeout, IdleTimeout: r.Lease.TTL, Begin: begin, Scope: r.scope})
	if err != nil {
		return r.stepErr(wctx, m, nil, err)
	}
	return r.runCommit(ctx, wctx, tx, m, stmts, true, nil, func() driver.Record {
		rec := r.record(m, start, true, len(m.Up.Statements))
		if first {
			rec.Event.LockWaitMS = r.Lease.Waited.Milliseconds()
		}
		return rec
	})
}

// runCommit runs stmts in tx, records m in the legacy table when legacy,
// and commits with the record that rec makes once the statements ran. A
// failed commit is reported at commitAt (nil: the migration as a whole).
func (r *Runner) runCommit(ctx, wctx context.Context, tx driver.Tx, m *source.Migration, stmts []source.Statement, legacy bool,
	commitAt *source.Statement, rec func() driver.Record) error {
	for _, s := range stmts {
		if err := r.exec(wctx, tx, m, s); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return r.stepErr(wctx, m, &s, err)
		}
	}
	if legacy {
		if err := r.legacyApplied(wctx, tx, m); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return r.stepErr(wctx, m, nil, err)
		}
	}
	rc := rec()
	if err := tx.Commit(wctx, &rc); err != nil {
		return r.commitErr(wctx, m, commitAt, err)
	}
	return nil
}

// applyNoTx runs a no-transaction migration statement by statement. Each
// statement that can run in a transaction runs in one of its own,
// committed together with the fenced progress row that counts it done, so
// it is applied exactly once like a transactional migration; so is each
// explicit BEGIN ... COMMIT block. Only a statement that PostgreSQL refuses
// inside a transaction block runs in autocommit (applyAutocommit).
func (r *Runner) applyNoTx(ctx context.Context, st plan.Step, start time.Time) error {
	m := st.Migration
	resume, err := r.resumeAt(ctx, st)
	if err != nil {
		return err
	}
	st.Resume = resume
	if resume > 0 {
		r.Logger.InfoContext(ctx, "resuming", slog.Int64("version", m.Version), slog.Int("statement", resume+1))
	}
	n := len(m.Up.Statements)
	for i := resume; i < n; {
		if u, ok := m.Up.UnitAt(i); ok {
			if err := r.applyBlock(ctx, m, u, start); err != nil {
				return err
			}
			i = u.End
			continue
		}
		s := m.Up.Statements[i]
		if _, auto, err := r.autocommit(s.SQL); err != nil {
			return r.stepErr(ctx, m, &s, err)
		} else if auto {
			// A statement that gave up waiting for a lock took no effect
			// and is retried like a transaction (an ALTER behind an
			// application's long transaction on MySQL).
			if err := r.retryLockTimeout(ctx, m.Version, func() error { return r.applyAutocommit(ctx, st, i, start) },
				func(err error) { r.recordFailure(ctx, m, err, time.Since(start)) }); err != nil {
				return err
			}
		} else if err := r.applyUnit(ctx, m, "", m.Up.Statements[i:i+1], i+1, start); err != nil {
			return err
		}
		i++
	}
	if resume < n {
		return nil // the last unit's commit recorded the migration
	}
	// Nothing left to run (an empty section, or every statement was done
	// before): record it complete.
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	tx, err := r.D.Begin(wctx, r.Conn, nil)
	if err != nil {
		return r.stepErr(wctx, m, nil, err)
	}
	if err := r.legacyApplied(wctx, tx, m); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return r.stepErr(wctx, m, nil, err)
	}
	rec := r.record(m, start, true, n)
	if err := tx.Commit(wctx, &rec); err != nil {
		return r.commitErr(wctx, m, nil, err)
	}
	return nil
}

func (r *Runner) stepErr(ctx context.Context, m *source.Migration, s *source.Statement, err error) error {
	return r.failedAt(ctx, m.Version, m.Name, m.File, s, err)
}

// commitErr is stepErr for a failed commit of m (reported at s, nil for
// the migration as a whole).
func (r *Runner) commitErr(ctx context.Context, m *source.Migration, s *source.Statement, err error) error {
	err = r.stepErr(ctx, m, s, err)
	var se *StepError
	if errors.As(err, &se) {
		se.atCommit = true
	}
	return err
}

// failedAt turns err into a *StepError naming the statement, or into
// driver.ErrLockLost when the lease is gone (the error then only reflects
// the takeover).
func (r *Runner) failedAt(ctx context.Context, version int64, name, file string, s *source.Statement, err error) error {
	if r.Lease.Lost() || errors.Is(context.Cause(ctx), driver.ErrLockLost) || errors.Is(err, driver.ErrLockLost) || r.Lease.Verify(ctx) != nil {
		cause := r.Lease.LostError()
		if cause == nil {
			cause = driver.ErrLockLost // the fence refused the commit
		}
		return &LockLostError{Version: version, Ended: r.settle(ctx), Cause: cause}
	}
	se := &StepError{Version: version, Name: name, File: file, Index: -1, Err: err}
	if s != nil {
		se.Line, se.Index, se.Statement = s.Line, s.Index, s.SQL
	}
	return se
}

// LockLostError is a lost lease noticed while migration Version ran. It
// matches driver.ErrLockLost with errors.Is.
type LockLostError struct {
	Version int64
	// Ended: the migration's server session is known to be idle or gone,
	// so nothing of the interrupted migration can still commit.
	Ended bool
	Cause error // how the lease was lost; wraps driver.ErrLockLost
}

func (e *LockLostError) Error() string { return e.Cause.Error() }
func (e *LockLostError) Unwrap() error { return e.Cause }

// settle makes sure, before the runner reports a lost lock, that its
// migration statement has really stopped. A connection that still answers
// has nothing running (the cancelled statement has returned). One that
// broke may leave its server session running the statement to the end, and
// even committing: that session is terminated from another connection, and
// waited for.
func (r *Runner) settle(ctx context.Context) bool {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	sess, known := r.session, r.sessionKnown
	if r.Conn.PingContext(cctx) == nil {
		return true
	}
	ender, ok := r.D.(driver.SessionEnder)
	if !ok || !known || r.Monitor == nil {
		// SQLite: a connection of this process cannot outlive it, and the
		// write transaction ends with it.
		return !ok
	}
	return ender.EndSession(cctx, r.Monitor, sess) == nil
}

// noteSession remembers the migration connection's server session while
// the connection is known to work, for settle.
func (r *Runner) noteSession() {
	if r.sessionKnown {
		return
	}
	if mon, ok := r.D.(driver.Monitor); ok {
		r.session, r.sessionKnown = mon.Session(r.Conn)
	}
}

// recordFailure appends a failure event outside the (rolled back)
// migration transaction, so the log keeps every failed attempt.
func (r *Runner) recordFailure(ctx context.Context, m *source.Migration, err error, dur time.Duration) {
	r.recordFailureEvent(ctx, r.event(history.KindFailure, m, dur), err)
}

// recordFailureEvent fills ev (a failure of an up or a down) from err and
// appends it.
func (r *Runner) recordFailureEvent(ctx context.Context, ev *history.Event, err error) {
	if errors.Is(err, driver.ErrLockLost) {
		ev.Kind = history.KindLockLost
	}
	ev.Error = err.Error()
	var se *StepError
	if errors.As(err, &se) {
		ev.Error = se.Err.Error()
		ev.Statement, ev.StatementLine = se.Statement, se.Line
	}
	ev.LockGeneration = r.Lease.Gen
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	aerr := r.D.AppendEvent(cctx, r.Conn, ev)
	// The migration's connection may be what broke (a restart, a killed
	// session, a signal mid-statement): the event goes in on a fresh
	// connection from the pool then, retried while the server comes back,
	// within the same bound.
	for n := 0; aerr != nil && r.Monitor != nil && cctx.Err() == nil; n++ {
		if aerr = r.D.AppendEvent(cctx, r.Monitor, ev); aerr == nil || !driver.IsTransient(r.D, aerr) {
			break
		}
		select {
		case <-cctx.Done():
		case <-time.After(lock.Backoff(n)):
		}
	}
	if aerr != nil {
		r.Logger.WarnContext(ctx, "could not record the failure event", slog.String("error", aerr.Error()))
	}
}
