package fleetgate

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/lint/mysqllint"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// CheckMode is what Up does with the findings of the checks on the
// migrations it is about to apply.
type CheckMode string

const (
	// ChecksAuto enforces the checks on a database that has migrations
	// applied, and reports them as warnings on one that has none yet: a
	// fresh development, CI or test database, where no old code runs
	// that a change could break. It is the default; FLEETGATE_CHECKS or
	// --checks choose another mode for a fleet.
	ChecksAuto CheckMode = "auto"
	// ChecksEnforce refuses to apply anything while a pending migration has
	// an error finding that it does not allow (a *CheckError, exit 5).
	ChecksEnforce CheckMode = "enforce"
	// ChecksWarn logs the findings as warnings and applies anyway.
	ChecksWarn CheckMode = "warn"
	// ChecksOff does not check; the parser is never loaded.
	ChecksOff CheckMode = "off"
)

func (c CheckMode) valid() error {
	_, err := ParseCheckMode(string(c))
	return err
}

// ParseCheckMode reads a check mode by name ("" is ChecksAuto's default).
func ParseCheckMode(s string) (CheckMode, error) {
	switch c := CheckMode(s); c {
	case "", ChecksAuto, ChecksEnforce, ChecksWarn, ChecksOff:
		return c, nil
	}
	return "", configErr("Config.Checks", "unknown mode %q (want enforce, warn, off or auto)", s)
}

// Severity of a check finding: error findings block, warnings inform.
type Severity = lint.Severity

const (
	SeverityError   = lint.SeverityError
	SeverityWarning = lint.SeverityWarning
)

// Finding is one problem a check found in one statement: file, line and
// column, rule ID, severity and a message that names the safe alternative.
// docs/checks.md explains every rule.
type Finding = lint.Finding

// Rule describes one check.
type Rule = lint.Rule

// Rules lists every PostgreSQL check, in documentation order.
func Rules() []Rule { return lint.Rules() }

// RulesFor lists the checks of a dialect's migrations, in documentation
// order; none for a dialect that has no checks (SQLite).
func RulesFor(d Dialect) []Rule {
	switch d {
	case Postgres:
		return lint.Rules()
	case MySQL:
		return mysqllint.Rules()
	}
	return nil
}

// checksFor returns the statement checks of dialect d, nil when it has
// none: PostgreSQL's (libpg_query) and MySQL's (package mysqlstmt) are
// separate rule sets that share rule IDs where a rule means the same.
func checksFor(d Dialect) func(*source.Migration) ([]Finding, error) {
	switch d {
	case Postgres:
		return lint.Check
	case MySQL:
		return mysqllint.Check
	}
	return nil
}

// setChecks is checksFor(d) for migrations applied together, in order
// (one lint.Set on PostgreSQL): what the earlier ones create is new to the
// later ones, for the cached-plan advice.
func setChecks(d Dialect) func(*source.Migration) ([]Finding, error) {
	if d == Postgres {
		return new(lint.Set).Check
	}
	return checksFor(d)
}

// dependencies runs pre-depends-on-post, whose reading of table and
// column names is PostgreSQL's parse tree; other dialects get none.
func dependencies(d Dialect, pre, post []*source.Migration) ([]Finding, error) {
	if d != Postgres {
		return nil, nil
	}
	return lint.Dependencies(pre, post)
}

// CheckError is returned when checks refuse migrations: Findings are the
// blocking ones (error severity, not accepted by an allow directive).
// Nothing was changed in the database.
type CheckError struct {
	Findings []Finding
}

func (e *CheckError) Error() string {
	files := map[string]bool{}
	parts := make([]string, len(e.Findings))
	for i, f := range e.Findings {
		files[f.File] = true
		parts[i] = f.String()
	}
	what := "a migration"
	if len(files) > 1 {
		what = fmt.Sprintf("%d migrations", len(files))
	}
	return fmt.Sprintf("check refused %s (fix it, move a contract change to the post phase, or accept a finding with \"-- fleetgate:allow RULE reason\"): %s",
		what, strings.Join(parts, "; "))
}

