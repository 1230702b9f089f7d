// Package sqlite is fleetgate's SQLite driver. SQLite has one writer at a
// time: every migration runs in BEGIN IMMEDIATE, so it holds the write lock
// from its first statement, and every connection carries a busy timeout. The
// lease row on top of that gives waiting runners a holder to report and
// keeps the protocol the same as PostgreSQL's.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

const lockName = "migrate"

// nowMS is the database clock in Unix milliseconds. Times are stored as
// integers so that no driver-specific time parsing is involved.
const nowMS = `CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER)`

// Driver implements driver.Driver for SQLite 3.35+ (RETURNING).
type Driver struct {
	mig, events, lock string
	instances         string
	// migName and schemaName are the history table's unquoted name and
	// attached database, for pragma_table_info.
	migName, schemaName string
}

var _ driver.Driver = (*Driver)(nil)

// New returns a driver for the given tables. A schema is an attached
// database name in SQLite.
func New(t driver.Tables) *Driver {
	q := func(n string) string {
		if t.Schema != "" {
			return quoteIdent(t.Schema) + "." + quoteIdent(n)
		}
		return quoteIdent(n)
	}
	return &Driver{mig: q(t.Migrations), events: q(t.Events), lock: q(t.Lock), instances: q(t.Instances),
		migName: t.Migrations, schemaName: t.Schema}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func (d *Driver) Dialect() dialect.Dialect { return dialect.SQLite }

func (d *Driver) TablesExist(ctx context.Context, q driver.Querier) (bool, error) {
	for _, t := range []string{d.mig, d.events, d.lock} {
		var one int
		err := q.QueryRowContext(ctx, "SELECT 1 FROM "+t+" LIMIT 0").Scan(&one)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			if strings.Contains(err.Error(), "no such table") {
				return false, nil
			}
			return false, translate(err)
		}
	}
	return true, nil
}

// EnsureTables runs in one IMMEDIATE transaction, which serialises
// concurrent bootstraps on SQLite's write lock.
func (d *Driver) EnsureTables(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	ddl := `BEGIN IMMEDIATE;
CREATE TABLE IF NOT EXISTS ` + d.mig + ` (
	version INTEGER PRIMARY KEY,
	name TEXT NOT NULL,
	checksum TEXT NOT NULL,
	phase TEXT NOT NULL DEFAULT 'pre',
	up_sql TEXT NOT NULL,
	down_sql TEXT,
	down_checksum TEXT,
	reversible INTEGER NOT NULL,
	applied_at INTEGER NOT NULL,
	duration_ms INTEGER NOT NULL DEFAULT 0,
	db_user TEXT NOT NULL DEFAULT '',
	os_user TEXT NOT NULL,
	host TEXT NOT NULL,
	pid INTEGER NOT NULL,
	deploy_id TEXT NOT NULL,
	fleetgate_version TEXT NOT NULL,
	lock_generation INTEGER NOT NULL,
	complete INTEGER NOT NULL DEFAULT 1,
	statements_done INTEGER NOT NULL DEFAULT 0,
	adopted INTEGER NOT NULL DEFAULT 0,
	statement_checksums TEXT
);
CREATE TABLE IF NOT EXISTS ` + d.events + ` (
	id INTEGER PRIMARY KEY AUTOINCREMENT,
	at INTEGER NOT NULL,
	kind TEXT NOT NULL,
	version INTEGER,
	name TEXT,
	direction TEXT,
	error TEXT,
	statement TEXT,
	statement_line INTEGER,
	file TEXT,
	duration_ms INTEGER,
	lock_wait_ms INTEGER,
	db_user TEXT NOT NULL DEFAULT '',
	os_user TEXT,
	host TEXT,
	pid INTEGER,
	deploy_id TEXT,
	fleetgate_version TEXT,
	lock_generation INTEGER
);
CREATE TABLE IF NOT EXISTS ` + d.lock + ` (
	name TEXT PRIMARY KEY,
	holder TEXT,
	generation INTEGER NOT NULL DEFAULT 0,
	host TEXT,
	pid INTEGER,
	deploy_id TEXT,
	acquired_at INTEGER,
	renewed_at INTEGER,
	expires_at INTEGER,
	current_version INTEGER,
	current_started_at INTEGER
);
INSERT OR IGNORE INTO ` + d.lock + ` (name) VALUES ('` + lockName + `');`
	fail := func(err error) error {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return fmt.Errorf("create fleetgate tables: %w", translate(err))
	}
	if _, err := conn.ExecContext(ctx, ddl); err != nil {
		return fail(err)
	}
	// A table created by an older release lacks the columns added since;
	// SQLite has no ADD COLUMN IF NOT EXISTS, so look first (in the same
	// write transaction, so two runners cannot both add it).
	var n int
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM pragma_table_info(?, ?) WHERE name = 'statement_checksums'",
		d.migName, d.schema()).Scan(&n); err != nil {
		return fail(err)
	}
	if n == 0 {
		if _, err := conn.ExecContext(ctx, "ALTER TABLE "+d.mig+" ADD COLUMN statement_checksums TEXT"); err != nil {
			return fail(err)
		}
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fail(err)
	}
	return nil
}

