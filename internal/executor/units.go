package executor

import (
	"context"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/source"
)

// applyBlock runs one explicit BEGIN ... COMMIT block of a migration that
// otherwise runs statement by statement (it has several blocks, or a
// statement such as CREATE INDEX CONCURRENTLY next to one). The block is
// opened with its own BEGIN and, instead of its own COMMIT, committed by the
// fenced commit that moves the migration's progress past it. So the
// progress row and the block's changes commit together: a crash inside the
// block leaves neither, and the resume runs the whole block again; a
// committed block is recorded as done and is never run again. Progress is
// never recorded inside a block. The last block of a file records the
// migration as applied.
func (r *Runner) applyBlock(ctx context.Context, m *source.Migration, u source.Unit, start time.Time) error {
	return r.retryLockTimeout(ctx, m.Version, func() error { return r.applyBlockOnce(ctx, m, u, start) },
		func(err error) { r.recordFailure(ctx, m, err, time.Since(start)) })
}

func (r *Runner) applyBlockOnce(ctx context.Context, m *source.Migration, u source.Unit, start time.Time) error {
	begin, body := m.Up.BlockBody(u)
	return r.applyUnitOnce(ctx, m, begin, body, u.End, start)
}

// applyUnit runs body, the statements of a no-transaction migration up to
// statement end (exclusive), in one transaction that commits with the
// progress row saying that end statements are done; the last unit of the
// migration records it complete. begin opens the transaction ("" for a
// plain BEGIN). A statement that can run in a transaction runs this way
// on its own, so it is applied exactly once.
func (r *Runner) applyUnit(ctx context.Context, m *source.Migration, begin string, body []source.Statement, end int, start time.Time) error {
	return r.retryLockTimeout(ctx, m.Version, func() error { return r.applyUnitOnce(ctx, m, begin, body, end, start) },
		func(err error) { r.recordFailure(ctx, m, err, time.Since(start)) })
}

func (r *Runner) applyUnitOnce(ctx context.Context, m *source.Migration, begin string, body []source.Statement, end int, start time.Time) error {
	wctx, cancel := r.workCtx(ctx)
	defer cancel()
	first := &m.Up.Statements[end-1]
	if len(body) > 0 {
		first = &body[0]
	}
	tx, err := r.D.Begin(wctx, r.Conn, &driver.TxOptions{LockTimeout: r.Opts.LockTimeout, IdleTimeout: r.Lease.TTL, Begin: begin})
	if err != nil {
		return r.stepErr(wctx, m, first, err)
	}
	last := end == len(m.Up.Statements)
	return r.runCommit(ctx, wctx, tx, m, body, last, &m.Up.Statements[end-1], func() driver.Record {
		return r.record(m, start, last, end)
	})
}
