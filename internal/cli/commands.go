package cli

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/fleetgate/fleetgate"
)

func (e *env) up(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("up", flag.ContinueOnError)
	to := fs.Int64("to", 0, "highest version to apply")
	phase := fs.String("phase", "pre", "pre or post")
	ooo := fs.Bool("allow-out-of-order", false, "apply pending migrations older than applied ones")
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	ifAhead := fs.String("if-ahead", "continue", "when the database has migrations this build lacks: fail, rollback or continue")
	lockTimeout := fs.Duration("lock-timeout", 2*time.Second, "PostgreSQL and MySQL: give up each wait for a table lock after this long and retry the migration (0: wait forever; MySQL rounds up to whole seconds)")
	lockRetries := fs.Int("lock-retries", 10, "PostgreSQL and MySQL: retry a migration that hit --lock-timeout this many times, with backoff")
	dryRun := fs.Bool("dry-run", false, "print what would run (as fleetgate plan does); write nothing, take no lock")
	initDB := fs.Bool("init", false, "create the history tables even in a database that has user tables or another fleetgate history, and their schema")
	var fan fanFlags
	fan.register(fs)
	ignoreFleet := fs.String("ignore-fleet", "", "apply post-phase migrations (or roll back with --if-ahead=rollback) although live instances run builds that would break; `REASON` is recorded")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &fleetgate.ConfigError{Setting: "up", Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if *to < 0 {
		return &fleetgate.ConfigError{Setting: "--to", Msg: "must be a positive version"}
	}
	if *timeout < 0 {
		return configErrf("--timeout", "must not be negative (0: wait as long as the holder lives)")
	}
	if err := e.lockFlags(*lockTimeout, *lockRetries); err != nil {
		return err
	}
	e.setInit(*initDB)
	if e.fanning(&fan) {
		if *dryRun {
			return configErrf("--dry-run", "works on one database; run plan against one target")
		}
		return e.upOver(ctx, &fan, &fleetgate.UpOpts{To: *to, Phase: fleetgate.Phase(*phase), AllowOutOfOrder: *ooo, Timeout: *timeout,
			IfAhead: fleetgate.IfAhead(*ifAhead), IgnoreFleet: *ignoreFleet})
	}
	if *dryRun {
		return e.dryRunUp(ctx, &fleetgate.UpOpts{To: *to, Phase: fleetgate.Phase(*phase), AllowOutOfOrder: *ooo, Timeout: *timeout})
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	start := time.Now()
	res, err := m.Up(ctx, &fleetgate.UpOpts{To: *to, Phase: fleetgate.Phase(*phase), AllowOutOfOrder: *ooo, Timeout: *timeout,
		IfAhead: fleetgate.IfAhead(*ifAhead), IgnoreFleet: *ignoreFleet})
	if res != nil && len(res.Applied) > 0 {
		e.log.Info("done", "applied", len(res.Applied), "elapsed", time.Since(start).Round(time.Millisecond))
	}
	if err != nil {
		return err
	}
	if len(res.Deferred) > 0 {
		e.log.Info("post-phase migrations pending; run `fleetgate up --phase post` once no old code is left", "versions", res.Deferred)
	}
	return nil
}

// resolve settles a partly applied migration: fleetgate resolve VERSION
// --done | --retry-from K | --abandon.
func (e *env) resolve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("resolve", flag.ContinueOnError)
	done := fs.Bool("done", false, "record the migration as applied (it was completed by hand)")
	retry := fs.Int("retry-from", 0, "make the next up run the migration from statement K (1-based)")
	abandon := fs.Bool("abandon", false, "remove the partial row; the next up runs the migration from its first statement")
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &fleetgate.ConfigError{Setting: "resolve", Msg: "want exactly one VERSION, e.g. fleetgate resolve 20240101120000 --retry-from 3"}
	}
	version, err := strconv.ParseInt(pos[0], 10, 64)
	if err != nil || version <= 0 {
		return &fleetgate.ConfigError{Setting: "resolve", Msg: fmt.Sprintf("%q is not a migration version", pos[0])}
	}
	if *retry < 0 {
		return &fleetgate.ConfigError{Setting: "--retry-from", Msg: "must be a statement number, 1 or more"}
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Resolve(ctx, version, &fleetgate.ResolveOpts{Done: *done, RetryFrom: *retry, Abandon: *abandon, Timeout: *timeout}); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "resolved %d\n", version)
	return nil
}

