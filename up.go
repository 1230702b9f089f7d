package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Phase is a migration's deploy phase: pre (expand, before new code
// starts) or post (contract, after no old code is left).
type Phase = source.Phase

const (
	PhasePre  = source.PhasePre
	PhasePost = source.PhasePost
)

// UpOpts select what Up applies. A nil *UpOpts applies every pending
// pre-phase migration.
type UpOpts struct {
	// To is the highest version to apply. Defaults to all.
	To int64
	// Phase to run; post also applies pending pre-phase migrations first.
	// Defaults to pre.
	Phase Phase
	// AllowOutOfOrder applies pending migrations older than applied ones
	// instead of refusing with a ValidationError. Defaults to false.
	AllowOutOfOrder bool
	// Timeout bounds the wait for the lock (ErrTimeout). Defaults to
	// waiting as long as the holder is alive.
	Timeout time.Duration
	// IfAhead is what to do when the database has migrations newer than
	// every file of this build: continue (warn), fail (ErrDatabaseAhead)
	// or rollback (Down with Unknown, then go on). Defaults to
	// IfAheadContinue.
	IfAhead IfAhead
	// IgnoreFleet, when set, is the operator's reason to apply post-phase
	// migrations (or, with IfAheadRollback, to roll back) although live
	// registered instances run builds that would break; it is recorded as
	// a fleet_override event. Empty: wait for the fleet (see Register).
	IgnoreFleet string
}

// UpResult reports what Up did.
type UpResult struct {
	// Applied are the versions this call applied, in order.
	Applied []int64
	// UpToDate is true when nothing was pending (possibly because another
	// runner applied it while this one waited).
	UpToDate bool
	// Ahead are applied versions newer than every file of this build.
	Ahead []int64
	// RolledBack are the versions that IfAheadRollback reverted first.
	RolledBack []int64
	// Deferred are pending post-phase versions left for `up --phase post`.
	Deferred []int64
	// LockWait is how long this call waited for the lock.
	LockWait time.Duration
}

// Up applies pending migrations. It takes the lock only when something is
// pending, waits (polling) while another runner holds it, and then re-reads
// the history, so any number of processes may call Up at once and each
// migration is applied exactly once.
//
// A database that becomes unreachable once Up has read the history (a
// server restart, a killed or reset connection, a failover) is ridden
// out: Up retries, with jittered backoff, until the database answers again
// or Timeout (when set, else lock.DefaultOutage of failures in a row) runs
// out, and then starts over: it re-reads, re-acquires the lock (its own
// lease at once, if that is still in place) and re-plans, so a migration
// whose transaction the lost connection rolled back runs again, and one
// that committed is not. A database unreachable from the start fails at
// once.
func (m *Migrator) Up(ctx context.Context, opts *UpOpts) (*UpResult, error) {
	if opts == nil {
		opts = &UpOpts{}
	}
	st := &upState{}
	var res *UpResult
	var applied []int64
	err := m.rideOut(ctx, opts.Timeout, func(left time.Duration) (bool, error) {
		o := *opts
		o.Timeout = left
		r, err := m.upOnce(ctx, &o, st)
		if r != nil {
			applied = append(applied, r.Applied...)
			r.Applied = applied
			res = r
		}
		return st.contacted, err
	})
	if err == nil && res != nil && len(applied) > 0 {
		res.UpToDate = false
	}
	return res, err
}

// upState carries what one attempt of Up learnt into the next.
type upState struct {
	contacted bool   // the history was read once: the database exists and lets us in
	token     string // the lease token of the last attempt, reclaimable at once
}

