package fleetgate

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// State of one migration in Status.
type State string

const (
	StateApplied  State = "applied"
	StatePending  State = "pending"
	StatePartial  State = "partial"  // a no-transaction migration interrupted part way
	StateModified State = "modified" // applied, but the file changed since
	StateMissing  State = "missing"  // applied, file absent, older than the newest file (a hole)
	StateAhead    State = "ahead"    // applied, file absent, newer than every file (a newer deploy)
)

// MigrationStatus is one row of Status.
type MigrationStatus struct {
	Version   int64      `json:"version"`
	Name      string     `json:"name"`
	Phase     string     `json:"phase"`
	State     State      `json:"state"`
	File      string     `json:"file,omitempty"`
	AppliedAt *time.Time `json:"applied_at,omitempty"`
	AppliedBy string     `json:"applied_by,omitempty"` // host:pid
	DeployID  string     `json:"deploy_id,omitempty"`
	Adopted   bool       `json:"adopted,omitempty"`
	// Progress of a migration interrupted part way (run statement by
	// statement): StatementsDone of the file's Statements ran and stay.
	// When its last run stopped on a failed statement (not a crash),
	// Error is that failure and ErrorLine the statement's line.
	StatementsDone int    `json:"statements_done,omitempty"`
	Statements     int    `json:"statements,omitempty"`
	Error          string `json:"error,omitempty"`
	ErrorLine      int    `json:"error_line,omitempty"`
}

// LockHolder describes who holds the migration lock.
type LockHolder struct {
	Host           string    `json:"host"`
	PID            int       `json:"pid"`
	DeployID       string    `json:"deploy_id,omitempty"`
	Since          time.Time `json:"since"`
	ExpiresAt      time.Time `json:"expires_at"`
	RunningVersion int64     `json:"running_version,omitempty"`
}

// Status is the state of every migration known locally or in the database.
type Status struct {
	Migrations []MigrationStatus `json:"migrations"`
	Lock       *LockHolder       `json:"lock"`
	// Failure is the last failed attempt that nothing has settled since:
	// the newest event of the oldest migration not applied (or of the
	// newest applied one, for a failed revert), when that event is a
	// failure. A later apply, revert or resolve of the version hides it.
	Failure *Event `json:"failure,omitempty"`
}

// Status reads the history without writing or locking; it works with
// read-only credentials and on a database fleetgate never touched.
func (m *Migrator) Status(ctx context.Context) (*Status, error) {
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, driver.RowColumns)
	if err != nil {
		return nil, err
	}
	st := &Status{Migrations: []MigrationStatus{}}
	byV := map[int64]*source.Migration{}
	var maxLocal int64
	for _, mg := range local {
		byV[mg.Version] = mg
		maxLocal = max(maxLocal, mg.Version)
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		seen[r.Version] = true
		at := r.AppliedAt
		ms := MigrationStatus{Version: r.Version, Name: r.Name, Phase: r.Phase, State: StateApplied, AppliedAt: &at,
			AppliedBy: hostPID(r.Actor.Host, r.Actor.PID), DeployID: r.Actor.DeployID, Adopted: r.Adopted}
		mg, ok := byV[r.Version]
		switch {
		case !ok && r.Version > maxLocal:
			ms.State = StateAhead
		case !ok:
			ms.State = StateMissing
		case mg.Checksum != r.Checksum:
			ms.State, ms.File = StateModified, mg.File
		case !r.Complete:
			ms.State, ms.File, ms.AppliedAt = StatePartial, mg.File, nil
		default:
			ms.File = mg.File
		}
		if ok && !r.Complete {
			ms.StatementsDone, ms.Statements = r.StatementsDone, len(mg.Up.Statements)
			ms.Error, ms.ErrorLine = m.lastFailure(ctx, r.Version)
		}
		st.Migrations = append(st.Migrations, ms)
	}
	for _, mg := range local {
		if !seen[mg.Version] {
			st.Migrations = append(st.Migrations, MigrationStatus{Version: mg.Version, Name: mg.Name,
				Phase: string(mg.Phase), State: StatePending, File: mg.File})
		}
	}
	sortStatus(st.Migrations)
	if ok, _ := m.d.TablesExist(ctx, m.db); ok {
		h, err := m.d.ReadHolder(ctx, m.db)
		if err != nil {
			return nil, err
		}
		st.Lock = lockHolder(h)
		if st.Failure, err = m.standingFailure(ctx, st.Migrations); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// standingFailure finds Status's Failure. Migrations apply in version
// order and revert newest first, so only two versions can hold a failure
// that still stands: the oldest one not completely applied (a failed up)
// and the newest applied one (a failed down). One read of the newest event
// each (walking the events' key backwards), so that status over a
// thousand targets stays cheap.
func (m *Migrator) standingFailure(ctx context.Context, migs []MigrationStatus) (*Event, error) {
	var first, last int64
	for _, mg := range migs {
		switch mg.State {
		case StatePending, StatePartial:
			if first == 0 {
				first = mg.Version
			}
		case StateApplied, StateModified, StateAhead, StateMissing:
			last = mg.Version
		}
	}
	var found *Event
	for _, v := range []int64{first, last} {
		if v == 0 {
			continue
		}
		evs, err := m.d.ReadEvents(ctx, m.db, v, time.Time{}, 1)
		if driver.Is(m.d, err, driver.ErrPermission) {
			// A role granted only the history and the lock (docs/deploy.md)
			// still gets its status, without the failure.
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if len(evs) == 1 && evs[0].Kind == history.KindFailure && (found == nil || evs[0].ID > found.ID) {
			e := eventOf(evs[0])
			found = &e
		}
	}
	return found, nil
}

// lastFailure is the error of a partly applied migration's last run when
// that run stopped on a failed statement: the newest of its failure,
// apply and resolve events is a failure. "" when it is not (a crash
// writes no event), or when the events cannot be read: the status is
// worth showing without it.
func (m *Migrator) lastFailure(ctx context.Context, version int64) (string, int) {
	evs, err := m.d.ReadEvents(ctx, m.db, version, time.Time{}, 20)
	if err != nil {
		return "", 0
	}
	for _, e := range evs {
		switch e.Kind {
		case history.KindFailure:
			return e.Error, e.StatementLine
		case history.KindApply, history.KindResolve, history.KindRollback:
			return "", 0
		}
	}
	return "", 0
}

// lockHolder is the live holder as Status and the timeout errors name it,
// nil when the lock is free or its lease ran out.
func lockHolder(h *driver.Holder) *LockHolder {
	if h == nil || !h.ExpiresAt.After(h.Now) {
		return nil
	}
	return &LockHolder{Host: h.Host, PID: h.PID, DeployID: h.DeployID, Since: h.AcquiredAt,
		ExpiresAt: h.ExpiresAt, RunningVersion: h.CurrentVersion}
}

func sortStatus(s []MigrationStatus) {
	sort.Slice(s, func(i, j int) bool { return s[i].Version < s[j].Version })
}

func hostPID(host string, pid int) string {
	if host == "" {
		return ""
	}
	return host + ":" + strconv.Itoa(pid)
}

// Validate checks the files (format, duplicates) and, against the database,
// that no applied migration was edited or is missing and that no pending
// one is older than an applied one. It never writes.
func (m *Migrator) Validate(ctx context.Context) error {
	local, err := m.migrations()
	if err != nil {
		return err
	}
	_, err = m.plan(ctx, local, plan.Options{Phase: PhasePost})
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve
	}
	return err
}
