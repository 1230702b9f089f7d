package fleetgate

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/source"
)

// ResolveOpts say how to settle a partly applied no-transaction migration
// that no rule settles on its own (a statement run by hand, an edit to a
// statement that already ran). Exactly one of Done, RetryFrom and Abandon
// is set.
type ResolveOpts struct {
	// Done records the migration as applied without running anything
	// more: the operator completed it by hand. The row takes the local
	// file's text and checksum.
	Done bool
	// RetryFrom (1-based) makes the next `up` run the migration from
	// statement RetryFrom of the local file, taking statements before it
	// as done.
	RetryFrom int
	// Abandon removes the partial row: the next `up` runs the migration
	// from its first statement (the operator undid what had run).
	Abandon bool
	// Timeout bounds the wait for the lock (ErrTimeout).
	Timeout time.Duration
}

// Resolve settles a partly applied migration under the lock, in one fenced
// transaction with a "resolve" event that says what was decided. It only
// acts on an incomplete history row; a complete or absent one is refused
// with a *ConfigError and nothing is changed.
func (m *Migrator) Resolve(ctx context.Context, version int64, opts *ResolveOpts) error {
	if opts == nil {
		opts = &ResolveOpts{}
	}
	set := 0
	for _, on := range []bool{opts.Done, opts.RetryFrom != 0, opts.Abandon} {
		if on {
			set++
		}
	}
	switch {
	case version <= 0:
		return configErr("resolve", "want the VERSION of a partly applied migration")
	case set != 1:
		return configErr("resolve", "give exactly one of --done, --retry-from K and --abandon")
	case opts.RetryFrom < 0:
		return configErr("--retry-from", "must be a statement number, 1 or more")
	}
	local, err := m.migrations()
	if err != nil {
		return err
	}
	var mg *source.Migration
	for _, l := range local {
		if l.Version == version {
			mg = l
		}
	}
	if mg == nil && !opts.Abandon {
		return configErr("resolve", "version %d is not in this build's directory; --done and --retry-from record the file's text (only --abandon works without it)", version)
	}
	if mg != nil && opts.RetryFrom > len(mg.Up.Statements) {
		return configErr("--retry-from", "%s has %d statements; %d is not one of them", mg.File, len(mg.Up.Statements), opts.RetryFrom)
	}
	if err := m.d.EnsureTables(ctx, m.db); err != nil {
		return err
	}
	lease, err := lock.Acquire(ctx, m.d, m.db, m.actor, lock.Options{
		TTL: m.cfg.LeaseTTL, Poll: m.cfg.PollInterval, Timeout: opts.Timeout,
		OnWait: func(h *driver.Holder, waited time.Duration) { m.logHolder(ctx, h, waited) },
	})
	if err != nil {
		return err
	}
	defer func() {
		if rerr := lease.Release(ctx); rerr != nil {
			m.log.WarnContext(ctx, "could not release the lock; it expires on its own", slog.String("error", rerr.Error()))
		}
	}()
	conn, err := driver.Conn(ctx, m.db)
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	wctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(lease.Context(), func() { cancel(context.Cause(lease.Context())) })
	defer stop()

	// Read under the lock: no runner can be moving the row meanwhile.
	p, ok, err := m.d.ReadProgress(wctx, conn, version)
	if err != nil {
		return err
	}
	if !ok {
		return configErr("resolve", "version %d has no partly applied history row (status shows such a migration as partial); nothing was changed", version)
	}
	ev := &history.Event{Kind: history.KindResolve, Version: version, Direction: "up", Actor: m.actor}
	if mg != nil {
		ev.Name, ev.File = mg.Name, mg.File
	}
	rec := lease.Record()
	rec.Notify = true
	tx, err := m.d.Begin(wctx, conn, &driver.TxOptions{IdleTimeout: m.cfg.LeaseTTL})
	if err != nil {
		return m.resolveErr(lease, err)
	}
	switch {
	case opts.Abandon:
		ev.Error = fmt.Sprintf("abandon: partial row removed (%d statements had run); the next up starts from statement 1", p.StatementsDone)
		if err := tx.DeleteProgress(wctx, version); err != nil {
			_ = tx.Rollback(context.WithoutCancel(ctx))
			return m.resolveErr(lease, err)
		}
	case opts.Done:
		ev.Error = fmt.Sprintf("done: recorded as applied by an operator (%d of %d statements had run)", p.StatementsDone, len(mg.Up.Statements))
		rec.Applied = m.resolvedRow(mg, true, len(mg.Up.Statements))
	default:
		s := mg.Up.Statements[opts.RetryFrom-1]
		ev.Error = "retry-from " + strconv.Itoa(opts.RetryFrom) + fmt.Sprintf(": the next up runs from statement %d (%d statements had run)", opts.RetryFrom, p.StatementsDone)
		ev.Statement, ev.StatementLine = s.SQL, s.Line
		rec.Applied = m.resolvedRow(mg, false, opts.RetryFrom-1)
	}
	rec.Event = ev
	if err := tx.Commit(wctx, &rec); err != nil {
		return m.resolveErr(lease, err)
	}
	m.log.InfoContext(ctx, "resolved", slog.Int64("version", version), slog.String("decision", ev.Error))
	return nil
}

func (m *Migrator) resolvedRow(mg *source.Migration, complete bool, done int) *history.Applied {
	a := &history.Applied{Version: mg.Version, Name: mg.Name, Checksum: mg.Checksum, Phase: string(mg.Phase),
		UpSQL: mg.Up.SQL, HasDown: mg.Down != nil, Actor: m.actor, Complete: complete, StatementsDone: done}
	if mg.Down != nil {
		a.DownSQL, a.DownChecksum = mg.Down.SQL, mg.DownChecksum
	}
	a.StatementChecksums = make([]string, len(mg.Up.Statements))
	for i, s := range mg.Up.Statements {
		a.StatementChecksums[i] = source.Checksum([]byte(s.SQL))
	}
	return a
}

func (m *Migrator) resolveErr(lease *lock.Lease, err error) error {
	if lease.Lost() || err == ErrLockLost {
		return fmt.Errorf("%w: another runner took over after this one stopped renewing its lease; nothing was resolved", ErrLockLost)
	}
	return fmt.Errorf("resolve: %w", err)
}
