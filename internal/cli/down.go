package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate"
)

// down rolls back: one step by default, --steps N, --to V (0: all),
// --version V or --unknown.
func (e *env) down(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("down", flag.ContinueOnError)
	steps := fs.Int("steps", 0, "revert the N newest applied migrations (default 1)")
	to := fs.Int64("to", -1, "revert every applied migration newer than this version (0: all)")
	version := fs.Int64("version", 0, "revert exactly this version, the newest applied; nothing if it is already reverted (use this in a fleet)")
	unknown := fs.Bool("unknown", false, "revert every applied migration this build's directory does not contain")
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	ignoreFleet := fs.String("ignore-fleet", "", "with --unknown: roll back although live instances run a build that ships those migrations; `REASON` is recorded")
	dryRun := fs.Bool("dry-run", false, "print what would be rolled back (as fleetgate plan --down does); write nothing, take no lock")
	var fan fanFlags
	fan.register(fs)
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &fleetgate.ConfigError{Setting: "down", Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	opts := &fleetgate.DownOpts{Steps: *steps, Unknown: *unknown, Version: *version, Timeout: *timeout, IgnoreFleet: *ignoreFleet}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case set["steps"] && *steps < 1:
		return &fleetgate.ConfigError{Setting: "--steps", Msg: "must be at least 1"}
	case set["to"] && *to < 0:
		return &fleetgate.ConfigError{Setting: "--to", Msg: "must be a version, or 0 to revert everything"}
	case set["version"] && *version < 1:
		return &fleetgate.ConfigError{Setting: "--version", Msg: "must be a migration version"}
	case set["to"] && *to == 0:
		opts.All = true
	case set["to"]:
		opts.To = *to
	}
	if n := btoi(set["steps"]) + btoi(set["to"]) + btoi(*unknown) + btoi(set["version"]); n > 1 {
		return &fleetgate.ConfigError{Setting: "down", Msg: "give at most one of --steps, --to, --version and --unknown"}
	}
	if *timeout < 0 {
		return configErrf("--timeout", "must not be negative (0: wait as long as the holder lives)")
	}
	if e.fanning(&fan) {
		if *dryRun {
			return configErrf("--dry-run", "works on one database; run plan --down against one target")
		}
		return e.downOver(ctx, &fan, opts)
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	if *dryRun {
		rep, err := m.PlanDown(ctx, opts)
		if err != nil {
			return err
		}
		return e.printPlan(rep, false)
	}
	start := time.Now()
	res, err := m.Down(ctx, opts)
	if err != nil {
		return err
	}
	if len(res.Reverted) > 0 {
		e.log.Info("done", "reverted", len(res.Reverted), "at", res.At, "elapsed", time.Since(start).Round(time.Millisecond))
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
