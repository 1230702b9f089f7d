package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// IrreversibleError refuses a rollback that would have to revert a
// migration applied without a down section. Nothing was changed. Its exit
// status is 1.
type IrreversibleError = plan.IrreversibleError

// DownOpts select what Down reverts. At most one of Steps, To, All and
// Unknown may be set; a nil *DownOpts (or the zero value) reverts the
// newest applied migration only, the safe destructive default.
type DownOpts struct {
	// Steps reverts the Steps newest applied migrations. The target is
	// decided from the history read before waiting for the lock: Down
	// rolls back *to* the version below them. So when several instances
	// run `down --steps 1` at once against the same history, the
	// database goes back one step in total, not one per instance.
	// Defaults to 1 when To, All and Unknown are unset.
	Steps int
	// To reverts every applied migration newer than To. Defaults to
	// unset (0); use All to revert everything.
	To int64
	// All reverts every applied migration (the CLI's --to 0). Defaults
	// to false.
	All bool
	// Version reverts exactly this migration, which must be the newest
	// applied one; when it is no longer applied Down does nothing
	// (NothingToDo). It states what the caller means to remove, so any
	// number of instances running the same `down --version V` revert V
	// once in total, whenever each of them starts. Defaults to unset.
	Version int64
	// Unknown reverts, newest first, every applied migration that this
	// build's directory does not contain (a newer deploy's, after a revert
	// of the deploy). It is idempotent: the set is recomputed under the
	// lock. Defaults to false.
	Unknown bool
	// IgnoreFleet, when set, is the operator's reason to let Unknown go
	// ahead although live registered instances run a build that ships
	// what it reverts (recorded as a fleet_override event). Empty: Unknown
	// waits until no live instance ships them (see Register).
	IgnoreFleet string
	// Timeout bounds the wait for the lock (ErrTimeout). Defaults to
	// waiting as long as the holder is alive.
	Timeout time.Duration
}

// DownResult reports what Down did.
type DownResult struct {
	// Reverted are the versions this call reverted, newest first.
	Reverted []int64
	// NothingToDo is true when nothing was left to revert (possibly
	// because another instance reverted it while this one waited).
	NothingToDo bool
	// At is the newest version still applied afterwards (also after a
	// failure); 0 when none is.
	At int64
	// LockWait is how long this call waited for the lock.
	LockWait time.Duration
}

// Down rolls back applied migrations, newest first, under the same lock as
// Up. Each one runs the down section of its local file when the file is
// present, else the down script stored in the history when it was applied,
// so a build can revert migrations it never shipped. Each down commits in
// one transaction with the removal of its history row and its rollback
// event, fenced by the lock, so any number of processes may call Down at
// once and each migration is reverted exactly once. An irreversible
// migration among those to revert fails the call before anything runs
// (*IrreversibleError). A failing down records a failure event; its error
// names the file, statement and database error and the version the
// database is at.
func (m *Migrator) Down(ctx context.Context, opts *DownOpts) (*DownResult, error) {
	if opts == nil {
		opts = &DownOpts{}
	}
	set := 0
	for _, on := range []bool{opts.Steps != 0, opts.To != 0, opts.All, opts.Unknown, opts.Version != 0} {
		if on {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, configErr("down", "give at most one of --steps, --to, --version and --unknown")
	case opts.Steps < 0:
		return nil, configErr("--steps", "must be at least 1")
	case opts.To < 0:
		return nil, configErr("--to", "must be a version, or 0 for all")
	case opts.Version < 0:
		return nil, configErr("--version", "must be a migration version")
	}
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, true)
	if err != nil {
		return nil, err
	}
	target := plan.DownTarget{Above: opts.To, Unknown: opts.Unknown}
	switch {
	case opts.Version != 0:
		// Everything below V is kept; V alone is meant. A newer version
		// applied on top of it is refused rather than reverted.
		target.Above, target.Only = opts.Version-1, []int64{opts.Version}
	case set == 0 || opts.Steps > 0:
		// The versions meant are fixed by this read: under the lock a
		// runner reverts those still applied, and nothing once another
		// runner has reverted them.
		stored := toStored(rows)
		target.Above = plan.StepsTarget(stored, max(opts.Steps, 1))
		target.Only = plan.StepsVersions(stored, max(opts.Steps, 1))
		m.log.InfoContext(ctx, "reverting the newest applied migrations as read now; in a fleet, state the version with --version", slog.Any("versions", target.Only))
	}
	// A database lost once the history was read (a restart, a killed
	// connection) is ridden out as in Up. Each retry aims at the same
	// target, decided above, so a revert that committed before the
	// connection broke is not followed by one more.
	var res *DownResult
	var reverted []int64
	err = m.rideOut(ctx, opts.Timeout, func(left time.Duration) (bool, error) {
		r, err := m.downTo(ctx, local, rows, target, left, opts.IgnoreFleet)
		rows = nil // a retry reads afresh
		if r != nil {
			reverted = append(reverted, r.Reverted...)
			r.Reverted = reverted
			res = r
		}
		return true, err
	})
	if err == nil && res != nil && len(reverted) > 0 {
		res.NothingToDo = false
	}
	return res, err
}

