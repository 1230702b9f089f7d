package fleetgate

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/postgres"
	"github.com/fleetgate/fleetgate/internal/fanout"
)

// Target is one database, or one PostgreSQL schema, of a fan-out: a URL
// that FanOut opens for this target alone, or a database the caller
// opened; with Schema, the target is that schema of the database.
type Target struct {
	// URL is a database URL (postgres://..., sqlite:path).
	URL string
	// DB and Dialect are a database the caller opened, instead of URL.
	// FanOut does not bound DB's pool: set its MaxOpenConns yourself.
	DB      *sql.DB
	Dialect Dialect
	// Schema, on PostgreSQL, makes the target one schema of the database:
	// its history, events and lock tables live in that schema, and every
	// migration transaction runs with SET LOCAL search_path set to it.
	// Targets with a Schema and the same URL share one pool.
	Schema string
	// Name is how reports show the target. Defaults to Schema, else the
	// database name when it is unique among the targets, else the URL
	// with its secrets redacted.
	Name string
}

// FanOutOpts control the order and limits of FanOut.
type FanOutOpts struct {
	// Canary targets run first, one at a time; a failure among them stops
	// the run before any other target starts, KeepGoing or not.
	Canary int
	// Parallel is the most targets at work at once after the canary.
	// Defaults to 4. Each uses at most two connections of its own: one
	// for migrating (or reading) and the lock's session.
	Parallel int
	// KeepGoing starts the remaining targets after one fails. Without it
	// no target starts after the first failure; running ones finish.
	KeepGoing bool
	// ReadOnly says the function only reads (status, validate, wait): no
	// migration runs, so a no-transaction migration in a schema target
	// (which SET LOCAL search_path cannot reach) is no reason to refuse.
	ReadOnly bool
	// OnStart and OnResult, when set, are called as each target starts
	// and ends, one call at a time.
	OnStart  func(index int, name string)
	OnResult func(r *TargetResult)
}

// TargetOutcome is what a TargetFunc reports about its target.
type TargetOutcome = fanout.Outcome

// TargetFunc does the work of one target on its Migrator (Up, Down,
// Status, Validate, Wait...). FanOut closes the Migrator afterwards.
type TargetFunc func(ctx context.Context, m *Migrator) (TargetOutcome, error)

// TargetResult is one target's outcome.
type TargetResult struct {
	Index    int           `json:"index"`
	Target   string        `json:"target"`  // Target.Name: never a secret
	Started  bool          `json:"started"` // false: the run stopped before this target's turn
	Applied  []int64       `json:"applied"`
	Duration time.Duration `json:"-"`
	LockWait time.Duration `json:"-"`
	Err      error         `json:"-"`
	ExitCode int           `json:"exit_code"`
	Detail   any           `json:"-"`
}

// FanOutReport is a whole fan-out.
type FanOutReport struct {
	Results []TargetResult
	Done    int // ran and succeeded
	Failed  int // ran and failed
	Skipped int // never started: the run stopped first
	// ExitCode is 0 when every target succeeded, else the most severe of
	// the targets' exit codes: 130/143 (interrupted) before 1 (migration
	// failed), 4 (validation), 5 (check), 3 (timeout), 2 (configuration).
	ExitCode int
}

