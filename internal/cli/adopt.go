package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate"
)

// adopt takes over another tool's history: fleetgate adopt --from TOOL.
func (e *env) adopt(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("adopt", flag.ContinueOnError)
	from := fs.String("from", "", "the tool that applied the migrations so far: golang-migrate, goose, dbmate or flyway")
	table := fs.String("from-table", "", "that tool's history table, if not its default (may be schema.name)")
	timeout := fs.Duration("timeout", 0, "give up waiting for the lock after this long (exit 3)")
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &fleetgate.ConfigError{Setting: "adopt", Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	res, err := m.Adopt(ctx, &fleetgate.AdoptOpts{From: fleetgate.Tool(*from), Table: *table, Timeout: *timeout})
	if err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "%s: %d versions applied by %s", res.State, len(res.Applied), *from)
	switch {
	case len(res.Recorded) > 0:
		fmt.Fprintf(e.stdout, ", %d recorded now as adopted", len(res.Recorded))
	case len(res.Applied) > 0:
		fmt.Fprint(e.stdout, ", all recorded already")
	}
	fmt.Fprintf(e.stdout, "; %d pending for up\n", len(res.Pending))
	if len(res.NotLocal) > 0 {
		e.log.Warn(fmt.Sprintf("%s applied versions this directory has no file for; they are not recorded and nothing will run them", *from),
			"versions", strings.Join(res.NotLocal, " "))
	}
	return nil
}

// sourceConfig applies --format and --checks (and their environment
// variables) to cfg.
func (e *env) sourceConfig(cfg *fleetgate.Config) error {
	f, err := fleetgate.ParseFormat(e.c.format)
	if err != nil {
		return err
	}
	cfg.Format = f
	switch mode := fleetgate.LegacyMode(e.c.legacyTable); mode {
	case "", fleetgate.LegacyAuto, fleetgate.LegacyOff:
		cfg.LegacyTable = mode
	default:
		return &fleetgate.ConfigError{Setting: "--legacy-table", Msg: fmt.Sprintf("unknown mode %q (want auto or off)", e.c.legacyTable)}
	}
	cfg.Checks, err = fleetgate.ParseCheckMode(e.c.checks)
	return err
}
