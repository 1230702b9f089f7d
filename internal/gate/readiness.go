package gate

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/source"
)

// State is one answer to a readiness probe.
type State struct {
	Ready   bool
	Pending []int64
	Ahead   []int64 // applied versions the build does not know (a newer deploy)
	Error   string  // why the history could not be checked
}

// Probe is the engine of a readiness handler: until it has seen the schema
// ready, concurrent probes share one read of the history and reads are at
// least MinInterval apart; once ready it answers from memory for the life
// of the process, since no later deploy takes back the schema this build
// needs. Safe for concurrent use; fill the fields before the first State.
type Probe struct {
	D  driver.Driver
	DB driver.Querier
	// Migrations returns the build's files (an error is reported in the
	// answer, and asked again at the next read).
	Migrations      func() ([]*source.Migration, error)
	To              int64
	AllowOutOfOrder bool
	MinInterval     time.Duration
	CheckTimeout    time.Duration // bounds one read of the history
	// OnReady runs once, the first time the schema is seen ready, with a
	// context that outlives the probe.
	OnReady func(ctx context.Context)

	mu       sync.Mutex
	ready    bool // once true, never read again
	last     State
	lastAt   time.Time
	inflight chan struct{} // closed when the running check ends
}

// State returns the current answer, reading the history only when the last
// read is older than MinInterval and no other probe is reading.
func (p *Probe) State(ctx context.Context) State {
	p.mu.Lock()
	for {
		if p.ready || (!p.lastAt.IsZero() && time.Since(p.lastAt) < p.MinInterval) {
			st := p.last
			p.mu.Unlock()
			return st
		}
		if p.inflight == nil {
			break
		}
		ch := p.inflight
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return State{Error: "probe cancelled before the check ended"}
		}
		p.mu.Lock()
	}
	ch := make(chan struct{})
	p.inflight = ch
	p.mu.Unlock()

	// The read outlives a probe that gives up, so that the probes waiting
	// for it get an answer.
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.CheckTimeout)
	st := p.check(cctx)
	cancel()

	p.mu.Lock()
	p.last, p.lastAt, p.inflight = st, time.Now(), nil
	first := st.Ready && !p.ready
	p.ready = st.Ready
	p.mu.Unlock()
	close(ch)
	if first && p.OnReady != nil {
		p.OnReady(context.WithoutCancel(ctx))
	}
	return st
}

func (p *Probe) check(ctx context.Context) State {
	local, err := p.Migrations()
	if err != nil {
		return State{Error: err.Error()}
	}
	r := &Reader{D: p.D, Local: local, To: p.To, AllowOutOfOrder: p.AllowOutOfOrder}
	pl, err := r.Plan(ctx, p.DB)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return State{Error: "reading the migration history timed out"}
		}
		return State{Error: err.Error()}
	}
	st := State{}
	for _, s := range pl.Steps {
		st.Pending = append(st.Pending, s.Migration.Version)
	}
	for _, a := range pl.Ahead {
		st.Ahead = append(st.Ahead, a.Version)
	}
	st.Ready = len(st.Pending) == 0
	return st
}
