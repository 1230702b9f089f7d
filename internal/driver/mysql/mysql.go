package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/source"
	"github.com/go-sql-driver/mysql"
)

// The Driver below is fleetgate's MySQL and MariaDB driver: its tables,
// the lease (lease.go) and migration transactions. What sets the engine
// apart is that DDL is not transactional: every CREATE, ALTER, DROP,
// RENAME or TRUNCATE commits on its own, so a migration is never recorded
// atomically with its schema changes. Migrations therefore run statement
// by statement (see the executor's no-transaction path): data statements
// in a transaction with their fenced progress row, each DDL statement in
// autocommit between two fenced records, the first naming the session
// (CONNECTION_ID()) that runs it.

// lockRow is the key of the single lease row.
const lockRow = "migrate"

// Driver implements driver.Driver for MariaDB 10.6+ and MySQL 8.0+ (both
// needed for SKIP LOCKED).
type Driver struct {
	t                 driver.Tables
	mig, events, lock string // quoted, qualified names
	// wakeOn is the session known to hold the lease's named lock (see
	// wake.go), so that a renewal there does not ask again.
	wakeOn atomic.Pointer[sql.Conn]
	// seen is when TablesExist last found the three tables and the
	// lease's row (Unix nanoseconds; 0 once EnsureTables has used it):
	// an up asks TablesExist and then EnsureTables, and the second need
	// not ask again what the first learnt a moment ago.
	seen atomic.Int64
}

var (
	_ driver.Driver        = (*Driver)(nil)
	_ driver.Backends      = (*Driver)(nil)
	_ driver.SessionKeeper = (*Driver)(nil)

	_ driver.SessionLockTimeout = (*Driver)(nil)
)

// New returns a driver for the tables t. A schema is a MySQL database.
func New(t driver.Tables) *Driver {
	q := func(n string) string {
		if t.Schema != "" {
			return quoteIdent(t.Schema) + "." + quoteIdent(n)
		}
		return quoteIdent(n)
	}
	return &Driver{t: t, mig: q(t.Migrations), events: q(t.Events), lock: q(t.Lock)}
}

func quoteIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

func (d *Driver) Dialect() dialect.Dialect { return dialect.MySQL }

// Capabilities: DDL commits implicitly; there are no notifications
// (waiters poll); the session of a direct connection is found in the
// process list where the role can see it (lease.go), else the lease
// decides; lock_wait_timeout and innodb_lock_wait_timeout bound lock
// waits; and the MySQL checks apply.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{SessionLiveness: true, LockTimeout: true, Checker: dialect.MySQL}
}

// schemaExpr is the SQL for the database the tables live in.
func (d *Driver) schemaExpr() (string, []any) {
	if d.t.Schema != "" {
		return "?", []any{d.t.Schema}
	}
	return "DATABASE()", nil
}

func (d *Driver) TablesExist(ctx context.Context, q driver.Querier) (bool, error) {
	ok, row, err := d.probe(ctx, q)
	if ok && row {
		d.seen.Store(time.Now().UnixNano())
	}
	return ok, err
}

// seenFresh is how recent a TablesExist that found everything must be
// for EnsureTables to take its word.
const seenFresh = time.Second

// probe reports whether the three tables exist and, if they do, whether
// the lease's row does, in one statement (see tablesPresent: a missing
// table fails it before anything is read).
func (d *Driver) probe(ctx context.Context, q driver.Querier) (tables, row bool, err error) {
	err = q.QueryRowContext(ctx, "SELECT EXISTS(SELECT 1 FROM "+d.lock+" WHERE name = ?), EXISTS(SELECT 1 FROM "+d.mig+" CROSS JOIN "+d.events+" LIMIT 0)",
		lockRow).Scan(&row, new(bool))
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049) { // ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR
			return false, false, nil
		}
		return false, false, translate(err)
	}
	return true, row, nil
}

// tablesPresent reports whether every one of the (quoted) tables exists,
// in one statement that reads no row. Not information_schema.TABLES:
// MariaDB answers it by opening every table of the schema (its lookup
// uses an equality on TABLE_NAME, not an IN list), which on a database
// with 1,000 tables costs most of a second at every start of every
// instance.
func (d *Driver) tablesPresent(ctx context.Context, q driver.Querier, tables ...string) (bool, error) {
	rows, err := q.QueryContext(ctx, "SELECT 1 FROM "+strings.Join(tables, " CROSS JOIN ")+" LIMIT 0")
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && (me.Number == 1146 || me.Number == 1049) { // ER_NO_SUCH_TABLE, ER_BAD_DB_ERROR
			return false, nil
		}
		return false, translate(err)
	}
	return true, translate(rows.Close())
}