func (d *Driver) schema() string {
	if d.schemaName == "" {
		return "main"
	}
	return d.schemaName
}

func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (d *Driver) ReadApplied(ctx context.Context, q driver.Querier, cols driver.Columns) ([]history.Applied, error) {
	h := driver.HistoryTable{Name: d.mig, AppliedAt: "applied_at", Translate: translate,
		ScanAppliedAt: func() (any, func() time.Time) {
			var ms int64
			return &ms, func() time.Time { return msTime(ms) }
		}}
	return h.Read(ctx, q, cols)
}

func (d *Driver) ReadEvents(ctx context.Context, q driver.Querier, version int64, since time.Time, limit int) ([]history.Event, error) {
	query := `SELECT id, at, kind, coalesce(version, 0), coalesce(name, ''), coalesce(direction, ''), coalesce(error, ''),
		coalesce(statement, ''), coalesce(statement_line, 0), coalesce(file, ''), coalesce(duration_ms, 0),
		coalesce(lock_wait_ms, 0), db_user, coalesce(os_user, ''), coalesce(host, ''), coalesce(pid, 0),
		coalesce(deploy_id, ''), coalesce(fleetgate_version, ''), coalesce(lock_generation, 0)
		FROM ` + d.events + ` WHERE (?1 = 0 OR version = ?1) AND at >= ?2 ORDER BY id DESC`
	if limit > 0 {
		query += " LIMIT " + strconv.Itoa(limit)
	}
	var sinceMS int64
	if !since.IsZero() {
		sinceMS = since.UnixMilli()
	}
	rows, err := q.QueryContext(ctx, query, version, sinceMS)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", d.events, translate(err))
	}
	defer rows.Close()
	var out []history.Event
	for rows.Next() {
		var e history.Event
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Kind, &e.Version, &e.Name, &e.Direction, &e.Error, &e.Statement,
			&e.StatementLine, &e.File, &e.DurationMS, &e.LockWaitMS, &e.DBUser, &e.Actor.OSUser, &e.Actor.Host,
			&e.Actor.PID, &e.Actor.DeployID, &e.Actor.ToolVersion, &e.LockGeneration); err != nil {
			return nil, translate(err)
		}
		e.At = msTime(at)
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

func (d *Driver) AppendEvent(ctx context.Context, q driver.Querier, ev *history.Event) error {
	_, err := q.ExecContext(ctx, `INSERT INTO `+d.events+` (at, kind, version, name, direction, error, statement,
		statement_line, file, duration_ms, lock_wait_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation)
		VALUES (`+nowMS+`, ?, nullif(?, 0), nullif(?, ''), nullif(?, ''), nullif(?, ''), nullif(?, ''), nullif(?, 0),
		nullif(?, ''), ?, ?, ?, ?, ?, ?, ?, nullif(?, 0))`,
		ev.Kind, ev.Version, ev.Name, ev.Direction, ev.Error, ev.Statement, ev.StatementLine, ev.File, ev.DurationMS,
		ev.LockWaitMS, ev.Actor.OSUser, ev.Actor.Host, ev.Actor.PID, ev.Actor.DeployID, ev.Actor.ToolVersion, ev.LockGeneration)
	if err != nil {
		return fmt.Errorf("append event: %w", translate(err))
	}
	return nil
}

// SessionIsDirect is false: an SQLite "session" is a file handle, and the
// lock package checks a same-host holder's process instead.
func (d *Driver) SessionIsDirect(context.Context, *sql.Conn) bool { return false }

func (d *Driver) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	// Look before writing: a read never waits for the write lock that a
	// running migration holds, so waiters poll without queueing on it.
	h, err := d.ReadHolder(ctx, conn)
	if err != nil {
		return 0, nil, err
	}
	if h != nil && h.ExpiresAt.After(h.Now) && h.Token != p.StaleToken {
		return 0, h, nil
	}
	var gen int64
	err = conn.QueryRowContext(ctx, `UPDATE `+d.lock+` SET holder = ?1, generation = generation + 1, host = ?2, pid = ?3,
		deploy_id = ?4, acquired_at = `+nowMS+`, renewed_at = `+nowMS+`, expires_at = `+nowMS+` + ?5,
		current_version = NULL, current_started_at = NULL
		WHERE name = ?6 AND (holder IS NULL OR expires_at < `+nowMS+` OR holder = ?7) RETURNING generation`,
		p.Token, p.Actor.Host, p.Actor.PID, p.Actor.DeployID, p.TTL.Milliseconds(), lockName, p.StaleToken).Scan(&gen)
	if err == nil {
		return gen, nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) && !isBusy(err) {
		return 0, nil, fmt.Errorf("try lock: %w", translate(err))
	}
	h, err = d.ReadHolder(ctx, conn)
	return 0, h, err
}