// downTo is one attempt of Down at a fixed target. rows is the history
// when the caller has just read it, nil to read it here.
func (m *Migrator) downTo(ctx context.Context, local []*source.Migration, rows []history.Applied, target plan.DownTarget, timeout time.Duration, ignoreFleet string) (*DownResult, error) {
	res := &DownResult{}
	if rows == nil {
		var err error
		if rows, err = m.readApplied(ctx, m.db, true); err != nil {
			return nil, err
		}
	}
	steps, err := plan.BuildDown(local, toStored(rows), target)
	if err != nil {
		return nil, err
	}
	if len(steps) == 0 {
		res.NothingToDo, res.At = true, newest(rows, nil)
		m.log.InfoContext(ctx, "nothing to roll back", slog.Int64("at", res.At))
		return res, nil
	}
	if target.Unknown {
		vs := make([]int64, len(steps))
		for i, st := range steps {
			vs[i] = st.Version
		}
		if err := m.awaitRollback(ctx, vs, timeout, ignoreFleet); err != nil {
			return res, err
		}
	}
	lease, err := lock.Acquire(ctx, m.d, m.db, m.actor, lock.Options{
		TTL: m.cfg.LeaseTTL, Poll: m.cfg.PollInterval, Timeout: timeout,
		OnWait: func(h *driver.Holder, waited time.Duration) { m.logHolder(ctx, h, waited) },
		Recheck: func(ctx context.Context, q driver.Querier) (bool, error) {
			rows, err := m.readApplied(ctx, q, true)
			if err != nil {
				return false, err
			}
			steps, err := plan.BuildDown(local, toStored(rows), target)
			return err == nil && len(steps) == 0, err
		},
	})
	if err != nil {
		return nil, err
	}
	if lease == nil {
		rows, err := m.readApplied(ctx, m.db, false)
		if err != nil {
			return nil, err
		}
		res.NothingToDo, res.At = true, newest(rows, nil)
		m.log.InfoContext(ctx, "another instance rolled back", slog.Int64("at", res.At))
		return res, nil
	}
	defer func() {
		if rerr := lease.Release(ctx); rerr != nil {
			m.log.WarnContext(ctx, "could not release the lock; it expires on its own", slog.String("error", rerr.Error()))
		}
	}()
	res.LockWait = lease.Waited
	// Re-read under the lock: the runner we waited for may have reverted
	// (or applied) some of them.
	if rows, err = m.readApplied(ctx, m.db, true); err != nil {
		return nil, err
	}
	if steps, err = plan.BuildDown(local, toStored(rows), target); err != nil {
		return nil, err
	}
	m.recordLockWait(ctx, lease)
	if len(steps) == 0 {
		res.NothingToDo, res.At = true, newest(rows, nil)
		return res, nil
	}
	for _, st := range steps {
		m.noteScript(ctx, st)
	}
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	defer conn.Close()
	r := &executor.Runner{D: m.d, Conn: conn, Lease: lease, Actor: m.actor, Logger: m.log, Monitor: m.db, Legacy: m.legacy(),
		Opts: executor.Options{LockTimeout: m.cfg.LockTimeout, LockRetries: m.cfg.LockRetries}}
	res.Reverted, err = r.Down(ctx, steps)
	res.At = newest(rows, res.Reverted)
	if err != nil {
		if lease.Lost() || errors.Is(err, ErrLockLost) {
			return res, fmt.Errorf("%w; the database is at version %d", m.lockLost(ctx, lease, "down", res.Reverted, err), res.At)
		}
		return res, fmt.Errorf("roll back: %w; the database is at version %d%s", err, res.At, revertedNote(res.Reverted))
	}
	return res, nil
}

func revertedNote(v []int64) string {
	if len(v) == 0 {
		return " (nothing was reverted)"
	}
	return " (reverted before the failure: " + joinVersions(v) + ")"
}

func joinVersions(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ", ")
}

