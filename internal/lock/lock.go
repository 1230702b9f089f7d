package lock

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// ErrTimeout is returned when the wait for the lock reaches its deadline.
var ErrTimeout = errors.New("timed out waiting for the migration lock")

// Options tune acquisition.
type Options struct {
	// TTL is the lease length. Defaults to 10s.
	TTL time.Duration
	// Poll is the mean interval between attempts at first (see pollPause).
	// Defaults to 150ms.
	Poll time.Duration
	// Timeout bounds the wait; 0 waits as long as the holder is alive.
	Timeout time.Duration
	// OnWait is called with the current holder while waiting, at most every
	// ReportEvery. Defaults to no reporting.
	OnWait      func(h *driver.Holder, waited time.Duration)
	ReportEvery time.Duration
	// Recheck is called every few polls while waiting; when it returns
	// true the wait ends without the lock (another runner did the work).
	// It runs on the lock's own connection.
	Recheck func(ctx context.Context, q driver.Querier) (done bool, err error)
	// Reclaim is the token of this runner's own earlier lease (an attempt
	// that a lost connection ended): still in place, it is taken back at
	// once instead of waited out.
	Reclaim string
	// Outage bounds how long a waiter rides out an unreachable database
	// (a restart, a network cut) before it gives up. Defaults to 2 minutes.
	Outage time.Duration
}

// DefaultOutage is how long a runner rides out an unreachable database by
// default.
const DefaultOutage = 2 * time.Minute

func (o *Options) defaults() {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 150 * time.Millisecond
	}
	if o.ReportEvery <= 0 {
		o.ReportEvery = 3 * time.Second
	}
	if o.Outage <= 0 {
		o.Outage = DefaultOutage
	}
}