func (d *Driver) Renew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error {
	res, err := conn.ExecContext(ctx, `UPDATE `+d.lock+` SET renewed_at = `+nowMS+`, expires_at = `+nowMS+` + ?1,
		current_started_at = CASE WHEN current_version IS nullif(?2, 0) THEN current_started_at ELSE `+nowMS+` END,
		current_version = nullif(?2, 0) WHERE name = ?3 AND holder = ?4 AND generation = ?5`,
		ttl.Milliseconds(), current, lockName, token, gen)
	if err != nil {
		return fmt.Errorf("renew lock: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return driver.ErrLockLost
	}
	return nil
}

func (d *Driver) Release(ctx context.Context, q driver.Querier, token string, gen int64) error {
	_, err := q.ExecContext(ctx, `UPDATE `+d.lock+` SET holder = NULL, expires_at = NULL, current_version = NULL,
		current_started_at = NULL WHERE name = ? AND holder = ? AND generation = ?`, lockName, token, gen)
	if err != nil {
		return fmt.Errorf("release lock: %w", translate(err))
	}
	return nil
}

func (d *Driver) ReadHolder(ctx context.Context, q driver.Querier) (*driver.Holder, error) {
	var h driver.Holder
	var tok, host, dep sql.NullString
	var pid, acq, exp, cur, curAt sql.NullInt64
	var now int64
	err := q.QueryRowContext(ctx, `SELECT holder, generation, host, pid, deploy_id, acquired_at, expires_at,
		current_version, current_started_at, `+nowMS+` FROM `+d.lock+` WHERE name = ?`, lockName).
		Scan(&tok, &h.Generation, &host, &pid, &dep, &acq, &exp, &cur, &curAt, &now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read lock holder: %w", translate(err))
	}
	if !tok.Valid {
		return nil, nil
	}
	h.Token, h.Host, h.PID, h.DeployID = tok.String, host.String, int(pid.Int64), dep.String
	h.AcquiredAt, h.ExpiresAt, h.Now = msTime(acq.Int64), msTime(exp.Int64), msTime(now)
	h.CurrentVersion, h.CurrentStartedAt = cur.Int64, msTime(curAt.Int64)
	return &h, nil
}

func (d *Driver) Begin(ctx context.Context, conn *sql.Conn, _ *driver.TxOptions) (driver.Tx, error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return nil, fmt.Errorf("begin: %w", translate(err))
	}
	return &tx{TxConn: driver.NewTxConn(conn, "", translate), d: d}, nil
}

// tx is a SQLite migration transaction, opened IMMEDIATE.
type tx struct {
	*driver.TxConn
	d *Driver
}

func (t *tx) Exec(ctx context.Context, stmt string) error {
	_, err := t.ExecContext(ctx, stmt)
	return err
}

func (d *Driver) Exec(ctx context.Context, conn *sql.Conn, stmt string) error {
	_, err := conn.ExecContext(ctx, stmt)
	return translate(err)
}

