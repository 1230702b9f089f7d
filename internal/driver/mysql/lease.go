package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// The lease lock on MySQL and MariaDB is the same fenced lease row as on
// PostgreSQL (docs/lock.md): one row per lock, holding the holder's token,
// a generation that every acquisition increments, and an expiry the holder
// renews. A runner proves it still holds the lock inside each migration
// transaction by locking its row with a current read (Fence); from then
// until the commit nobody can take the lock over, and a runner that lost it
// finds out before it commits anything.
//
// The guard is never GET_LOCK: a named lock belongs to one connection, so
// it silently changes hands behind ProxySQL's multiplexing, is unsupported
// on Galera and restricted on Vitess. A holder on a session of its own
// holds one beside the lease only to wake the waiters at its release
// (wake.go).
//
// A lease may also record the holder's session, CONNECTION_ID(), so that a
// waiter can take over soon after that session ends instead of waiting for
// the expiry. It judges the session gone only where it can see it in the
// process list: on the same server, and as the same account or one with the
// PROCESS privilege; otherwise the lease alone decides.

// ErrLeaseLost means the token no longer holds the lease: it expired and
// was taken over, or was released.
var ErrLeaseLost = errors.New("lost the migration lock")

// LeaseTableDDL creates the lease table named table (already quoted) with
// the row of lock name, which must be a safe SQL literal's content. TIMESTAMP
// columns, not DATETIME, so that sessions with different time zones compare
// the same instants; NULL DEFAULT NULL stops MariaDB's automatic
// initialisation of the first TIMESTAMP column.
func LeaseTableDDL(table string) []string {
	return []string{`CREATE TABLE IF NOT EXISTS ` + table + ` (
	name VARCHAR(64) NOT NULL PRIMARY KEY,
	holder VARCHAR(128) NULL,
	generation BIGINT NOT NULL DEFAULT 0,
	host VARCHAR(255) NULL,
	pid INT NULL,
	deploy_id VARCHAR(255) NULL,
	session_id BIGINT UNSIGNED NULL,
	session_user VARCHAR(400) NULL,
	session_server VARCHAR(300) NULL,
	acquired_at TIMESTAMP(6) NULL DEFAULT NULL,
	renewed_at TIMESTAMP(6) NULL DEFAULT NULL,
	expires_at TIMESTAMP(6) NULL DEFAULT NULL,
	current_version BIGINT NULL,
	current_started_at TIMESTAMP(6) NULL DEFAULT NULL
) ENGINE=InnoDB`}
}

