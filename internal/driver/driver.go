// Package driver is the seam between fleetgate's database-independent logic
// and the SQL of each database. Only packages under internal/driver contain
// dialect SQL; everything else calls these methods.
package driver

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strings"
	"syscall"
	"time"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/history"
)

// ErrLockLost means this runner no longer holds the migration lock: another
// runner took it over after the lease expired or the session died. Work done
// since is rolled back, never committed.
var ErrLockLost = errors.New("lost the migration lock")

// Tables are the validated names of fleetgate's own tables. Schema is empty
// for the default schema (or for SQLite).
type Tables struct {
	Schema     string
	Migrations string
	Events     string
	Lock       string
	// Instances is the instance registry (see Registry).
	Instances string
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// NewTables derives the table names from the history table name the
// user chose, "name" or "schema.name". A name ending in "_migrations" gives
// "_events", "_lock" and "_instances" siblings (fleetgate_migrations →
// fleetgate_events), anything else gets the suffixes appended.
func NewTables(spec string) (Tables, error) {
	schema, name := "", spec
	for i := 0; i < len(spec); i++ {
		if spec[i] == '.' {
			schema, name = spec[:i], spec[i+1:]
			break
		}
	}
	if schema == "" && name != spec {
		return Tables{}, fmt.Errorf("table %q: empty schema name", spec)
	}
	parts := []string{name}
	if schema != "" {
		parts = append(parts, schema)
	}
	for _, part := range parts {
		if !identRE.MatchString(part) || len(part) > 50 {
			return Tables{}, fmt.Errorf("table %q: %q is not a plain identifier (letters, digits and _, at most 50 characters)", spec, part)
		}
	}
	base := name
	if len(base) > len("_migrations") && base[len(base)-len("_migrations"):] == "_migrations" {
		base = base[:len(base)-len("_migrations")]
	}
	return Tables{Schema: schema, Migrations: name, Events: base + "_events", Lock: base + "_lock", Instances: base + "_instances"}, nil
}

// Querier is what both *sql.Conn and *sql.DB offer.
type Querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Holder describes the runner holding the lock, for the messages that tell
// waiting instances whom they wait for.
type Holder struct {
	Token            string
	Generation       int64
	Host             string
	PID              int
	DeployID         string
	AcquiredAt       time.Time
	ExpiresAt        time.Time
	CurrentVersion   int64 // 0 when between migrations
	CurrentStartedAt time.Time
	Now              time.Time // the database clock when the row was read
	// SessionBound: the database tracks the holder's session (a direct
	// PostgreSQL connection), so only the database may declare it dead.
	SessionBound bool
}

// AcquireParams describe a lock attempt.
type AcquireParams struct {
	Token string
	Actor history.Actor
	TTL   time.Duration
	// StaleToken is a holder token the caller has proven dead by other means
	// (a same-host process that no longer exists); it may be taken over
	// before its lease runs out.
	StaleToken string
	// SessionBound asks the driver to record the database session of conn so
	// that waiters can take over the moment that session ends. Only set when
	// the session is known to be the caller's own (not a pooled one).
	SessionBound bool
}

// TxOptions configure a migration transaction.
type TxOptions struct {
	LockTimeout time.Duration // 0: database default
	// IdleTimeout ends the session if the client stalls inside the
	// transaction (a paused or vanished runner), so its row locks cannot
	// outlive its lease.
	IdleTimeout time.Duration
	// Begin is the statement that opens the transaction instead of a plain
	// BEGIN: a migration's own explicit block ("BEGIN ISOLATION LEVEL
	// SERIALIZABLE", possibly followed by SET TRANSACTION), kept verbatim.
	// SQLite always begins IMMEDIATE, the only mode that takes the write
	// lock up front, and ignores it. Defaults to BEGIN.
	Begin string
}

// Record is what is written in the same transaction as a migration.
type Record struct {
	Token      string
	Generation int64
	TTL        time.Duration
	Applied    *history.Applied // nil for a rollback
	Event      *history.Event
	Notify     bool
}

// StatementError is a database error with the fields callers report.
type StatementError struct {
	SQLState string
	Message  string
	Position int // 1-based character position in the statement, 0 if unknown
	Err      error
}

func (e *StatementError) Error() string {
	if e.SQLState != "" {
		return fmt.Sprintf("%s (SQLSTATE %s)", e.Message, e.SQLState)
	}
	return e.Message
}
func (e *StatementError) Unwrap() error { return e.Err }

// Driver is one database's implementation of fleetgate's storage and lock.
// Methods taking a conn expect the caller to own it (a pinned *sql.Conn);
// methods taking a Querier may use any connection.
type Driver interface {
	Dialect() dialect.Dialect

	// TablesExist reports whether fleetgate's tables are all present. It
	// only reads, so it works with read-only credentials.
	TablesExist(ctx context.Context, q Querier) (bool, error)
	// EnsureTables creates missing tables; safe when many runners call it at
	// once.
	EnsureTables(ctx context.Context, db *sql.DB) error

	// ReadApplied returns the migration rows in version order. full also
	// loads the stored up and down SQL, which a plain status never needs.
	ReadApplied(ctx context.Context, q Querier, full bool) ([]history.Applied, error)
	// ReadEvents returns events newest first, at most limit (0: all).
	ReadEvents(ctx context.Context, q Querier, version int64, since time.Time, limit int) ([]history.Event, error)
	// AppendEvent writes one event outside any migration transaction.
	AppendEvent(ctx context.Context, q Querier, ev *history.Event) error

	// SessionIsDirect reports whether conn talks to its own database session
	// rather than one shared through a pooler, so that session death means
	// client death.
	SessionIsDirect(ctx context.Context, conn *sql.Conn) bool
	// TryAcquire takes the lock if it is free, expired or held by a dead
	// session. It never waits. On failure it returns the current holder.
	TryAcquire(ctx context.Context, conn *sql.Conn, p *AcquireParams) (gen int64, holder *Holder, err error)
	// Renew extends the lease and records what is running; ErrLockLost when
	// the token no longer holds it.
	Renew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error
	// Release frees the lock if token still holds it.
	Release(ctx context.Context, q Querier, token string, gen int64) error
	// ReadHolder returns the current holder, nil when the lock is free.
	ReadHolder(ctx context.Context, q Querier) (*Holder, error)

	// Begin opens a migration transaction on conn. On SQLite it takes the
	// write lock at once (BEGIN IMMEDIATE).
	Begin(ctx context.Context, conn *sql.Conn, opts *TxOptions) error
	// Exec runs one statement of a migration, translating the error.
	Exec(ctx context.Context, conn *sql.Conn, stmt string) error
	// Commit writes rec, checks the fence and commits, all at once. It
	// returns ErrLockLost (after rolling back) if token no longer holds the
	// lock: nothing of the transaction is then committed.
	Commit(ctx context.Context, conn *sql.Conn, rec *Record) error
	// Rollback aborts the open transaction, if any.
	Rollback(ctx context.Context, conn *sql.Conn) error
	// SaveProgress records, in its own fenced transaction, that a
	// no-transaction migration has run its first done statements.
	SaveProgress(ctx context.Context, conn *sql.Conn, rec *Record) error
	// DeleteApplied removes a migration's row inside the open transaction
	// (a rollback); Commit then records the event.
	DeleteApplied(ctx context.Context, conn *sql.Conn, version int64) error
	// IsUniqueViolation reports a duplicate history row: another runner
	// recorded the same version first.
	IsUniqueViolation(err error) bool
	// IsLockTimeout reports a lock_timeout expiry, which is retried.
	IsLockTimeout(err error) bool
	// ReadProgress returns what a partly applied migration's row records
	// beyond ReadApplied: its statement checksums and the session that
	// was about to run its next statement outside a transaction. ok is
	// false when there is no incomplete row of that version. Call it
	// after EnsureTables, which adds the columns to older tables.
	ReadProgress(ctx context.Context, q Querier, version int64) (p Progress, ok bool, err error)
	// DeleteProgress removes the row of a partly applied migration inside
	// the open transaction (`resolve --abandon`); a complete row is kept
	// and an error returned.
	DeleteProgress(ctx context.Context, conn *sql.Conn, version int64) error
}

// Progress is the resumable state of a partly applied migration.
type Progress struct {
	StatementsDone int
	// StatementChecksums are the checksums of the statements of the up
	// section that was being applied, nil for a row of an older release.
	StatementChecksums []string
	// RunningPID and RunningStart identify the backend (pid and
	// backend_start) that was about to run statement StatementsDone in
	// autocommit; 0 when none was recorded. A pid alone could name a
	// later, unrelated backend.
	RunningPID   int
	RunningStart time.Time
}

// Backends is implemented by drivers whose statements can outlive their
// client (PostgreSQL: a backend finishes the statement it runs after its
// client is killed). A resumed no-transaction migration uses it so that
// never two backends run one statement.
type Backends interface {
	// StatementRunning reports whether the recorded backend still exists
	// (alive) and whether it is executing a statement (active), and
	// whether any other backend is executing exactly stmt (through a
	// pooler the recorded pid may not be the one that ran it).
	StatementRunning(ctx context.Context, q Querier, pid int, started time.Time, stmt string) (alive, active bool, others []int, err error)
	// TerminateBackend asks a backend to end (pg_terminate_backend); the
	// caller waits until StatementRunning no longer finds it.
	TerminateBackend(ctx context.Context, q Querier, pid int) error
}

// IsBadConn reports an error that says the connection itself is broken, so
// any lock bound to its session is gone with it.
func IsBadConn(err error) bool {
	return errors.Is(err, sqldriver.ErrBadConn) || errors.Is(err, sql.ErrConnDone)
}

// Conn pins a working connection. database/sql retries a broken pooled
// connection for its own queries but not for a pinned *sql.Conn, so a
// connection the server closed (restart, pooler recycling, idle timeout)
// would fail the first statement; a ping here discards it instead.
func Conn(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	var last error
	for range 3 {
		c, err := db.Conn(ctx)
		if err != nil {
			return nil, err
		}
		if err := c.PingContext(ctx); err != nil {
			c.Close()
			last = err
			if IsBadConn(err) {
				continue
			}
			return nil, err
		}
		return c, nil
	}
	return nil, last
}

// IsTransient reports an error that says the server or the way to it is
// briefly unavailable, not that anything was refused: the connection broke
// or was reset or refused, the server is shutting down or starting up
// (SQLSTATE 57P01-57P03), or a connection exception (class 08). Waiting
// and reconnecting may cure it; a statement it interrupted did not commit
// unless its COMMIT had already reached the server.
func IsTransient(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if IsBadConn(err) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
		return true
	}
	if code := sqlState(err); code != "" {
		// 25P03: the server ended the session because the migration's
		// transaction sat idle past its idle_in_transaction_session_timeout
		// (fleetgate sets it to the lease): a slow or starved network looks
		// like that from the server. The transaction rolled back with the
		// session, so it is a lost connection like the others.
		return strings.HasPrefix(code, "08") || code == "57P01" || code == "57P02" || code == "57P03" || code == "25P03"
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	if errors.Is(err, ErrLockLost) {
		// Its message may quote a transient error it does not wrap.
		return false
	}
	// pgx reports a connection it already closed by message only.
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection refused", "connection reset", "broken pipe", "unexpected EOF",
		"the database system is starting up", "the database system is shutting down", "the database system is in recovery mode",
		"server closed the connection", "failed to receive message", "failed to write startup message"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// sqlState digs out a PostgreSQL SQLSTATE, "" when err carries none. A
// SQLSTATE has five characters; SQLite's result codes, which StatementError
// also carries, have at most four digits.
func sqlState(err error) string {
	var se *StatementError
	if errors.As(err, &se) && len(se.SQLState) == 5 {
		return se.SQLState
	}
	var st interface{ SQLState() string }
	if errors.As(err, &st) {
		return st.SQLState()
	}
	return ""
}

// Busy is implemented by drivers whose writers exclude each other (SQLite):
// IsBusy reports an error that only says another connection, possibly this
// runner's own migration, holds the write lock.
type Busy interface {
	IsBusy(err error) bool
}

type serverCancelKey struct{}

// CancelOnServer marks ctx so that a statement it cancels is cancelled on
// the server, and its answer awaited, rather than cut off at the socket
// (where the server may go on running, and even commit, what the client
// gave up on). Migration statements run under it; waits on fleetgate's own
// sessions do not, since a cancel request can reach an idle session late
// and cancel its next statement instead.
func CancelOnServer(ctx context.Context) context.Context {
	return context.WithValue(ctx, serverCancelKey{}, true)
}

// CancelsOnServer reports whether ctx was marked by CancelOnServer.
func CancelsOnServer(ctx context.Context) bool {
	v, _ := ctx.Value(serverCancelKey{}).(bool)
	return v
}

// SessionKeeper is implemented by drivers that can exempt a session of
// fleetgate's own from the server's idle-session limit (PostgreSQL's
// idle_session_timeout, which may be shorter than the pause between two
// renewals or polls). Call it only on a direct session: a plain SET would
// stay behind on a pooler's shared server connection.
type SessionKeeper interface {
	KeepSession(ctx context.Context, conn *sql.Conn) error
}