func (d *Driver) ddl() []string {
	var out []string
	if d.t.Schema != "" {
		out = append(out, "CREATE DATABASE IF NOT EXISTS "+quoteIdent(d.t.Schema))
	}
	// No column defaults to an expression other than CURRENT_TIMESTAMP,
	// and no TEXT default: MySQL 8.0 before 8.0.13 refuses both. db_user is
	// written as CURRENT_USER() by every insert instead.
	out = append(out, `CREATE TABLE IF NOT EXISTS `+d.mig+` (
	version BIGINT NOT NULL PRIMARY KEY,
	name VARCHAR(512) NOT NULL,
	checksum VARCHAR(128) NOT NULL,
	phase VARCHAR(16) NOT NULL DEFAULT 'pre',
	up_sql LONGTEXT NOT NULL,
	down_sql LONGTEXT NULL,
	down_checksum VARCHAR(128) NULL,
	reversible BOOLEAN NOT NULL,
	applied_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	duration_ms BIGINT NOT NULL DEFAULT 0,
	db_user VARCHAR(400) NOT NULL DEFAULT '',
	os_user VARCHAR(255) NOT NULL,
	host VARCHAR(255) NOT NULL,
	pid INT NOT NULL,
	deploy_id VARCHAR(255) NOT NULL,
	fleetgate_version VARCHAR(64) NOT NULL,
	lock_generation BIGINT NOT NULL,
	complete BOOLEAN NOT NULL DEFAULT TRUE,
	statements_done INT NOT NULL DEFAULT 0,
	adopted BOOLEAN NOT NULL DEFAULT FALSE,
	statement_checksums LONGTEXT NULL,
	running_pid BIGINT UNSIGNED NULL,
	running_started TIMESTAMP(6) NULL DEFAULT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`, `CREATE TABLE IF NOT EXISTS `+d.events+` (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	kind VARCHAR(32) NOT NULL,
	version BIGINT NULL,
	name VARCHAR(512) NULL,
	direction VARCHAR(8) NULL,
	error LONGTEXT NULL,
	statement LONGTEXT NULL,
	statement_line INT NULL,
	file VARCHAR(1024) NULL,
	duration_ms BIGINT NULL,
	lock_wait_ms BIGINT NULL,
	db_user VARCHAR(400) NOT NULL DEFAULT '',
	os_user VARCHAR(255) NULL,
	host VARCHAR(255) NULL,
	pid INT NULL,
	deploy_id VARCHAR(255) NULL,
	fleetgate_version VARCHAR(64) NULL,
	lock_generation BIGINT NULL,
	KEY version_at (version, at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`)
	out = append(out, LeaseTableDDL(d.lock)...)
	return out
}

// EnsureTables creates what is missing. CREATE TABLE IF NOT EXISTS is
// safe when many runners run it at once (the metadata lock serialises
// them), and the lock row goes in with INSERT IGNORE. Tables that exist
// already are only read, so a role without CREATE works once an
// administrator has made them.
//
// Right after a TablesExist that found the tables and the lock row (an
// up asks both in a row) it sends nothing: they do not go away between
// the two but by hand, and then the next statement says so.
func (d *Driver) EnsureTables(ctx context.Context, db *sql.DB) error {
	if t := d.seen.Swap(0); t != 0 && time.Since(time.Unix(0, t)) < seenFresh {
		return nil
	}
	ok, row, err := d.probe(ctx, db)
	if err != nil {
		return fmt.Errorf("look for fleetgate tables: %w", err)
	}
	if !ok {
		for _, q := range d.ddl() {
			if _, err := db.ExecContext(ctx, q); err != nil {
				return fmt.Errorf("create fleetgate tables: %w", translate(err))
			}
		}
		// Another runner may have made the row meanwhile.
		var one int
		err = db.QueryRowContext(ctx, "SELECT 1 FROM "+d.lock+" WHERE name = ?", lockRow).Scan(&one)
		row = err == nil
		if errors.Is(err, sql.ErrNoRows) {
			err = nil
		}
	}
	if err == nil && !row {
		_, err = db.ExecContext(ctx, "INSERT IGNORE INTO "+d.lock+" (name) VALUES (?)", lockRow)
	}
	if err != nil {
		return fmt.Errorf("create the lock row: %w", translate(err))
	}
	return nil
}

// micros reads a TIMESTAMP column as Unix microseconds: exact, and the
// same whatever the connection's parseTime and time zone.
func micros(col string) string {
	return "CAST(UNIX_TIMESTAMP(" + col + ") * 1000000 AS SIGNED)"
}

