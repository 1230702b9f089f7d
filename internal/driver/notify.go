package driver

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Notifier is the optional ability of a driver to announce committed
// migrations to waiting sessions (PostgreSQL LISTEN/NOTIFY). Callers probe
// for it with a type assertion; a driver without it is polled.
//
// A notification is only a hint that the history changed: a caller re-reads
// the history after every wake-up, and polls as well, because a session can
// miss notifications (a reconnect, a pooler in between).
type Notifier interface {
	// Listen subscribes conn's session to the commit announcements. conn
	// must be dedicated to the caller and talk to its own server session
	// (SessionIsDirect); through a transaction pooler the subscription
	// would stay behind on a server connection that others then share.
	Listen(ctx context.Context, conn *sql.Conn) error
	// Unlisten ends conn's subscription.
	Unlisten(ctx context.Context, conn *sql.Conn) error
	// WaitNotification blocks until an announcement reaches conn, ctx ends,
	// or timeout passes; it reports false with a nil error on timeout. An
	// error means the session is unusable for listening.
	WaitNotification(ctx context.Context, conn *sql.Conn, timeout time.Duration) (bool, error)
}

// ReleaseNotifier is a Notifier that also announces the lock's release on
// its own, so that a waiter for the lock can sleep through the holder's
// commits: with one announcement per migration, a fleet of waiters that
// all woke at each commit to try the lock again would compete with the
// holder for the CPU and the database the whole run.
type ReleaseNotifier interface {
	Notifier
	// ListenRelease subscribes conn's session to the release announcements
	// only (Unlisten ends it too).
	ListenRelease(ctx context.Context, conn *sql.Conn) error
}

// ReleaseWaiter is the optional ability of a driver without notifications
// to let a waiter for the lock sleep until the holder lets go, instead of
// polling (MySQL: the holder's session holds a named lock beside the
// lease). Like a notification it is only a hint: the caller reads the
// lock again after every wake-up, and polls where nothing wakes it.
type ReleaseWaiter interface {
	// WaitRelease blocks on conn, a session of the caller's own
	// (SessionIsDirect), until the lock's holder lets go (a release, or
	// its session's end), ctx ends, or about timeout passes; woke reports
	// the release. blocked is false, at once, when the current holder
	// offers nothing to wait on (no holder, one through a pooler, an older
	// release): the caller polls.
	WaitRelease(ctx context.Context, conn *sql.Conn, timeout time.Duration) (woke, blocked bool, err error)
	// LetGoOfWake ends what waiters block on in conn's session, which stops
	// being the lease's own (lock.Lease.TakeConn hands it to the work); the
	// next renewal, on the lease's new session, takes it up there.
	LetGoOfWake(ctx context.Context, conn *sql.Conn)
}

// Listener is the one "listen for a notification, else poll" loop step
// that every waiter shares (the lock's waiters, Wait): it sleeps on a
// subscribed session when the driver and the session allow it, and for the
// plain pause otherwise. The zero value polls.
//
// It never owns the session: the caller opened it, uses it for its own
// reads, and closes it. A session that breaks while listening is dropped
// from listening; the caller finds out from Sleep's error and replaces or
// abandons the session.
type Listener struct {
	n    Notifier
	conn *sql.Conn // the subscribed session; nil while polling
}

// ErrNoNotifications is Listen's answer for a driver without a Notifier.
var ErrNoNotifications = errors.New("the driver offers no notifications")

// Listen subscribes conn to commit announcements, when d is a Notifier.
// Callers pass only a session that is their own (SessionIsDirect). On an
// error the Listener polls, as before.
func (l *Listener) Listen(ctx context.Context, d Driver, conn *sql.Conn) error {
	l.conn = nil
	n, ok := d.(Notifier)
	if !ok {
		return ErrNoNotifications
	}
	if err := n.Listen(ctx, conn); err != nil {
		return err
	}
	l.n, l.conn = n, conn
	return nil
}

// ListenRelease subscribes conn to the lock's release announcements when
// d can send them on their own (ReleaseNotifier), else to every commit
// announcement, as Listen.
func (l *Listener) ListenRelease(ctx context.Context, d Driver, conn *sql.Conn) error {
	rn, ok := d.(ReleaseNotifier)
	if !ok {
		return l.Listen(ctx, d, conn)
	}
	l.conn = nil
	if err := rn.ListenRelease(ctx, conn); err != nil {
		return err
	}
	l.n, l.conn = rn, conn
	return nil
}

// Listening reports whether Sleep waits for announcements.
func (l *Listener) Listening() bool { return l.conn != nil }

// Drop stops listening without a word to the server: the session broke,
// or is about to be closed.
func (l *Listener) Drop() { l.conn = nil }

// Unlisten ends the subscription and keeps the session open (a waiter
// that became the holder would otherwise collect its own announcements).
// Best effort: a session that cannot unlisten is broken anyway.
func (l *Listener) Unlisten(ctx context.Context) {
	if l.conn != nil {
		_ = l.n.Unlisten(ctx, l.conn)
		l.conn = nil
	}
}

// Sleep waits up to pause: for an announcement while listening, else for
// the pause alone. It reports whether an announcement ended it. Its error
// is ctx's when ctx ended (check ctx.Err()), else the listening session's
// breakage, after which the Listener polls: the caller's next read on
// that session would fail too, so it replaces or drops it.
func (l *Listener) Sleep(ctx context.Context, pause time.Duration) (bool, error) {
	if l.conn == nil {
		t := time.NewTimer(pause)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false, ctx.Err()
		case <-t.C:
			return false, nil
		}
	}
	got, err := l.n.WaitNotification(ctx, l.conn, pause)
	if err != nil {
		l.conn = nil
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
		return false, err
	}
	return got, nil
}