// Backoff is the jittered wait before retry attempt n (0-based) after a
// transient failure: 100 ms doubling to 2 s, each between half and one and
// a half times that, so a fleet that lost its server does not come back in
// one wave.
func Backoff(n int) time.Duration {
	b := min(100*time.Millisecond<<min(n, 5), 2*time.Second)
	return b/2 + rand.N(b)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// keep exempts a direct session from the server's idle-session limit, so
// that neither a waiter between polls nor a holder between renewals is cut
// off. Through a pooler it does nothing: the renewals, at least every 2 s,
// and the polls keep the session busy enough, and a session the pooler
// closes anyway is replaced.
func keep(ctx context.Context, d driver.Driver, conn *sql.Conn, direct bool) {
	if k, ok := d.(driver.SessionKeeper); ok && direct {
		_ = k.KeepSession(ctx, conn) // best effort: a refused SET only leaves the limit in place
	}
}

func closeConn(c *sql.Conn) {
	if c != nil {
		c.Close()
	}
}

// Lease is a held lock. Its Context ends when the lock is lost.
type Lease struct {
	d      driver.Driver
	db     *sql.DB
	Token  string
	Gen    int64
	TTL    time.Duration
	Waited time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	cur    int64
	// renewMu serialises renewals (heartbeat and Verify) on conn, the
	// heartbeat session, which a renewal replaces when it broke.
	renewMu sync.Mutex
	conn    *sql.Conn // nil after it broke, until the next renewal reconnects
	direct  bool      // conn is a session of its own (see driver.SessionKeeper)
	// bind: the lease row records no session yet, and the next successful
	// renewal binds it to the heartbeat's (see Acquire).
	bind bool
	// await: the work TakeConn gets waits for the heartbeat's first
	// renewal (see AwaitMoved).
	await   bool
	kept    bool      // keep ran on conn
	renewed time.Time // start of the last successful renewal, by our clock
	stop    chan struct{}
	done    chan struct{}
	moved   chan struct{} // closed once the heartbeat renewed on its own session (see TakeConn); nil before
}

// Acquire waits for the lock. It returns (nil, nil) when Recheck reported
// that nothing is left to do.
//
// Where the driver can bind a lease at renewal (driver.SessionBinder), the
// lock is taken without recording the acquiring session, even a direct
// one: that session goes to the work (TakeConn), and the heartbeat's first
// renewal, on a session of its own, binds the lease to it. The work then
// starts at once instead of after the heartbeat's connect and renewal,
// and the lease row never records the work's session. A runner killed
// between the acquisition and that renewal (a few ms) is taken over at its
// lease's expiry instead of with its session.
func Acquire(ctx context.Context, d driver.Driver, db *sql.DB, actor history.Actor, opts Options) (*Lease, error) {
	opts.defaults()
	start := time.Now()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, ErrTimeout)
		defer cancel()
	}
	conn, err := driver.Conn(ctx, db)
	if err != nil && !driver.IsTransient(d, err) {
		return nil, fmt.Errorf("connect for lock: %w", errOr(ctx, err))
	}
	if err != nil {
		conn = nil // the loop below retries
	}
	p := &driver.AcquireParams{Token: NewToken(), Actor: actor, TTL: opts.TTL, StaleToken: opts.Reclaim}
	if conn != nil {
		p.SessionBound = d.SessionIsDirect(ctx, conn)
	}
	var ln driver.Listener
	waiting := false // the session is prepared for a wait (see below)
	// Without notifications (MySQL) a waiter on a session of its own
	// blocks until the holder lets go, where the holder offers that.
	rw, _ := d.(driver.ReleaseWaiter)
	_, binds := d.(driver.SessionBinder)
	err = nil
	var lastReport time.Time
	var lastGen int64
	steady := 0          // polls in a row that found the same holder
	var outage time.Time // when the current run of transient failures began
	fails := 0
	released := false // the last sleep ended with the holder's release
	for attempt := 0; ; attempt++ {
		if conn == nil {
			// The session broke while we waited (server restart, pooler
			// recycling, an idle-session killer): a waiter holds nothing,
			// so it reconnects, after a backoff while the server is away.
			if conn, err = driver.Conn(ctx, db); err == nil {
				p.SessionBound = d.SessionIsDirect(ctx, conn)
				waiting = false
			}
		}
		// After a release, read the history before trying the lock: the
		// holder most likely did the work this runner waits for, and then
		// the whole fleet of waiters ends without taking the lock in turn.
		rechecked := false
		if released && err == nil && opts.Recheck != nil {
			released, rechecked = false, true
			done, rerr := opts.Recheck(ctx, conn)
			if rerr == nil && done {
				conn.Close()
				return nil, nil
			}
			if rerr != nil && (ctx.Err() != nil || !driver.IsTransient(d, rerr)) {
				conn.Close()
				return nil, errOr(ctx, rerr)
			}
			err = rerr // a transient failure: handled as TryAcquire's below
		}
		var gen int64
		var holder *driver.Holder
		if err == nil {
			tp := *p
			if binds {
				tp.SessionBound = false
			}
			gen, holder, err = d.TryAcquire(ctx, conn, &tp)
		}
		if err != nil && ctx.Err() == nil && driver.IsTransient(d, err) {
			if outage.IsZero() {
				outage, fails = time.Now(), 0
			}
			if time.Since(outage) > opts.Outage {
				closeConn(conn)
				return nil, fmt.Errorf("the database was unreachable for %v while waiting for the lock: %w", opts.Outage, err)
			}
			closeConn(conn)
			ln.Drop()
			conn, err = nil, nil
			fails++
			if werr := sleepCtx(ctx, Backoff(fails-1)); werr != nil {
				return nil, errOr(ctx, werr)
			}
			continue
		}
		if err != nil {
			closeConn(conn)
			return nil, errOr(ctx, err)
		}
		outage = time.Time{}
		if holder == nil && gen > 0 {
			// The holder's own commits would pile up unread.
			ln.Unlisten(ctx)
			l := startLease(d, db, conn, p, gen, time.Since(start), waiting)
			l.bind, l.await = binds && p.SessionBound, !binds
			go l.heartbeat()
			return l, nil
		}
		p.StaleToken = opts.Reclaim
		if holder != nil {
			if deadLocalHolder(holder, actor.Host) {
				p.StaleToken = holder.Token
				continue
			}
			// The first report waits a second: most waits in a fleet are
			// short, and 30 instances each naming the holder at once helps
			// nobody.
			if opts.OnWait != nil && time.Since(start) >= time.Second && time.Since(lastReport) >= opts.ReportEvery {
				opts.OnWait(holder, time.Since(start))
				lastReport = time.Now()
			}
		}
		// Re-check the history when the holder changed or let go (it
		// likely finished the work we wait for), else every third poll.
		changed := holder == nil || holder.Generation != lastGen
		if holder != nil {
			lastGen = holder.Generation
		}
		if changed {
			steady = 0
		} else {
			steady++
		}
		if opts.Recheck != nil && !rechecked && (changed || attempt%3 == 2) {
			done, err := opts.Recheck(ctx, conn)
			if err != nil && ctx.Err() == nil && driver.IsTransient(d, err) {
				closeConn(conn)
				ln.Drop()
				conn = nil
				continue
			}
			if err != nil {
				conn.Close()
				return nil, errOr(ctx, err)
			}
			if done {
				conn.Close()
				return nil, nil
			}
		}
		if !waiting {
			// The lock is held: only now is the session prepared for a
			// wait, so that a runner that takes the lock at its first try
			// spends no round trips on it. Kept from the idle-session
			// limit, and on a session of its own, a waiter sleeps until
			// the holder announces its release (LISTEN), instead of
			// polling: it wakes at once, and a fleet of waiters stops
			// competing with the holder for CPU. It sleeps through the
			// holder's commits (one announcement per migration), which
			// leave the lock held. The slow poll underneath still catches
			// a holder that died without a word. The lock is tried again
			// at once: a release between the try and LISTEN went unheard.
			waiting = true
			keep(ctx, d, conn, p.SessionBound)
			if p.SessionBound {
				_ = ln.ListenRelease(ctx, d, conn) // no subscription: poll
			}
			continue
		}
		// Jitter spreads a fleet's polls so they do not arrive in waves.
		sleep := pollPause(opts.Poll, steady)
		var woke bool
		switch {
		case ln.Listening():
			woke, err = ln.Sleep(ctx, listenPause(holder, opts, time.Since(start), lastReport))
		case rw != nil && p.SessionBound:
			woke, err = awaitRelease(ctx, rw, conn, listenPause(holder, opts, time.Since(start), lastReport), sleep)
			if err != nil && ctx.Err() == nil {
				if !driver.IsTransient(d, err) {
					rw = nil // the server refuses it (Galera's named locks): poll from now on
				}
				// A broken session is found out and replaced by the next try.
				err = sleepCtx(ctx, sleep)
			}
		default:
			woke, err = ln.Sleep(ctx, sleep)
		}
		if err != nil && ctx.Err() != nil {
			conn.Close()
			return nil, errOr(ctx, ctx.Err())
		}
		released = woke && err == nil
		err = nil
		// A listening session that broke is found out and replaced by the
		// next try.
	}
}