// CheckReport is the outcome of Check or CheckFiles.
type CheckReport struct {
	// Findings in file order, including warnings and allowed ones.
	Findings []Finding `json:"findings"`
	// Files is how many migration files were checked.
	Files int `json:"files"`
	// Errors counts blocking findings, Warnings the others that are not
	// allowed.
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
	// ParserLoad is how long this process took to load the parser (once,
	// on its first check); 0 when it was loaded before.
	ParserLoad time.Duration `json:"-"`
	// Parser names the build of the parser that loaded: "native"
	// (libpg_query through cgo) or "wasm" (the WebAssembly build of a
	// binary built without cgo, which costs far more; docs/checks.md).
	Parser string `json:"-"`
}

func (r *CheckReport) add(fs []Finding) {
	for _, f := range fs {
		switch {
		case f.Blocking():
			r.Errors++
		case !f.Allowed:
			r.Warnings++
		}
	}
	r.Findings = append(r.Findings, fs...)
}

// err is the report's *CheckError, or nil when nothing blocks.
func (r *CheckReport) err() error {
	var blocking []Finding
	for _, f := range r.Findings {
		if f.Blocking() {
			blocking = append(blocking, f)
		}
	}
	if len(blocking) == 0 {
		return nil
	}
	return &CheckError{Findings: blocking}
}

// CheckOpts select what Check lints.
type CheckOpts struct {
	// Files limits the check to these migration files (paths as reported
	// in findings, e.g. "migrations/0042_x.sql", or file names). Defaults
	// to every migration in the directory.
	Files []string
}

// Check lints the migrations for changes that would break the code still
// running, block traffic, fail as written or destroy data. It reads the
// history (no lock, no writes) to also find pending pre-phase migrations
// that depend on an older pending post-phase one. The report is returned
// with a *CheckError when an error finding is not allowed.
//
// The checks are the database's (its driver's Capabilities().Checker):
// PostgreSQL's or MySQL's; on SQLite Check reports nothing.
func (m *Migrator) Check(ctx context.Context, opts *CheckOpts) (*CheckReport, error) {
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	rep := &CheckReport{Findings: []Finding{}}
	checker := m.d.Capabilities().Checker
	if checksFor(checker) == nil {
		m.log.InfoContext(ctx, "no checks for this database's migrations; nothing checked", slog.String("dialect", string(m.d.Dialect())))
		return rep, nil
	}
	sel, err := selectFiles(local, opts)
	if err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, driver.RowColumns)
	if err != nil {
		return nil, err
	}
	// Everything pending, as `up --phase post` would see it; a history
	// that does not validate is Validate's business, not Check's.
	p, perr := plan.Build(local, plan.FromHistory(rows), plan.Options{Phase: PhasePost, AllowOutOfOrder: true})
	pending := map[*source.Migration]bool{}
	if perr == nil {
		for _, st := range p.Steps {
			pending[st.Migration] = true
		}
	}
	if err := lintAll(rep, sel, checker, func(mg *source.Migration) bool { return pending[mg] }); err != nil {
		return nil, err
	}
	demoteAdopted(rep, rows)
	if perr == nil {
		in := map[*source.Migration]bool{}
		for _, mg := range sel {
			in[mg] = true
		}
		pre, post := splitPhases(p.Steps, nil)
		var chosen []*source.Migration
		for _, mg := range pre {
			if in[mg] {
				chosen = append(chosen, mg)
			}
		}
		fs, err := dependencies(checker, chosen, post)
		if err != nil {
			return nil, err
		}
		rep.add(fs)
	}
	return rep, rep.err()
}

