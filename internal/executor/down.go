package executor

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Down reverts steps in order (the planner gives them newest first) and
// stops at the first failure, returning the versions reverted before it.
//
// A transactional down runs its statements, deletes the history row and
// appends the rollback event in one transaction, fenced by the lease: it is
// either reverted and recorded, or neither. A no-transaction down runs its
// statements one by one and then removes the row in a fenced transaction;
// a crash in between leaves the row, so the next down runs the whole script
// again (such scripts should use IF EXISTS).
func (r *Runner) Down(ctx context.Context, steps []plan.DownStep) ([]int64, error) {
	var done []int64
	r.noteSession()
	if len(steps) > 0 {
		if err := r.ensureLegacy(ctx); err != nil {
			return done, err
		}
	}
	for i, st := range steps {
		if err := r.leaseErr(); err != nil {
			return done, err
		}
		r.Lease.SetCurrent(st.Version)
		err := r.revert(ctx, st, i == 0)
		r.Lease.SetCurrent(0)
		if err != nil {
			return done, err
		}
		done = append(done, st.Version)
	}
	return done, nil
}

func (r *Runner) downEvent(kind string, st plan.DownStep, dur time.Duration) *history.Event {
	return &history.Event{Kind: kind, Version: st.Version, Name: st.Name, Direction: "down", File: st.File,
		DurationMS: dur.Milliseconds(), Actor: r.Actor}
}

func (r *Runner) revert(ctx context.Context, st plan.DownStep, first bool) error {
	script := "stored"
	if st.FromFile {
		script = "file"
	}
	r.Logger.InfoContext(ctx, "rolling back", slog.Int64("version", st.Version), slog.String("name", st.Name),
		slog.String("script", script), slog.String("file", st.File))
	start := time.Now()
	failed := func(err error) {
		r.recordFailureEvent(ctx, r.downEvent(history.KindFailure, st, time.Since(start)), err)
	}
	noTx := st.NoTransaction
	if !noTx && !r.D.Capabilities().TransactionalDDL {
		// A stored down script is split without knowing its database;
		// on MySQL any statement that commits implicitly makes it run
		// statement by statement, so the history row is deleted, fenced,
		// only after its DDL ran.
		for _, s := range st.Statements {
			if source.ImplicitCommit(s.SQL) != "" {
				noTx = true
				break
			}
		}
	}
	var err error
	if noTx {
		err = r.revertNoTx(ctx, st, start, first)
	} else {
		err = r.retryLockTimeout(ctx, st.Version, func() error { return r.revertTxOnce(ctx, st, start, first) }, failed)
	}
	if err != nil {
		failed(err)
		return err
	}
	r.Logger.InfoContext(ctx, "rolled back", slog.Int64("version", st.Version), slog.String("name", st.Name),
		slog.Duration("duration", time.Since(start).Round(time.Millisecond)))
	return nil
}

func (r *Runner) revertTxOnce(ctx context.Context, st plan.DownStep, start time.Time, first bool) error {
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	tx, err := r.D.Begin(wctx, r.Conn, &driver.TxOptions{LockTimeout: r.Opts.LockTimeout, IdleTimeout: r.Lease.TTL})
	if err != nil {
		return r.failedAt(wctx, st.Version, st.Name, st.File, nil, err)
	}
	fail := func(i int, err error) error {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		if i < 0 {
			return r.failedAt(wctx, st.Version, st.Name, st.File, nil, err)
		}
		return r.failedAt(wctx, st.Version, st.Name, st.File, &st.Statements[i], err)
	}
	for i, s := range st.Statements {
		if err := tx.Exec(wctx, s.SQL); err != nil {
			return fail(i, err)
		}
	}
	if err := tx.DeleteApplied(wctx, st.Version); err != nil {
		return fail(-1, err)
	}
	return r.commitDown(wctx, tx, st, start, first)
}

func (r *Runner) revertNoTx(ctx context.Context, st plan.DownStep, start time.Time, first bool) error {
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	if lt, ok := r.D.(driver.SessionLockTimeout); ok && r.Opts.LockTimeout > 0 {
		if err := lt.SetLockTimeout(wctx, r.Conn, r.Opts.LockTimeout); err != nil {
			return r.failedAt(wctx, st.Version, st.Name, st.File, nil, err)
		}
	}
	for i := range st.Statements {
		if err := r.D.Exec(wctx, r.Conn, st.Statements[i].SQL); err != nil {
			err = r.failedAt(wctx, st.Version, st.Name, st.File, &st.Statements[i], err)
			if i > 0 {
				// Its first statements took effect and cannot be undone here.
				err = fmt.Errorf("%w (no-transaction: statements 1 to %d of the down script ran and stay; make them safe to run again, e.g. with IF EXISTS, before retrying)", err, i)
			}
			return err
		}
	}
	tx, err := r.D.Begin(wctx, r.Conn, nil)
	if err != nil {
		return r.failedAt(wctx, st.Version, st.Name, st.File, nil, err)
	}
	if err := tx.DeleteApplied(wctx, st.Version); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return r.failedAt(wctx, st.Version, st.Name, st.File, nil, err)
	}
	return r.commitDown(wctx, tx, st, start, first)
}

// commitDown appends the rollback event and commits, fenced: a runner
// that lost the lease rolls everything back and gets ErrLockLost.
func (r *Runner) commitDown(ctx context.Context, tx driver.Tx, st plan.DownStep, start time.Time, first bool) error {
	if err := r.legacyReverted(ctx, tx, st.Version); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return r.failedAt(ctx, st.Version, st.Name, st.File, nil, err)
	}
	rec := r.Lease.Record()
	rec.Event = r.downEvent(history.KindRollback, st, time.Since(start))
	if first {
		rec.Event.LockWaitMS = r.Lease.Waited.Milliseconds()
	}
	// Waiters re-read on any notification; a rollback is a change too.
	rec.Notify = true
	if err := tx.Commit(ctx, &rec); err != nil {
		return r.failedAt(ctx, st.Version, st.Name, st.File, nil, err)
	}
	return nil
}