// pollPause is the jittered pause of a waiter that cannot listen for the
// release (MySQL, SQLite, a pooler) after steady polls in a row found the
// same holder: poll at first, growing by half each time to 4 × poll.
// A fleet of 50 waiters polling every 150 ms through a long run kept a
// 2-core machine busy with the polls of its waiters and slowed the
// holder; a run that lasts gets noticed at most about 4 × poll late.
func pollPause(poll time.Duration, steady int) time.Duration {
	mean := poll
	for range min(steady, 4) {
		mean += mean / 2
	}
	mean = min(mean, 4*poll)
	return mean/2 + rand.N(mean)
}

// awaitRelease sleeps a waiter that cannot listen but can block until the
// holder lets go (driver.ReleaseWaiter): up to wait, woken by the release
// or the end of the holder's session. Where the holder offers nothing to
// block on it sleeps the poll pause instead. An error is the session's or
// the server's refusal; the caller falls back to polling.
func awaitRelease(ctx context.Context, rw driver.ReleaseWaiter, conn *sql.Conn, wait, poll time.Duration) (bool, error) {
	woke, blocked, err := rw.WaitRelease(ctx, conn, wait)
	if err != nil || blocked {
		return woke, err
	}
	return false, sleepCtx(ctx, poll)
}

// listenPause is how long a listening waiter sleeps before it polls
// again. The holder's release wakes it at once, so the poll is only for a
// holder that died without a word, and the database lets nobody take over
// before the lease allows (holder.TakeoverAt): it sleeps until then, plus a
// jitter that spreads a fleet's attempts, instead of polling every second
// of a long run (with a fleet waiting, those polls were most of the
// database's and the waiters' work). It still wakes for the next report of
// the holder (OnWait), which wants a fresh read.
func listenPause(holder *driver.Holder, opts Options, waited time.Duration, lastReport time.Time) time.Duration {
	slow := max(time.Second, opts.Poll)
	if holder == nil || holder.TakeoverAt.IsZero() {
		return slow/2 + rand.N(slow)
	}
	pause := max(holder.TakeoverAt.Sub(holder.Now), opts.Poll/2) + rand.N(slow/4)
	if opts.OnWait != nil {
		due := time.Second - waited // the first report
		if !lastReport.IsZero() {
			due = opts.ReportEvery - time.Since(lastReport)
		}
		pause = min(pause, max(due, opts.Poll/2))
	}
	return pause
}

