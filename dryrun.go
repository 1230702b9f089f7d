package fleetgate

import (
	"context"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// PlannedStatement is one statement a planned migration would run.
type PlannedStatement struct {
	Line int    `json:"line"`
	SQL  string `json:"sql"`
}

// PlannedMigration is one migration Up or Down would run.
type PlannedMigration struct {
	Direction string `json:"direction"` // "up" or "down"
	Version   int64  `json:"version"`
	Name      string `json:"name"`
	File      string `json:"file"`
	Phase     string `json:"phase,omitempty"`
	// Transaction is "transaction" (all statements and the history row
	// commit together) or "none" (statement by statement, resumable).
	Transaction string `json:"transaction"`
	// Resume is how many statements of an interrupted no-transaction
	// migration already ran and are skipped.
	Resume     int                `json:"resume,omitempty"`
	Statements []PlannedStatement `json:"statements"`
	Findings   []Finding          `json:"findings"`
	// StoredScript is set for a down step that runs the script stored in
	// the history because this build lacks the file.
	StoredScript bool `json:"stored_script,omitempty"`
}

// PlanTimeouts are the limits that will apply when the plan runs.
type PlanTimeouts struct {
	LockTimeout string `json:"lock_timeout"` // per wait for a table lock (PostgreSQL); "none" when disabled
	LockRetries int    `json:"lock_retries"`
	Lease       string `json:"lease"`
	LockWait    string `json:"lock_wait"` // how long to wait for the migration lock; "unbounded" by default
}

// PlanReport is what a dry run prints: exactly what would run, in order.
type PlanReport struct {
	Direction  string             `json:"direction"`
	Migrations []PlannedMigration `json:"migrations"`
	// Deferred are pending post-phase versions that `up --phase post` runs.
	Deferred []int64 `json:"deferred,omitempty"`
	// Ahead are applied versions newer than every file of this build.
	Ahead []int64 `json:"ahead,omitempty"`
	// Checks is the check mode that would apply ("enforce", "warn", "off").
	Checks string `json:"checks"`
	// Refused is set when the checks would refuse the plan (exit 5).
	Refused  bool         `json:"refused"`
	Timeouts PlanTimeouts `json:"timeouts"`
}

// PlanUp returns what Up with opts would run, without writing anything and
// without taking the lock. It reads the history when it exists; on a
// database fleetgate never touched it plans every migration.
func (m *Migrator) PlanUp(ctx context.Context, opts *UpOpts) (*PlanReport, error) {
	if opts == nil {
		opts = &UpOpts{}
	}
	popts := plan.Options{Target: opts.To, Phase: opts.Phase, AllowOutOfOrder: opts.AllowOutOfOrder}
	if popts.Phase != "" && popts.Phase != PhasePre && popts.Phase != PhasePost {
		return nil, configErr("UpOpts.Phase", "unknown phase %q (want pre or post)", string(opts.Phase))
	}
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	if err := checkTarget(local, opts.To, m.cfg.Label); err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, false)
	if err != nil {
		return nil, err
	}
	p, err := plan.Build(local, plan.FromHistory(rows), popts)
	if err != nil {
		return nil, err
	}
	rep := m.newReport("up", opts.Timeout)
	for _, a := range p.Ahead {
		rep.Ahead = append(rep.Ahead, a.Version)
	}
	for _, d := range p.Deferred {
		rep.Deferred = append(rep.Deferred, d.Version)
	}
	mode := m.cfg.Checks
	if mode == ChecksAuto {
		mode = ChecksEnforce
		if len(rows) == 0 {
			mode = ChecksWarn
		}
	}
	checker := m.d.Capabilities().Checker
	check := checksFor(checker)
	if check == nil {
		mode = ChecksOff // this database's migrations have no checks
	}
	rep.Checks = string(mode)
	byFile := map[int64][]Finding{}
	if mode != ChecksOff && len(p.Steps) > 0 {
		var cr CheckReport
		for _, st := range p.Steps {
			fs, err := check(st.Migration)
			if err != nil {
				return nil, fmt.Errorf("check %s: %w", st.Migration.File, err)
			}
			cr.add(fs)
		}
		pre, post := splitPhases(p.Steps, p.Deferred)
		deps, err := dependencies(checker, pre, post)
		if err != nil {
			return nil, err
		}
		cr.add(deps)
		for _, f := range cr.Findings {
			byFile[f.Version] = append(byFile[f.Version], f)
			if f.Blocking() && mode == ChecksEnforce {
				rep.Refused = true
			}
		}
	}
	for _, st := range p.Steps {
		mg := st.Migration
		pm := PlannedMigration{Direction: "up", Version: mg.Version, Name: mg.Name, File: mg.File, Phase: string(mg.Phase),
			Transaction: txMode(mg.Up.NoTransaction), Resume: st.Resume, Statements: statements(mg.Up.Statements, st.Resume),
			Findings: byFile[mg.Version]}
		if pm.Findings == nil {
			pm.Findings = []Finding{}
		}
		rep.Migrations = append(rep.Migrations, pm)
	}
	return rep, nil
}

