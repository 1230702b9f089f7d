package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
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
		return configErr("ResolveOpts", "want the VERSION of a partly applied migration")
	case set != 1:
		return configErr("ResolveOpts", "give exactly one of ResolveOpts.Done, ResolveOpts.RetryFrom and ResolveOpts.Abandon")
	case opts.RetryFrom < 0:
		return configErr("ResolveOpts.RetryFrom", "must be a statement number, 1 or more")
	}
	mg, err := m.resolveFile(version, opts)
	if err != nil {
		return err
	}
	_, err = executor.Locked(ctx, m.d, m.db, m.lockedOpts(ctx, opts.Timeout, "", "", m.ensureTablesAs, nil),
		func(ctx context.Context, s *executor.Session) error {
			var decision string
			err := s.Commit(ctx, func(ctx context.Context, tx driver.Tx, rec *driver.Record) (err error) {
				decision, err = m.resolveIn(ctx, tx, rec, version, mg, opts)
				return err
			})
			var ce *ConfigError
			if err != nil && !errors.As(err, &ce) {
				return fmt.Errorf("resolve: %w", err)
			}
			if err == nil {
				m.log.InfoContext(ctx, "resolved", slog.Int64("version", version), slog.String("decision", decision))
			}
			return err
		})
	return err
}

// resolveFile is the local file of version, nil when there is none and
// opts.Abandon does not need it.
func (m *Migrator) resolveFile(version int64, opts *ResolveOpts) (*source.Migration, error) {
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	var mg *source.Migration
	for _, l := range local {
		if l.Version == version {
			mg = l
		}
	}
	if mg == nil && !opts.Abandon {
		return nil, configErr("ResolveOpts", "version %d is not in this build's directory; ResolveOpts.Done and ResolveOpts.RetryFrom record the file's text (only ResolveOpts.Abandon works without it)", version)
	}
	if mg != nil && opts.RetryFrom > len(mg.Up.Statements) {
		return nil, configErr("ResolveOpts.RetryFrom", "%s has %d statements; %d is not one of them", mg.File, len(mg.Up.Statements), opts.RetryFrom)
	}
	return mg, nil
}

// resolveIn fills rec with the decision, inside the transaction under the
// lock: no runner can be moving the row meanwhile.
func (m *Migrator) resolveIn(ctx context.Context, tx driver.Tx, rec *driver.Record, version int64, mg *source.Migration, opts *ResolveOpts) (string, error) {
	p, ok, err := m.d.ReadProgress(ctx, tx, version)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", configErr("ResolveOpts", "version %d has no partly applied history row (status shows such a migration as partial); nothing was changed", version)
	}
	ev := &history.Event{Kind: history.KindResolve, Version: version, Direction: "up", Actor: m.actor}
	if mg != nil {
		ev.Name, ev.File = mg.Name, mg.File
	}
	switch {
	case opts.Abandon:
		ev.Error = fmt.Sprintf("abandon: partial row removed (%d statements had run); the next up starts from statement 1", p.StatementsDone)
		if err := tx.DeleteProgress(ctx, version); err != nil {
			return "", err
		}
	case opts.Done:
		ev.Error = fmt.Sprintf("done: recorded as applied by an operator (%d of %d statements had run)", p.StatementsDone, len(mg.Up.Statements))
		rec.Applied = history.NewApplied(mg, m.actor, 0, true, len(mg.Up.Statements), true)
	default:
		st := mg.Up.Statements[opts.RetryFrom-1]
		ev.Error = "retry-from " + strconv.Itoa(opts.RetryFrom) + fmt.Sprintf(": the next up runs from statement %d (%d statements had run)", opts.RetryFrom, p.StatementsDone)
		ev.Statement, ev.StatementLine = st.SQL, st.Line
		rec.Applied = history.NewApplied(mg, m.actor, 0, false, opts.RetryFrom-1, true)
	}
	rec.Event = ev
	return ev.Error, nil
}