// errOr prefers the context's cause (ErrTimeout) over the error it caused.
func errOr(ctx context.Context, err error) error {
	if cause := context.Cause(ctx); cause != nil {
		if errors.Is(cause, ErrTimeout) {
			return ErrTimeout
		}
		return cause
	}
	return err
}

// deadLocalHolder: a holder whose process is provably gone cannot be
// renewing, so waiting out its lease would only delay the fleet. Proof needs
// the holder's pid to mean the same process here as there: the same host
// name is not enough (containers on the host network, pods sharing a node
// name), so the holder's token must name this very PID namespace on this
// boot. Where the database itself tracks the holder's session (a direct
// PostgreSQL connection) it alone decides, in TryAcquire.
func deadLocalHolder(h *driver.Holder, host string) bool {
	if h.SessionBound || h.Host != host || h.PID <= 0 || h.PID == os.Getpid() {
		return false
	}
	if space := processSpace(); space == "" || tokenSpace(h.Token) != space {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

// NewToken returns a fresh holder token: 96 random bits, then the process
// space of this runner (see deadLocalHolder) when it is known.
func NewToken() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	t := hex.EncodeToString(b)
	if space := processSpace(); space != "" {
		t += "." + space
	}
	return t
}

func startLease(d driver.Driver, db *sql.DB, conn *sql.Conn, p *driver.AcquireParams, gen int64, waited time.Duration, kept bool) *Lease {
	ctx, cancel := context.WithCancelCause(context.Background())
	l := &Lease{d: d, db: db, conn: conn, direct: p.SessionBound, kept: kept, Token: p.Token, Gen: gen, TTL: p.TTL, Waited: waited, renewed: time.Now(),
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	return l
}

// Context ends when the lease is lost (cause driver.ErrLockLost) or released.
func (l *Lease) Context() context.Context { return l.ctx }

// Lost reports whether the lease was lost.
func (l *Lease) Lost() bool { return errors.Is(context.Cause(l.ctx), driver.ErrLockLost) }

// LostError is the cause recorded when the lease was lost, which says how
// (the lease taken over, or not renewed for a whole TTL); nil while held.
func (l *Lease) LostError() error {
	if !l.Lost() {
		return nil
	}
	return context.Cause(l.ctx)
}

// Verify renews the lease now and reports driver.ErrLockLost if it is gone.
// A runner calls it after an error, since a pause (SIGSTOP, a VM freeze)
// shows up first as a broken statement, before the heartbeat has run. A
// broken heartbeat session is replaced, and an unreachable database is
// retried, for as long as the lease may still be ours.
func (l *Lease) Verify(ctx context.Context) error {
	if l.Lost() {
		return l.LostError()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.TTL)
	defer cancel()
	for n := 0; ; n++ {
		err := l.renew(ctx)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, driver.ErrLockLost):
			l.lose(err)
			return l.LostError()
		case l.busy(err):
			// Our own migration may hold the write lock: nobody can take
			// over while it does, and the commit's fence decides.
			return nil
		}
		// Anything short of a successful renewal within the lease counts
		// as lost: a runner that cannot prove it holds the lock must not
		// act or report as if it did.
		if l.expired() || sleepCtx(ctx, Backoff(n)) != nil {
			l.lose(fmt.Errorf("%w: could not renew the lease for %v: %w", driver.ErrLockLost, l.TTL, err))
			return l.LostError()
		}
	}
}

