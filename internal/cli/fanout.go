package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mattn/go-isatty"

	"github.com/fleetgate/fleetgate"
)

// fanFlags are the flags of a command over many databases or schemas
// (up, down, status, validate, wait).
type fanFlags struct {
	targets, schemas, schemasFrom string
	canary, parallel              int
	keepGoing                     bool
}

func (f *fanFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.targets, "targets", "", "run over every database URL in `FILE` (one per line, # comments, ${VAR} expanded)")
	fs.StringVar(&f.schemas, "schemas", "", "PostgreSQL: run over every schema of the database matching `PATTERN` (* and ?)")
	fs.StringVar(&f.schemasFrom, "schemas-from", "", "PostgreSQL: run over the schemas the `SQL` query returns (first column)")
	fs.IntVar(&f.canary, "canary", 0, "over many targets: run the first `N` alone, one at a time; a failure there stops the run")
	fs.IntVar(&f.parallel, "parallel", 4, "over many targets: at most `P` at a time (each holds at most 2 connections)")
	fs.BoolVar(&f.keepGoing, "keep-going", false, "over many targets: go on after a failed target (default: start no new one)")
}

// dbList is -d/--database: the last one given is the database; all of them,
// when more than one is given, are the targets of a fan-out.
type dbList struct{ c *common }

func (l dbList) String() string {
	if l.c == nil {
		return ""
	}
	return l.c.database
}

func (l dbList) Set(v string) error {
	l.c.database = v
	l.c.databases = append(l.c.databases, v)
	return nil
}

// fanning reports whether the command runs over many targets.
func (e *env) fanning(f *fanFlags) bool {
	return f.targets != "" || f.schemas != "" || f.schemasFrom != "" || len(e.c.databases) > 1
}

// fanTargets builds the targets from the flags. Bad input is a
// ConfigError before any database is touched, except that --schemas reads
// the schema names from the database.
// done releases what the targets hold (the schemas' shared pool).
func (e *env) fanTargets(ctx context.Context, f *fanFlags) (targets []fleetgate.Target, done func(), err error) {
	done = func() {}
	switch {
	case f.parallel < 1:
		return nil, done, configErrf("--parallel", "must be at least 1")
	case f.canary < 0:
		return nil, done, configErrf("--canary", "must not be negative")
	case f.schemas != "" && f.schemasFrom != "":
		return nil, done, configErrf("--schemas", "give one of --schemas and --schemas-from")
	case f.targets != "" && len(e.c.databases) > 0:
		return nil, done, configErrf("--targets", "give either --targets FILE or -d URL (once or more), not both")
	case (f.schemas != "" || f.schemasFrom != "") && (f.targets != "" || len(e.c.databases) > 1):
		return nil, done, configErrf("--schemas", "schemas are of one database: give it with a single -d URL")
	}
	var urls []string
	switch {
	case f.targets != "":
		file, err := os.Open(f.targets)
		if err != nil {
			return nil, done, configErrf("--targets", "%v", err)
		}
		defer file.Close()
		if urls, err = fleetgate.ReadTargets(file, f.targets, e.getenv); err != nil {
			return nil, done, err
		}
	case len(e.c.databases) > 1:
		urls = e.c.databases
	case e.c.database == "":
		return nil, done, configErrf("--database", "no database given: pass --database URL or set FLEETGATE_DATABASE_URL (fleetgate never picks a default database)")
	default:
		urls = []string{e.c.database}
	}
	// parse scrubs the secrets of the last -d only; a fan-out's output
	// may name any target's.
	secrets := append(fleetgate.URLSecrets(e.c.database), secretsOf(e)...)
	for _, u := range urls {
		secrets = append(secrets, fleetgate.URLSecrets(u)...)
	}
	e.stdout.setSecrets(secrets)
	e.stderr.setSecrets(secrets)
	if f.schemas == "" && f.schemasFrom == "" {
		out := make([]fleetgate.Target, len(urls))
		for i, u := range urls {
			out[i] = fleetgate.Target{URL: u}
		}
		return out, done, nil
	}
	// One pool for the listing and every schema: the listing's connection
	// is then one of the 2 x P, not a session more beside them.
	db, d, err := fleetgate.OpenDB(urls[0])
	if err != nil {
		return nil, done, err
	}
	if d != fleetgate.Postgres {
		db.Close()
		return nil, done, configErrf("--schemas", "schemas are a PostgreSQL feature; this is %s", d)
	}
	db.SetMaxOpenConns(2 * f.parallel)
	db.SetMaxIdleConns(2 * f.parallel)
	done = func() { db.Close() }
	names, err := fleetgate.Schemas(ctx, db, f.schemas, f.schemasFrom)
	if err != nil {
		db.Close()
		return nil, func() {}, err
	}
	out := make([]fleetgate.Target, len(names))
	for i, s := range names {
		out[i] = fleetgate.Target{DB: db, Dialect: d, Schema: s}
	}
	return out, done, nil
}