func microTime(v sql.NullInt64) time.Time {
	if !v.Valid || v.Int64 == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// unixArg formats t for FROM_UNIXTIME as an exact decimal.
func unixArg(t time.Time) string {
	us := t.UnixMicro()
	sec, frac := us/1e6, us%1e6
	if frac < 0 {
		sec, frac = sec-1, frac+1e6
	}
	return fmt.Sprintf("%d.%06d", sec, frac)
}

func (d *Driver) ReadApplied(ctx context.Context, q driver.Querier, cols driver.Columns) ([]history.Applied, error) {
	h := driver.HistoryTable{Name: d.mig, AppliedAt: micros("applied_at"), Translate: translate,
		ScanAppliedAt: func() (any, func() time.Time) {
			var us sql.NullInt64
			return &us, func() time.Time { return microTime(us) }
		}}
	return h.Read(ctx, q, cols)
}

func (d *Driver) ReadEvents(ctx context.Context, q driver.Querier, version int64, since time.Time, limit int) ([]history.Event, error) {
	query := `SELECT id, ` + micros("at") + `, kind, coalesce(version, 0), coalesce(name, ''), coalesce(direction, ''),
		coalesce(error, ''), coalesce(statement, ''), coalesce(statement_line, 0), coalesce(file, ''), coalesce(duration_ms, 0),
		coalesce(lock_wait_ms, 0), db_user, coalesce(os_user, ''), coalesce(host, ''), coalesce(pid, 0),
		coalesce(deploy_id, ''), coalesce(fleetgate_version, ''), coalesce(lock_generation, 0)
		FROM ` + d.events + ` WHERE (? = 0 OR version = ?)`
	args := []any{version, version}
	if !since.IsZero() {
		query += ` AND at >= FROM_UNIXTIME(?)`
		args = append(args, unixArg(since))
	}
	query += " ORDER BY id DESC"
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.events, translate(err))
	}
	defer rows.Close()
	var out []history.Event
	for rows.Next() {
		var e history.Event
		var at sql.NullInt64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Version, &e.Name, &e.Direction, &e.Error, &e.Statement,
			&e.StatementLine, &e.File, &e.DurationMS, &e.LockWaitMS, &e.DBUser, &e.Actor.OSUser, &e.Actor.Host,
			&e.Actor.PID, &e.Actor.DeployID, &e.Actor.ToolVersion, &e.LockGeneration); err != nil {
			return nil, translate(err)
		}
		e.At = microTime(at)
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

// insertEvent appends ev. With a fence, the row goes in only while the
// fence's lease (token and generation) is still held, and a lease that
// moved on is ErrLockLost (see fencedFrom).
func (d *Driver) insertEvent(ctx context.Context, q driver.Querier, ev *history.Event, gen int64, fence *driver.Record) error {
	query, args := d.eventInsert(ev, gen, fence)
	res, err := q.ExecContext(ctx, query, args...)
	if err != nil {
		return translate(err)
	}
	return fenceHeld(res, fence)
}

// eventInsert is the statement that appends ev (see insertEvent), and its
// arguments.
func (d *Driver) eventInsert(ev *history.Event, gen int64, fence *driver.Record) (string, []any) {
	query := `INSERT INTO ` + d.events + ` (at, kind, version, name, direction, error, statement,
		statement_line, file, duration_ms, lock_wait_ms, db_user, os_user, host, pid, deploy_id, fleetgate_version, lock_generation)
		SELECT NOW(6), ?, NULLIF(?, 0), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, 0),
		NULLIF(?, ''), ?, ?, CURRENT_USER(), ?, ?, ?, ?, ?, NULLIF(?, 0)`
	args := []any{ev.Kind, ev.Version, ev.Name, ev.Direction, ev.Error, ev.Statement, ev.StatementLine, ev.File, ev.DurationMS,
		ev.LockWaitMS, ev.Actor.OSUser, ev.Actor.Host, ev.Actor.PID, ev.Actor.DeployID, ev.Actor.ToolVersion, gen}
	if fence != nil {
		query += d.fencedFrom()
		args = append(args, lockRow, fence.Token, fence.Generation)
	}
	return query, args
}

func (d *Driver) AppendEvent(ctx context.Context, q driver.Querier, ev *history.Event) error {
	if err := d.insertEvent(ctx, q, ev, ev.LockGeneration, nil); err != nil {
		return fmt.Errorf("append event: %w", err)
	}
	return nil
}

// SessionIsDirect asks the server for the client port of conn's session
// and compares it with the local ports of this process's own connections:
// through ProxySQL (or any proxy or NAT) the server sees another port, and
// the session may be shared or outlive us, so its death proves nothing. A
// Unix socket is not treated as direct.
//
// The answer is kept with the connection (the runner asks before every
// DDL statement): a session's client port does not change while its
// connection lives. A failed question is not kept.
func (d *Driver) SessionIsDirect(ctx context.Context, conn *sql.Conn) bool {
	var known int8
	sessionOf(conn, func(c *idConn) { known = c.direct })
	if known != 0 {
		return known > 0
	}
	var host sql.NullString
	err := conn.QueryRowContext(ctx, "SELECT HOST FROM information_schema.PROCESSLIST WHERE ID = CONNECTION_ID()").Scan(&host)
	if err != nil {
		return false
	}
	direct := false
	if i := strings.LastIndexByte(host.String, ':'); host.Valid && i >= 0 {
		port, err := strconv.Atoi(host.String[i+1:])
		direct = err == nil && ownPort(port)
	}
	sessionOf(conn, func(c *idConn) {
		c.direct = -1
		if direct {
			c.direct = 1
		}
	})
	return direct
}