// EnsureLease creates the table and the lock's row if they are missing.
func EnsureLease(ctx context.Context, db execer, table, lock string) error {
	for _, q := range LeaseTableDDL(table) {
		if _, err := db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("create lock table: %w", err)
		}
	}
	if _, err := db.ExecContext(ctx, `INSERT IGNORE INTO `+table+` (name) VALUES (?)`, lock); err != nil {
		return fmt.Errorf("create lock row: %w", err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

type querier interface {
	execer
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// Acquire says who is asking for the lease.
type Acquire struct {
	Token    string
	Host     string
	PID      int
	DeployID string
	TTL      time.Duration
	// StaleToken is a holder the caller has proven dead by other means; it
	// may be taken over before its lease runs out.
	StaleToken string
	// SessionBound records conn's CONNECTION_ID() so that waiters may take
	// over once that session has ended (see above). Only for a connection
	// that is the caller's own, not one a proxy multiplexes.
	SessionBound bool
	// LeaveWake leaves the named lock that wakes waiters (wake.go) to the
	// first renewal instead of taking it on conn: for a caller that hands
	// conn to other work at once and renews on another session, where
	// taking it here would cost two statements and wake the waiters for
	// nothing.
	LeaveWake bool
}

// Holder is the current holder of a lease.
type Holder struct {
	Token      string
	Generation int64
	Host       string
	PID        int
	DeployID   string
	ExpiresAt  time.Time
	SessionID  int64 // 0 when the lease is not session-bound
}

// sessionGrace is the longest a lease whose session has ended is still
// respected: a runner whose session was killed under it (a timeout, a
// failover) renews on a new session within its heartbeat, well inside it.
const sessionGrace = 5 * time.Second

// freeCond is the SQL condition on the lease row under which the lease
// may be taken by a runner that has proven stale dead (see TryAcquire),
// and its arguments.
func freeCond(stale string) (string, []any) {
	return `(holder IS NULL OR expires_at IS NULL OR expires_at < NOW(6) OR holder = ?
		OR (session_id IS NOT NULL
			AND renewed_at < NOW(6) - INTERVAL LEAST(TIMESTAMPDIFF(MICROSECOND, renewed_at, expires_at) DIV 2, ?) MICROSECOND
			AND session_server = CONCAT(@@hostname, ':', @@port)
			AND (session_user = CURRENT_USER() OR EXISTS (SELECT 1 FROM information_schema.USER_PRIVILEGES
				WHERE PRIVILEGE_TYPE = 'PROCESS' AND GRANTEE = CONCAT('''', SUBSTRING_INDEX(CURRENT_USER(), '@', 1), '''@''', SUBSTRING_INDEX(CURRENT_USER(), '@', -1), '''')))
			AND NOT EXISTS (SELECT 1 FROM information_schema.PROCESSLIST p WHERE p.ID = session_id)))`,
		[]any{stale, sessionGrace.Microseconds()}
}

// TryAcquire takes the lease for a.Token if it is free, expired, held by
// a.StaleToken, or held by a session that has ended (see above) and not
// renewed for half its length or sessionGrace, whichever is less. It never
// waits: the row is read with SKIP LOCKED, so a holder's open migration
// transaction (which locks the row, see Fence) makes it report the lease
// busy at once instead of queueing behind it. It returns the new
// generation, or 0 and the holder when the lease is taken (the holder may
// be nil when it is busy committing).
//
// SKIP LOCKED needs MariaDB 10.6 or MySQL 8.0.
func TryAcquire(ctx context.Context, conn *sql.Conn, table, lock string, a Acquire) (int64, *Holder, error) {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return 0, nil, fmt.Errorf("try lock: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	// One current read decides. The process list is consulted only where
	// this session can see the holder's session: same server, and the same
	// account or the PROCESS privilege.
	var free bool
	cond, args := freeCond(a.StaleToken)
	err = tx.QueryRowContext(ctx, `SELECT `+cond+` FROM `+table+` WHERE name = ? FOR UPDATE SKIP LOCKED`,
		append(args, lock)...).Scan(&free)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		// The row is locked by the holder's open migration transaction
		// (EnsureLease has made sure that it exists).
		_ = tx.Rollback()
		h, err := ReadHolder(ctx, conn, table, lock)
		return 0, h, err
	case err != nil:
		return 0, nil, fmt.Errorf("try lock: %w", err)
	case !free:
		_ = tx.Rollback()
		h, err := ReadHolder(ctx, conn, table, lock)
		return 0, h, err
	}
	session := "NULL"
	if a.SessionBound {
		session = "CONNECTION_ID()"
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET holder = ?, generation = generation + 1, host = ?, pid = ?, deploy_id = ?,
		session_id = `+session+`, session_user = CURRENT_USER(), session_server = CONCAT(@@hostname, ':', @@port),
		acquired_at = NOW(6), renewed_at = NOW(6), expires_at = NOW(6) + INTERVAL ? MICROSECOND,
		current_version = NULL, current_started_at = NULL
		WHERE name = ?`, a.Token, a.Host, a.PID, a.DeployID, a.TTL.Microseconds(), lock); err != nil {
		return 0, nil, fmt.Errorf("try lock: %w", err)
	}
	var gen int64
	if err := tx.QueryRowContext(ctx, `SELECT generation FROM `+table+` WHERE name = ?`, lock).Scan(&gen); err != nil {
		return 0, nil, fmt.Errorf("try lock: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, nil, fmt.Errorf("try lock: commit: %w", err)
	}
	if a.SessionBound && !a.LeaveWake {
		// Only after the commit: a waiter woken by the named lock must
		// find the lease row already ours (wake.go).
		holdWake(ctx, conn, table, lock)
	}
	return gen, nil, nil
}

// Renew extends the lease by ttl and, for a session-bound lease, rebinds it
// to conn's session (the heartbeat may renew on a new session after its old
// one was killed). ErrLeaseLost when token no longer holds generation gen.
// It is one autocommitted statement; it waits only while the holder's own
// migration transaction holds the row, which is the same runner.
func Renew(ctx context.Context, conn *sql.Conn, table, lock, token string, gen int64, ttl time.Duration) error {
	// ROW_COUNT() counts changed rows; renewed_at always changes (to the
	// microsecond), and a matched row is what matters, so the check reads
	// the row back under the same statement's lock instead.
	res, err := conn.ExecContext(ctx, `UPDATE `+table+` SET renewed_at = NOW(6), expires_at = NOW(6) + INTERVAL ? MICROSECOND,
		session_id = IF(session_id IS NULL, NULL, CONNECTION_ID())
		WHERE name = ? AND holder = ? AND generation = ?`, ttl.Microseconds(), lock, token, gen)
	if err != nil {
		return fmt.Errorf("renew lock: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n > 0 {
		return nil
	}
	// Zero changed rows: either lost, or renewed twice in one microsecond.
	h, err := ReadHolder(ctx, conn, table, lock)
	if err != nil {
		return err
	}
	if h == nil || h.Token != token || h.Generation != gen {
		return ErrLeaseLost
	}
	return nil
}

// Release frees the lease if token still holds generation gen. On the
// holder's own session (a *sql.Conn) it then lets go of the named lock
// that wakes the waiters (wake.go): after the row, so that a waiter it
// wakes finds the lease free.
func Release(ctx context.Context, q execer, table, lock, token string, gen int64) error {
	_, err := q.ExecContext(ctx, `UPDATE `+table+` SET holder = NULL, session_id = NULL, expires_at = NULL,
		current_version = NULL, current_started_at = NULL
		WHERE name = ? AND holder = ? AND generation = ?`, lock, token, gen)
	if err != nil {
		return fmt.Errorf("release lock: %w", err)
	}
	if c, ok := q.(*sql.Conn); ok {
		dropWake(ctx, c, table, lock)
	}
	return nil
}

// Fence proves, inside the migration transaction tx, that token still
// holds generation gen, and keeps it so until tx ends: the current read
// locks the lease row, so no waiter can take the lease over before tx
// commits (TryAcquire skips the locked row). It also renews the lease by
// ttl. ErrLeaseLost when the token no longer holds it: the caller must roll
// back, and nothing of the transaction is committed. Call it just before the
// commit: while the row is locked, waiters see the lease as busy whatever
// its expiry.
//
// FenceColumn gives the same guarantee inside a single INSERT, enforced by
// the server.
func Fence(ctx context.Context, tx *sql.Tx, table, lock, token string, gen int64, ttl time.Duration) error {
	var got int64
	err := tx.QueryRowContext(ctx, `SELECT generation FROM `+table+` WHERE name = ? AND holder = ? AND generation = ? FOR UPDATE`,
		lock, token, gen).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrLeaseLost
	}
	if err != nil {
		return fmt.Errorf("check lock: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE `+table+` SET renewed_at = NOW(6), expires_at = NOW(6) + INTERVAL ? MICROSECOND
		WHERE name = ? AND holder = ? AND generation = ?`, ttl.Microseconds(), lock, token, gen); err != nil {
		return fmt.Errorf("renew lock: %w", err)
	}
	return nil
}

// FenceColumn is an SQL expression for a NOT NULL column of a history row:
// the lease's generation while token holds it, else NULL, which MySQL
// refuses in a single-row INSERT (error 1048) in any sql_mode. Its three
// placeholders take lock, token and gen. After Fence it cannot be NULL; on
// its own it is the database's own check that the row is written by the
// holder.
func FenceColumn(table string) string {
	return `(SELECT generation FROM ` + table + ` WHERE name = ? AND holder = ? AND generation = ? FOR UPDATE)`
}

// IsFenceViolation reports whether err is the error FenceColumn causes when
// the token no longer holds the lease.
func IsFenceViolation(err error) bool { return mysqlErrorNumber(err) == 1048 }

// ReadHolder returns the lease's holder, nil when it is free. It is a
// consistent read and never waits.
func ReadHolder(ctx context.Context, q querier, table, lock string) (*Holder, error) {
	var h Holder
	var tok, host, dep sql.NullString
	var pid, sess sql.NullInt64
	var exp sql.NullFloat64
	// UNIX_TIMESTAMP, so that the result does not depend on the connection's
	// parseTime setting or time zone.
	err := q.QueryRowContext(ctx, `SELECT holder, generation, host, pid, deploy_id, UNIX_TIMESTAMP(expires_at), session_id FROM `+table+` WHERE name = ?`, lock).
		Scan(&tok, &h.Generation, &host, &pid, &dep, &exp, &sess)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock holder: %w", err)
	}
	if !tok.Valid {
		return nil, nil
	}
	h.Token, h.Host, h.PID, h.DeployID, h.SessionID = tok.String, host.String, int(pid.Int64), dep.String, sess.Int64
	if exp.Valid {
		h.ExpiresAt = time.UnixMicro(int64(exp.Float64 * 1e6))
	}
	return &h, nil
}