// CheckFiles lints migration files without a database: names are paths in
// fsys (golang-migrate .down.sql files are skipped: down sections are not
// checked), or, when names is empty, every migration in cfg.Dir. Findings
// name files as cfg.Label says. A malformed file is a *SourceError. The
// files are split and checked as cfg.Dialect's (PostgreSQL by default);
// a dialect without checks (SQLite) reports nothing.
func CheckFiles(ctx context.Context, fsys fs.FS, names []string, cfg *Config) (*CheckReport, error) {
	m := &Migrator{fsys: fsys, cfg: cfg.withDefaults()}
	m.log = m.cfg.Logger
	d := m.cfg.Dialect
	if err := d.Validate(); err != nil {
		return nil, configErr("Config.Dialect", "%v (want postgres, mysql or sqlite)", err)
	}
	var ms []*source.Migration
	if len(names) == 0 {
		var err error
		if ms, err = m.migrations(); err != nil {
			return nil, err
		}
	}
	for _, name := range names {
		if strings.HasSuffix(strings.ToLower(name), ".down.sql") {
			continue
		}
		data, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, configErr("Check", "%s: %v", name, source.PathCause(err))
		}
		mg, err := source.ParseDialect(name, data, d)
		if err != nil {
			return nil, err
		}
		ms = append(ms, mg)
	}
	rep := &CheckReport{Findings: []Finding{}}
	if checksFor(d) == nil {
		m.log.InfoContext(ctx, "no checks for this dialect's migrations; nothing checked", slog.String("dialect", string(d)))
		return rep, nil
	}
	// Files named together are taken as applied together (the new
	// migrations of a change); the whole directory is not, since most of
	// it is applied already.
	together := func(*source.Migration) bool { return len(names) > 0 }
	if err := lintAll(rep, ms, d, together); err != nil {
		return nil, err
	}
	return rep, rep.err()
}

func selectFiles(local []*source.Migration, opts *CheckOpts) ([]*source.Migration, error) {
	if opts == nil || len(opts.Files) == 0 {
		return local, nil
	}
	var out []*source.Migration
	for _, f := range opts.Files {
		found := false
		for _, mg := range local {
			if mg.File == f || strings.HasSuffix(mg.File, "/"+f) {
				out, found = append(out, mg), true
				break
			}
		}
		if !found {
			return nil, configErr("Check", "%s is not a migration of the directory", f)
		}
	}
	return out, nil
}

// lintAll checks ms in order with d's checks; those for which together is
// true are applied together (setChecks), so that a table one of them
// creates is new to the later ones.
func lintAll(rep *CheckReport, ms []*source.Migration, d Dialect, together func(*source.Migration) bool) error {
	if d == Postgres {
		// Only libpg_query has a load worth reporting (the WebAssembly
		// build's is seconds); MySQL's recognizer has no set-up at all.
		loaded := lint.ParserInit() > 0
		defer func() {
			if !loaded {
				rep.ParserLoad = lint.ParserInit()
				rep.Parser = lint.ParserBuild
			}
		}()
	}
	alone, set := checksFor(d), setChecks(d)
	for _, mg := range ms {
		check := alone
		if together(mg) {
			check = set
		}
		fs, err := check(mg)
		if err != nil {
			return fmt.Errorf("check %s: %w", mg.File, err)
		}
		rep.Files++
		rep.add(fs)
	}
	return nil
}

// splitPhases returns the pre-phase migrations of steps and the post-phase
// ones, followed by deferred (post-phase migrations not run now).
func splitPhases(steps []plan.Step, deferred []*source.Migration) (pre, post []*source.Migration) {
	for _, st := range steps {
		if st.Migration.Phase == PhasePost {
			post = append(post, st.Migration)
		} else {
			pre = append(pre, st.Migration)
		}
	}
	return pre, append(post, deferred...)
}