// sessionOf calls f with the connection behind sc when it came from
// fleetgate's own connector (Open); a pool the caller opened has no such
// state, and every question then goes to the server.
func sessionOf(sc *sql.Conn, f func(c *idConn)) {
	_ = sc.Raw(func(dc any) error {
		if c, ok := dc.(*idConn); ok {
			f(c)
		}
		return nil
	})
}

// forgetSettings drops what is known of sc's session variables: a
// statement of the migration's own may have changed them (SET SESSION
// lock_wait_timeout = ...), so the next setting goes to the server.
func forgetSettings(sc *sql.Conn) {
	sessionOf(sc, func(c *idConn) { c.lockWait, c.idleTrx = 0, 0 })
}

// TryAcquire first reads the lease row without a lock, which also reads
// the holder: in a fleet most tries find the lease held, and then one
// statement answers, instead of a locking transaction of three and a read
// of the holder. Only a lease that looks free is tried for real
// (lease.go), where a current read decides again.
//
// The named lock that wakes waiters (wake.go) is left to the renewal
// (Renew, followWake): the lock package hands the acquiring session to
// the work at once (lock.Lease.TakeConn) and renews right away on the
// heartbeat's own session; when nobody takes the session, the heartbeat
// renews on it, and waiters poll until its first renewal.
func (d *Driver) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	cond, args := freeCond(p.StaleToken)
	free, h, err := d.readHolder(ctx, conn, cond, args...)
	if err != nil || !free && h != nil {
		return 0, h, err
	}
	gen, _, err := TryAcquire(ctx, conn, d.lock, lockRow, Acquire{Token: p.Token, Host: p.Actor.Host, PID: p.Actor.PID,
		DeployID: p.Actor.DeployID, TTL: p.TTL, StaleToken: p.StaleToken, SessionBound: p.SessionBound, LeaveWake: true})
	if err != nil {
		return 0, nil, translate(err)
	}
	if gen > 0 {
		return gen, nil, nil
	}
	h, err = d.ReadHolder(ctx, conn)
	return 0, h, err
}

func (d *Driver) Renew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error {
	return d.renew(ctx, conn, "IF(session_id IS NULL, NULL, CONNECTION_ID())", token, gen, ttl, current)
}

var _ driver.SessionBinder = (*Driver)(nil)

// BindRenew renews and binds the lease to conn's session, which the caller
// knows to be its own (see driver.SessionBinder); the named lock that
// wakes waiters follows (followWake). Until then a waiter finds no session
// to block on and polls.
func (d *Driver) BindRenew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error {
	return d.renew(ctx, conn, "CONNECTION_ID(), session_user = CURRENT_USER(), session_server = CONCAT(@@hostname, ':', @@port)", token, gen, ttl, current)
}

func (d *Driver) renew(ctx context.Context, conn *sql.Conn, session, token string, gen int64, ttl time.Duration, current int64) error {
	// Assignments run left to right on the row as updated so far, so the
	// start time is compared with the old current_version.
	res, err := conn.ExecContext(ctx, `UPDATE `+d.lock+` SET renewed_at = NOW(6), expires_at = NOW(6) + INTERVAL ? MICROSECOND,
		session_id = `+session+`,
		current_started_at = IF(current_version <=> NULLIF(?, 0), current_started_at, NOW(6)),
		current_version = NULLIF(?, 0)
		WHERE name = ? AND holder = ? AND generation = ?`, ttl.Microseconds(), current, current, lockRow, token, gen)
	if err != nil {
		d.wakeOn.CompareAndSwap(conn, nil)
		return fmt.Errorf("renew lock: %w", translate(err))
	}
	// Open sets found rows, so a matched row counts even if unchanged.
	if n, _ := res.RowsAffected(); n == 0 {
		d.wakeOn.CompareAndSwap(conn, nil)
		return driver.ErrLockLost
	}
	if d.wakeOn.Load() != conn && followWake(ctx, conn, d.lock, lockRow) {
		d.wakeOn.Store(conn)
	}
	return nil
}

// LetGoOfWake: see driver.ReleaseWaiter. Only a session that a renewal
// made take the named lock (wakeOn) can hold it, since TryAcquire leaves
// it alone; any other is not asked.
func (d *Driver) LetGoOfWake(ctx context.Context, conn *sql.Conn) {
	if d.wakeOn.CompareAndSwap(conn, nil) {
		dropWake(ctx, conn, d.lock, lockRow)
	}
}

func (d *Driver) Release(ctx context.Context, q driver.Querier, token string, gen int64) error {
	if c, ok := q.(*sql.Conn); ok {
		d.wakeOn.CompareAndSwap(c, nil)
	}
	return translate(Release(ctx, q, d.lock, lockRow, token, gen))
}

func (d *Driver) ReadHolder(ctx context.Context, q driver.Querier) (*driver.Holder, error) {
	_, h, err := d.readHolder(ctx, q, "FALSE")
	return h, err
}

