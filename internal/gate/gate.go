// Package gate is what makes a build wait for its schema without taking
// part in migrating it: Wait blocks until the pre-phase migrations a build
// ships are applied, and Probe answers readiness probes with the same
// rule. Both only read (never create tables, never take the lock), so they
// work with credentials that may only SELECT the history.
//
// Wait listens for commit announcements where the driver and the session
// allow it and polls otherwise, with driver.Listener, the helper the
// lock's waiters share.
package gate

import (
	"context"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Reader plans a build's pre-phase against the history.
type Reader struct {
	D     driver.Driver
	Local []*source.Migration
	// To is the highest version the build needs; 0 means all.
	To int64
	// AllowOutOfOrder counts pending migrations older than applied ones as
	// pending rather than as a validation error.
	AllowOutOfOrder bool
}

// Plan reads the history on q, without ever creating the tables, and
// returns what the build still lacks.
func (r *Reader) Plan(ctx context.Context, q driver.Querier) (*plan.Plan, error) {
	rows, err := driver.ReadHistory(ctx, r.D, q, false)
	if err != nil {
		return nil, err
	}
	return plan.Build(r.Local, plan.FromHistory(rows), plan.Options{Target: r.To, Phase: source.PhasePre, AllowOutOfOrder: r.AllowOutOfOrder})
}
