package gate

import (
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Options tune Wait. The caller has validated them and filled defaults.
type Options struct {
	// Timeout bounds the wait (0: as long as ctx allows); reaching it is a
	// *TimeoutError.
	Timeout time.Duration
	// PollInterval is the longest pause between two reads of the history;
	// each pause is drawn from [0.8, 1.0] of it.
	PollInterval time.Duration
	// ReportEvery is the pause between progress lines; negative: none.
	ReportEvery time.Duration
	// NoNotify polls even where notifications are available.
	NoNotify bool
}

// Result reports how a Wait ended.
type Result struct {
	Waited   time.Duration
	Ahead    []int64 // applied versions newer than every file of the build
	Reads    int     // reads of the history, the first one included
	Notified bool    // a notification, not a poll, ended the wait
}

// TimeoutError is a wait that reached its own deadline (Options.Timeout).
type TimeoutError struct {
	Waited  time.Duration
	Pending []int64        // nil when the history was never read
	Holder  *driver.Holder // the last lock row read for a report; nil when none was
	Err     error          // the last error reading the history, if the last read failed
}

func (e *TimeoutError) Error() string { return "timed out waiting for the schema" }

// errDeadline is the cause of a Wait's own deadline, told apart from the
// caller's context ending.
var errDeadline = errors.New("wait deadline")

// Wait blocks until every pre-phase migration r plans is applied and
// complete. A database ahead of the build is ready (logged as a warning).
// A ValidationError ends it at once; errors that look transient are logged
// and retried until the deadline.
//
// With notifications (a Notifier driver on a direct session) Wait holds
// one connection, listens on it and reads the history on it after every
// notification and every poll; otherwise it polls through the pool.
func Wait(ctx context.Context, db *sql.DB, log *slog.Logger, r *Reader, o Options) (*Result, error) {
	start := time.Now()
	if o.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, o.Timeout, errDeadline)
		defer cancel()
	}
	w := &waiter{db: db, log: log, r: r, o: o, start: start, res: &Result{}, notify: !o.NoNotify}
	defer w.closeListener()
	return w.run(ctx)
}

// waiter is the state of one Wait.
type waiter struct {
	db    *sql.DB
	log   *slog.Logger
	r     *Reader
	o     Options
	start time.Time
	res   *Result

	notify     bool            // notifications may still be had
	ln         driver.Listener // on conn, while it listens
	conn       *sql.Conn       // the listening session, nil while polling
	nextListen time.Time       // when to (re)try listening
	noHolder   bool            // the lock table is not readable: stop asking

	pending    []int64
	holder     *driver.Holder // live holder at the last report, nil if none
	lastReport time.Time
	lastErr    error
}

func (w *waiter) run(ctx context.Context) (*Result, error) {
	notified := false
	for {
		// Subscribe before reading: a commit after the subscription is
		// announced, one before it is in what we read next.
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
		if notified {
			w.log.DebugContext(ctx, "woken by a notification")
		}
	}
}

// listen opens the listening session when none is open and a retry is due.
// Any failure means polling, and another try a few polls later.
func (w *waiter) listen(ctx context.Context) {
	if !w.notify || w.conn != nil || time.Now().Before(w.nextListen) {
		return
	}
	if _, ok := w.r.D.(driver.Notifier); !ok {
		w.notify = false
		return
	}
	w.nextListen = time.Now().Add(5 * w.o.PollInterval)
	conn, err := w.db.Conn(ctx)
	if err != nil {
		return
	}
	if !w.r.D.SessionIsDirect(ctx, conn) {
		// A pooler (PgBouncer) or proxy sits in between: a LISTEN would
		// stay on a server connection that other clients then share, and
		// its notifications would reach whoever has it. Poll instead, and
		// don't ask again.
		conn.Close()
		w.notify = false
		w.log.DebugContext(ctx, "notifications unavailable (not a direct session); polling",
			slog.Duration("poll", w.o.PollInterval))
		return
	}
	if err := w.ln.Listen(ctx, w.r.D, conn); err != nil {
		conn.Close()
		w.log.DebugContext(ctx, "notifications unavailable; polling", slog.String("error", err.Error()))
		return
	}
	w.conn = conn
}

