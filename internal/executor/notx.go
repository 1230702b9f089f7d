package executor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// autocommit reports whether statement sql of a no-transaction migration
// must run outside a transaction. On PostgreSQL the parser decides; on
// SQLite every statement runs in a transaction except VACUUM, which SQLite
// refuses inside one; on MySQL every statement that commits implicitly
// (DDL, see source.ImplicitCommit) runs outside one.
func (r *Runner) autocommit(sql string) (what string, ok bool, err error) {
	if !r.D.Capabilities().TransactionalDDL {
		// MySQL, the one such engine: a statement that commits
		// implicitly runs in autocommit between two fenced records;
		// everything else in a transaction with its progress row.
		what = source.ImplicitCommit(sql)
		return what, what != "", nil
	}
	if _, pg := r.D.(driver.Backends); pg {
		what, _, ok, err = lint.Autocommit(sql)
		return what, ok, err
	}
	what = source.NoTxReason(sql)
	return what, what == "VACUUM", nil
}

// resumeAt re-reads, under the lock, how far a partly applied migration
// got, checks that the statements it ran are still the file's, and makes
// sure that the statement it was running outside a transaction is no
// longer running anywhere. It returns the index of the first statement to
// run.
func (r *Runner) resumeAt(ctx context.Context, st plan.Step) (int, error) {
	m := st.Migration
	if !st.Partial {
		return st.Resume, nil
	}
	p, ok, err := r.D.ReadProgress(ctx, r.Conn, m.Version)
	if err != nil {
		return 0, r.stepErr(ctx, m, nil, err)
	}
	if !ok {
		return st.Resume, nil
	}
	if st.Edited {
		if err := editedBefore(m, p); err != nil {
			return 0, err
		}
		r.Logger.WarnContext(ctx, "the partly applied migration was edited after the statement it stopped at; the statements it ran are unchanged, so it resumes with the new text",
			slog.Int64("version", m.Version), slog.String("file", m.File), slog.Int("statement", p.StatementsDone+1))
	}
	if err := r.settleRunning(ctx, m, p); err != nil {
		return 0, err
	}
	if p.RunningPID != 0 {
		r.inFlight = m.Version
	}
	return p.StatementsDone, nil
}

// editedBefore returns a *plan.ValidationError naming the first of the
// statements already run that the file no longer has byte for byte.
func editedBefore(m *source.Migration, p driver.Progress) error {
	fail := func(detail string) error {
		return &plan.ValidationError{Problems: []plan.Problem{{Kind: plan.Modified, Version: m.Version, Name: m.Name, File: m.File, Detail: detail}}}
	}
	if p.StatementChecksums == nil {
		return fail(fmt.Sprintf("edited after it was partly applied (%d statements ran), and its history row keeps no per-statement checksums to tell which changed; restore the file, or settle it with `fleetgate resolve %d`", p.StatementsDone, m.Version))
	}
	for i := 0; i < p.StatementsDone; i++ {
		if i >= len(m.Up.Statements) || i >= len(p.StatementChecksums) || source.Checksum([]byte(m.Up.Statements[i].SQL)) != p.StatementChecksums[i] {
			line := 0
			if i < len(m.Up.Statements) {
				line = m.Up.Statements[i].Line
			}
			return fail(fmt.Sprintf("statement %d (line %d) was edited after it ran (statements 1 to %d ran before the migration stopped); restore it, or settle the migration with `fleetgate resolve %d`", i+1, line, p.StatementsDone, m.Version))
		}
	}
	return nil
}

