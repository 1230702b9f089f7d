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
	// Poll is the mean interval between attempts. Defaults to 150ms.
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
}

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
}

// Lease is a held lock. Its Context ends when the lock is lost.
type Lease struct {
	d      driver.Driver
	db     *sql.DB
	conn   *sql.Conn // the heartbeat session; its death frees the lock
	Token  string
	Gen    int64
	TTL    time.Duration
	Waited time.Duration

	ctx    context.Context
	cancel context.CancelCauseFunc
	mu     sync.Mutex
	cur    int64
	stop   chan struct{}
	done   chan struct{}
}

// Acquire waits for the lock. It returns (nil, nil) when Recheck reported
// that nothing is left to do.
func Acquire(ctx context.Context, d driver.Driver, db *sql.DB, actor history.Actor, opts Options) (*Lease, error) {
	opts.defaults()
	start := time.Now()
	if opts.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, opts.Timeout, ErrTimeout)
		defer cancel()
	}
	conn, err := driver.Conn(ctx, db)
	if err != nil {
		return nil, fmt.Errorf("connect for lock: %w", errOr(ctx, err))
	}
	p := &driver.AcquireParams{Token: newToken(), Actor: actor, TTL: opts.TTL, SessionBound: d.SessionIsDirect(ctx, conn)}
	// On a session of its own, a waiter sleeps until the holder announces a
	// commit or its release (LISTEN), instead of polling: it wakes at once,
	// and a fleet of waiters stops competing with the holder for CPU. The
	// slow poll underneath still catches a holder that died without a word.
	listening := false
	if n, ok := d.(driver.Notifier); ok && p.SessionBound {
		listening = n.Listen(ctx, conn) == nil
	}
	var lastReport time.Time
	var lastGen int64
	for attempt := 0; ; attempt++ {
		gen, holder, err := d.TryAcquire(ctx, conn, p)
		if err != nil && driver.IsBadConn(err) && attempt < 1000 {
			// The session broke while we waited (server restart, pooler
			// recycling): a waiter holds nothing, so it just reconnects.
			conn.Close()
			if conn, err = driver.Conn(ctx, db); err != nil {
				return nil, fmt.Errorf("connect for lock: %w", errOr(ctx, err))
			}
			p.SessionBound = d.SessionIsDirect(ctx, conn)
			listening = false
			if n, ok := d.(driver.Notifier); ok && p.SessionBound {
				listening = n.Listen(ctx, conn) == nil
			}
			continue
		}
		if err != nil {
			conn.Close()
			return nil, errOr(ctx, err)
		}
		if holder == nil && gen > 0 {
			if listening {
				// The holder's own commits would pile up unread.
				_ = d.(driver.Notifier).Unlisten(ctx, conn)
			}
			return startLease(d, db, conn, p, gen, time.Since(start)), nil
		}
		p.StaleToken = ""
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
		if opts.Recheck != nil && (changed || attempt%3 == 2) {
			done, err := opts.Recheck(ctx, conn)
			if err != nil {
				conn.Close()
				return nil, errOr(ctx, err)
			}
			if done {
				conn.Close()
				return nil, nil
			}
		}
		// Jitter spreads a fleet's polls so they do not arrive in waves.
		sleep := opts.Poll/2 + rand.N(opts.Poll)
		if listening {
			slow := max(time.Second, opts.Poll)
			if _, err := d.(driver.Notifier).WaitNotification(ctx, conn, slow/2+rand.N(slow)); err != nil {
				if ctx.Err() != nil {
					conn.Close()
					return nil, errOr(ctx, ctx.Err())
				}
				listening = false // the session broke; the next try reconnects
			}
			continue
		}
		select {
		case <-ctx.Done():
			conn.Close()
			return nil, errOr(ctx, ctx.Err())
		case <-time.After(sleep):
		}
	}
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

// deadLocalHolder: a holder on this host whose process is gone cannot be
// renewing, so waiting out its lease would only delay the fleet.
func deadLocalHolder(h *driver.Holder, host string) bool {
	if h.Host != host || h.PID <= 0 || h.PID == os.Getpid() {
		return false
	}
	err := syscall.Kill(h.PID, 0)
	return errors.Is(err, syscall.ESRCH)
}

func newToken() string {
	b := make([]byte, 12)
	_, _ = crand.Read(b)
	return hex.EncodeToString(b)
}

func startLease(d driver.Driver, db *sql.DB, conn *sql.Conn, p *driver.AcquireParams, gen int64, waited time.Duration) *Lease {
	ctx, cancel := context.WithCancelCause(context.Background())
	l := &Lease{d: d, db: db, conn: conn, Token: p.Token, Gen: gen, TTL: p.TTL, Waited: waited,
		ctx: ctx, cancel: cancel, stop: make(chan struct{}), done: make(chan struct{})}
	go l.heartbeat()
	return l
}

// Context ends when the lease is lost (cause driver.ErrLockLost) or released.
func (l *Lease) Context() context.Context { return l.ctx }

// Lost reports whether the lease was lost.
func (l *Lease) Lost() bool { return errors.Is(context.Cause(l.ctx), driver.ErrLockLost) }

// Verify renews the lease now and reports driver.ErrLockLost if it is gone.
// A runner calls it after an error, since a pause (SIGSTOP, a VM freeze)
// shows up first as a broken statement, before the heartbeat has run.
func (l *Lease) Verify(ctx context.Context) error {
	if l.Lost() {
		return driver.ErrLockLost
	}
	l.mu.Lock()
	cur := l.cur
	l.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), l.TTL)
	defer cancel()
	// Anything short of a successful renewal counts as lost: a runner that
	// cannot prove it holds the lock must not act or report as if it did.
	if err := l.d.Renew(ctx, l.conn, l.Token, l.Gen, l.TTL, cur); err != nil {
		l.cancel(driver.ErrLockLost)
		return driver.ErrLockLost
	}
	return nil
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

// heartbeat renews the lease every TTL/4. A renewal that finds the lease
// gone, or no successful renewal for a whole TTL (the database may already
// have let another runner in), means the lock is lost.
func (l *Lease) heartbeat() {
	defer close(l.done)
	every := l.TTL / 4
	last := time.Now()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		l.mu.Lock()
		cur := l.cur
		l.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), l.TTL/2)
		err := l.d.Renew(ctx, l.conn, l.Token, l.Gen, l.TTL, cur)
		cancel()
		switch {
		case err == nil:
			last = time.Now()
		case errors.Is(err, driver.ErrLockLost), driver.IsBadConn(err):
			// A broken heartbeat session cannot be resumed: if the lock
			// was bound to it, waiters may already have taken over.
			l.cancel(driver.ErrLockLost)
			return
		case time.Since(last) >= l.TTL:
			l.cancel(driver.ErrLockLost)
			return
		}
	}
}

// Release stops the heartbeat and frees the lock. It runs even when the
// caller's context is already cancelled, since leaving the lock to expire
// would stall the fleet for a TTL.
func (l *Lease) Release(ctx context.Context) error {
	close(l.stop)
	<-l.done
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var err error
	if !l.Lost() {
		err = l.d.Release(ctx, l.conn, l.Token, l.Gen)
		if err != nil {
			// The heartbeat session may be the broken part; try another.
			err = l.d.Release(ctx, l.db, l.Token, l.Gen)
		}
	}
	l.cancel(context.Canceled)
	l.conn.Close()
	return err
}