// readHolder is ReadHolder that also evaluates the condition cond (with
// its arguments) on the lease row, in the same consistent read.
func (d *Driver) readHolder(ctx context.Context, q driver.Querier, cond string, args ...any) (bool, *driver.Holder, error) {
	var h driver.Holder
	var tok, host, dep sql.NullString
	var pid, sess, cur, acq, exp, curAt, now sql.NullInt64
	var ok bool
	err := q.QueryRowContext(ctx, `SELECT `+cond+`, holder, generation, host, pid, deploy_id, session_id, current_version, `+
		micros("acquired_at")+`, `+micros("expires_at")+`, `+micros("current_started_at")+`, `+micros("NOW(6)")+
		` FROM `+d.lock+` WHERE name = ?`, append(args, lockRow)...).
		Scan(&ok, &tok, &h.Generation, &host, &pid, &dep, &sess, &cur, &acq, &exp, &curAt, &now)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil, nil
	}
	if err != nil {
		return false, nil, fmt.Errorf("read lock holder: %w", translate(err))
	}
	if !tok.Valid {
		return ok, nil, nil
	}
	h.Token, h.Host, h.PID, h.DeployID = tok.String, host.String, int(pid.Int64), dep.String
	h.AcquiredAt, h.ExpiresAt, h.Now = microTime(acq), microTime(exp), microTime(now)
	h.CurrentVersion, h.CurrentStartedAt = cur.Int64, microTime(curAt)
	h.SessionBound = sess.Valid
	return ok, &h, nil
}

// Begin opens a transaction: a plain BEGIN goes out with the
// transaction's first statement (see tx.open), a file's own opening at
// once. The lock
// timeout bounds both kinds of lock wait a migration meets: metadata
// locks (lock_wait_timeout, an ALTER queued behind a long transaction)
// and row locks (innodb_lock_wait_timeout). Both take whole seconds on
// MySQL, so a timeout is rounded up to the next second. IdleTimeout
// becomes MariaDB's idle_transaction_timeout: a paused runner's session
// is ended by the server, and with it the row locks it holds; MySQL has
// no such setting, and the statement is skipped there.
func (d *Driver) Begin(ctx context.Context, conn *sql.Conn, opts *driver.TxOptions) (driver.Tx, error) {
	if opts != nil && opts.LockTimeout > 0 {
		if err := d.SetLockTimeout(ctx, conn, opts.LockTimeout); err != nil {
			return nil, err
		}
	}
	if opts != nil && opts.IdleTimeout > 0 {
		s, set := seconds(opts.IdleTimeout), 0
		sessionOf(conn, func(c *idConn) { set, c.idleTrx = c.idleTrx, 0 })
		if s != set {
			if _, err := conn.ExecContext(ctx, "SET SESSION idle_transaction_timeout = "+strconv.Itoa(s)); err != nil && mysqlErrorNumber(err) != erUnknownSystemVariable {
				return nil, fmt.Errorf("set idle_transaction_timeout: %w", translate(err))
			}
		}
		sessionOf(conn, func(c *idConn) { c.idleTrx = s })
	}
	// A plain BEGIN waits for the transaction's first statement, and a
	// transaction that has none but its record commits in one round trip
	// (tx.Commit).
	if opts == nil || opts.Begin == "" {
		return &tx{TxConn: driver.NewTxConn(conn, "BEGIN", translate), d: d}, nil
	}
	// A file's own opening (START TRANSACTION READ WRITE, or BEGIN and
	// SET TRANSACTION lines) arrives joined by ";\n"; go-sql-driver sends
	// one statement at a time.
	begin := strings.Split(opts.Begin, ";\n")
	forgetSettings(conn)
	for _, q := range begin {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			if len(begin) > 1 {
				_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
			}
			return nil, fmt.Errorf("begin: %w", translate(err))
		}
	}
	return &tx{TxConn: driver.NewTxConn(conn, "", translate), d: d}, nil
}

// SetLockTimeout bounds the lock waits of conn's session to timeout,
// rounded up to whole seconds (see Begin). The runner calls it before
// every DDL statement; a session that fleetgate set to the same value
// since the migration's own statements last ran is not asked again.
func (d *Driver) SetLockTimeout(ctx context.Context, conn *sql.Conn, timeout time.Duration) error {
	s, set := seconds(timeout), 0
	sessionOf(conn, func(c *idConn) { set, c.lockWait = c.lockWait, 0 })
	if s == set {
		sessionOf(conn, func(c *idConn) { c.lockWait = s })
		return nil
	}
	v := strconv.Itoa(s)
	if _, err := conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = "+v+", innodb_lock_wait_timeout = "+v); err != nil {
		return fmt.Errorf("set lock_wait_timeout: %w", translate(err))
	}
	sessionOf(conn, func(c *idConn) { c.lockWait = s })
	return nil
}

