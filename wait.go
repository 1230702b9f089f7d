package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/fleetgate/fleetgate/internal/gate"
	"github.com/fleetgate/fleetgate/internal/history"
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
	r := &gate.Reader{D: m.d, Local: local, To: o.To, AllowOutOfOrder: o.AllowOutOfOrder}
	res, err := gate.Wait(ctx, m.db, m.log, r, gate.Options{Timeout: o.Timeout, PollInterval: o.PollInterval,
		ReportEvery: o.ReportEvery, NoNotify: o.NoNotify})
	out := &WaitResult{Waited: res.Waited, Ahead: res.Ahead, Reads: res.Reads, Notified: res.Notified}
	var te *gate.TimeoutError
	if errors.As(err, &te) {
		err = &WaitTimeoutError{Waited: te.Waited, Pending: te.Pending, Holder: lockHolder(te.Holder), Err: te.Err}
	}
	return out, err
}
