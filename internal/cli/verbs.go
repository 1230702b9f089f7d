package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate"
)

// version is `fleetgate version`: the version recorded in history rows,
// then what the Go toolchain recorded about the build.
func (e *env) version(args []string) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("version", "unexpected argument %q", pos[0])
	}
	b := fleetgate.ReadBuild()
	fmt.Fprintln(e.stdout, "fleetgate", fleetgate.ToolVersion())
	if b.Module != "" {
		fmt.Fprintln(e.stdout, "module:  github.com/fleetgate/fleetgate", b.Module)
	}
	if b.Commit != "" {
		c := b.Commit
		if b.CommitTime != "" {
			c += " (" + b.CommitTime + ")"
		}
		if b.Modified {
			c += " with uncommitted changes"
		}
		fmt.Fprintln(e.stdout, "commit: ", c)
	}
	if b.Go != "" {
		fmt.Fprintln(e.stdout, "go:     ", b.Go)
	}
	return nil
}

// printPlan prints what plan, up --dry-run and down --dry-run found. A
// plan that up would refuse ends as up would, with the check's exit 5, so
// that CI can run plan alone.
func (e *env) printPlan(rep *fleetgate.PlanReport, asJSON bool) error {
	if err := e.writePlan(rep, asJSON); err != nil {
		return err
	}
	if !rep.Refused {
		return nil
	}
	ce := &fleetgate.CheckError{}
	for _, mg := range rep.Migrations {
		for _, f := range mg.Findings {
			if f.Blocking() {
				ce.Findings = append(ce.Findings, f)
			}
		}
	}
	return ce
}

func (e *env) writePlan(rep *fleetgate.PlanReport, asJSON bool) error {
	if asJSON {
		return e.printJSON(rep)
	}
	w := e.stdout
	verb := "apply"
	if rep.Direction == "down" {
		verb = "roll back"
	}
	t := rep.Timeouts
	fmt.Fprintf(w, "plan (nothing written, no lock taken): %d migrations to %s\n", len(rep.Migrations), verb)
	fmt.Fprintf(w, "timeouts: lock wait %s, lease %s, table lock timeout %s", t.LockWait, t.Lease, t.LockTimeout)
	if t.LockRetries > 0 {
		fmt.Fprintf(w, " with %d retries", t.LockRetries)
	}
	fmt.Fprintf(w, "; checks: %s\n", rep.Checks)
	for _, mg := range rep.Migrations {
		fmt.Fprintf(w, "\n%s %d %s (%s)", mg.Direction, mg.Version, mg.Name, mg.File)
		if mg.Phase != "" {
			fmt.Fprintf(w, " phase %s", mg.Phase)
		}
		tx := "in one transaction with its history row"
		if mg.Transaction == "none" {
			tx = "without a transaction, statement by statement"
		}
		fmt.Fprintf(w, ", %s", tx)
		if mg.Resume > 0 {
			fmt.Fprintf(w, ", resuming after statement %d", mg.Resume)
		}
		if mg.StoredScript {
			fmt.Fprint(w, ", from the down script stored in the database")
		}
		fmt.Fprintln(w)
		for _, s := range mg.Statements {
			fmt.Fprintf(w, "  %4d | %s\n", s.Line, strings.ReplaceAll(s.SQL, "\n", "\n       | "))
		}
		for _, f := range mg.Findings {
			fmt.Fprintf(w, "  check: %s\n", f.String())
		}
	}
	if len(rep.Deferred) > 0 {
		fmt.Fprintf(w, "\npost-phase migrations left for `up --phase post`: %s\n", joinInts(rep.Deferred))
	}
	if len(rep.Ahead) > 0 {
		fmt.Fprintf(w, "\nthe database has migrations this build lacks: %s\n", joinInts(rep.Ahead))
	}
	if rep.Refused {
		fmt.Fprintln(w, "\nup would refuse this plan: a check finding is an error (exit 5); see docs/checks.md")
	}
	return nil
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, " ")
}