// SetCurrent publishes the migration being run, for waiters' messages. It
// reaches the database with the next heartbeat.
func (l *Lease) SetCurrent(version int64) {
	l.mu.Lock()
	l.cur = version
	l.mu.Unlock()
}

// Record returns the fencing fields for a migration commit.
func (l *Lease) Record() driver.Record {
	return driver.Record{Token: l.Token, Generation: l.Gen, TTL: l.TTL}
}

// renew extends the lease once, on the heartbeat session, reconnecting
// first when that session broke. The renewal is guarded by token and
// generation, so a new session can renew only the very lease we hold; on
// a direct PostgreSQL connection it also rebinds the lease to the new
// session.
func (l *Lease) renew(ctx context.Context) error {
	l.renewMu.Lock()
	defer l.renewMu.Unlock()
	l.mu.Lock()
	cur := l.cur
	l.mu.Unlock()
	started := time.Now()
	if l.conn == nil {
		c, err := driver.Conn(ctx, l.db)
		if err != nil {
			return err
		}
		l.conn, l.kept = c, false
	}
	if !l.kept {
		keep(ctx, l.d, l.conn, l.direct)
		l.kept = true
	}
	var err error
	if b, ok := l.d.(driver.SessionBinder); ok && l.bind {
		err = b.BindRenew(ctx, l.conn, l.Token, l.Gen, l.TTL, cur)
	} else {
		err = l.d.Renew(ctx, l.conn, l.Token, l.Gen, l.TTL, cur)
	}
	if err != nil && !errors.Is(err, driver.ErrLockLost) && !l.busy(err) {
		// The session may be the broken part (killed by an idle-session
		// timeout, a pooler, a restart): drop it, the next try reconnects.
		l.conn.Close()
		l.conn = nil
	}
	if err == nil {
		l.bind = false
		l.mu.Lock()
		l.renewed = started
		l.mu.Unlock()
	}
	return err
}

// expired: no renewal succeeded for a whole TTL, so the database may
// already have let another runner in.
func (l *Lease) expired() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return time.Since(l.renewed) >= l.TTL
}

func (l *Lease) busy(err error) bool {
	return l.d.Capabilities().SingleWriter && driver.Is(l.d, err, driver.ErrBusy)
}

func (l *Lease) lose(cause error) {
	if !errors.Is(cause, driver.ErrLockLost) {
		cause = fmt.Errorf("%w: %v", driver.ErrLockLost, cause)
	}
	l.cancel(cause)
}

