package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
)

// ErrLockLost means this runner no longer holds the migration lock: another
// runner took it over after the lease expired or the session died. Work done
// since is rolled back, never committed.
var ErrLockLost = errors.New("lost the migration lock")

// The error classes. Each driver maps its database's codes onto them (the
// SQLSTATE and result-code tables live in the drivers, nowhere else), and
// code outside the drivers asks Is(d, err, class), or errors.Is when the
// error is a StatementError, whose Class it matches.
var (
	// ErrTransient: the server or the way to it is briefly unavailable
	// (connection broken, reset or refused, server shutting down or
	// starting up). Reconnecting may cure it; a statement it interrupted
	// did not commit unless its COMMIT had already reached the server.
	ErrTransient = errors.New("database briefly unavailable")
	// ErrBusy: the server answers but cannot serve now (too many
	// connections, out of resources) or another writer holds the database
	// (SQLite). Waiting may cure it.
	ErrBusy = errors.New("database busy")
	// ErrPermission: the credentials lack a privilege. Waiting will not
	// cure it.
	ErrPermission = errors.New("permission denied")
	// ErrLockTimeout: a statement gave up waiting for a row or table lock
	// (the transaction's lock timeout); the migration is retried.
	ErrLockTimeout = errors.New("lock timeout")
	// ErrExists: a row that must be unique already exists (a unique
	// violation: a history row another runner recorded first). An object
	// a migration creates that already exists is not of this class: that
	// migration failed.
	ErrExists = errors.New("already exists")
	// ErrNotExist: a table or other object does not exist.
	ErrNotExist = errors.New("does not exist")
)

// StatementError is a database error with the fields callers report. The
// driver that made it sets Class; errors.Is(err, ErrPermission) and the
// like then match it, and Unwrap still reaches the client library's error.
type StatementError struct {
	// SQLState is the database's own code: a PostgreSQL SQLSTATE, a SQLite
	// extended result code in decimal.
	SQLState string
	Message  string
	Position int   // 1-based character position in the statement, 0 if unknown
	Class    error // one of the classes above, nil when none applies
	Err      error
}

func (e *StatementError) Error() string {
	if e.SQLState != "" {
		return fmt.Sprintf("%s (SQLSTATE %s)", e.Message, e.SQLState)
	}
	return e.Message
}
func (e *StatementError) Unwrap() error { return e.Err }

// Is matches the error's class.
func (e *StatementError) Is(target error) bool { return e.Class != nil && target == e.Class }

// Is reports whether err belongs to class: a StatementError of that class
// in its chain, what d classifies it as, and for ErrTransient also the
// engine-independent signs of a broken connection.
//
// A context's end is never ErrTransient: a deadline or a cancellation the
// caller set is final, and retrying past it would break the caller's
// bound. (context.DeadlineExceeded is a net.Error, so without this rule it
// would pass for a network timeout, and a client library's message about
// it for a broken connection.)
func Is(d Driver, err, class error) bool {
	if err == nil {
		return false
	}
	if class == ErrTransient && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return false
	}
	if errors.Is(err, class) {
		return true
	}
	if d != nil && d.Classify(err) == class {
		return true
	}
	return class == ErrTransient && brokenConn(err)
}

// IsBadConn reports an error that says the connection itself is broken, so
// any lock bound to its session is gone with it.
func IsBadConn(err error) bool {
	return errors.Is(err, sqldriver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// IsTransient reports an error that says the server or the way to it is
// briefly unavailable, not that anything was refused (ErrTransient), but
// never the caller's own cancellation or a lost lock (whose message may
// quote a transient error it does not wrap).
func IsTransient(d Driver, err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if brokenConn(err) {
		return true
	}
	if errors.Is(err, ErrLockLost) {
		return false
	}
	return Is(d, err, ErrTransient)
}

// brokenConn: the connection broke or was reset or refused, whatever the
// database.
func brokenConn(err error) bool {
	if IsBadConn(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	var st *StatementError
	if errors.As(err, &st) {
		return false // the server answered
	}
	var ne net.Error
	return errors.As(err, &ne)
}