// fanConfig is the library configuration open builds, with a logger that
// keeps only warnings: a line per target is the reporter's, and a
// thousand "up to date" lines would bury it.
func (e *env) fanConfig() (*fleetgate.Config, error) {
	if e.c.dir == "" {
		return nil, configErrf("--dir", "empty directory")
	}
	if e.c.lease < 0 {
		return nil, configErrf("--lease", "%s is out of range: want %s to %s (default 10s)", e.c.lease, fleetgate.MinLeaseTTL, fleetgate.MaxLeaseTTL)
	}
	log := slog.New(newTextHandler(e.stderr, slog.LevelWarn))
	if e.c.logFormat == "json" {
		log = slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg := &fleetgate.Config{Label: strings.TrimSuffix(e.c.dir, "/"), Table: e.c.table, DeployID: e.c.deployID,
		Logger: log, LeaseTTL: e.c.lease, AllowEmpty: e.c.allowEmpty}
	if err := e.sourceConfig(cfg); err != nil {
		return nil, err
	}
	if e.tune != nil {
		e.tune(cfg)
	}
	return cfg, nil
}

// fanErr is a fan-out with failed targets. It unwraps to the most severe
// target's error, so that the exit status is that target's.
type fanErr struct {
	msg string
	err error
}

func (f *fanErr) Error() string { return f.msg }
func (f *fanErr) Unwrap() error { return f.err }

// fanOut runs fn over the targets the flags name and reports as it goes:
// a progress line updated in place on a terminal, a line per target
// otherwise, a JSON record per target with --log-format json; then a
// summary of the failures.
func (e *env) fanOut(ctx context.Context, f *fanFlags, verb string, readOnly bool, fn fleetgate.TargetFunc) (*fleetgate.FanOutReport, error) {
	targets, done, err := e.fanTargets(ctx, f)
	if err != nil {
		return nil, err
	}
	defer done()
	cfg, err := e.fanConfig()
	if err != nil {
		return nil, err
	}
	r := &fanReporter{e: e, total: len(targets), verb: verb, tty: e.stderrTTY(), json: e.c.logFormat == "json", quiet: readOnly}
	opts := &fleetgate.FanOutOpts{Canary: f.canary, Parallel: f.parallel, KeepGoing: f.keepGoing, ReadOnly: readOnly,
		OnStart: r.start, OnResult: r.result}
	rep, err := fleetgate.FanOut(ctx, targets, os.DirFS(e.c.dir), cfg, opts, fn)
	if err != nil {
		return nil, err
	}
	r.finish(rep)
	if rep.ExitCode == 0 {
		return rep, nil
	}
	var worst error
	for _, t := range rep.Results {
		if t.Err != nil && t.ExitCode == rep.ExitCode {
			worst = fmt.Errorf("%s: %w", t.Target, t.Err)
			break
		}
	}
	if worst == nil {
		worst = ctx.Err()
	}
	msg := fmt.Sprintf("%s: %d of %d targets failed", verb, rep.Failed, len(rep.Results))
	if rep.Skipped > 0 {
		msg += fmt.Sprintf(", %d not started", rep.Skipped)
	}
	return rep, &fanErr{msg: msg + "; exit status of the most severe: " + firstLine(worst.Error()), err: worst}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// stderrTTY reports whether stderr is a terminal, where the progress line
// can be redrawn in place.
func (e *env) stderrTTY() bool {
	f, ok := e.stderr.w.(*os.File)
	return ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd()))
}

// fanReporter prints a fan-out's progress. Its methods are called one at
// a time (see FanOutOpts).
type fanReporter struct {
	e                       *env
	total                   int
	done, failed, running   int
	verb                    string
	tty, json, quiet, drawn bool
}

func (r *fanReporter) progress() string {
	return fmt.Sprintf("%d/%d done, %d failed, %d running", r.done+r.failed, r.total, r.failed, r.running)
}

func (r *fanReporter) draw() {
	fmt.Fprintf(r.e.stderr, "\r\033[K%s", r.progress())
	r.drawn = true
}

func (r *fanReporter) start(int, string) {
	r.running++
	if r.tty && !r.json {
		r.draw()
	}
}

