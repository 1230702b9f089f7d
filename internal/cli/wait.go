package cli

import (
	"context"
	"flag"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate"
)

// gateFlags are the flags wait and run share.
type gateFlags struct {
	to      int64
	timeout time.Duration
	poll    time.Duration
	ooo     bool
}

func (g *gateFlags) register(fs *flag.FlagSet) {
	fs.Int64Var(&g.to, "to", 0, "highest version this build needs")
	fs.DurationVar(&g.timeout, "timeout", 0, "give up after this long (exit 3)")
	fs.DurationVar(&g.poll, "poll", time.Second, "longest pause between two reads of the history")
	fs.BoolVar(&g.ooo, "allow-out-of-order", false, "accept pending migrations older than applied ones")
}

func (g *gateFlags) check() error {
	switch {
	case g.to < 0:
		return &fleetgate.ConfigError{Setting: "--to", Msg: "must be a positive version"}
	case g.timeout < 0:
		return &fleetgate.ConfigError{Setting: "--timeout", Msg: "must be positive"}
	case g.poll < fleetgate.MinPollInterval || g.poll > fleetgate.MaxPollInterval:
		return configErrf("--poll", "%s is out of range: want %s to %s", g.poll, fleetgate.MinPollInterval, fleetgate.MaxPollInterval)
	}
	return nil
}

func (e *env) wait(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("wait", flag.ContinueOnError)
	var g gateFlags
	g.register(fs)
	var fan fanFlags
	fan.register(fs)
	pos, err := e.parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return &fleetgate.ConfigError{Setting: "wait", Msg: fmt.Sprintf("unexpected argument %q", pos[0])}
	}
	if err := g.check(); err != nil {
		return err
	}
	if e.fanning(&fan) {
		return e.waitOver(ctx, &fan, &g)
	}
	m, err := e.open(ctx)
	if err != nil {
		return err
	}
	defer m.Close()
	if err := m.CheckTarget(g.to); err != nil {
		return err
	}
	if err := e.waitFor(ctx, m, &g); err != nil {
		return err
	}
	// The instance this wait gates (an init container's app) is recorded
	// as starting with this build. wait exits now, so nothing keeps the
	// entry fresh: it counts for one instance TTL, time enough for the
	// app to start; apps tracked while they serve use run or Register.
	if reg := e.register(context.WithoutCancel(ctx), m); reg != nil {
		e.log.Debug("registered until it expires", "instance", reg.ID)
	}
	return nil
}

// waitFor runs Wait and logs its outcome.
func (e *env) waitFor(ctx context.Context, m *fleetgate.Migrator, g *gateFlags) error {
	res, err := m.Wait(ctx, &fleetgate.WaitOpts{To: g.to, Timeout: g.timeout, PollInterval: g.poll, AllowOutOfOrder: g.ooo})
	if err != nil {
		return err
	}
	e.log.Info("schema is ready", "waited", res.Waited.Round(time.Millisecond))
	return nil
}
