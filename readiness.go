package fleetgate

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"time"
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
	return &readiness{m: m, o: o}
}

type readiness struct {
	m *Migrator
	o ReadinessOpts

	mu       sync.Mutex
	ready    bool // once true, never read again
	last     Readiness
	lastAt   time.Time
	inflight chan struct{} // closed when the running check ends
}

func (h *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	st := h.state(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if st.Ready {
		w.WriteHeader(http.StatusOK)
	} else {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(st)
}

// state returns the current answer, reading the history only when the last
// read is older than MinInterval and no other probe is reading.
func (h *readiness) state(ctx context.Context) Readiness {
	h.mu.Lock()
	for {
		if h.ready || (!h.lastAt.IsZero() && time.Since(h.lastAt) < h.o.MinInterval) {
			st := h.last
			h.mu.Unlock()
			return st
		}
		if h.inflight == nil {
			break
		}
		ch := h.inflight
		h.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return Readiness{Error: "probe cancelled before the check ended"}
		}
		h.mu.Lock()
	}
	ch := make(chan struct{})
	h.inflight = ch
	h.mu.Unlock()

	// The read outlives a probe that gives up, so that the probes waiting
	// for it get an answer.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), h.o.CheckTimeout)
	st := h.check(cctx)
	cancel()

	h.mu.Lock()
	h.last, h.lastAt, h.inflight = st, time.Now(), nil
	first := st.Ready && !h.ready
	h.ready = st.Ready
	h.mu.Unlock()
	close(ch)
	if first && !h.o.SkipRegister {
		if _, err := h.m.Register(context.WithoutCancel(ctx)); err != nil {
			h.m.log.WarnContext(ctx, "could not register this instance", "error", err.Error())
		}
	}
	return st
}

func (h *readiness) check(ctx context.Context) Readiness {
	local, err := h.m.migrations()
	if err != nil {
		return Readiness{Error: err.Error()}
	}
	w := &waiter{m: h.m, local: local, o: WaitOpts{To: h.o.To, AllowOutOfOrder: h.o.AllowOutOfOrder}, res: &WaitResult{}}
	p, err := w.read(ctx)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return Readiness{Error: "reading the migration history timed out"}
		}
		return Readiness{Error: err.Error()}
	}
	st := Readiness{}
	for _, s := range p.Steps {
		st.Pending = append(st.Pending, s.Migration.Version)
	}
	for _, a := range p.Ahead {
		st.Ahead = append(st.Ahead, a.Version)
	}
	st.Ready = len(st.Pending) == 0
	return st
}