func (e *env) status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print JSON")
	var fan fanFlags
	fan.register(fs)
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("status", "unexpected argument %q", pos[0])
	}
	if e.fanning(&fan) {
		return e.statusOver(ctx, &fan, *asJSON)
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	st, err := m.Status(ctx)
	if err != nil {
		return err
	}
	fl, ferr := m.Fleet(ctx)
	if ferr != nil {
		e.log.Warn("could not read the instance registry", "error", ferr.Error())
		fl = nil
	}
	if *asJSON {
		return e.printJSON(struct {
			*fleetgate.Status
			Fleet *fleetgate.FleetStatus `json:"fleet,omitempty"`
		}{st, fl})
	}
	defer e.printFleet(fl)
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VERSION\tNAME\tPHASE\tSTATE\tAPPLIED AT\tBY")
	for _, s := range st.Migrations {
		at := ""
		if s.AppliedAt != nil {
			at = s.AppliedAt.UTC().Format(time.RFC3339)
		}
		state := string(s.State)
		if s.Adopted {
			state += " (adopted)"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", s.Version, s.Name, s.Phase, state, at, s.AppliedBy)
	}
	tw.Flush()
	shown := map[int64]bool{}
	for _, s := range st.Migrations {
		if s.Statements == 0 {
			continue
		}
		k := s.StatementsDone + 1
		shown[s.Version] = s.Error != ""
		if st.Lock != nil && st.Lock.RunningVersion == s.Version {
			fmt.Fprintf(e.stdout, "%d %s: running, at statement %d of %d\n", s.Version, s.Name, k, s.Statements)
			continue
		}
		if s.Error == "" {
			fmt.Fprintf(e.stdout, "%d %s: interrupted at statement %d of %d; up resumes it there\n", s.Version, s.Name, k, s.Statements)
			continue
		}
		fmt.Fprintf(e.stdout, "%d %s: failed at statement %d of %d (line %d): %s; fix the file and up resumes at statement %d (statements before it unchanged), or settle it with fleetgate resolve\n",
			s.Version, s.Name, k, s.Statements, s.ErrorLine, s.Error, k)
	}
	// A failure the partial migration's line above already names is not
	// repeated.
	if f := st.Failure; f != nil && !shown[f.Version] {
		what := "applying"
		if f.Direction == "down" {
			what = "reverting"
		}
		fmt.Fprintf(e.stdout, "last attempt failed %s %d %s at %s by %s: %s\n", what, f.Version, f.Name,
			f.At.UTC().Format(time.RFC3339), hostPIDOf(f.Host, f.PID), firstLine(f.Error))
	}
	if st.Lock != nil {
		fmt.Fprintf(e.stdout, "lock held by %s pid %d deploy %q since %s", st.Lock.Host, st.Lock.PID, st.Lock.DeployID,
			st.Lock.Since.UTC().Format(time.RFC3339))
		if st.Lock.RunningVersion != 0 {
			fmt.Fprintf(e.stdout, ", running %d", st.Lock.RunningVersion)
			for _, s := range st.Migrations {
				if s.Version == st.Lock.RunningVersion {
					fmt.Fprintf(e.stdout, " %s", s.Name)
				}
			}
		}
		fmt.Fprintln(e.stdout)
	} else {
		fmt.Fprintln(e.stdout, "lock free")
	}
	return nil
}

func (e *env) history(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	asJSON := fs.Bool("json", false, "print a JSON array of events (schema: docs/history.schema.json)")
	version := fs.Int64("version", 0, "only events of this version")
	since := fs.String("since", "", "only events since this time (RFC 3339) or duration ago (e.g. 24h)")
	limit := fs.Int("limit", 0, "at most this many events")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("history", "unexpected argument %q", pos[0])
	}
	var sinceT time.Time
	if *since != "" {
		if d, err := time.ParseDuration(*since); err == nil {
			sinceT = time.Now().Add(-d)
		} else if t, err := time.Parse(time.RFC3339, *since); err == nil {
			sinceT = t
		} else {
			return &fleetgate.ConfigError{Setting: "--since", Msg: fmt.Sprintf("%q is neither an RFC 3339 time nor a duration", *since)}
		}
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	evs, err := m.History(ctx, &fleetgate.HistoryOpts{Version: *version, Since: sinceT, Limit: *limit})
	if err != nil {
		return err
	}
	if *asJSON {
		return e.printJSON(evs)
	}
	tw := tabwriter.NewWriter(e.stdout, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "AT\tKIND\tVERSION\tDURATION\tWHO\tDEPLOY\tDETAIL")
	for _, ev := range evs {
		v := ""
		if ev.Version != 0 {
			v = strconv.FormatInt(ev.Version, 10) + " " + ev.Name
		}
		detail := ev.Error
		if ev.StatementLine > 0 {
			detail = fmt.Sprintf("%s:%d: %s", ev.File, ev.StatementLine, ev.Error)
		}
		if ev.Kind == "lock_wait" {
			detail = fmt.Sprintf("waited %s for the lock", fmtMS(ev.LockWaitMS))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s@%s:%d\t%s\t%s\n", ev.At.UTC().Format(time.RFC3339), ev.Kind, v,
			fmtMS(ev.DurationMS), ev.DBUser, ev.Host, ev.PID, ev.DeployID, strings.ReplaceAll(detail, "\n", " "))
	}
	return tw.Flush()
}

// fmtMS prints a duration in milliseconds for people: <1ms, 850ms, 5.0s,
// 2m3s. A recorded 0 is a migration whose statements took under a
// millisecond (the history row is written inside the migration's own
// transaction, so the commit's flush to disk is never part of it); "0ms"
// read as if nothing had run.
func fmtMS(ms int64) string {
	switch d := time.Duration(ms) * time.Millisecond; {
	case ms <= 0:
		return "<1ms"
	case ms < 1000:
		return fmt.Sprintf("%dms", ms)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	default:
		return d.Round(time.Second).String()
	}
}

func (e *env) validate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	var fan fanFlags
	fan.register(fs)
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return configErrf("validate", "unexpected argument %q", pos[0])
	}
	if e.fanning(&fan) {
		return e.validateOver(ctx, &fan)
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.Validate(ctx); err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, "ok")
	return nil
}