func (r *fanReporter) result(t *fleetgate.TargetResult) {
	r.running--
	if t.Err != nil {
		r.failed++
	} else {
		r.done++
	}
	if r.json {
		rec := map[string]any{"time": time.Now().UTC(), "level": "INFO", "msg": "target " + r.verb, "target": t.Target,
			"applied": t.Applied, "duration_ms": t.Duration.Milliseconds(), "lock_wait_ms": t.LockWait.Milliseconds(),
			"exit_code": t.ExitCode, "progress": r.progress()}
		if t.Err != nil {
			rec["level"], rec["error"] = "ERROR", errText(t.Err)
		}
		b, _ := json.Marshal(rec)
		fmt.Fprintf(r.e.stderr, "%s\n", b)
		return
	}
	line := ""
	switch {
	case t.Err != nil:
		line = fmt.Sprintf("%s: FAILED (exit %d): %s", t.Target, t.ExitCode, firstLine(errText(t.Err)))
	case !r.quiet:
		line = fmt.Sprintf("%s: ok, %s %s in %s", t.Target, pastTense(r.verb), countOf(len(t.Applied), "migration"), t.Duration.Round(time.Millisecond))
	}
	if r.tty {
		// Failures stay on the screen above the progress line; the rest
		// is the progress line itself.
		if t.Err != nil {
			fmt.Fprintf(r.e.stderr, "\r\033[K%s\n", line)
		}
		r.draw()
		return
	}
	if line != "" {
		fmt.Fprintf(r.e.stderr, "[%d/%d] %s\n", r.done+r.failed, r.total, line)
	}
}

func pastTense(verb string) string {
	switch verb {
	case "up":
		return "applied"
	case "down":
		return "reverted"
	}
	return verb
}