func seconds(d time.Duration) int { return max(1, int(math.Ceil(d.Seconds()))) }

// tx is a MySQL migration transaction. A DDL statement inside it commits
// the transaction implicitly; the executor never sends one through a tx
// on this engine (see the package comment), except inside a migration's
// own explicit BEGIN ... COMMIT block, which the MySQL checks flag.
type tx struct {
	*driver.TxConn
	d *Driver
}

// open sends the deferred BEGIN, on its own: go-sql-driver sends one
// statement per round trip on a migration's session.
func (t *tx) open(ctx context.Context) error {
	if t.Done() {
		return sql.ErrTxDone
	}
	if t.Take() != "" {
		if _, err := t.Conn().ExecContext(ctx, "BEGIN"); err != nil {
			t.End()
			return fmt.Errorf("begin: %w", translate(err))
		}
	}
	return nil
}

func (t *tx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if err := t.open(ctx); err != nil {
		return nil, err
	}
	return t.TxConn.ExecContext(ctx, query, args...)
}

func (t *tx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.open(ctx); err != nil {
		return nil, err
	}
	return t.TxConn.QueryContext(ctx, query, args...)
}

func (t *tx) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	_ = t.open(ctx) // a failure ends t, and TxConn then fails the query
	return t.TxConn.QueryRowContext(ctx, query, args...)
}

func (t *tx) Exec(ctx context.Context, stmt string) error {
	forgetSettings(t.Conn())
	_, err := t.ExecContext(ctx, stmt)
	return err
}

// Exec runs stmt in autocommit. A statement that commits implicitly
// (DDL) leaves the session's variables as they were, so what fleetgate
// set is still known after it; anything else may have changed them.
func (d *Driver) Exec(ctx context.Context, conn *sql.Conn, stmt string) error {
	if source.ImplicitCommit(stmt) == "" {
		forgetSettings(conn)
	}
	_, err := conn.ExecContext(ctx, stmt)
	return translate(err)
}

// fencedFrom ends an INSERT ... SELECT whose SELECT lists only values:
// it yields the one row to insert while the lease row still names this
// holder (name, token and generation are its three parameters), and none
// once the lease has moved on. FOR UPDATE makes it a locking read (of
// the newest version, whatever the session's isolation level) that holds
// the lease row until the statement's transaction ends, so nobody can
// take the lease over between the check and the commit (TryAcquire skips
// a locked row). It is the fence and the write in one statement: no
// separate round trip to check the lease, and no renewal either (the
// heartbeat renews; see internal/lock).
func (d *Driver) fencedFrom() string {
	return " FROM " + d.lock + " WHERE name = ? AND holder = ? AND generation = ? FOR UPDATE"
}

// fenceHeld turns the result of a fenced INSERT ... SELECT into
// ErrLockLost when it inserted (or, as an upsert, matched) nothing: the
// SELECT found the lease gone. Open sets found rows, so an upsert that
// leaves a row as it was still counts.
func fenceHeld(res sql.Result, fence *driver.Record) error {
	if fence == nil {
		return nil
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return driver.ErrLockLost
	}
	return nil
}

// fence checks the lease inside the open transaction for a record that
// writes no row to carry it (see fencedFrom). The UPDATE locks the lease
// row until the commit; zero matched rows means the lease was lost and
// nothing of the transaction may commit.
func (d *Driver) fence(ctx context.Context, q driver.Querier, rec *driver.Record) error {
	res, err := q.ExecContext(ctx, `UPDATE `+d.lock+` SET renewed_at = NOW(6), expires_at = NOW(6) + INTERVAL ? MICROSECOND,
		current_version = NULL, current_started_at = NULL WHERE name = ? AND holder = ? AND generation = ?`,
		rec.TTL.Microseconds(), lockRow, rec.Token, rec.Generation)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return driver.ErrLockLost
	}
	return nil
}

// upsertTail keeps one row per version moving from partial to complete,
// and never changes a complete row. MySQL assigns left to right on the
// row as updated so far, so complete, which every other assignment
// tests, comes last. It follows a fenced INSERT ... SELECT from the lease
// table, so its unqualified names must not be columns of that table too
// (none is).
var upsertTail = func() string {
	cols := []string{"statements_done", "lock_generation", "duration_ms", "applied_at", "checksum", "up_sql", "down_sql",
		"down_checksum", "reversible", "statement_checksums", "running_pid", "running_started", "complete"}
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = c + " = IF(complete, " + c + ", VALUES(" + c + "))"
	}
	return " ON DUPLICATE KEY UPDATE " + strings.Join(parts, ", ")
}()