// FanOut runs fn over every target: Canary first, one at a time, then at
// most Parallel at once. A bad target (malformed URL, schema name or a
// schema on a database that has none) is a ConfigError before any target
// is touched. Each schema target's Migrator gets a copy of cfg whose
// Table is placed in that schema.
func FanOut(ctx context.Context, targets []Target, fsys fs.FS, cfg *Config, opts *FanOutOpts, fn TargetFunc) (*FanOutReport, error) {
	if opts == nil {
		opts = &FanOutOpts{}
	}
	if opts.Parallel < 0 {
		return nil, configErr("FanOutOpts.Parallel", "must not be negative")
	}
	if opts.Canary < 0 {
		return nil, configErr("FanOutOpts.Canary", "must not be negative")
	}
	parallel := opts.Parallel
	if parallel == 0 {
		parallel = fanout.DefaultParallel
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	base := cfg.withDefaults()
	names := targetNames(targets)
	// Schema targets of one URL share a pool bounded to two connections
	// per running target (the migration's and the lock's session), opened
	// here so that no target opens more.
	pools := map[string]*sql.DB{}
	defer func() {
		for _, db := range pools {
			db.Close()
		}
	}()
	for i, t := range targets {
		if err := checkFanTarget(t, names[i]); err != nil {
			return nil, err
		}
		if t.Schema == "" || t.URL == "" || pools[t.URL] != nil {
			continue
		}
		db, _, err := openURL(t.URL)
		if err != nil {
			return nil, err
		}
		db.SetMaxOpenConns(2 * parallel)
		db.SetMaxIdleConns(2 * parallel)
		db.SetConnMaxIdleTime(time.Minute)
		pools[t.URL] = db
	}
	one := func(ctx context.Context, i int) (fanout.Outcome, error) {
		t := targets[i]
		c := base
		c.Logger = base.Logger.With("target", names[i])
		m, err := openTarget(ctx, t, pools[t.URL], fsys, &c)
		if err != nil {
			return fanout.Outcome{}, err
		}
		defer m.Close()
		if t.Schema != "" && !opts.ReadOnly {
			if err := m.schemaSafe(t.Schema); err != nil {
				return fanout.Outcome{}, err
			}
		}
		return fn(ctx, m)
	}
	results := make([]TargetResult, len(targets))
	toResult := func(r *fanout.Result) *TargetResult {
		tr := &results[r.Index]
		*tr = TargetResult{Index: r.Index, Target: names[r.Index], Started: r.Started, Applied: r.Applied,
			Duration: r.Duration, LockWait: r.LockWait, Err: r.Err, ExitCode: r.ExitCode, Detail: r.Detail}
		if tr.Applied == nil {
			tr.Applied = []int64{}
		}
		return tr
	}
	fo := fanout.Options{Canary: opts.Canary, Parallel: parallel, KeepGoing: opts.KeepGoing}
	if opts.OnStart != nil {
		fo.OnStart = func(i int) { opts.OnStart(i, names[i]) }
	}
	fo.OnDone = func(r *fanout.Result) {
		tr := toResult(r)
		if opts.OnResult != nil {
			opts.OnResult(tr)
		}
	}
	rep := fanout.Run(ctx, len(targets), fo, one, ExitCode)
	for i := range rep.Results {
		if !rep.Results[i].Started {
			toResult(&rep.Results[i])
		}
	}
	return &FanOutReport{Results: results, Done: rep.Done, Failed: rep.Failed, Skipped: rep.Skipped, ExitCode: rep.ExitCode}, nil
}

// checkFanTarget refuses a target that cannot work, before any is touched.
func checkFanTarget(t Target, name string) error {
	setting := "target " + name
	if (t.URL == "") == (t.DB == nil) {
		return configErr(setting, "give exactly one of a URL and a *sql.DB")
	}
	d := t.Dialect
	if t.URL != "" {
		var err error
		if d, err = parseURL(t.URL); err != nil {
			return err
		}
	}
	if t.Schema == "" {
		return nil
	}
	if d != Postgres {
		return configErr("Target.Schema", "%s: schemas are a PostgreSQL feature; this is %s", name, d)
	}
	if _, err := driver.NewTables(t.Schema + ".t"); err != nil {
		return configErr("Target.Schema", "schema %q is not a plain identifier (letters, digits and _, at most 50 characters)", t.Schema)
	}
	return nil
}

// openTarget returns the Migrator of one target: its own database for a
// URL, the shared pool for a schema of a URL, the caller's database else.
func openTarget(ctx context.Context, t Target, pool *sql.DB, fsys fs.FS, cfg *Config) (*Migrator, error) {
	if t.Schema != "" {
		_, table, ok := strings.Cut(cfg.Table, ".")
		if !ok {
			table = cfg.Table
		}
		cfg.Table = t.Schema + "." + table
	}
	var m *Migrator
	var err error
	switch {
	case pool != nil:
		m, err = New(pool, Postgres, fsys, cfg)
	case t.DB != nil:
		m, err = New(t.DB, t.Dialect, fsys, cfg)
	default:
		m, err = Open(ctx, t.URL, fsys, cfg)
		if err == nil {
			// One connection migrates (or reads), one is the lock's
			// session: the bound FanOut promises.
			m.db.SetMaxOpenConns(2)
		}
	}
	if err != nil {
		return nil, err
	}
	if t.Schema != "" {
		pd, ok := m.d.(*postgres.Driver)
		if !ok {
			m.Close()
			return nil, configErr("Target.Schema", "schemas are a PostgreSQL feature")
		}
		pd.SearchPath = t.Schema
	}
	return m, nil
}

// schemaSafe refuses migrations that run without a transaction in a
// schema target: SET LOCAL search_path lives in the transaction, so their
// statements would land in the connection's default schema instead.
func (m *Migrator) schemaSafe(schema string) error {
	local, err := m.migrations()
	if err != nil {
		return err
	}
	for _, mg := range local {
		if mg.NoTransaction || (mg.Down != nil && mg.Down.NoTransaction) {
			return configErr("Target.Schema", "%s runs without a transaction, where SET LOCAL search_path to %s cannot reach it; schema fan-out runs only transactional migrations", mg.File, schema)
		}
	}
	return nil
}

// targetNames gives each target its report name (see Target.Name).
func targetNames(targets []Target) []string {
	names := make([]string, len(targets))
	seen := map[string]int{}
	short := make([]string, len(targets))
	for i, t := range targets {
		if t.URL != "" && t.Schema == "" {
			short[i] = dbName(t.URL)
			seen[short[i]]++
		}
	}
	for i, t := range targets {
		switch {
		case t.Name != "":
			names[i] = t.Name
		case t.Schema != "":
			names[i] = t.Schema
		case t.URL != "" && short[i] != "" && seen[short[i]] == 1:
			names[i] = short[i]
		case t.URL != "":
			names[i] = RedactURL(t.URL)
		default:
			names[i] = fmt.Sprintf("target %d", i+1)
		}
	}
	return names
}

// dbName is the database a URL names: the path of a postgres:// URL, the
// file of a sqlite: one; "" when there is none.
func dbName(raw string) string {
	if rest, ok := strings.CutPrefix(raw, "sqlite:"); ok {
		p, _, _ := strings.Cut(rest, "?")
		return strings.TrimPrefix(p, "//")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.Trim(u.Path, "/")
}
