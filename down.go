package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
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
	local, rows, target, err := m.downTarget(ctx, opts)
	if err != nil {
		return nil, err
	}
	// A database lost once the history was read (a restart, a killed
	// connection) is ridden out as in Up. Each retry aims at the same
	// target, decided by downTarget, so a revert that committed before
	// the connection broke is not followed by one more.
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

// downTarget validates opts, reads the history and fixes what Down aims
// at.
func (m *Migrator) downTarget(ctx context.Context, opts *DownOpts) ([]*source.Migration, []history.Applied, plan.DownTarget, error) {
	var target plan.DownTarget
	set := 0
	for _, on := range []bool{opts.Steps != 0, opts.To != 0, opts.All, opts.Unknown, opts.Version != 0} {
		if on {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, nil, target, configErr("DownOpts", "give at most one of DownOpts.Steps, DownOpts.To, DownOpts.Version and DownOpts.Unknown")
	case opts.Steps < 0:
		return nil, nil, target, configErr("DownOpts.Steps", "must be at least 1")
	case opts.To < 0:
		return nil, nil, target, configErr("DownOpts.To", "must be a version, or 0 for all")
	case opts.Version < 0:
		return nil, nil, target, configErr("DownOpts.Version", "must be a migration version")
	}
	local, err := m.migrations()
	if err != nil {
		return nil, nil, target, err
	}
	rows, err := m.readApplied(ctx, m.db, driver.ScriptColumns)
	if err != nil {
		return nil, nil, target, err
	}
	target = plan.DownTarget{Above: opts.To, Unknown: opts.Unknown, Dialect: m.d.Dialect()}
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
	return local, rows, target, nil
}

func (m *Migrator) downTo(ctx context.Context, local []*source.Migration, rows []history.Applied, target plan.DownTarget, timeout time.Duration, ignoreFleet string) (*DownResult, error) {
	res := &DownResult{}
	if rows == nil {
		var err error
		if rows, err = m.readApplied(ctx, m.db, driver.ScriptColumns); err != nil {
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
	recheck := func(ctx context.Context, q driver.Querier) (bool, error) {
		rows, err := m.readApplied(ctx, q, driver.ScriptColumns)
		if err != nil {
			return false, err
		}
		steps, err := plan.BuildDown(local, toStored(rows), target)
		return err == nil && len(steps) == 0, err
	}
	started := false // past the re-read: a failure from here on says where the database is
	ran, err := executor.Locked(ctx, m.d, m.db, m.lockedOpts(ctx, timeout, "", "reverted", nil, recheck),
		func(ctx context.Context, s *executor.Session) error {
			res.LockWait = s.Lease.Waited
			if rows, err = m.readApplied(ctx, s.Conn, driver.ScriptColumns); err != nil {
				return err
			}
			if steps, err = plan.BuildDown(local, toStored(rows), target); err != nil || len(steps) == 0 {
				res.NothingToDo, res.At = err == nil, newest(rows, nil)
				return err
			}
			for _, st := range steps {
				m.noteScript(ctx, st)
			}
			started = true
			res.Reverted, err = m.runner(ctx, s, false, m.legacy()).Down(ctx, steps)
			s.Done = res.Reverted
			return err
		})
	return m.downReport(ctx, res, rows, ran, started, err)
}

// downReport says where the database is after downTo's locked call.
func (m *Migrator) downReport(ctx context.Context, res *DownResult, rows []history.Applied, ran, started bool, err error) (*DownResult, error) {
	switch {
	case err != nil && !started:
		return nil, err
	case err != nil:
		res.At = newest(rows, res.Reverted)
		if errors.Is(err, ErrLockLost) {
			return res, fmt.Errorf("%w; the database is at version %d", err, res.At)
		}
		return res, fmt.Errorf("roll back: %w; the database is at version %d%s", err, res.At, revertedNote(res.Reverted))
	case !ran:
		if rows, err = m.readApplied(ctx, m.db, driver.RowColumns); err != nil {
			return nil, err
		}
		res.NothingToDo, res.At = true, newest(rows, nil)
		m.log.InfoContext(ctx, "another instance rolled back", slog.Int64("at", res.At))
	case started:
		res.At = newest(rows, res.Reverted)
	}
	return res, nil
}

func revertedNote(v []int64) string {
	if len(v) == 0 {
		return " (nothing was reverted)"
	}
	return " (reverted before the failure: " + history.VersionList(v) + ")"
}

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
		slog.String("file_down_checksum", source.ShortSum(st.FileChecksum)), slog.String("stored_down_checksum", source.ShortSum(st.StoredChecksum)))
}

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
	return configErr("UpOpts.IfAhead", "unknown policy %q (want fail, rollback or continue)", string(p))
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
		return nil, fmt.Errorf("%w: applied migrations %s are not in this build's directory (a newer deploy ran first, or this build is a rollback); revert them (Migrator.Down with DownOpts.Unknown), or set UpOpts.IfAhead to continue",
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