// historyInsert is the fenced INSERT ... SELECT of rec.Applied (see
// write), and its arguments.
func (d *Driver) historyInsert(rec *driver.Record) (string, []any) {
	a := rec.Applied
	// The session that writes a Running row is the one that runs the
	// next statement; the server names it.
	running := "NULL, NULL"
	if a.Running {
		running = "CONNECTION_ID(), NOW(6)"
	}
	query := `INSERT INTO ` + d.mig + ` (version, name, checksum, phase, up_sql, down_sql, down_checksum, reversible,
		applied_at, duration_ms, db_user, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete,
		statements_done, adopted, statement_checksums, running_pid, running_started)
		SELECT ?, ?, ?, ?, ?, ?, ?, ?, NOW(6), ?, CURRENT_USER(), ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ` + running + d.fencedFrom()
	if driver.ReplacesPartial(a) {
		query += upsertTail
	}
	var down, downSum, sums any
	if a.HasDown {
		down, downSum = a.DownSQL, a.DownChecksum
	}
	if len(a.StatementChecksums) > 0 {
		sums = strings.Join(a.StatementChecksums, ",")
	}
	return query, []any{a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, down, downSum, a.HasDown,
		a.DurationMS, a.Actor.OSUser, a.Actor.Host, a.Actor.PID, a.Actor.DeployID, a.Actor.ToolVersion,
		rec.Generation, a.Complete, a.StatementsDone, a.Adopted, sums, lockRow, rec.Token, rec.Generation}
}

// write records rec, fenced: its first row goes in with a fenced
// INSERT ... SELECT (fencedFrom), which also locks the lease row for the
// rest of the transaction, so what follows needs no fence of its own.
// Only a record without rows costs a separate fence.
func (d *Driver) write(ctx context.Context, q driver.Querier, rec *driver.Record) error {
	fence := rec
	if rec.Applied != nil {
		query, args := d.historyInsert(rec)
		res, err := q.ExecContext(ctx, query, args...)
		if err != nil {
			return translate(err)
		}
		if err := fenceHeld(res, fence); err != nil {
			return err
		}
		fence = nil
	}
	if rec.Event != nil {
		if err := d.insertEvent(ctx, q, rec.Event, rec.Generation, fence); err != nil {
			return err
		}
		fence = nil
	}
	if fence != nil {
		return d.fence(ctx, q, fence)
	}
	return nil
}

// Commit writes rec and commits. A transaction that ran nothing else (a
// DDL migration's record, after its statements committed on their own)
// goes out whole in one round trip: BEGIN, the fenced rows and COMMIT,
// on the side session kept for fleetgate's own batches (idConn.batch),
// instead of four. Every row of it is fenced there, so that a lost lease
// leaves the COMMIT nothing to commit.
func (t *tx) Commit(ctx context.Context, rec *driver.Record) error {
	if !t.Opened() && !t.Done() && (rec.Applied != nil || rec.Event != nil) {
		var sent bool
		var err error
		sessionOf(t.Conn(), func(c *idConn) { sent, err = t.d.commitBatch(ctx, c, rec) })
		if sent {
			t.End()
			return err
		}
	}
	return t.CommitAfter(ctx, t, func() error { return t.d.write(ctx, t, rec) })
}

// commitBatch is Commit's one round trip (see there); sent is false when
// nothing reached the server.
func (d *Driver) commitBatch(ctx context.Context, c *idConn, rec *driver.Record) (sent bool, err error) {
	q, args, rows := "BEGIN", []any(nil), 0
	if rec.Applied != nil {
		hq, ha := d.historyInsert(rec)
		q, args, rows = q+";\n"+hq, append(args, ha...), rows+1
	}
	if rec.Event != nil {
		eq, ea := d.eventInsert(rec.Event, rec.Generation, rec)
		q, args, rows = q+";\n"+eq, append(args, ea...), rows+1
	}
	affected, sent, err := c.batch(ctx, q+";\nCOMMIT", args)
	if !sent {
		return false, nil
	}
	switch mysqlErrorNumber(err) {
	case erParse, erNotSupported:
		// A server or proxy that refuses several statements at once:
		// nothing ran, and this session commits one statement at a time.
		c.batcher = nil
		return false, nil
	case erLockWaitTimeout, erDeadlock:
		// Rolled back. What it waited for is most likely a transaction the
		// migration's own statements left open on its session (SET
		// autocommit = 0), which only that session can pass.
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("commit: %w", translate(err))
	}
	if len(affected) != rows+2 {
		return true, fmt.Errorf("commit: %d results for %d statements", len(affected), rows+2)
	}
	// BEGIN, then each fenced row: none where the lease has moved on.
	for _, n := range affected[1 : rows+1] {
		if n == 0 {
			return true, driver.ErrLockLost
		}
	}
	return true, nil
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.Done() {
		return nil
	}
	t.End()
	if !t.Opened() {
		return nil // BEGIN never went out
	}
	_, err := t.Conn().ExecContext(ctx, "ROLLBACK")
	return translate(err)
}

func (t *tx) DeleteApplied(ctx context.Context, version int64) error {
	if _, err := t.ExecContext(ctx, "DELETE FROM "+t.d.mig+" WHERE version = ?", version); err != nil {
		return fmt.Errorf("delete history row %d: %w", version, err)
	}
	return nil
}

