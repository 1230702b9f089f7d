package fleetgate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// WaitOpts select what Wait waits for. A nil *WaitOpts waits, without a
// deadline, for every pre-phase migration in the directory.
type WaitOpts struct {
	// To is the highest version this build needs. Defaults to all.
	To int64
	// Timeout bounds the wait; Wait then returns a *WaitTimeoutError, which
	// matches ErrTimeout. Defaults to waiting as long as ctx allows.
	Timeout time.Duration
	// PollInterval is the longest pause between two reads of the history.
	// Each pause is drawn from [0.8, 1.0] of it, so a fleet's reads spread
	// out. On PostgreSQL with a direct session a notification also wakes
	// the waiter at once; through PgBouncer (transaction pooling), or on
	// SQLite, polling is all there is, so the schema is seen at most
	// PollInterval after its commit. Defaults to 1s.
	PollInterval time.Duration
	// ReportEvery is the pause between log lines naming what is still
	// pending and who holds the lock; the first comes after one second.
	// Negative turns them off. Defaults to 3s.
	ReportEvery time.Duration
	// AllowOutOfOrder waits for pending migrations older than applied ones
	// (which `up --allow-out-of-order` applies) instead of failing with a
	// ValidationError as `up` would refuse them. Defaults to false.
	AllowOutOfOrder bool
	// NoNotify polls even where notifications are available. Defaults to
	// false (listen when possible).
	NoNotify bool
}

// WaitResult reports how a Wait ended.
type WaitResult struct {
	// Waited is how long Wait blocked.
	Waited time.Duration
	// Ahead are applied versions newer than every file of this build (a
	// newer deploy ran first); the schema is still ready.
	Ahead []int64
	// Reads counts reads of the history, the first one included.
	Reads int
	// Notified is true when a notification, not a poll, ended the wait.
	Notified bool
}

// WaitTimeoutError is a wait that reached its deadline. It matches
// ErrTimeout with errors.Is.
type WaitTimeoutError struct {
	Waited  time.Duration
	Pending []int64     // nil when the history was never read
	Holder  *LockHolder // nil when the lock is free or unreadable
	// Err is the last error reading the history, when the last read failed.
	Err error
}

func (e *WaitTimeoutError) Error() string {
	msg := fmt.Sprintf("timed out after %v waiting for the schema: pending %s", e.Waited.Round(time.Millisecond), history.VersionList(e.Pending))
	if e.Pending == nil {
		msg = fmt.Sprintf("timed out after %v waiting for the schema before the migration history could be read", e.Waited.Round(time.Millisecond))
	}
	if e.Err != nil {
		msg += " (last error: " + e.Err.Error() + ")"
	}
	if h := e.Holder; h != nil {
		msg += fmt.Sprintf("; lock held by %s pid %d", h.Host, h.PID)
		if h.DeployID != "" {
			msg += " deploy " + strconv.Quote(h.DeployID)
		}
		if h.RunningVersion != 0 {
			msg += fmt.Sprintf(", running %d", h.RunningVersion)
		}
	}
	return msg
}

// Is makes errors.Is(err, ErrTimeout) true.
func (e *WaitTimeoutError) Is(target error) bool { return target == ErrTimeout }

// errWaitDeadline is the cause of a Wait's own deadline, told apart from
// the caller's context ending.
var errWaitDeadline = errors.New("wait deadline")

// Wait blocks until every pre-phase migration of the directory (up to
// opts.To) is applied and complete. It never writes, never creates tables
// and never takes the lock, so it works with credentials that may only
// SELECT the history table; missing tables mean nothing is applied yet.
// A database ahead of the build is ready (logged as a warning). An applied
// migration that was edited, or is missing from the directory, is a
// ValidationError at once: no deploy can make such a schema right. Errors
// that look transient (a refused connection, a restarting server) are
// logged and retried until the deadline.
//
// On PostgreSQL with a direct session, Wait holds one connection, LISTENs
// on it and reads the history on it after every notification and every
// poll; otherwise it polls through the pool. Wait is safe for concurrent
// use.
func (m *Migrator) Wait(ctx context.Context, opts *WaitOpts) (*WaitResult, error) {
	o := WaitOpts{}
	if opts != nil {
		o = *opts
	}
	if o.To < 0 {
		return nil, configErr("WaitOpts.To", "must be a positive version")
	}
	if o.Timeout < 0 {
		return nil, configErr("WaitOpts.Timeout", "must be positive")
	}
	if o.PollInterval < 0 {
		return nil, configErr("WaitOpts.PollInterval", "must be positive")
	}
	if o.PollInterval == 0 {
		o.PollInterval = time.Second
	}
	if o.ReportEvery == 0 {
		o.ReportEvery = 3 * time.Second
	}
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	start := time.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, errWaitDeadline)
		defer cancel()
	}
	w := &waiter{m: m, local: local, o: o, start: start, res: &WaitResult{}}
	defer w.closeListener()
	return w.run(ctx)
}