// fence renews the lease inside the open transaction; zero rows means the
// lock was taken over and the transaction must not commit.
func (d *Driver) fence(ctx context.Context, conn driver.Querier, rec *driver.Record) error {
	res, err := conn.ExecContext(ctx, `UPDATE `+d.lock+` SET renewed_at = `+nowMS+`, expires_at = `+nowMS+` + ?,
		current_version = NULL, current_started_at = NULL WHERE name = ? AND holder = ? AND generation = ?`,
		rec.TTL.Milliseconds(), lockName, rec.Token, rec.Generation)
	if err != nil {
		return translate(err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return driver.ErrLockLost
	}
	return nil
}

func (d *Driver) write(ctx context.Context, conn driver.Querier, rec *driver.Record) error {
	if err := d.fence(ctx, conn, rec); err != nil {
		return err
	}
	if a := rec.Applied; a != nil {
		q := `INSERT INTO ` + d.mig + ` (version, name, checksum, phase, up_sql, down_sql, down_checksum, reversible,
			applied_at, duration_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete,
			statements_done, adopted, statement_checksums) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ` + nowMS + `, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
		if driver.ReplacesPartial(a) {
			// See the PostgreSQL driver: one row moves from partial to
			// complete, and a resumed, fixed migration stores its new text.
			q += ` ON CONFLICT (version) DO UPDATE SET complete = excluded.complete,
				statements_done = excluded.statements_done, lock_generation = excluded.lock_generation,
				duration_ms = excluded.duration_ms, applied_at = excluded.applied_at, checksum = excluded.checksum,
				up_sql = excluded.up_sql, down_sql = excluded.down_sql, down_checksum = excluded.down_checksum,
				reversible = excluded.reversible, statement_checksums = excluded.statement_checksums WHERE NOT complete`
		}
		var down, downSum, sums any
		if a.HasDown {
			down, downSum = a.DownSQL, a.DownChecksum
		}
		if len(a.StatementChecksums) > 0 {
			sums = strings.Join(a.StatementChecksums, ",")
		}
		if _, err := conn.ExecContext(ctx, q, a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, down, downSum,
			a.HasDown, a.DurationMS, a.Actor.OSUser, a.Actor.Host, a.Actor.PID, a.Actor.DeployID,
			a.Actor.ToolVersion, rec.Generation, a.Complete, a.StatementsDone, a.Adopted, sums); err != nil {
			return translate(err)
		}
	}
	if rec.Event != nil {
		ev := *rec.Event
		ev.LockGeneration = rec.Generation
		if err := d.AppendEvent(ctx, conn, &ev); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) Commit(ctx context.Context, rec *driver.Record) error {
	return t.CommitAfter(ctx, t, func() error { return t.d.write(ctx, t, rec) })
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.Done() {
		return nil
	}
	t.End()
	_, err := t.Conn().ExecContext(ctx, "ROLLBACK")
	if err != nil && strings.Contains(err.Error(), "no transaction is active") {
		return nil
	}
	return translate(err)
}

func (d *Driver) SaveProgress(ctx context.Context, conn *sql.Conn, rec *driver.Record) error {
	tx, err := d.Begin(ctx, conn, nil)
	if err != nil {
		return err
	}
	return tx.Commit(ctx, rec)
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

func (d *Driver) ReadProgress(ctx context.Context, q driver.Querier, version int64) (driver.Progress, bool, error) {
	var p driver.Progress
	var sums sql.NullString
	err := q.QueryRowContext(ctx, "SELECT statements_done, statement_checksums FROM "+d.mig+" WHERE version = ? AND NOT complete",
		version).Scan(&p.StatementsDone, &sums)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read progress of %d: %w", version, translate(err))
	}
	if sums.String != "" {
		p.StatementChecksums = strings.Split(sums.String, ",")
	}
	return p, true, nil
}

// Capabilities: SQLite rolls DDL back and has one writer at a time; it
// has no notifications, no
// sessions another process could watch, no lock timeout (it waits in its
// busy handler instead) and no statement checks.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{TransactionalDDL: true, SingleWriter: true}
}

// Classify maps a raw modernc error by its result code, and a wait for the
// write lock that ran out of its own time (ErrBusy: the write lock is held
// elsewhere, perhaps by this runner's own migration).
func (d *Driver) Classify(err error) error {
	var e *sqlite.Error
	if errors.As(err, &e) {
		return class(e.Code(), e.Error())
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return driver.ErrBusy
	}
	return nil
}

// class maps an extended result code (and, for SQLITE_ERROR, which covers
// many things, its message) onto driver's error classes.
func class(code int, msg string) error {
	switch code & 0xff {
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_INTERRUPT:
		return driver.ErrBusy
	case sqlite3.SQLITE_PERM, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_AUTH:
		return driver.ErrPermission
	case sqlite3.SQLITE_CONSTRAINT:
		if code == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || code == sqlite3.SQLITE_CONSTRAINT_UNIQUE {
			return driver.ErrExists
		}
	case sqlite3.SQLITE_ERROR:
		if strings.Contains(msg, "no such table") {
			return driver.ErrNotExist
		}
	}
	return nil
}

func translate(err error) error {
	var se *driver.StatementError
	if err == nil || errors.As(err, &se) {
		return err // nil, or translated already (by the Tx)
	}
	var e *sqlite.Error
	if errors.As(err, &e) {
		return &driver.StatementError{SQLState: strconv.Itoa(e.Code()), Message: trimMsg(e.Error()), Class: class(e.Code(), e.Error()), Err: err}
	}
	return err
}

// trimMsg drops the "(code)" suffix modernc adds, which StatementError
// already carries.
func trimMsg(s string) string {
	if i := strings.LastIndex(s, " ("); i > 0 && strings.HasSuffix(s, ")") {
		return s[:i]
	}
	return s
}

// isBusy: another connection holds the write lock (not an interrupted
// wait, which is the caller's own cancellation).
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && (e.Code()&0xff == sqlite3.SQLITE_BUSY || e.Code()&0xff == sqlite3.SQLITE_LOCKED)
}