// settleRunning waits until no backend runs the statement that the
// interrupted runner was running outside a transaction: the server goes on
// executing a statement after its client is killed or loses its lock. The
// recorded backend is waited for while it executes, and terminated when it
// idles (its runner may be paused and could still send the statement).
// Only then does the caller decide whether the statement took effect, so
// never two backends run one statement.
func (r *Runner) settleRunning(ctx context.Context, m *source.Migration, p driver.Progress) error {
	b, ok := r.D.(driver.Backends)
	if !ok || p.StatementsDone >= len(m.Up.Statements) {
		return nil
	}
	s := m.Up.Statements[p.StatementsDone]
	if _, auto, err := r.autocommit(s.SQL); err != nil || !auto {
		return err
	}
	attrs := []any{slog.Int64("version", m.Version), slog.String("file", m.File), slog.Int("line", s.Line), slog.Int("statement", s.Index+1)}
	var lastLog time.Time
	for {
		alive, active, others, err := b.StatementRunning(ctx, r.Conn, p.RunningPID, p.RunningStart, s.SQL)
		if err != nil {
			return r.stepErr(ctx, m, &s, err)
		}
		switch {
		case !alive && len(others) == 0:
			return nil
		case alive && !active:
			r.Logger.WarnContext(ctx, "ending the interrupted runner's idle session, so that it cannot run the statement again", append(attrs, slog.Int("backend_pid", p.RunningPID))...)
			if err := b.TerminateBackend(ctx, r.Conn, p.RunningPID); err != nil {
				return r.stepErr(ctx, m, &s, err)
			}
		case time.Since(lastLog) >= 5*time.Second:
			pids := others
			if alive {
				pids = append([]int{p.RunningPID}, others...)
			}
			r.Logger.InfoContext(ctx, "waiting for the statement the interrupted runner started to finish", append(attrs, slog.Any("backend_pids", pids))...)
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// applyAutocommit runs statement i, which cannot run in a transaction. It
// first records, fenced, the session that will run it, so a runner that
// resumes after a crash can find that backend (settleRunning); then runs
// it; then records it done. A concurrent index statement that the
// interrupted attempt completed is found in the catalog and not run again;
// any other statement interrupted mid-way runs again (at least once).
func (r *Runner) applyAutocommit(ctx context.Context, st plan.Step, i int, start time.Time) error {
	m := st.Migration
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	s := m.Up.Statements[i]
	done, err := r.settleEffect(wctx, st, i, s)
	if err == nil && !done {
		done, err = r.prepareIndexBuild(wctx, st, i, s)
	}
	if err == nil && !done {
		done, err = r.prepareIndexDrop(wctx, st, i, s)
	}
	var ve *plan.ValidationError
	if errors.As(err, &ve) {
		return err
	}
	if err != nil {
		return r.stepErr(wctx, m, &s, err)
	}
	if !done {
		if i == st.Resume && st.Partial {
			r.Logger.WarnContext(ctx, "running again a statement that ran outside a transaction when the earlier attempt stopped; it may have taken effect then",
				slog.Int64("version", m.Version), slog.String("file", m.File), slog.Int("line", s.Line))
		}
		if _, ok := r.D.(driver.Backends); ok {
			rec := r.Lease.Record()
			rec.Applied = r.applied(m, time.Since(start), false, i)
			// Through a pooler the session that records is not
			// necessarily the one that runs the statement; settleRunning
			// then finds it by its text.
			rec.Applied.Running = r.D.SessionIsDirect(wctx, r.Conn)
			if err := r.D.SaveProgress(wctx, r.Conn, &rec); err != nil {
				return r.stepErr(wctx, m, nil, err)
			}
		}
		if lt, ok := r.D.(driver.SessionLockTimeout); ok && r.Opts.LockTimeout > 0 {
			if err := lt.SetLockTimeout(wctx, r.Conn, r.Opts.LockTimeout); err != nil {
				return r.stepErr(wctx, m, &s, err)
			}
		}
		if err := r.exec(wctx, autocommit{r}, m, s); err != nil {
			return r.stepErr(wctx, m, &s, err)
		}
	}
	n := len(m.Up.Statements)
	rec := r.record(m, start, i == n-1, i+1)
	if i < n-1 {
		if err := r.D.SaveProgress(wctx, r.Conn, &rec); err != nil {
			return r.stepErr(wctx, m, nil, err)
		}
		return nil
	}
	tx, err := r.D.Begin(wctx, r.Conn, nil)
	if err != nil {
		return r.stepErr(wctx, m, nil, err)
	}
	if err := r.legacyApplied(wctx, tx, m); err != nil {
		_ = tx.Rollback(context.WithoutCancel(ctx))
		return r.stepErr(wctx, m, nil, err)
	}
	if err := tx.Commit(wctx, &rec); err != nil {
		return r.commitErr(wctx, m, nil, err)
	}
	return nil
}

// settleEffect decides, where DDL commits on its own (MySQL), whether
// statement i took effect when it is the statement an interrupted runner
// had recorded as running (its session has ended or finished by now, see
// settleRunning): the driver reads the catalog. Applied: done, it is not
// run again. Not applied: it runs. Undecidable: the migration stops with a
// *plan.ValidationError (exit 4) that names the statement and points to
// `fleetgate resolve`, instead of running it a second time or skipping
// it on a guess.
func (r *Runner) settleEffect(ctx context.Context, st plan.Step, i int, s source.Statement) (done bool, err error) {
	er, ok := r.D.(driver.EffectReader)
	m := st.Migration
	if !ok || i != st.Resume || !st.Partial || r.inFlight != m.Version {
		return false, nil
	}
	r.inFlight = 0
	applied, known, why, err := er.StatementEffect(ctx, r.Conn, s.SQL)
	if err != nil {
		return false, err
	}
	attrs := []any{slog.Int64("version", m.Version), slog.String("file", m.File), slog.Int("line", s.Line), slog.Int("statement", i+1)}
	switch {
	case !known:
		took := fmt.Sprintf("`fleetgate resolve %d --retry-from %d`", m.Version, i+2)
		if i+1 == len(m.Up.Statements) {
			took = fmt.Sprintf("`fleetgate resolve %d --done`", m.Version)
		}
		return false, &plan.ValidationError{Problems: []plan.Problem{{Kind: plan.Undecided, Version: m.Version, Name: m.Name, File: m.File,
			Detail: fmt.Sprintf("statement %d (line %d) was running when the earlier attempt stopped, and whether it took effect cannot be read from the database (%s); check the database, then run `fleetgate resolve %d --retry-from %d` if it did not take effect, or %s if it did",
				i+1, s.Line, why, m.Version, i+1, took)}}}
	case applied:
		r.Logger.InfoContext(ctx, "the statement the interrupted attempt was running took effect (read from the catalog); not running it again", attrs...)
		return true, nil
	}
	r.Logger.InfoContext(ctx, "the statement the interrupted attempt was running did not take effect (read from the catalog); running it", attrs...)
	return false, nil
}

// prepareIndexDrop settles a DROP INDEX CONCURRENTLY that was in progress
// when the earlier attempt stopped: its backend (waited for by
// settleRunning) may have completed the drop, and running it again would
// fail on the missing index forever. An index that is gone when statement
// i is the one the attempt stopped at was dropped by it: done. An index
// still there (valid, or INVALID after a drop that failed half way) is
// dropped again.
func (r *Runner) prepareIndexDrop(ctx context.Context, st plan.Step, i int, s source.Statement) (done bool, err error) {
	ib, ok := r.D.(driver.IndexBuilder)
	if !ok || i != st.Resume || !st.Partial {
		return false, nil
	}
	drop, isDIC, err := lint.ConcurrentDrop(s.SQL)
	if err != nil || !isDIC {
		return false, err
	}
	state, err := ib.IndexStateByName(ctx, r.Conn, drop.Schema, drop.Name)
	if err != nil {
		return false, err
	}
	if state.Exists {
		return false, nil
	}
	r.Logger.InfoContext(ctx, "index already dropped by the interrupted attempt; not dropping it again",
		slog.Int64("version", st.Migration.Version), slog.String("file", st.Migration.File), slog.Int("line", s.Line), slog.String("index", drop.Name))
	return true, nil
}

// prepareIndexBuild runs before statement i of a no-transaction migration
// and deals with what an interrupted CREATE INDEX CONCURRENTLY leaves:
//
//   - an INVALID index of the statement's name (the build failed, or its
//     backend died) is dropped with DROP INDEX CONCURRENTLY, so the
//     statement builds it afresh (with IF NOT EXISTS it would otherwise
//     keep the broken index and report success);
//   - an index still being built by another backend (the earlier runner
//     was killed, but the server finishes the statement it was running)
//     is waited for, then looked at again;
//   - a valid index, when i is the first statement this run executes (the
//     one in progress when the earlier attempt stopped), was completed by
//     that attempt: done is true and the statement is not run again.
//
// The statement in progress at a crash is not recorded as done, so this
// covers both resuming a migration and running one again from the start.
func (r *Runner) prepareIndexBuild(ctx context.Context, st plan.Step, i int, s source.Statement) (done bool, err error) {
	ib, ok := r.D.(driver.IndexBuilder)
	if !ok {
		return false, nil
	}
	build, isCIC, err := lint.ConcurrentIndex(s.SQL)
	if err != nil || !isCIC {
		return false, err
	}
	m := st.Migration
	attrs := []any{slog.Int64("version", m.Version), slog.String("file", m.File), slog.Int("line", s.Line), slog.String("index", build.Name)}
	var lastLog time.Time
	for {
		state, err := ib.IndexState(ctx, r.Conn, build.Schema, build.Table, build.Name)
		if err != nil {
			return false, err
		}
		switch {
		case !state.Exists:
			return false, nil
		case state.BuildingPID != 0:
			if time.Since(lastLog) >= 5*time.Second {
				r.Logger.InfoContext(ctx, "waiting for an earlier build of the index to finish", append(attrs, slog.Int("building_pid", state.BuildingPID))...)
				lastLog = time.Now()
			}
			select {
			case <-ctx.Done():
				return false, context.Cause(ctx)
			case <-time.After(500 * time.Millisecond):
			}
		case state.Valid:
			if i != st.Resume {
				return false, nil
			}
			r.Logger.InfoContext(ctx, "index already built by the interrupted attempt; not building it again", attrs...)
			return true, nil
		default:
			r.Logger.WarnContext(ctx, "dropping the INVALID index left by an interrupted CREATE INDEX CONCURRENTLY, to build it again", attrs...)
			if err := ib.DropIndexConcurrently(ctx, r.Conn, state.Qualified); err != nil {
				return false, err
			}
			return false, nil
		}
	}
}