func (e *env) newCmd(name string, args []string) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	phase := fs.String("phase", "pre", "pre or post")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return &fleetgate.ConfigError{Setting: name, Msg: "want exactly one NAME, e.g. fleetgate " + name + " add_users"}
	}
	p, err := fleetgate.CreateMigration(e.c.dir, pos[0], fleetgate.Phase(*phase), time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintln(e.stdout, p)
	return nil
}

// lockFlags validates --lock-timeout and --lock-retries and hands them to
// the library, where 0 means "the default": a 0 typed on the command line
// means "none", which the library spells as a negative value.
func (e *env) lockFlags(timeout time.Duration, retries int) error {
	if timeout < 0 {
		return &fleetgate.ConfigError{Setting: "--lock-timeout", Msg: "must not be negative (0 waits forever)"}
	}
	if timeout > 0 && (timeout < fleetgate.MinLockTimeout || timeout > fleetgate.MaxLockTimeout) {
		return &fleetgate.ConfigError{Setting: "--lock-timeout", Msg: fmt.Sprintf("%s is out of range: want %s to %s, or 0 to wait forever",
			timeout, fleetgate.MinLockTimeout, fleetgate.MaxLockTimeout)}
	}
	if retries < 0 {
		return &fleetgate.ConfigError{Setting: "--lock-retries", Msg: "must not be negative"}
	}
	prev := e.tune
	e.tune = func(c *fleetgate.Config) {
		if prev != nil {
			prev(c)
		}
		c.LockTimeout, c.LockRetries = timeout, retries
		if timeout == 0 {
			c.LockTimeout = -1
		}
		if retries == 0 {
			c.LockRetries = -1
		}
	}
	return nil
}

// printFleet lists the live instances by build, what each build holds
// back, and the stale entries.
func (e *env) printFleet(fl *fleetgate.FleetStatus) {
	if fl == nil || !fl.Supported {
		return
	}
	n := 0
	for _, b := range fl.Builds {
		n += len(b.Instances)
	}
	fmt.Fprintf(e.stdout, "fleet: %d live instance(s) in %d build(s)", n, len(fl.Builds))
	if len(fl.Stale) > 0 {
		fmt.Fprintf(e.stdout, ", %d stale", len(fl.Stale))
	}
	fmt.Fprintln(e.stdout)
	for _, b := range fl.Builds {
		hosts := make([]string, 0, len(b.Instances))
		for _, in := range b.Instances {
			hosts = append(hosts, fmt.Sprintf("%s/%d", in.Host, in.PID))
		}
		fmt.Fprintf(e.stdout, "  build %s (up to %d): %d instance(s): %s", b.Build, b.MaxVersion, len(b.Instances), strings.Join(hosts, " "))
		if len(b.Blocks) > 0 {
			fmt.Fprintf(e.stdout, "; holds back post-phase %s", joinInts(b.Blocks))
		}
		fmt.Fprintln(e.stdout)
	}
	for _, in := range fl.Stale {
		fmt.Fprintf(e.stdout, "  stale: %s/%d build %s, last seen %s ago\n", in.Host, in.PID, in.Build, fl.Now.Sub(in.LastSeen).Round(time.Second))
	}
}

func hostPIDOf(host string, pid int) string {
	if host == "" {
		return "?"
	}
	return fmt.Sprintf("%s:%d", host, pid)
}