// checkPending runs the checks on what Up is about to apply, under the
// lock and before it changes anything. The first call in a process loads
// the parser; a no-op Up never gets here.
// checkPending lints the pending migrations. In enforce mode it returns a
// refusal before anything is applied; in warn mode it logs the findings
// first. The returned wait is kept for callers and returns at once.
func (m *Migrator) checkPending(ctx context.Context, p *plan.Plan) (wait func(), err error) {
	none := func() {}
	mode := m.cfg.Checks // validated by New
	if mode == ChecksOff || checksFor(m.d.Capabilities().Checker) == nil || len(p.Steps) == 0 {
		return none, nil
	}
	if mode == ChecksAuto || mode == "" {
		mode = ChecksEnforce
		// The plan was made from the history read under the lock: no
		// second read (a round trip carrying every applied row) is needed
		// to know whether anything is applied.
		if p.Applied == 0 {
			// Nothing applied: no old code runs against this database, so
			// what the checks protect a fleet from cannot happen here.
			mode = ChecksWarn
			m.log.InfoContext(ctx, "no migration applied yet: check findings are warnings (set --checks=enforce to refuse them here too)")
		}
	}
	if mode == ChecksWarn {
		// Before, not beside, the migrations: a warning printed after the
		// change it warns about is read too late to act on. Only a database
		// being migrated for the first time (or --checks=warn) pays this.
		if _, err := m.lintSteps(ctx, p, mode); err != nil {
			m.log.WarnContext(ctx, "could not check the migrations", slog.String("error", err.Error()))
		}
		return none, nil
	}
	rep, err := m.lintSteps(ctx, p, mode)
	if err != nil {
		return none, err
	}
	return none, rep.err()
}

// lintSteps checks the planned steps and logs what it found.
func (m *Migrator) lintSteps(ctx context.Context, p *plan.Plan, mode CheckMode) (*CheckReport, error) {
	rep := &CheckReport{}
	checker := m.d.Capabilities().Checker
	check := setChecks(checker) // the steps are applied together, in this order
	for _, st := range p.Steps {
		fs, err := check(st.Migration)
		if err != nil {
			return nil, fmt.Errorf("check %s: %w", st.Migration.File, err)
		}
		rep.add(fs)
	}
	pre, post := splitPhases(p.Steps, p.Deferred)
	deps, err := dependencies(checker, pre, post)
	if err != nil {
		return nil, err
	}
	rep.add(deps)
	for _, f := range rep.Findings {
		switch {
		case f.Allowed:
			m.log.InfoContext(ctx, "check finding allowed by the migration", findingAttrs(f)...)
		case !f.Blocking() || mode == ChecksWarn:
			m.log.WarnContext(ctx, "check finding", findingAttrs(f)...)
		}
	}
	return rep, nil
}

func findingAttrs(f Finding) []any {
	a := []any{slog.String("file", f.File), slog.Int("line", f.Line), slog.Int("col", f.Col), slog.String("rule", f.Rule),
		slog.String("severity", string(f.Severity)), slog.String("message", f.Message)}
	if f.Allowed {
		a = append(a, slog.String("reason", f.Reason))
	}
	return a
}

// demoteAdopted turns error findings in adopted migrations into warnings:
// another tool applied them before fleetgate took over, so there is
// nothing left to refuse, and a finding there must not fail every check
// of the directory.
func demoteAdopted(rep *CheckReport, rows []history.Applied) {
	adopted := map[int64]bool{}
	for _, r := range rows {
		if r.Adopted {
			adopted[r.Version] = true
		}
	}
	if len(adopted) == 0 {
		return
	}
	rep.Errors, rep.Warnings = 0, 0
	fs := rep.Findings
	rep.Findings = nil
	for _, f := range fs {
		if adopted[f.Version] && f.Severity == SeverityError && !f.Allowed {
			f.Severity = SeverityWarning
			f.Message += " (adopted: applied before fleetgate took over, so not enforced)"
		}
		rep.add([]Finding{f})
	}
}
