package executor

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Progress is what the runner reports, every Options.ProgressEvery, about
// a statement that is still running.
type Progress struct {
	Migration *source.Migration
	Statement source.Statement
	Elapsed   time.Duration
	// Index is the progress of the index build the statement runs
	// (PostgreSQL's pg_stat_progress_create_index), nil if none.
	Index *driver.IndexProgress
	// WaitingFor are the sessions the statement waits for, when it waits
	// for a lock.
	WaitingFor []driver.Blocker
}

// BlockedError is a lock timeout that names the sessions the statement
// waited for, as seen from another connection while it waited.
type BlockedError struct {
	Err      error
	Blockers []driver.Blocker
}

func (e *BlockedError) Error() string {
	return fmt.Sprintf("%v; waited for %s", e.Err, driver.Blockers(e.Blockers))
}

func (e *BlockedError) Unwrap() error { return e.Err }

// exec runs one statement. While it runs, a watcher on another connection
// notes whom it waits for (so that a lock timeout can name the blocking
// sessions: once the statement gives up, PostgreSQL no longer knows) and
// reports progress every ProgressEvery.
func (r *Runner) exec(ctx context.Context, x execer, m *source.Migration, s source.Statement) error {
	var sess driver.Session
	mon, ok := r.D.(driver.Monitor)
	if ok && r.Monitor != nil {
		sess, ok = mon.Session(r.Conn)
	}
	if !ok || r.Monitor == nil {
		mon = nil
	}
	if mon == nil && (r.Opts.Progress == nil || r.Opts.ProgressEvery <= 0) {
		return x.Exec(ctx, s.SQL)
	}
	w := r.startWatch(ctx, mon, sess, m, s)
	err := x.Exec(ctx, s.SQL)
	blockers := w.stop()
	if err != nil && driver.Is(r.D, err, driver.ErrLockTimeout) && len(blockers) > 0 {
		err = &BlockedError{Err: err, Blockers: blockers}
	}
	return err
}

// execer runs one statement: a driver.Tx inside its transaction, or
// autocommit outside any.
type execer interface {
	Exec(ctx context.Context, stmt string) error
}

// autocommit runs statements on the runner's connection outside any
// transaction (a no-transaction migration).
type autocommit struct{ r *Runner }

func (a autocommit) Exec(ctx context.Context, stmt string) error {
	return a.r.D.Exec(ctx, a.r.Conn, stmt)
}

// watcher watches one statement. It costs nothing until the statement has
// run for its first sample's delay: most statements end long before, and
// a goroutine started and stopped around each of them is a scheduler
// round trip on the migration's critical path.
type watcher struct {
	cancel context.CancelFunc
	timer  *time.Timer   // runs the watch once the first sample is due
	done   chan struct{} // closed when a watch that started ends
	mu     sync.Mutex
	last   []driver.Blocker // last non-empty sample
}

// stop ends the watch and returns the last sessions seen blocking.
func (w *watcher) stop() []driver.Blocker {
	w.cancel()
	if !w.timer.Stop() {
		<-w.done // the watch started: wait until it has ended
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

// Sampling cadence. Lock waits are sampled often at first, since a lock
// timeout (2 s by default) ends the wait and PostgreSQL then forgets who
// blocked it; after that only at each progress report.
const (
	firstSample   = 100 * time.Millisecond
	sampleEvery   = 250 * time.Millisecond
	minSampleGap  = 20 * time.Millisecond
	fastPhaseMin  = 5 * time.Second
	monitorBudget = 2 * time.Second
)

// cadence is when a watch samples: first after first, then every every
// while the statement is younger than fastFor, then only at reports.
type cadence struct {
	first, every, fastFor time.Duration
}

func (r *Runner) cadence(mon driver.Monitor) cadence {
	c := cadence{firstSample, sampleEvery, fastPhaseMin}
	if lt := r.Opts.LockTimeout; lt > 0 {
		c.first, c.every = min(c.first, lt/2), min(c.every, lt/4)
		c.fastFor = max(c.fastFor, 2*lt)
	}
	c.every = max(c.every, minSampleGap)
	if mon == nil {
		c.first, c.fastFor = r.Opts.ProgressEvery, 0
	}
	return c
}

func (r *Runner) startWatch(ctx context.Context, mon driver.Monitor, sess driver.Session, m *source.Migration, s source.Statement) *watcher {
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{cancel: cancel, done: make(chan struct{})}
	start, c := time.Now(), r.cadence(mon)
	w.timer = time.AfterFunc(c.first, func() {
		defer close(w.done)
		r.watch(wctx, w, mon, sess, m, s, start, c)
	})
	return w
}

// watch samples from the first sample on, until ctx ends.
func (r *Runner) watch(ctx context.Context, w *watcher, mon driver.Monitor, sess driver.Session, m *source.Migration, s source.Statement,
	start time.Time, c cadence) {
	report := r.Opts.Progress != nil && r.Opts.ProgressEvery > 0
	nextReport := start.Add(r.Opts.ProgressEvery)
	var t *time.Timer
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	var current []driver.Blocker
	for {
		if ctx.Err() != nil {
			return
		}
		now := time.Now()
		fast := now.Sub(start) < c.fastFor
		due := report && !now.Before(nextReport)
		if mon != nil && (fast || due) {
			current = r.sampleBlockers(ctx, mon, sess)
			if len(current) > 0 {
				w.mu.Lock()
				w.last = current
				w.mu.Unlock()
			}
		}
		if due {
			p := Progress{Migration: m, Statement: s, Elapsed: now.Sub(start), WaitingFor: current}
			if mon != nil {
				p.Index = r.sampleIndex(ctx, mon, sess)
			}
			if ctx.Err() != nil {
				return // the statement ended while we looked
			}
			r.Opts.Progress(p)
			for !nextReport.After(now) {
				nextReport = nextReport.Add(r.Opts.ProgressEvery)
			}
		}
		var wait time.Duration
		switch {
		case fast:
			wait = c.every
		case report:
			wait = time.Until(nextReport)
		default:
			return
		}
		if t == nil {
			t = time.NewTimer(wait)
		} else {
			t.Reset(wait)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (r *Runner) sampleBlockers(ctx context.Context, mon driver.Monitor, sess driver.Session) []driver.Blocker {
	qctx, cancel := context.WithTimeout(ctx, monitorBudget)
	defer cancel()
	bs, err := mon.Blockers(qctx, r.Monitor, sess)
	if err != nil && ctx.Err() == nil {
		r.Logger.DebugContext(ctx, "could not read blocking sessions", slog.String("error", err.Error()))
	}
	return bs
}

func (r *Runner) sampleIndex(ctx context.Context, mon driver.Monitor, sess driver.Session) *driver.IndexProgress {
	qctx, cancel := context.WithTimeout(ctx, monitorBudget)
	defer cancel()
	p, err := mon.IndexProgress(qctx, r.Monitor, sess)
	if err != nil && ctx.Err() == nil {
		r.Logger.DebugContext(ctx, "could not read index build progress", slog.String("error", err.Error()))
	}
	return p
}