// waiter is the state of one Wait.
type waiter struct {
	m     *Migrator
	local []*source.Migration
	o     WaitOpts
	start time.Time
	res   *WaitResult

	n          driver.Notifier
	conn       *sql.Conn // the listening session, nil while polling
	nextListen time.Time // when to (re)try LISTEN
	noHolder   bool      // the lock table is not readable: stop asking

	pending    []int64
	holder     *LockHolder
	runningFor time.Duration // of the holder's running migration, by the database clock
	lastReport time.Time
	lastErr    error
}

func (w *waiter) run(ctx context.Context) (*WaitResult, error) {
	if !w.o.NoNotify {
		w.n, _ = w.m.d.(driver.Notifier)
	}
	notified := false
	for {
		// Subscribe before reading: a commit after the LISTEN is announced,
		// one before it is in what we read next.
		w.listen(ctx)
		ready, err := w.check(ctx)
		if err != nil {
			return w.res, err
		}
		if ready {
			w.res.Waited = time.Since(w.start)
			w.res.Notified = notified
			return w.res, nil
		}
		w.report(ctx)
		notified, err = w.sleep(ctx)
		if err != nil {
			return w.res, err
		}
	}
}

// listen opens the listening session when none is open and a retry is due.
// Any failure means polling, and another try a few polls later.
func (w *waiter) listen(ctx context.Context) {
	if w.n == nil || w.conn != nil || time.Now().Before(w.nextListen) {
		return
	}
	w.nextListen = time.Now().Add(5 * w.o.PollInterval)
	conn, err := w.m.db.Conn(ctx)
	if err != nil {
		return
	}
	if !w.m.d.SessionIsDirect(ctx, conn) {
		// A pooler (PgBouncer) or proxy sits in between: a LISTEN would
		// stay on a server connection that other clients then share, and
		// its notifications would reach whoever has it. Poll instead, and
		// don't ask again.
		conn.Close()
		w.n = nil
		w.m.log.DebugContext(ctx, "notifications unavailable (not a direct session); polling",
			slog.Duration("poll", w.o.PollInterval))
		return
	}
	if err := w.n.Listen(ctx, conn); err != nil {
		conn.Close()
		w.m.log.DebugContext(ctx, "notifications unavailable; polling", slog.String("error", err.Error()))
		return
	}
	w.conn = conn
}

func (w *waiter) closeListener() {
	if w.conn != nil {
		w.conn.Close()
		w.conn = nil
	}
}

// querier is the listening session when there is one (so a waiter holds a
// single connection), else the pool.
func (w *waiter) querier() driver.Querier {
	if w.conn != nil {
		return w.conn
	}
	return w.m.db
}

// check reads the history once and says whether the schema is ready.
func (w *waiter) check(ctx context.Context) (bool, error) {
	w.res.Reads++
	p, err := w.read(ctx)
	if err != nil {
		if cerr := w.ctxErr(ctx); cerr != nil {
			return false, cerr
		}
		var ve *ValidationError
		if errors.As(err, &ve) || !transient(w.m.d, err) {
			return false, err
		}
		// Transient: keep waiting, and say so at the report pace. A
		// listening session that failed a read is replaced.
		if w.conn != nil {
			w.closeListener()
			w.nextListen = time.Time{}
		}
		if w.o.ReportEvery >= 0 && (w.lastErr == nil || time.Since(w.lastReport) >= w.o.ReportEvery) {
			w.m.log.WarnContext(ctx, "cannot read the migration history; retrying", slog.String("error", err.Error()))
			w.lastReport = time.Now()
		}
		w.lastErr = err
		return false, nil
	}
	w.lastErr = nil
	w.pending = make([]int64, 0, len(p.Steps))
	for _, st := range p.Steps {
		w.pending = append(w.pending, st.Migration.Version)
	}
	if len(w.pending) > 0 {
		return false, nil
	}
	w.res.Ahead = w.res.Ahead[:0]
	for _, a := range p.Ahead {
		w.res.Ahead = append(w.res.Ahead, a.Version)
	}
	if len(w.res.Ahead) > 0 {
		w.m.log.WarnContext(ctx, "database is ahead of this build (a newer deploy ran first, or this build is a rollback); the schema it needs is in place",
			slog.Any("unknown_versions", w.res.Ahead))
	}
	return true, nil
}