func (m *Migrator) upOnce(ctx context.Context, opts *UpOpts, st *upState) (*UpResult, error) {
	popts := plan.Options{Target: opts.To, Phase: opts.Phase, AllowOutOfOrder: opts.AllowOutOfOrder}
	if popts.Phase != "" && popts.Phase != PhasePre && popts.Phase != PhasePost {
		return nil, configErr("--phase", "unknown phase %q (want pre or post)", string(opts.Phase))
	}
	if err := opts.IfAhead.valid(); err != nil {
		return nil, err
	}
	// Read the history while the files are parsed: on a no-op up, which
	// every instance of a fleet runs at every start, the two together are
	// most of the work.
	type read struct {
		rows []history.Applied
		err  error
	}
	rowsCh := make(chan read, 1)
	go func() {
		rows, err := m.readApplied(ctx, m.db, false)
		rowsCh <- read{rows, err}
	}()
	local, err := m.migrations()
	rd := <-rowsCh
	if err != nil {
		return nil, err
	}
	if err := checkTarget(local, opts.To, m.cfg.Label); err != nil {
		return nil, err
	}
	if rd.err != nil {
		return nil, rd.err
	}
	st.contacted = true
	p, err := plan.Build(local, toPlan(rd.rows), popts)
	if err != nil {
		return nil, err
	}
	res := &UpResult{}
	m.noteAhead(ctx, p, res)
	if len(res.Ahead) > 0 && opts.IfAhead != "" && opts.IfAhead != IfAheadContinue {
		_, names := aheadOf(p)
		res.RolledBack, err = m.resolveAhead(ctx, opts.IfAhead, res.Ahead, names, opts.Timeout, opts.IgnoreFleet)
		if err != nil {
			return res, err
		}
		if p, err = m.plan(ctx, local, popts); err != nil {
			return res, err
		}
	}
	if len(p.Steps) == 0 {
		res.UpToDate = true
		m.log.InfoContext(ctx, "schema is up to date", slog.Int("migrations", len(local)))
		return res, nil
	}
	if err := m.awaitContract(ctx, p, opts); err != nil {
		return res, err
	}
	if err := m.ensureTables(ctx); err != nil {
		return nil, err
	}
	lease, err := lock.Acquire(ctx, m.d, m.db, m.actor, lock.Options{
		TTL: m.cfg.LeaseTTL, Poll: m.cfg.PollInterval, Timeout: opts.Timeout, Reclaim: st.token,
		OnWait: func(h *driver.Holder, waited time.Duration) { m.logHolder(ctx, h, waited) },
		Recheck: func(ctx context.Context, q driver.Querier) (bool, error) {
			p, err := m.planOn(ctx, q, local, popts)
			return err == nil && len(p.Steps) == 0, err
		},
	})
	if err != nil {
		return nil, err
	}
	if lease == nil {
		res.UpToDate = true
		m.log.InfoContext(ctx, "another instance applied the pending migrations")
		return res, nil
	}
	st.token = lease.Token
	defer func() {
		if rerr := lease.Release(ctx); rerr != nil {
			m.log.WarnContext(ctx, "could not release the lock; it expires on its own", slog.String("error", rerr.Error()))
		}
	}()
	res.LockWait = lease.Waited
	// Re-read under the lock: whatever we saw before may have been applied
	// by the runner we waited for (R3).
	p, err = m.plan(ctx, local, popts)
	if err != nil {
		return nil, err
	}
	if lease.Waited > 2*m.cfg.PollInterval {
		ev := &history.Event{Kind: history.KindLockWait, LockWaitMS: lease.Waited.Milliseconds(), Actor: m.actor, LockGeneration: lease.Gen}
		if err := m.d.AppendEvent(ctx, m.db, ev); err != nil {
			m.log.WarnContext(ctx, "could not record the lock wait", slog.String("error", err.Error()))
		}
	}
	if len(p.Steps) == 0 {
		res.UpToDate = true
		return res, nil
	}
	// The checks run here, under the lock and before any change: in a
	// fleet only the instance that applies the migrations loads the parser
	// (a second and more of CPU), not every instance that starts. A
	// refusal changes nothing; the lock is released on return.
	checked, err := m.checkPending(ctx, p)
	if err != nil {
		return res, err
	}
	defer checked()
	conn, err := driver.Conn(ctx, m.db)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	r := &executor.Runner{D: m.d, Conn: conn, Lease: lease, Actor: m.actor, Logger: m.log, Monitor: m.db, Legacy: m.legacy(),
		Opts: executor.Options{LockTimeout: m.cfg.LockTimeout, LockRetries: m.cfg.LockRetries,
			ProgressEvery: progressEvery, Progress: func(p executor.Progress) { m.logProgress(ctx, p) }}}
	er, err := r.Up(ctx, p.Steps)
	if er != nil {
		res.Applied = er.Applied
	}
	if err != nil {
		if lease.Lost() || errors.Is(err, ErrLockLost) {
			return res, m.lockLost(ctx, lease, "up", res.Applied, err)
		}
		return res, err
	}
	return res, nil
}

// plan reads the history (versions and checksums only) and plans.
func (m *Migrator) plan(ctx context.Context, local []*source.Migration, popts plan.Options) (*plan.Plan, error) {
	return m.planOn(ctx, m.db, local, popts)
}

// planOn is plan on a given connection: a waiter re-checks on the
// connection it polls the lock with, so it holds one, not two.
func (m *Migrator) planOn(ctx context.Context, q driver.Querier, local []*source.Migration, popts plan.Options) (*plan.Plan, error) {
	rows, err := m.readApplied(ctx, q, false)
	if err != nil {
		return nil, err
	}
	return plan.Build(local, toPlan(rows), popts)
}

func (m *Migrator) noteAhead(ctx context.Context, p *plan.Plan, res *UpResult) {
	for _, a := range p.Ahead {
		res.Ahead = append(res.Ahead, a.Version)
	}
	for _, d := range p.Deferred {
		res.Deferred = append(res.Deferred, d.Version)
	}
	if len(res.Ahead) > 0 {
		_, names := aheadOf(p)
		m.log.WarnContext(ctx, "database is ahead of this build: it has migrations this build does not ship (a newer deploy ran first, or this build is a rollback); pre-phase changes are compatible with older code",
			slog.Any("unknown_versions", res.Ahead), slog.String("unknown", strings.Join(names, " ")))
	}
}

func (m *Migrator) logHolder(ctx context.Context, h *driver.Holder, waited time.Duration) {
	attrs := []any{slog.String("host", h.Host), slog.Int("pid", h.PID), slog.String("deploy_id", h.DeployID),
		slog.Time("since", h.AcquiredAt), slog.Duration("waited", waited.Round(100*time.Millisecond))}
	if h.CurrentVersion != 0 {
		attrs = append(attrs, slog.Int64("running", h.CurrentVersion),
			slog.Duration("running_for", h.Now.Sub(h.CurrentStartedAt).Round(100*time.Millisecond)))
	}
	m.log.InfoContext(ctx, "waiting for the migration lock", attrs...)
}