func (w *waiter) closeListener() {
	w.ln.Drop()
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
	return w.db
}

// check reads the history once and says whether the schema is ready.
func (w *waiter) check(ctx context.Context) (bool, error) {
	w.res.Reads++
	p, err := w.r.Plan(ctx, w.querier())
	if err != nil {
		if cerr := w.ctxErr(ctx); cerr != nil {
			return false, cerr
		}
		if !Transient(w.r.D, err) {
			return false, err
		}
		// Transient: keep waiting, and say so at the report pace. A
		// listening session that failed a read is replaced.
		if w.conn != nil {
			w.closeListener()
			w.nextListen = time.Time{}
		}
		if w.o.ReportEvery >= 0 && (w.lastErr == nil || time.Since(w.lastReport) >= w.o.ReportEvery) {
			w.log.WarnContext(ctx, "cannot read the migration history; retrying", slog.String("error", err.Error()))
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
		w.log.WarnContext(ctx, "database is ahead of this build (a newer deploy ran first, or this build is a rollback); the schema it needs is in place",
			slog.Any("unknown_versions", w.res.Ahead))
	}
	return true, nil
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
	got, err := w.ln.Sleep(ctx, pause)
	if err != nil {
		if cerr := w.ctxErr(ctx); cerr != nil {
			return false, cerr
		}
		// The session broke: poll through the pool and listen again on a
		// new session at the next turn (the read after it catches up).
		w.log.DebugContext(ctx, "lost the listening session; polling", slog.String("error", err.Error()))
		w.closeListener()
		w.nextListen = time.Time{}
		return false, nil
	}
	return got, nil
}

// ctxErr turns the end of ctx into the error Wait returns: a *TimeoutError
// for its own deadline, else the context's error.
func (w *waiter) ctxErr(ctx context.Context) error {
	if ctx.Err() == nil {
		return nil
	}
	if errors.Is(context.Cause(ctx), errDeadline) {
		te := &TimeoutError{Waited: time.Since(w.start), Holder: w.holder, Err: w.lastErr}
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
		if h.CurrentVersion != 0 {
			attrs = append(attrs, slog.Int64("running", h.CurrentVersion), slog.Duration("running_for", h.Now.Sub(h.CurrentStartedAt).Round(100*time.Millisecond)))
		}
	} else if w.noHolder {
		attrs = append(attrs, slog.String("lock", "not readable with these credentials"))
	} else {
		attrs = append(attrs, slog.String("lock", "free"))
	}
	w.log.InfoContext(ctx, "waiting for the schema", attrs...)
}

// readHolder reads the lock row for the report: the holder while its lease
// runs, else nil. Credentials without SELECT on the lock table only lose
// this detail.
func (w *waiter) readHolder(ctx context.Context) *driver.Holder {
	if w.noHolder {
		return nil
	}
	h, err := w.r.D.ReadHolder(ctx, w.querier())
	if err != nil {
		if driver.Is(w.r.D, err, driver.ErrPermission) {
			w.noHolder = true
		}
		return nil
	}
	if h == nil || !h.ExpiresAt.After(h.Now) {
		return nil
	}
	return h
}

// Transient reports an error worth retrying while waiting: the network, a
// server starting or shutting down, too many connections, a database
// another writer holds. Anything else the server answers (a bad password,
// a missing privilege, an unknown database), and a history or a file that
// is wrong, will not change by waiting.
func Transient(d driver.Driver, err error) bool {
	var ve *plan.ValidationError
	var se *source.Error
	if errors.As(err, &ve) || errors.As(err, &se) {
		return false
	}
	var st *driver.StatementError
	if !errors.As(err, &st) {
		return true
	}
	return driver.Is(d, err, driver.ErrTransient) || driver.Is(d, err, driver.ErrBusy)
}
