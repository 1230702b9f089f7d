package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/legacy"
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
	local, format, p, err := m.readUp(ctx, opts, popts, st)
	if err != nil {
		return nil, err
	}
	res := &UpResult{}
	if local, p, err = m.aheadFirst(ctx, opts, popts, local, p, res); err != nil || len(p.Steps) == 0 {
		if err == nil {
			res.UpToDate = true
			m.log.InfoContext(ctx, "schema is up to date", slog.Int("migrations", len(local)))
		}
		return res, err
	}
	if err := m.awaitContract(ctx, p, opts); err != nil {
		return res, err
	}
	recheck := func(ctx context.Context, q driver.Querier) (bool, error) {
		_, p, err := m.planOn(ctx, q, local, popts)
		return err == nil && len(p.Steps) == 0, err
	}
	started, waitStart := false, time.Now() // started: past the re-read, a failure reports what was done
	ran, err := executor.Locked(ctx, m.d, m.db, m.lockedOpts(ctx, opts.Timeout, st.token, "applied", m.ensureTables, recheck),
		func(ctx context.Context, s *executor.Session) error {
			st.token, res.LockWait = s.Lease.Token, s.Lease.Waited
			// Re-read under the lock: whatever we saw before may have been
			// applied by the runner we waited for.
			_, p, err := m.planOn(ctx, s.Conn, local, popts)
			if err != nil || len(p.Steps) == 0 {
				res.UpToDate = err == nil
				return err
			}
			started = true
			return m.upLocked(ctx, s, p, format, res)
		})
	switch {
	case errors.Is(err, ErrTimeout) && !started:
		return nil, m.lockTimeout(ctx, p, time.Since(waitStart))
	case err != nil && !started:
		return nil, err
	case !ran && err == nil:
		res.UpToDate = true
		m.log.InfoContext(ctx, "another instance applied the pending migrations")
	}
	return res, err
}