// PlanDown returns what Down with opts would run, without writing anything
// and without taking the lock. An irreversible migration among them is an
// *IrreversibleError, as Down would return.
func (m *Migrator) PlanDown(ctx context.Context, opts *DownOpts) (*PlanReport, error) {
	if opts == nil {
		opts = &DownOpts{}
	}
	set := 0
	for _, on := range []bool{opts.Steps != 0, opts.To != 0, opts.All, opts.Unknown} {
		if on {
			set++
		}
	}
	switch {
	case set > 1:
		return nil, configErr("DownOpts", "give at most one of DownOpts.Steps, DownOpts.To and DownOpts.Unknown")
	case opts.Steps < 0:
		return nil, configErr("DownOpts.Steps", "must be at least 1")
	case opts.To < 0:
		return nil, configErr("DownOpts.To", "must be a version, or 0 for all")
	}
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, true)
	if err != nil {
		return nil, err
	}
	target := plan.DownTarget{Above: opts.To, Unknown: opts.Unknown, Dialect: m.d.Dialect()}
	if set == 0 || opts.Steps > 0 {
		target.Above = plan.StepsTarget(toStored(rows), max(opts.Steps, 1))
	}
	steps, err := plan.BuildDown(local, toStored(rows), target)
	if err != nil {
		return nil, err
	}
	rep := m.newReport("down", opts.Timeout)
	rep.Checks = string(ChecksOff) // down sections are not checked
	for _, st := range steps {
		rep.Migrations = append(rep.Migrations, PlannedMigration{Direction: "down", Version: st.Version, Name: st.Name,
			File: st.File, Transaction: txMode(st.NoTransaction), Statements: statements(st.Statements, 0),
			Findings: []Finding{}, StoredScript: !st.FromFile})
	}
	return rep, nil
}

func (m *Migrator) newReport(dir string, wait time.Duration) *PlanReport {
	rep := &PlanReport{Direction: dir, Migrations: []PlannedMigration{}}
	rep.Timeouts = PlanTimeouts{LockTimeout: "none", LockRetries: m.cfg.LockRetries, Lease: m.cfg.LeaseTTL.String(),
		LockWait: "unbounded (as long as the holder is alive)"}
	if m.d.Capabilities().LockTimeout && m.cfg.LockTimeout > 0 {
		rep.Timeouts.LockTimeout = m.cfg.LockTimeout.String()
	}
	if rep.Timeouts.LockRetries < 0 || !m.d.Capabilities().LockTimeout {
		rep.Timeouts.LockRetries = 0
	}
	if wait > 0 {
		rep.Timeouts.LockWait = wait.String()
	}
	return rep
}

func txMode(noTx bool) string {
	if noTx {
		return "none"
	}
	return "transaction"
}

func statements(sts []source.Statement, skip int) []PlannedStatement {
	out := []PlannedStatement{}
	for i, s := range sts {
		if i < skip {
			continue
		}
		out = append(out, PlannedStatement{Line: s.Line, SQL: s.SQL})
	}
	return out
}

// checkTarget refuses a --to that names no migration file: `up --to 999`
// with no version 999 would otherwise apply everything below it, which is
// rarely what a mistyped version meant.
func checkTarget(local []*source.Migration, to int64, label string) error {
	if to == 0 {
		return nil
	}
	for _, mg := range local {
		if mg.Version == to {
			return nil
		}
	}
	near := ""
	if len(local) > 0 {
		near = fmt.Sprintf(" (its versions run from %d to %d)", local[0].Version, local[len(local)-1].Version)
	}
	return configErr("UpOpts.To", "no migration file in %s has version %d%s", label, to, near)
}

// CheckTarget refuses a target version that names no migration file of
// this build, as Up does for UpOpts.To; wait and run check their --to with
// it before blocking.
func (m *Migrator) CheckTarget(to int64) error {
	local, err := m.migrations()
	if err != nil {
		return err
	}
	return checkTarget(local, to, m.cfg.Label)
}