// heartbeat renews the lease every TTL/5, at least every 2 s. A renewal that finds the lease
// gone, or no successful renewal for a whole TTL (the database may already
// have let another runner in), means the lock is lost. A broken session or
// an unreachable server is not a loss by itself: the heartbeat reconnects
// and retries soon, and a lease it renews in time was never lost. Waiters
// take over a dead session only once its lease has also gone unrenewed for
// half a TTL or 5 s (see the drivers' TryAcquire), which leaves this loop
// time to come back.
func (l *Lease) heartbeat() {
	defer close(l.done)
	every := min(l.TTL/5, 2*time.Second)
	t := time.NewTimer(every)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.TTL/2)
		err := l.renew(ctx)
		cancel()
		switch {
		case err == nil:
			failures = 0
			t.Reset(every)
			continue
		case errors.Is(err, driver.ErrLockLost):
			l.lose(fmt.Errorf("%w: the lease is no longer this runner's (taken over, or cleared by hand)", driver.ErrLockLost))
			return
		case l.busy(err):
			// SQLite: the write lock is held, most likely by our own
			// migration. While it is, nobody can take the lock over, and
			// the migration's commit renews the lease inside its fence.
			t.Reset(every)
			continue
		case l.expired():
			l.lose(fmt.Errorf("%w: could not renew the lease for %v: %w", driver.ErrLockLost, l.TTL, err))
			return
		}
		t.Reset(min(every, Backoff(failures)))
		failures++
	}
}

// TakeConn hands the session the lease was acquired on to the caller, for
// its work, and moves the heartbeat to a new session of its own. The
// acquiring session is warm (it has read the history and taken the lock),
// while a fresh one costs a connection's setup and a cold server cache:
// that cost now overlaps the caller's first reads instead of preceding
// them. The heartbeat connects and renews at once in the background, and
// the renewal binds a direct session's lease to its session (see
// Acquire); call AwaitMoved before running anything that must not share
// the lease's session (a migration statement). The caller closes the
// connection. nil when the lease has no session (the caller connects).
func (l *Lease) TakeConn() *sql.Conn {
	l.renewMu.Lock()
	c := l.conn
	l.conn = nil
	l.renewMu.Unlock()
	if rw, ok := l.d.(driver.ReleaseWaiter); ok && c != nil {
		// What waiters block on must live on the lease's session, which
		// is about to be the heartbeat's (MySQL: the named lock). They
		// wake once, find the lock held and block again there.
		ctx, cancel := context.WithTimeout(context.Background(), l.TTL/2)
		rw.LetGoOfWake(ctx, c)
		cancel()
	}
	l.moved = make(chan struct{})
	go func() {
		defer close(l.moved)
		ctx, cancel := context.WithTimeout(context.Background(), l.TTL/2)
		defer cancel()
		// A failure other than a loss is the heartbeat's to retry, as
		// for any broken session.
		if err := l.renew(ctx); errors.Is(err, driver.ErrLockLost) {
			l.lose(fmt.Errorf("%w: the lease is no longer this runner's (taken over, or cleared by hand)", driver.ErrLockLost))
		}
	}()
	return c
}

// AwaitMoved waits until the heartbeat, after TakeConn, has renewed on its
// own session (or failed to, which it retries), so that the lease is
// bound to that session and no longer to the caller's. It returns at once
// if TakeConn was not called, or with a driver that binds at renewal (see
// Acquire): the lease row never recorded the caller's session. A driver
// that cannot bind later still waits, also when it records no session at
// all: SQLite's renewal is a write, and on a database whose connections
// carry no busy timeout (a caller's own *sql.DB) the work's first read
// beside that write failed with "database is locked".
func (l *Lease) AwaitMoved(ctx context.Context) error {
	if l.moved == nil || !l.await {
		return nil
	}
	select {
	case <-l.moved:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release stops the heartbeat and frees the lock. It runs even when the
// caller's context is already cancelled, since leaving the lock to expire
// would stall the fleet for a TTL.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	if l.moved != nil {
		<-l.moved // it renews on l.conn
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if !l.Lost() {
		if l.conn != nil {
			err = l.d.Release(ctx, l.conn, l.Token, l.Gen)
		}
		if l.conn == nil || err != nil {
			// The heartbeat session may be the broken part; try another.
			err = l.d.Release(ctx, l.db, l.Token, l.Gen)
		}
	}
	l.cancel(context.Canceled)
	closeConn(l.conn)
	return err
}
