package fleetgate

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/fleetgate/fleetgate/internal/gate"
)

// ReadinessOpts tune ReadinessHandler. A nil *ReadinessOpts checks every
// pre-phase migration, at most once a second.
type ReadinessOpts struct {
	// To is the highest version this build needs. Defaults to all.
	To int64
	// MinInterval is the least time between two reads of the history while
	// the schema is not ready: concurrent and frequent probes share one
	// read. Defaults to 1s.
	MinInterval time.Duration
	// CheckTimeout bounds one read of the history; a probe that hits it
	// answers 503. Defaults to 5s.
	CheckTimeout time.Duration
	// AllowOutOfOrder counts pending migrations older than applied ones as
	// pending rather than as a validation error. Defaults to false.
	AllowOutOfOrder bool
	// SkipRegister leaves this process out of the instance registry. By
	// default the handler registers it (see Register) the first time the
	// schema is ready, for the life of the process: its entry expires one
	// InstanceTTL after the process ends, unless the app calls Register
	// and Close itself.
	SkipRegister bool
}

// Readiness is the JSON body ReadinessHandler answers with.
type Readiness struct {
	Ready   bool    `json:"ready"`
	Pending []int64 `json:"pending,omitempty"`
	// Ahead are applied versions this build does not know (a newer deploy).
	Ahead []int64 `json:"ahead,omitempty"`
	// Error says why the history could not be checked.
	Error string `json:"error,omitempty"`
}

// ReadinessHandler returns an http.Handler for readiness probes: 503 with a
// JSON body naming the pending versions until every pre-phase migration of
// the directory (up to opts.To) is applied, then 200. It only reads, with
// the same rules as Wait. Once it has seen the schema ready it answers from
// memory for the life of the process: readiness here means "the schema this
// build needs has arrived", which no later deploy takes back. Until then,
// concurrent probes share one read of the history, and reads are at least
// MinInterval apart. It never takes the lock and is safe for concurrent use.
func (m *Migrator) ReadinessHandler(opts *ReadinessOpts) http.Handler {
	o := ReadinessOpts{}
	if opts != nil {
		o = *opts
	}
	if o.MinInterval <= 0 {
		o.MinInterval = time.Second
	}
	if o.CheckTimeout <= 0 {
		o.CheckTimeout = 5 * time.Second
	}
	p := &gate.Probe{D: m.d, DB: m.db, Migrations: m.migrations, To: o.To, AllowOutOfOrder: o.AllowOutOfOrder,
		MinInterval: o.MinInterval, CheckTimeout: o.CheckTimeout}
	if !o.SkipRegister {
		p.OnReady = func(ctx context.Context) {
			if _, err := m.Register(ctx); err != nil {
				m.log.WarnContext(ctx, "could not register this instance", "error", err.Error())
			}
		}
	}
	return &readiness{p: p}
}

// readiness answers probes in JSON with what its gate.Probe reads.
type readiness struct{ p *gate.Probe }

func (h *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g := h.p.State(r.Context())
	st := Readiness{Ready: g.Ready, Pending: g.Pending, Ahead: g.Ahead, Error: g.Error}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if st.Ready {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}