// planCmd is `fleetgate plan`: up's plan, or with --down, down's.
func (e *env) planCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("plan", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	down := fs.Bool("down", false, "plan a rollback instead (with --steps, --to or --unknown as for down)")
	to := fs.Int64("to", 0, "up: highest version to apply; with --down: revert everything newer (0: all)")
	phase := fs.String("phase", "pre", "pre or post")
	ooo := fs.Bool("allow-out-of-order", false, "apply pending migrations older than applied ones")
	steps := fs.Int("steps", 0, "with --down: revert the N newest applied migrations (default 1)")
	unknown := fs.Bool("unknown", false, "with --down: revert every applied migration this build lacks")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("plan", "unexpected argument %q", pos[0])
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !*down && (set["steps"] || set["unknown"]) {
		return configErrf("plan", "--steps and --unknown need --down")
	}
	if *to < 0 || *steps < 0 {
		return configErrf("--to", "must not be negative")
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	var rep *fleetgate.PlanReport
	if *down {
		opts := &fleetgate.DownOpts{Steps: *steps, Unknown: *unknown, To: *to, All: set["to"] && *to == 0}
		rep, err = m.PlanDown(ctx, opts)
	} else {
		rep, err = m.PlanUp(ctx, &fleetgate.UpOpts{To: *to, Phase: fleetgate.Phase(*phase), AllowOutOfOrder: *ooo})
	}
	if err != nil {
		return err
	}
	return e.printPlan(rep, *asJSON)
}

// redo rolls back the newest migration and applies it again, each through
// Down and Up with their lock and audit.
func (e *env) redo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("redo", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	dryRun := fs.Bool("dry-run", false, "print what would be rolled back; change nothing")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("redo", "unexpected argument %q", pos[0])
	}
	if *timeout < 0 {
		return configErrf("--timeout", "must not be negative")
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	rep, err := m.PlanDown(ctx, &fleetgate.DownOpts{Steps: 1})
	if err != nil {
		return err
	}
	if len(rep.Migrations) == 0 {
		return configErrf("redo", "nothing is applied, so there is nothing to redo")
	}
	top := rep.Migrations[0]
	if top.StoredScript {
		return configErrf("redo", "version %d (%s) has no file in %s, so it could be rolled back but not applied again", top.Version, top.Name, e.c.dir)
	}
	if *dryRun {
		return e.printPlan(rep, false)
	}
	res, err := m.Down(ctx, &fleetgate.DownOpts{Steps: 1, Timeout: *timeout})
	if err != nil {
		return err
	}
	if len(res.Reverted) == 0 {
		return configErrf("redo", "another runner rolled back version %d first; run up to apply it again", top.Version)
	}
	up, err := m.Up(ctx, &fleetgate.UpOpts{To: res.Reverted[0], Timeout: *timeout})
	if err != nil {
		return fmt.Errorf("redo: version %d was rolled back, applying it again failed: %w", res.Reverted[0], err)
	}
	e.log.Info("redone", "version", res.Reverted[0], "applied", len(up.Applied))
	return nil
}

// gotoCmd migrates up or down to version V.
func (e *env) gotoCmd(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("goto", flag.ContinueOnError)
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	dryRun := fs.Bool("dry-run", false, "print the plan; change nothing")
	initDB := fs.Bool("init", false, "create the history tables even where they look like a mistake (see up --help)")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return configErrf("goto", "want exactly one version V, e.g. fleetgate goto 3 (0: roll back everything)")
	}
	v, perr := strconv.ParseInt(pos[0], 10, 64)
	if perr != nil || v < 0 {
		return configErrf("goto", "%q is not a version (want a non-negative integer)", pos[0])
	}
	if *timeout < 0 {
		return configErrf("--timeout", "must not be negative")
	}
	e.setInit(*initDB)
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	var newest int64
	for _, s := range st.Migrations {
		if s.State != fleetgate.StatePending && s.Version > newest {
			newest = s.Version
		}
	}
	if v < newest {
		opts := &fleetgate.DownOpts{To: v, All: v == 0, Timeout: *timeout}
		if *dryRun {
			rep, err := m.PlanDown(ctx, opts)
			if err != nil {
				return err
			}
			return e.printPlan(rep, false)
		}
		if _, err := m.Down(ctx, opts); err != nil || v == 0 {
			return err
		}
		// V itself may be pending below newer applied versions (applied
		// out of order elsewhere): with those reverted, apply it. When V
		// is applied this finds nothing to do.
		_, err := m.Up(ctx, &fleetgate.UpOpts{To: v, Timeout: *timeout})
		return err
	}
	if v == 0 {
		e.log.Info("nothing is applied; nothing to do")
		return nil
	}
	opts := &fleetgate.UpOpts{To: v, Timeout: *timeout}
	if *dryRun {
		rep, err := m.PlanUp(ctx, opts)
		if err != nil {
			return err
		}
		return e.printPlan(rep, false)
	}
	_, err = m.Up(ctx, opts)
	return err
}

// setInit passes --init to the library configuration open builds.
func (e *env) setInit(on bool) {
	if !on {
		return
	}
	prev := e.tune
	e.tune = func(c *fleetgate.Config) {
		if prev != nil {
			prev(c)
		}
		c.Init = true
	}
}

// fix renames pending timestamp-versioned files to sequential versions.
func (e *env) fix(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("fix", flag.ContinueOnError)
	dryRun := fs.Bool("dry-run", false, "print the renames; change nothing")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("fix", "unexpected argument %q", pos[0])
	}
	if e.c.database == "" {
		return configErrf("--database", "fix reads the history so as never to rename an applied file: pass --database URL or set FLEETGATE_DATABASE_URL")
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	renames, err := m.FixPlan(ctx)
	if err != nil {
		return err
	}
	if len(renames) == 0 {
		e.log.Info("no pending timestamp versions; nothing to rename")
		return nil
	}
	for _, r := range renames {
		if _, err := os.Lstat(r.To); err == nil {
			return configErrf("fix", "%s already exists; nothing renamed", r.To)
		} else if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("fix: %w", err)
		}
	}
	for _, r := range renames {
		if !*dryRun {
			if err := os.Rename(r.From, r.To); err != nil {
				return fmt.Errorf("fix: %w", err)
			}
		}
		fmt.Fprintf(e.stdout, "%s -> %s\n", r.From, r.To)
	}
	return nil
}

// dryRunUp is `up --dry-run`.
func (e *env) dryRunUp(ctx context.Context, opts *fleetgate.UpOpts) error {
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	rep, err := m.PlanUp(ctx, opts)
	if err != nil {
		return err
	}
	return e.printPlan(rep, false)
}