func (t *tx) DeleteProgress(ctx context.Context, version int64) error {
	res, err := t.ExecContext(ctx, "DELETE FROM "+t.d.mig+" WHERE version = ? AND NOT complete", version)
	if err != nil {
		return fmt.Errorf("delete history row %d: %w", version, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("delete history row %d: no partly applied row of that version", version)
	}
	return nil
}

// SaveProgress records a partly applied migration. A record of one row
// is one fenced autocommit statement (write): the statement is its own
// transaction, and its fence holds the lease row until it commits. One
// with an event too takes a transaction, so that both or neither land.
func (d *Driver) SaveProgress(ctx context.Context, conn *sql.Conn, rec *driver.Record) error {
	if rec.Applied != nil && rec.Event == nil {
		if err := d.write(ctx, conn, rec); err != nil {
			if errors.Is(err, driver.ErrLockLost) {
				return err
			}
			return fmt.Errorf("record progress: %w", err)
		}
		return nil
	}
	tx, err := d.Begin(ctx, conn, nil)
	if err != nil {
		return err
	}
	if err := tx.Commit(ctx, rec); err != nil {
		if errors.Is(err, driver.ErrLockLost) {
			return err
		}
		return fmt.Errorf("record progress: %w", err)
	}
	return nil
}

func (d *Driver) ReadProgress(ctx context.Context, q driver.Querier, version int64) (driver.Progress, bool, error) {
	var p driver.Progress
	var sums sql.NullString
	var pid, started sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT statements_done, statement_checksums, running_pid, `+micros("running_started")+`
		FROM `+d.mig+` WHERE version = ? AND NOT complete`, version).Scan(&p.StatementsDone, &sums, &pid, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read progress of %d: %w", version, translate(err))
	}
	if sums.String != "" {
		p.StatementChecksums = strings.Split(sums.String, ",")
	}
	p.RunningPID, p.RunningStart = int(pid.Int64), microTime(started)
	return p, true, nil
}

// KeepSession lifts wait_timeout for this session alone: the lock's own
// session idles between renewals and polls by design.
func (d *Driver) KeepSession(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "SET SESSION wait_timeout = 31536000"); err != nil {
		return fmt.Errorf("lift wait_timeout: %w", translate(err))
	}
	return nil
}

// StatementRunning looks the recorded session up in the process list: it
// is alive when a session of that id exists and the server has not
// restarted since it was recorded (ids start again from 1 after a
// restart), and active while it executes a statement. Any other session
// executing exactly stmt is reported too: through a proxy the recorded id
// may not be the one that runs it.
func (d *Driver) StatementRunning(ctx context.Context, q driver.Querier, pid int, started time.Time, stmt string) (alive, active bool, others []int, err error) {
	var uptime int64
	if err := q.QueryRowContext(ctx, `SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'UPTIME'`).Scan(&uptime); err != nil {
		// MySQL 8 moved it to performance_schema.
		if err2 := q.QueryRowContext(ctx, `SELECT VARIABLE_VALUE FROM performance_schema.global_status WHERE VARIABLE_NAME = 'Uptime'`).Scan(&uptime); err2 != nil {
			return false, false, nil, fmt.Errorf("read the server's uptime: %w", translate(err))
		}
	}
	var now sql.NullInt64
	if err := q.QueryRowContext(ctx, "SELECT "+micros("NOW(6)")).Scan(&now); err != nil {
		return false, false, nil, fmt.Errorf("read the server clock: %w", translate(err))
	}
	restarted := !started.IsZero() && microTime(now).Add(-time.Duration(uptime+1)*time.Second).After(started)
	rows, err := q.QueryContext(ctx, `SELECT ID, ID = ?, COMMAND = 'Query' AND INFO IS NOT NULL FROM information_schema.PROCESSLIST
		WHERE ID <> CONNECTION_ID() AND (ID = ? OR (COMMAND = 'Query' AND INFO = ?))`, pid, pid, stmt)
	if err != nil {
		return false, false, nil, fmt.Errorf("look for the session running the statement: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var id int
		var rec, act bool
		if err := rows.Scan(&id, &rec, &act); err != nil {
			return false, false, nil, translate(err)
		}
		if rec && !restarted {
			alive, active = true, act
		} else if act {
			others = append(others, id)
		}
	}
	return alive, active, others, translate(rows.Err())
}

// TerminateBackend ends the session with KILL CONNECTION: the executor
// calls it for an interrupted runner's idle session, which could
// otherwise still send the statement. Error 1094 (no such thread) means
// it has ended already.
func (d *Driver) TerminateBackend(ctx context.Context, q driver.Querier, pid int) error {
	if _, err := q.ExecContext(ctx, "KILL CONNECTION "+strconv.Itoa(pid)); err != nil && mysqlErrorNumber(err) != erNoSuchThread {
		return fmt.Errorf("kill session %d: %w", pid, translate(err))
	}
	return nil
}