// noteScript says which down script runs when the file's differs from the
// one stored when the migration was applied.
func (m *Migrator) noteScript(ctx context.Context, st plan.DownStep) {
	if !st.FromFile || !st.Differs {
		return
	}
	if st.StoredChecksum == "" {
		m.log.WarnContext(ctx, "running the file's down section; none was stored when the migration was applied",
			slog.Int64("version", st.Version), slog.String("file", st.File))
		return
	}
	m.log.WarnContext(ctx, "the file's down section differs from the one stored when the migration was applied; running the file's",
		slog.Int64("version", st.Version), slog.String("file", st.File),
		slog.String("file_down_checksum", shortSum(st.FileChecksum)), slog.String("stored_down_checksum", shortSum(st.StoredChecksum)))
}

func shortSum(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func (m *Migrator) recordLockWait(ctx context.Context, lease *lock.Lease) {
	if lease.Waited <= 2*m.cfg.PollInterval {
		return
	}
	ev := &history.Event{Kind: history.KindLockWait, LockWaitMS: lease.Waited.Milliseconds(), Actor: m.actor, LockGeneration: lease.Gen}
	if err := m.d.AppendEvent(ctx, m.db, ev); err != nil {
		m.log.WarnContext(ctx, "could not record the lock wait", slog.String("error", err.Error()))
	}
}

// newest is the highest applied version once the versions in gone are
// removed.
func newest(rows []history.Applied, gone []int64) int64 {
	var v int64
	for _, r := range rows {
		if !slices.Contains(gone, r.Version) {
			v = max(v, r.Version)
		}
	}
	return v
}

func toStored(rows []history.Applied) []plan.Stored {
	out := make([]plan.Stored, len(rows))
	for i, r := range rows {
		out[i] = plan.Stored{Version: r.Version, Name: r.Name, Reversible: r.HasDown, DownSQL: r.DownSQL, DownChecksum: r.DownChecksum}
	}
	return out
}

// IfAhead is the policy of Up (and Wait and Run) when the database holds
// migrations newer than every file of this build: a newer deploy ran
// first, or the deploy was reverted to this build.
type IfAhead string

const (
	// IfAheadContinue logs a warning naming the unknown versions and goes
	// on: pre-phase changes are compatible with older code by contract.
	IfAheadContinue IfAhead = "continue"
	// IfAheadFail stops with ErrDatabaseAhead (exit 4).
	IfAheadFail IfAhead = "fail"
	// IfAheadRollback reverts the unknown migrations (Down with Unknown)
	// with their stored down scripts, then goes on.
	IfAheadRollback IfAhead = "rollback"
)

func (p IfAhead) valid() error {
	switch p {
	case "", IfAheadContinue, IfAheadFail, IfAheadRollback:
		return nil
	}
	return configErr("--if-ahead", "unknown policy %q (want fail, rollback or continue)", string(p))
}

// resolveAhead applies policy to ahead, the applied versions newer than
// every local file that a plan found. It returns the versions it rolled
// back; the caller re-plans when there are any. Up calls it, and so can
// Wait and Run. aheadNames are "<version>_<name>" for the messages.
func (m *Migrator) resolveAhead(ctx context.Context, policy IfAhead, ahead []int64, aheadNames []string, timeout time.Duration, ignoreFleet string) ([]int64, error) {
	if len(ahead) == 0 {
		return nil, nil
	}
	switch policy {
	case IfAheadFail:
		return nil, fmt.Errorf("%w: applied migrations %s are not in this build's directory (a newer deploy ran first, or this build is a rollback); run `fleetgate down --unknown` to revert them, or use --if-ahead=continue",
			ErrDatabaseAhead, strings.Join(aheadNames, ", "))
	case IfAheadRollback:
		m.log.InfoContext(ctx, "rolling back the migrations this build does not ship (--if-ahead=rollback)",
			slog.Any("unknown_versions", ahead))
		res, err := m.Down(ctx, &DownOpts{Unknown: true, Timeout: timeout, IgnoreFleet: ignoreFleet})
		if res != nil {
			return res.Reverted, err
		}
		return nil, err
	default:
		// The warning naming them is noteAhead's; pre-phase changes are
		// compatible with older code by contract.
		return nil, nil
	}
}

// aheadOf lists the ahead versions of a plan, and their names.
func aheadOf(p *plan.Plan) (versions []int64, names []string) {
	for _, a := range p.Ahead {
		versions = append(versions, a.Version)
		names = append(names, fmt.Sprintf("%d_%s", a.Version, a.Name))
	}
	return versions, names
}