// read plans against the history without ever creating the tables.
func (w *waiter) read(ctx context.Context) (*plan.Plan, error) {
	rows, err := w.m.readApplied(ctx, w.querier(), driver.PlanColumns)
	if err != nil {
		return nil, err
	}
	return plan.Build(w.local, toPlan(rows), plan.Options{Target: w.o.To, Phase: PhasePre, AllowOutOfOrder: w.o.AllowOutOfOrder})
}

// sleep waits for a notification or the next poll; true means notified.
func (w *waiter) sleep(ctx context.Context) (bool, error) {
	p := w.o.PollInterval
	pause := p - rand.N(p/5+1)
	// Wake for the next progress line too, so that it comes on time.
	if w.o.ReportEvery > 0 {
		next := w.start.Add(time.Second)
		if !w.lastReport.IsZero() {
			next = w.lastReport.Add(w.o.ReportEvery)
		}
		if d := time.Until(next); d > 0 && d < pause {
			pause = d
		}
	}
	if w.conn == nil {
		select {
		case <-ctx.Done():
			return false, w.ctxErr(ctx)
		case <-time.After(pause):
			return false, nil
		}
	}
	got, err := w.n.WaitNotification(ctx, w.conn, pause)
	if err != nil {
		if cerr := w.ctxErr(ctx); cerr != nil {
			return false, cerr
		}
		// The session broke: poll through the pool and LISTEN again on a
		// new session at the next turn (the read after it catches up).
		w.m.log.DebugContext(ctx, "lost the listening session; polling", slog.String("error", err.Error()))
		w.closeListener()
		w.nextListen = time.Time{}
		return false, nil
	}
	return got, nil
}

// ctxErr turns the end of ctx into the error Wait returns: a
// *WaitTimeoutError for its own deadline, else the context's error.
func (w *waiter) ctxErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errWaitDeadline) {
		te := &WaitTimeoutError{Waited: time.Since(w.start), Holder: w.holder, Err: w.lastErr}
		if w.pending != nil {
			te.Pending = append([]int64{}, w.pending...)
		}
		return te
	}
	return ctx.Err()
}

// report logs what is pending and who is migrating: first after a second
// (most waits in a fleet are short, and 30 instances saying so at once
// helps nobody), then every ReportEvery.
func (w *waiter) report(ctx context.Context) {
	if w.o.ReportEvery < 0 || len(w.pending) == 0 || time.Since(w.start) < time.Second || time.Since(w.lastReport) < w.o.ReportEvery {
		return
	}
	w.lastReport = time.Now()
	w.holder = w.readHolder(ctx)
	attrs := []any{slog.Any("pending", w.pending), slog.Duration("waited", time.Since(w.start).Round(100*time.Millisecond))}
	if h := w.holder; h != nil {
		attrs = append(attrs, slog.String("host", h.Host), slog.Int("pid", h.PID), slog.String("deploy_id", h.DeployID))
		if h.RunningVersion != 0 {
			attrs = append(attrs, slog.Int64("running", h.RunningVersion), slog.Duration("running_for", w.runningFor.Round(100*time.Millisecond)))
		}
	} else if w.noHolder {
		attrs = append(attrs, slog.String("lock", "not readable with these credentials"))
	} else {
		attrs = append(attrs, slog.String("lock", "free"))
	}
	w.m.log.InfoContext(ctx, "waiting for the schema", attrs...)
}

// readHolder reads the lock row for the report. Credentials without SELECT
// on the lock table only lose this detail.
func (w *waiter) readHolder(ctx context.Context) *LockHolder {
	if w.noHolder {
		return nil
	}
	h, err := w.m.d.ReadHolder(ctx, w.querier())
	if err != nil {
		if driver.Is(w.m.d, err, driver.ErrPermission) {
			w.noHolder = true
		}
		return nil
	}
	lh := lockHolder(h)
	if lh != nil {
		w.runningFor = h.Now.Sub(h.CurrentStartedAt)
	}
	return lh
}

// transient reports an error worth retrying while waiting: the network,
// a server starting or shutting down, too many connections, a database
// another writer holds. Anything else the server answers (a bad password,
// a missing privilege, an unknown database) will not change by waiting.
func transient(d driver.Driver, err error) bool {
	var ce *ConfigError
	var se *SourceError
	if errors.As(err, &ce) || errors.As(err, &se) {
		return false
	}
	var st *driver.StatementError
	if !errors.As(err, &st) {
		return true
	}
	return driver.Is(d, err, driver.ErrTransient) || driver.Is(d, err, driver.ErrBusy)
}
