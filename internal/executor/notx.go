package executor

import (
	"context"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

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