func countOf(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// finish ends the progress line and prints the summary: counts, then a
// table of the failed targets.
func (r *fanReporter) finish(rep *fleetgate.FanOutReport) {
	if r.drawn {
		fmt.Fprint(r.e.stderr, "\r\033[K")
	}
	if r.json {
		var failed []map[string]any
		for _, t := range rep.Results {
			if t.Err != nil {
				failed = append(failed, map[string]any{"target": t.Target, "exit_code": t.ExitCode, "error": errText(t.Err)})
			}
		}
		b, _ := json.Marshal(map[string]any{"time": time.Now().UTC(), "level": "INFO", "msg": r.verb + " over targets finished",
			"targets": len(rep.Results), "ok": rep.Done, "failed": rep.Failed, "not_started": rep.Skipped,
			"exit_code": rep.ExitCode, "failures": failed})
		fmt.Fprintf(r.e.stderr, "%s\n", b)
		return
	}
	if r.quiet && rep.Failed == 0 && rep.Skipped == 0 {
		return // status prints its own lines on stdout; validate and wait are silent on success
	}
	fmt.Fprintf(r.e.stderr, "%s over %d targets: %d ok, %d failed, %d not started\n", r.verb, len(rep.Results), rep.Done, rep.Failed, rep.Skipped)
	if rep.Failed == 0 {
		return
	}
	fmt.Fprintln(r.e.stderr, "failed targets:")
	for _, t := range rep.Results {
		if t.Err != nil {
			fmt.Fprintf(r.e.stderr, "  %-30s exit %d  %s\n", t.Target, t.ExitCode, firstLine(errText(t.Err)))
		}
	}
}

// upOver is up over many targets.
func (e *env) upOver(ctx context.Context, f *fanFlags, opts *fleetgate.UpOpts) error {
	_, err := e.fanOut(ctx, f, "up", false, func(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
		res, err := m.Up(ctx, opts)
		if res == nil {
			return fleetgate.TargetOutcome{}, err
		}
		return fleetgate.TargetOutcome{Applied: res.Applied, LockWait: res.LockWait}, err
	})
	return err
}

// downOver is down over many targets.
func (e *env) downOver(ctx context.Context, f *fanFlags, opts *fleetgate.DownOpts) error {
	_, err := e.fanOut(ctx, f, "down", false, func(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
		res, err := m.Down(ctx, opts)
		if res == nil {
			return fleetgate.TargetOutcome{}, err
		}
		return fleetgate.TargetOutcome{Applied: res.Reverted}, err
	})
	return err
}

// validateOver is validate over many targets.
func (e *env) validateOver(ctx context.Context, f *fanFlags) error {
	_, err := e.fanOut(ctx, f, "validate", true, func(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
		return fleetgate.TargetOutcome{}, m.Validate(ctx)
	})
	return err
}

// waitOver is wait over many targets: every one ready, or the failures.
func (e *env) waitOver(ctx context.Context, f *fanFlags, g *gateFlags) error {
	_, err := e.fanOut(ctx, f, "wait", true, func(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
		if err := m.CheckTarget(g.to); err != nil {
			return fleetgate.TargetOutcome{}, err
		}
		_, err := m.Wait(ctx, &fleetgate.WaitOpts{To: g.to, Timeout: g.timeout, PollInterval: g.poll, AllowOutOfOrder: g.ooo})
		return fleetgate.TargetOutcome{}, err
	})
	return err
}

// targetStatus is one target's row of `status --json` over targets.
type targetStatus struct {
	Target   string             `json:"target"`
	At       int64              `json:"at"`
	Pending  []int64            `json:"pending"`
	Problems map[string][]int64 `json:"problems,omitempty"`
	// Failure is the target's last failed attempt, unless something
	// settled it since (Status.Failure).
	Failure  *fleetgate.Event  `json:"failure,omitempty"`
	Error    string            `json:"error,omitempty"`
	ExitCode int               `json:"exit_code"`
	Status   *fleetgate.Status `json:"status,omitempty"`
}

// statusOver is status over many targets: one line per distinct state,
// or with --json the whole matrix.
func (e *env) statusOver(ctx context.Context, f *fanFlags, asJSON bool) error {
	rep, err := e.fanOut(ctx, f, "status", true, func(ctx context.Context, m *fleetgate.Migrator) (fleetgate.TargetOutcome, error) {
		st, err := m.Status(ctx)
		return fleetgate.TargetOutcome{Detail: st}, err
	})
	if rep == nil {
		return err
	}
	rows := make([]targetStatus, 0, len(rep.Results))
	for _, t := range rep.Results {
		if !t.Started {
			continue
		}
		row := targetStatus{Target: t.Target, ExitCode: t.ExitCode, Pending: []int64{}}
		if t.Err != nil {
			row.Error = errText(t.Err)
		}
		if st, ok := t.Detail.(*fleetgate.Status); ok && st != nil {
			row.Status, row.Failure = st, st.Failure
			for _, mg := range st.Migrations {
				switch mg.State {
				case fleetgate.StateApplied, fleetgate.StateAhead:
					row.At = max(row.At, mg.Version)
				case fleetgate.StatePending:
					row.Pending = append(row.Pending, mg.Version)
				default:
					if row.Problems == nil {
						row.Problems = map[string][]int64{}
					}
					row.Problems[string(mg.State)] = append(row.Problems[string(mg.State)], mg.Version)
				}
			}
		}
		rows = append(rows, row)
	}
	if asJSON {
		if perr := e.printJSON(map[string]any{"targets": rows}); perr != nil {
			return perr
		}
		return err
	}
	for _, l := range statusGroups(rows) {
		fmt.Fprintln(e.stdout, l)
	}
	return err
}

// statusGroups renders one line per distinct state, the most common
// first: "480 targets at 42", "18 targets at 41 (pending 42)", "2 targets
// failed at 42: tenant_17, tenant_99", and the targets by name where the
// state is a problem (a failed migration, a status that could not be
// read, a partial, modified or missing migration).
func statusGroups(rows []targetStatus) []string {
	type group struct {
		key     string
		problem bool
		names   []string
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, r := range rows {
		key := fmt.Sprintf("at %d", r.At)
		if r.At == 0 {
			key = "with nothing applied"
		}
		var notes []string
		if len(r.Pending) > 0 {
			notes = append(notes, "pending "+joinInts(r.Pending))
		}
		states := make([]string, 0, len(r.Problems))
		for s := range r.Problems {
			states = append(states, s)
		}
		sort.Strings(states)
		for _, s := range states {
			notes = append(notes, s+" "+joinInts(r.Problems[s]))
		}
		if len(notes) > 0 {
			key += " (" + strings.Join(notes, "; ") + ")"
		}
		problem := len(r.Problems) > 0
		if r.Failure != nil {
			// The failed version is also pending; the failure is what
			// an operator needs to see, and whom.
			key, problem = fmt.Sprintf("failed at %d", r.Failure.Version), true
			if r.Failure.Direction == "down" {
				key = fmt.Sprintf("failed reverting %d", r.Failure.Version)
			}
		}
		if r.Error != "" {
			key, problem = "failed: "+firstLine(r.Error), true
		}
		g := byKey[key]
		if g == nil {
			g = &group{key: key, problem: problem}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.names = append(g.names, r.Target)
	}
	sort.SliceStable(groups, func(i, j int) bool {
		if groups[i].problem != groups[j].problem {
			return !groups[i].problem
		}
		return len(groups[i].names) > len(groups[j].names)
	})
	out := make([]string, 0, len(groups))
	for _, g := range groups {
		l := countOf(len(g.names), "target") + " " + g.key
		if g.problem {
			shown := g.names
			if len(shown) > 20 {
				shown = shown[:20]
			}
			l += ": " + strings.Join(shown, ", ")
			if len(g.names) > len(shown) {
				l += fmt.Sprintf(" and %d more", len(g.names)-len(shown))
			}
		}
		out = append(out, l)
	}
	return out
}