// lockTimeout is the error of an Up whose wait for the lock ran out: the
// one Wait returns, naming what is pending and who holds the lock.
func (m *Migrator) lockTimeout(ctx context.Context, p *plan.Plan, waited time.Duration) error {
	te := &WaitTimeoutError{Waited: waited, Pending: []int64{}}
	for _, st := range p.Steps {
		te.Pending = append(te.Pending, st.Migration.Version)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if h, err := m.d.ReadHolder(rctx, m.db); err == nil {
		te.Holder = lockHolder(h)
	}
	return te
}

// upLocked checks and applies the plan under the lock. The checks run
// here, before any change: in a fleet only the instance that applies the
// migrations loads the parser (a second and more of CPU), not every
// instance that starts. A refusal changes nothing. format is the files'
// (it says which other tool's history table to keep in step).
func (m *Migrator) upLocked(ctx context.Context, s *executor.Session, p *plan.Plan, format source.Format, res *UpResult) error {
	if err := mustBeParsed(p); err != nil {
		return err
	}
	checked, err := m.checkPending(ctx, p)
	if err != nil {
		return err
	}
	defer checked()
	er, err := m.runner(ctx, s, true, m.legacyFor(format)).Up(ctx, p.Steps)
	if er != nil {
		res.Applied, s.Done = er.Applied, er.Applied
	}
	return err
}

// readUp validates opts, reads the history while the files are read (on
// a no-op up, which every instance of a fleet runs at every start, the two
// together are most of the work) and plans. format is the files'.
//
// The files are checked against the history before they are parsed: one
// that is exactly what was applied is verified by its checksums and not
// parsed (source.LoadVerified says why that keeps every promise about
// malformed files), so a no-op parses nothing, and an up that applies one
// migration onto a thousand parses that one: every file that is not
// exactly what was applied is parsed, as migrations() would parse it,
// and that is all a plan runs or checks (planUp makes sure of it).
func (m *Migrator) readUp(ctx context.Context, opts *UpOpts, popts plan.Options, st *upState) ([]*source.Migration, source.Format, *plan.Plan, error) {
	if popts.Phase != "" && popts.Phase != PhasePre && popts.Phase != PhasePost {
		return nil, "", nil, configErr("UpOpts.Phase", "unknown phase %q (want pre or post)", string(opts.Phase))
	}
	if err := opts.IfAhead.valid(); err != nil {
		return nil, "", nil, err
	}
	type read struct {
		rows []history.Applied
		err  error
	}
	rowsCh := make(chan read, 1)
	go func() {
		rows, err := m.readApplied(ctx, m.db, driver.PlanColumns)
		rowsCh <- read{rows, err}
	}()
	rows := sync.OnceValue(func() read { return <-rowsCh })
	local, format, err := m.verifiedMigrations(func() map[int64]source.Applied {
		r := rows()
		if r.err != nil {
			return nil // parse every file; the error is reported below
		}
		applied := make(map[int64]source.Applied, len(r.rows))
		for _, a := range r.rows {
			if a.Complete {
				applied[a.Version] = source.Applied{Checksum: a.Checksum, DownChecksum: a.DownChecksum}
			}
		}
		return applied
	})
	rd := rows()
	if err != nil {
		return nil, "", nil, err
	}
	if err := checkTarget(local, opts.To, m.cfg.Label); err != nil {
		return nil, "", nil, err
	}
	if rd.err != nil {
		return nil, "", nil, rd.err
	}
	st.contacted = true
	local, p, err := m.planUp(local, plan.FromHistory(rd.rows), popts)
	return local, format, p, err
}

// planUp plans an up from local, which LoadVerified may have left partly
// unparsed, and returns the migrations the plan refers to. The plan of
// the rows LoadVerified was given needs no unparsed migration: what they
// call applied is not run, and every other file was parsed. Rows read
// later may: another runner rolled a migration back in between (it is
// pending now, and what runs and is checked must be parsed), or left a
// no-transaction one half applied again (whether an edit of it is allowed
// depends on its parsed statements). Then, and whenever planning fails
// (so that the error is the one the parsed files give), the plan is made
// again from every file parsed.
func (m *Migrator) planUp(local []*source.Migration, applied []plan.Applied, popts plan.Options) ([]*source.Migration, *plan.Plan, error) {
	p, err := plan.Build(local, applied, popts)
	if err == nil && mustBeParsed(p) == nil || !slices.ContainsFunc(local, func(mg *source.Migration) bool { return mg.Unparsed }) {
		return local, p, err
	}
	full, err := m.migrations()
	if err != nil {
		return nil, nil, err
	}
	p, err = plan.Build(full, applied, popts)
	return full, p, err
}

// mustBeParsed refuses a plan that would run or check a migration that
// LoadVerified did not parse (planUp never makes one).
func mustBeParsed(p *plan.Plan) error {
	for _, st := range p.Steps {
		if st.Migration.Unparsed {
			return fmt.Errorf("internal error: migration %d was planned to run without being parsed", st.Migration.Version)
		}
	}
	for _, mg := range p.Deferred {
		if mg.Unparsed {
			return fmt.Errorf("internal error: migration %d was planned without being parsed", mg.Version)
		}
	}
	return nil
}

// aheadFirst notes a database ahead of this build and applies the IfAhead
// policy, re-planning after a rollback.
func (m *Migrator) aheadFirst(ctx context.Context, opts *UpOpts, popts plan.Options, local []*source.Migration, p *plan.Plan,
	res *UpResult) ([]*source.Migration, *plan.Plan, error) {
	m.noteAhead(ctx, p, res)
	if len(res.Ahead) == 0 || opts.IfAhead == "" || opts.IfAhead == IfAheadContinue {
		return local, p, nil
	}
	_, names := aheadOf(p)
	var err error
	res.RolledBack, err = m.resolveAhead(ctx, opts.IfAhead, res.Ahead, names, opts.Timeout, opts.IgnoreFleet)
	if err != nil {
		return local, p, err
	}
	return m.planOn(ctx, m.db, local, popts)
}

// lockedOpts are the options of every lease-scoped call: the lock's
// settings, a wait that names the holder, and a long wait recorded.
func (m *Migrator) lockedOpts(ctx context.Context, timeout time.Duration, reclaim, verb string, ensure func(context.Context) error,
	recheck func(context.Context, driver.Querier) (bool, error)) executor.LockedOptions {
	return executor.LockedOptions{
		Lock: lock.Options{TTL: m.cfg.LeaseTTL, Poll: m.cfg.PollInterval, Timeout: timeout, Reclaim: reclaim, Recheck: recheck,
			OnWait: func(h *driver.Holder, waited time.Duration) { m.logHolder(ctx, h, waited) }},
		Ensure: ensure, Actor: m.actor, Logger: m.log, RecordWaitOver: 2 * m.cfg.PollInterval, Verb: verb,
	}
}

// runner runs migrations on the session's connection, keeping lg (when
// not nil) in step; progress reports are for up.
func (m *Migrator) runner(ctx context.Context, s *executor.Session, progress bool, lg *legacy.Table) *executor.Runner {
	r := &executor.Runner{D: m.d, Conn: s.Conn, Lease: s.Lease, Actor: m.actor, Logger: m.log, Monitor: m.db, Legacy: lg,
		Opts: executor.Options{LockTimeout: m.cfg.LockTimeout, LockRetries: m.cfg.LockRetries}}
	if progress {
		r.Opts.ProgressEvery, r.Opts.Progress = progressEvery, func(p executor.Progress) { m.logProgress(ctx, p) }
	}
	return r
}

// plan reads the history (versions and checksums only) and plans.
func (m *Migrator) plan(ctx context.Context, local []*source.Migration, popts plan.Options) (*plan.Plan, error) {
	rows, err := m.readApplied(ctx, m.db, driver.PlanColumns)
	if err != nil {
		return nil, err
	}
	return plan.Build(local, plan.FromHistory(rows), popts)
}

// planOn reads the history on q and plans an up with planUp: a waiter
// re-checks on the connection it polls the lock with, so it holds one,
// not two.
func (m *Migrator) planOn(ctx context.Context, q driver.Querier, local []*source.Migration, popts plan.Options) ([]*source.Migration, *plan.Plan, error) {
	rows, err := m.readApplied(ctx, q, driver.PlanColumns)
	if err != nil {
		return nil, nil, err
	}
	return m.planUp(local, plan.FromHistory(rows), popts)
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
