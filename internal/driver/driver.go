// Package driver is the seam between fleetgate's database-independent logic
// and the SQL of each database. Only packages under internal/driver contain
// dialect SQL; everything else calls these methods.
package driver

import (
	"context"
	"database/sql"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/history"
)

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

// identRE is compiled on first use, not at every process start.
var identRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

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
		if !identRE().MatchString(part) || len(part) > 50 {
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
	// TakeoverAt is the database time from which a waiter may take the
	// lease over without a release (its expiry, or sooner where a dead
	// session is detected, see the drivers' TryAcquire); zero when the
	// driver does not say. A waiter woken by the release needs to poll no
	// sooner for a holder that died without one.
	TakeoverAt time.Time
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

// TablesProber is implemented by drivers that can tell in one read all
// that a runner about to take the lock needs to know of fleetgate's
// tables: whether they exist, whether EnsureTables has anything left to
// do, and whether the instance registry is there. Each question asked
// alone was one round trip, and a deploy asked five.
type TablesProber interface {
	ProbeTables(ctx context.Context, q Querier) (TablesState, error)
}

// TablesState is what TablesProber reads.
type TablesState struct {
	Exist    bool // as TablesExist
	Current  bool // they exist with this release's columns: EnsureTables would change nothing
	Registry bool // the instance registry's table exists: EnsureRegistry would change nothing
}

// SessionBinder is the optional ability of a driver to bind a lease taken
// without a session (AcquireParams.SessionBound false) to the session of a
// later renewal (PostgreSQL). The lock package then records no session at
// acquisition, since it hands the acquiring session to the work
// (lock.Lease.TakeConn), and lets the heartbeat's first renewal on its own
// session bind the lease: the work need not wait for that renewal before
// its first statement.
type SessionBinder interface {
	// BindRenew renews like Renew and records conn's session as the
	// holder's.
	BindRenew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error
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
	// Scope, when set, names the caller's exclusive use of the connection
	// (one run of migrations on its pinned connection). A driver may keep
	// what it prepares for its commits on the server session and reuse it
	// within the same Scope, never beyond: outside it the connection is
	// the pool's, and whoever uses it next may reset the session. nil:
	// nothing is kept.
	Scope any
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

// ReplacesPartial reports whether a may replace a row of its version that
// is there already: only a no-transaction migration's row (it carries
// statement checksums, or is partial) moves from partial to complete, and
// a complete row never changes. Any other row is new, so a driver writes
// it with a plain INSERT: a second commit of a version, by a runner that
// bypassed the lock, then fails on the unique key (ErrExists) and rolls
// back with its migration. The plain INSERT is also the cheaper statement
// to plan, which every migration pays for.
func ReplacesPartial(a *history.Applied) bool {
	return !a.Complete || a.Running || len(a.StatementChecksums) > 0
}

// Driver is one database's implementation of fleetgate's storage and lock.
// Methods taking a conn expect the caller to own it (a pinned *sql.Conn);
// methods taking a Querier may use any connection.
type Driver interface {
	Dialect() dialect.Dialect
	// Capabilities says what the database can do; callers branch on it,
	// never on the dialect.
	Capabilities() Capabilities
	// Classify returns the class (ErrTransient, ErrBusy, ErrPermission,
	// ErrLockTimeout, ErrExists, ErrNotExist) of an error the database
	// reported in a form other than a StatementError carrying its class
	// (a raw error of the client library, a message-only connection loss),
	// nil when it has none. Callers use Is, which also tries this.
	Classify(err error) error

	// TablesExist reports whether fleetgate's tables are all present. It
	// only reads, so it works with read-only credentials.
	TablesExist(ctx context.Context, q Querier) (bool, error)
	// EnsureTables creates missing tables; safe when many runners call it at
	// once.
	EnsureTables(ctx context.Context, db *sql.DB) error

	// ReadApplied returns the migration rows in version order, with the
	// columns cols selects (the others are left zero).
	ReadApplied(ctx context.Context, q Querier, cols Columns) ([]history.Applied, error)
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

	// Begin opens a migration transaction on conn and returns it; all work
	// of the transaction goes through the Tx. On SQLite it takes the write
	// lock at once (BEGIN IMMEDIATE).
	Begin(ctx context.Context, conn *sql.Conn, opts *TxOptions) (Tx, error)
	// Exec runs one statement of a migration in autocommit, outside any
	// transaction (a no-transaction migration), translating the error.
	Exec(ctx context.Context, conn *sql.Conn, stmt string) error
	// SaveProgress records, in its own fenced transaction, that a
	// no-transaction migration has run its first done statements.
	SaveProgress(ctx context.Context, conn *sql.Conn, rec *Record) error
	// ReadProgress returns what a partly applied migration's row records
	// beyond ReadApplied: its statement checksums and the session that
	// was about to run its next statement outside a transaction. ok is
	// false when there is no incomplete row of that version. Call it
	// after EnsureTables, which adds the columns to older tables.
	ReadProgress(ctx context.Context, q Querier, version int64) (p Progress, ok bool, err error)
}

// Columns select what ReadApplied loads of each history row. Every
// instance of a fleet reads the history at every start, mostly to find
// nothing to do, so that read loads only what planning needs.
type Columns int

const (
	// PlanColumns: version, name, checksum, down_checksum, phase,
	// complete and statements_done, what planning and checksum
	// verification need (down_checksum: a file whose two sections are
	// those applied need not be parsed, see source.LoadVerified).
	PlanColumns Columns = iota
	// RowColumns add who applied each migration, when, how long it took,
	// under which lock generation, whether it has a down section (status,
	// history, down).
	RowColumns
	// ScriptColumns add the stored up and down SQL (a rollback of
	// migrations whose files are gone).
	ScriptColumns
)

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

// Capabilities are what a database can do, as far as code outside the
// drivers needs to know.
type Capabilities struct {
	// TransactionalDDL: a schema change rolls back with its transaction,
	// so a migration is recorded atomically with its effect.
	TransactionalDDL bool
	// Notifications: the driver implements Notifier, so waiters can be
	// woken by a commit instead of polling.
	Notifications bool
	// SessionLiveness: on a direct session the database itself knows when
	// the lock holder's session ends, so waiters take over at once.
	SessionLiveness bool
	// SingleWriter: writers exclude each other (SQLite), so an ErrBusy
	// while renewing the lease means the write lock is held, most likely
	// by this runner's own migration, and nobody can take the lock over
	// meanwhile.
	SingleWriter bool
	// LockTimeout: a migration transaction honours TxOptions.LockTimeout,
	// and statements that hit it are retried.
	LockTimeout bool
	// Checker is the dialect whose statement checks (internal/lint) apply
	// to this database's migrations, "" when none do.
	Checker dialect.Dialect
}

// SessionLockTimeout is implemented by drivers whose lock timeout is a
// session setting that also bounds statements run outside a transaction
// (MySQL's lock_wait_timeout, which an ALTER waits under for its metadata
// lock). The executor sets it on its pinned connection before each such
// statement; inside transactions TxOptions.LockTimeout does it.
type SessionLockTimeout interface {
	SetLockTimeout(ctx context.Context, conn *sql.Conn, timeout time.Duration) error
}

// EffectReader is implemented by drivers on which DDL commits on its own
// (MySQL). A runner that resumes a migration after a crash uses it for
// the statement that was running in autocommit when the earlier attempt
// died: whether it took effect is read from the catalog, never guessed by
// running it again.
type EffectReader interface {
	// StatementEffect reports whether stmt's effect is in the database
	// (applied), when that can be told (known); why says what could not
	// be told otherwise.
	StatementEffect(ctx context.Context, q Querier, stmt string) (applied, known bool, why string, err error)
}
