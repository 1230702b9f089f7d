// Package postgres is fleetgate's PostgreSQL driver: its tables, the lease
// lock and migration transactions, all in SQL that also works through
// PgBouncer in transaction-pooling mode (no session state is ever left on a
// pooled server connection: no session advisory locks, no plain SET, no
// LISTEN, no prepared statement on the pooled path; a session proven to be
// the client's own prepares its commit, see prepared.go).
package postgres

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
)

// lockName is the key of the single lock row: one migration lock per
// history table.
const lockName = "migrate"

// Driver implements driver.Driver for PostgreSQL 12+.
type Driver struct {
	t       driver.Tables
	mig     string // quoted, qualified names
	events  string
	lock    string
	channel string // NOTIFY channel, derived from the table so apps sharing a database do not wake each other
	text    commitText

	// SearchPath, when set, is the schema every migration transaction runs
	// in: Begin adds SET LOCAL search_path right after BEGIN, so the
	// setting ends with the transaction and a pooled or PgBouncer server
	// connection never keeps it. Used for schema-per-tenant fan-out.
	SearchPath string
}

var _ driver.Driver = (*Driver)(nil)

// New returns a driver for the given tables.
func New(t driver.Tables) *Driver {
	q := func(name string) string {
		if t.Schema != "" {
			return quoteIdent(t.Schema) + "." + quoteIdent(name)
		}
		return quoteIdent(name)
	}
	ch := t.Migrations
	if t.Schema != "" {
		ch = t.Schema + "." + ch
	}
	d := &Driver{t: t, mig: q(t.Migrations), events: q(t.Events), lock: q(t.Lock), channel: ch}
	d.text = d.buildCommitText()
	return d
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func quoteLiteral(s string) string { return `'` + strings.ReplaceAll(s, `'`, `''`) + `'` }

// Channel is the LISTEN/NOTIFY channel on which commits are announced.
func (d *Driver) Channel() string { return d.channel }

// releaseChannel announces only the lock's release: waiters for the lock
// listen there, so a holder's commits wake none of them (see
// driver.ReleaseNotifier). A channel name longer than PostgreSQL's 63
// bytes is cut to a hash of it.
func (d *Driver) releaseChannel() string {
	ch := d.channel + ".released"
	if len(ch) > 63 {
		sum := sha256.Sum256([]byte(ch))
		ch = "fleetgate.released." + hex.EncodeToString(sum[:16])
	}
	return ch
}

func (d *Driver) Dialect() dialect.Dialect { return dialect.Postgres }

func (d *Driver) TablesExist(ctx context.Context, q driver.Querier) (bool, error) {
	var n int
	err := q.QueryRowContext(ctx,
		`SELECT (to_regclass($1) IS NOT NULL)::int + (to_regclass($2) IS NOT NULL)::int + (to_regclass($3) IS NOT NULL)::int`,
		d.mig, d.events, d.lock).Scan(&n)
	if err != nil {
		return false, translate(err)
	}
	return n == 3, nil
}

func (d *Driver) ddl() string {
	var b strings.Builder
	if d.t.Schema != "" {
		fmt.Fprintf(&b, "CREATE SCHEMA IF NOT EXISTS %s;\n", quoteIdent(d.t.Schema))
	}
	fmt.Fprintf(&b, `CREATE TABLE IF NOT EXISTS %s (
	version bigint PRIMARY KEY,
	name text NOT NULL,
	checksum text NOT NULL,
	phase text NOT NULL DEFAULT 'pre',
	up_sql text NOT NULL,
	down_sql text,
	down_checksum text,
	reversible boolean NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	duration_ms bigint NOT NULL DEFAULT 0,
	db_user text NOT NULL DEFAULT current_user,
	os_user text NOT NULL,
	host text NOT NULL,
	pid integer NOT NULL,
	deploy_id text NOT NULL,
	fleetgate_version text NOT NULL,
	lock_generation bigint NOT NULL,
	complete boolean NOT NULL DEFAULT true,
	statements_done integer NOT NULL DEFAULT 0,
	adopted boolean NOT NULL DEFAULT false,
	statement_checksums text,
	running_pid integer,
	running_backend_start timestamptz
);
CREATE TABLE IF NOT EXISTS %s (
	id bigserial PRIMARY KEY,
	at timestamptz NOT NULL DEFAULT clock_timestamp(),
	kind text NOT NULL,
	version bigint,
	name text,
	direction text,
	error text,
	statement text,
	statement_line integer,
	file text,
	duration_ms bigint,
	lock_wait_ms bigint,
	db_user text NOT NULL DEFAULT current_user,
	os_user text,
	host text,
	pid integer,
	deploy_id text,
	fleetgate_version text,
	lock_generation bigint
);
CREATE TABLE IF NOT EXISTS %s (
	name text PRIMARY KEY,
	holder text,
	generation bigint NOT NULL DEFAULT 0,
	host text,
	pid integer,
	deploy_id text,
	session_pid integer,
	acquired_at timestamptz,
	renewed_at timestamptz,
	expires_at timestamptz,
	current_version bigint,
	current_started_at timestamptz
);
INSERT INTO %s (name) VALUES (%s) ON CONFLICT DO NOTHING;
`, d.mig, d.events, d.lock, d.lock, quoteLiteral(lockName))
	return b.String()
}

// upgradeDDL adds the columns later releases added to the history table,
// so that a database set up by an older release keeps working. ADD COLUMN
// IF NOT EXISTS makes it a no-op when they are there.
func (d *Driver) upgradeDDL() string {
	return "ALTER TABLE " + d.mig + " ADD COLUMN IF NOT EXISTS statement_checksums text, " +
		"ADD COLUMN IF NOT EXISTS running_pid integer, ADD COLUMN IF NOT EXISTS running_backend_start timestamptz;\n"
}

var _ driver.TablesProber = (*Driver)(nil)

// ProbeTables reads, in one statement, whether the tables exist, whether
// the history table has the column upgradeDDL adds last, and whether the
// registry exists.
func (d *Driver) ProbeTables(ctx context.Context, q driver.Querier) (driver.TablesState, error) {
	var st driver.TablesState
	var n int
	var col bool
	err := q.QueryRowContext(ctx,
		`SELECT (to_regclass($1) IS NOT NULL)::int + (to_regclass($2) IS NOT NULL)::int + (to_regclass($3) IS NOT NULL)::int,
		EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = 'running_backend_start' AND NOT attisdropped),
		to_regclass($4) IS NOT NULL`,
		d.mig, d.events, d.lock, d.instances()).Scan(&n, &col, &st.Registry)
	if err != nil {
		return st, translate(err)
	}
	st.Exist = n == 3
	st.Current = st.Exist && col
	return st, nil
}

// EnsureTables serialises the bootstrap of many runners on a
// transaction-scoped advisory lock: CREATE TABLE IF NOT EXISTS alone races
// on the catalog's unique indexes, and a transaction lock, unlike a session
// one, cannot be left behind on a pooled server connection.
func (d *Driver) EnsureTables(ctx context.Context, db *sql.DB) error {
	st, err := d.ProbeTables(ctx, db)
	if err != nil || st.Current {
		return err
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		return translate(err)
	}
	defer conn.Close()
	key := "fleetgate:" + d.channel
	q := "BEGIN;\nSELECT pg_advisory_xact_lock(hashtext(" + quoteLiteral(key) + "));\n" + d.ddl() + d.upgradeDDL() + "COMMIT;"
	if _, err := conn.ExecContext(ctx, q); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if err = translate(err); errors.Is(err, driver.ErrPermission) {
			// Tables an administrator created for another role: the
			// columns this release needs can only be added by their owner.
			return fmt.Errorf("add this release's columns (statement_checksums, running_pid, running_backend_start) to %s: %w; run fleetgate up once as the table's owner, or run: %s",
				d.mig, err, strings.TrimSpace(d.upgradeDDL()))
		}
		return fmt.Errorf("create fleetgate tables: %w", err)
	}
	return nil
}

func (d *Driver) ReadApplied(ctx context.Context, q driver.Querier, cols driver.Columns) ([]history.Applied, error) {
	h := driver.HistoryTable{Name: d.mig, AppliedAt: "applied_at", Translate: translate,
		ScanAppliedAt: func() (any, func() time.Time) {
			var t time.Time
			return &t, func() time.Time { return t }
		}}
	return h.Read(ctx, q, cols)
}

func (d *Driver) ReadEvents(ctx context.Context, q driver.Querier, version int64, since time.Time, limit int) ([]history.Event, error) {
	query := `SELECT id, at, kind, coalesce(version, 0), coalesce(name, ''), coalesce(direction, ''), coalesce(error, ''),
		coalesce(statement, ''), coalesce(statement_line, 0), coalesce(file, ''), coalesce(duration_ms, 0),
		coalesce(lock_wait_ms, 0), db_user, coalesce(os_user, ''), coalesce(host, ''), coalesce(pid, 0),
		coalesce(deploy_id, ''), coalesce(fleetgate_version, ''), coalesce(lock_generation, 0)
		FROM ` + d.events + ` WHERE ($1::bigint = 0 OR version = $1::bigint) AND at >= $2 ORDER BY id DESC`
	args := []any{version, since}
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
		if err := rows.Scan(&e.ID, &e.At, &e.Kind, &e.Version, &e.Name, &e.Direction, &e.Error, &e.Statement,
			&e.StatementLine, &e.File, &e.DurationMS, &e.LockWaitMS, &e.DBUser, &e.Actor.OSUser, &e.Actor.Host,
			&e.Actor.PID, &e.Actor.DeployID, &e.Actor.ToolVersion, &e.LockGeneration); err != nil {
			return nil, translate(err)
		}
		out = append(out, e)
	}
	return out, translate(rows.Err())
}

// eventInsert builds the event INSERT with placeholders numbered from
// first+1, so it can follow other statements in one batch.
func (d *Driver) eventInsert(ev *history.Event, gen string, first int) (string, []any) {
	return d.eventSQL(gen, first), eventArgs(ev)
}

func eventArgs(ev *history.Event) []any {
	return []any{ev.Kind, ev.Version, ev.Name, ev.Direction, ev.Error, ev.Statement, ev.StatementLine, ev.File,
		ev.DurationMS, ev.LockWaitMS, ev.Actor.OSUser, ev.Actor.Host, ev.Actor.PID, ev.Actor.DeployID, ev.Actor.ToolVersion}
}

func (d *Driver) eventSQL(gen string, first int) string {
	p := func(i int) string { return "$" + strconv.Itoa(first+i) }
	return `INSERT INTO ` + d.events + ` (kind, version, name, direction, error, statement, statement_line, file,
		duration_ms, lock_wait_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation)
		VALUES (` + p(1) + `, nullif(` + p(2) + `::bigint, 0), nullif(` + p(3) + `, ''), nullif(` + p(4) + `, ''), nullif(` + p(5) + `, ''),
		nullif(` + p(6) + `, ''), nullif(` + p(7) + `::int, 0), nullif(` + p(8) + `, ''), ` + p(9) + `, ` + p(10) + `, ` + p(11) + `, ` +
		p(12) + `, ` + p(13) + `, ` + p(14) + `, ` + p(15) + `, ` + gen + `)`
}

func (d *Driver) AppendEvent(ctx context.Context, q driver.Querier, ev *history.Event) error {
	query, args := d.eventInsert(ev, "nullif($16::bigint, 0)", 0)
	args = append(args, ev.LockGeneration)
	if _, err := q.ExecContext(ctx, query, args...); err != nil {
		return fmt.Errorf("append event: %w", translate(err))
	}
	return nil
}

// SessionIsDirect compares the client port the server sees with the local
// port of our socket. Through PgBouncer (or any proxy or NAT) they differ,
// and the server session may outlive us or be shared, so its death proves
// nothing. A Unix socket gives no port and is treated as not direct.
func (d *Driver) SessionIsDirect(ctx context.Context, conn *sql.Conn) bool {
	var local int
	_ = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		if a, ok := c.Conn().PgConn().Conn().LocalAddr().(*net.TCPAddr); ok {
			local = a.Port
		}
		return nil
	})
	if local == 0 {
		return false
	}
	var remote sql.NullInt64
	if err := conn.QueryRowContext(ctx, "SELECT inet_client_port()").Scan(&remote); err != nil {
		return false
	}
	return remote.Valid && int(remote.Int64) == local
}

// TryAcquire is one statement, so it is atomic through a transaction pooler.
// SKIP LOCKED keeps it from ever waiting on the row lock that a holder's
// committing migration transaction takes on the same row (its fence). The
// FOR UPDATE is also what the fence relies on: a row locked FOR UPDATE and
// then rewritten conflicts with FOR KEY SHARE (see fenceSQL), where a
// plain UPDATE of these columns would not.
//
// A holder whose recorded session is gone is taken over only once its lease
// has also gone unrenewed for half its length or 5 s, whichever is less: a
// session killed under a live runner (an idle-session timeout, a pooler, a
// server restart) is replaced by that runner's heartbeat, which renews at
// least every 2 s, within that time, while a dead runner's lease is freed
// long before it would expire.
func (d *Driver) TryAcquire(ctx context.Context, conn *sql.Conn, p *driver.AcquireParams) (int64, *driver.Holder, error) {
	session := "NULL::int"
	if p.SessionBound {
		session = "pg_backend_pid()"
	}
	var gen int64
	err := conn.QueryRowContext(ctx, `UPDATE `+d.lock+` AS l SET holder = $1, generation = l.generation + 1,
		host = $2, pid = $3, deploy_id = $4, session_pid = `+session+`, acquired_at = clock_timestamp(),
		renewed_at = clock_timestamp(), expires_at = clock_timestamp() + $5 * interval '1 millisecond',
		current_version = NULL, current_started_at = NULL
		WHERE l.name = $6 AND l.name IN (
			SELECT c.name FROM `+d.lock+` AS c WHERE c.name = $6 AND (
				c.holder IS NULL OR c.expires_at < clock_timestamp() OR c.holder = $7
				OR (c.session_pid IS NOT NULL
					AND c.renewed_at < clock_timestamp() - least((c.expires_at - c.renewed_at) / 2, interval '5 seconds')
					AND NOT EXISTS (SELECT 1 FROM pg_stat_get_activity(c.session_pid) a WHERE a.pid IS NOT NULL)))
			FOR UPDATE OF c SKIP LOCKED)
		RETURNING l.generation`,
		p.Token, p.Actor.Host, p.Actor.PID, p.Actor.DeployID, p.TTL.Milliseconds(), lockName, p.StaleToken).Scan(&gen)
	if err == nil {
		return gen, nil, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, nil, fmt.Errorf("try lock: %w", translate(err))
	}
	h, err := d.ReadHolder(ctx, conn)
	return 0, h, err
}

// Renew also rebinds a session-bound lease to conn's session: the heartbeat
// renews on a new session after its old one was killed, and always on a
// session of the same kind (the same URL, so direct again).
func (d *Driver) Renew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error {
	return d.renew(ctx, conn, "CASE WHEN session_pid IS NULL THEN NULL ELSE pg_backend_pid() END", token, gen, ttl, current)
}

// BindRenew renews and binds the lease to conn's session, which the caller
// knows to be direct (see driver.SessionBinder).
func (d *Driver) BindRenew(ctx context.Context, conn *sql.Conn, token string, gen int64, ttl time.Duration, current int64) error {
	return d.renew(ctx, conn, "pg_backend_pid()", token, gen, ttl, current)
}

func (d *Driver) renew(ctx context.Context, conn *sql.Conn, session, token string, gen int64, ttl time.Duration, current int64) error {
	res, err := conn.ExecContext(ctx, `UPDATE `+d.lock+` SET renewed_at = clock_timestamp(),
		expires_at = clock_timestamp() + $1 * interval '1 millisecond',
		current_started_at = CASE WHEN current_version IS DISTINCT FROM nullif($2::bigint, 0) THEN clock_timestamp() ELSE current_started_at END,
		current_version = nullif($2::bigint, 0),
		session_pid = `+session+`
		WHERE name = $3 AND holder = $4 AND generation = $5`, ttl.Milliseconds(), current, lockName, token, gen)
	if err != nil {
		return fmt.Errorf("renew lock: %w", translate(err))
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return driver.ErrLockLost
	}
	return nil
}

func (d *Driver) Release(ctx context.Context, q driver.Querier, token string, gen int64) error {
	// The NOTIFY wakes listening waiters; it is sent at the statement's
	// commit, so a waiter never wakes before the lock is free.
	_, err := q.ExecContext(ctx, `UPDATE `+d.lock+` SET holder = NULL, session_pid = NULL, expires_at = NULL,
		current_version = NULL, current_started_at = NULL WHERE name = $1 AND holder = $2 AND generation = $3;
		SELECT pg_notify(`+quoteLiteral(d.channel)+`, 'released'), pg_notify(`+quoteLiteral(d.releaseChannel())+`, 'released')`, lockName, token, gen)
	if err != nil {
		return fmt.Errorf("release lock: %w", translate(err))
	}
	return nil
}

func (d *Driver) ReadHolder(ctx context.Context, q driver.Querier) (*driver.Holder, error) {
	var h driver.Holder
	var cur sql.NullInt64
	var curAt, acq, exp, takeover sql.NullTime
	var tok, host, dep sql.NullString
	var pid sql.NullInt64
	// takeover is when TryAcquire's conditions could first let a waiter
	// in: the expiry, or a dead session's grace after the last renewal.
	err := q.QueryRowContext(ctx, `SELECT holder, generation, host, pid, deploy_id, acquired_at, expires_at,
		current_version, current_started_at, clock_timestamp(), session_pid IS NOT NULL,
		least(expires_at, CASE WHEN session_pid IS NOT NULL
			THEN renewed_at + least((expires_at - renewed_at) / 2, interval '5 seconds') END)
		FROM `+d.lock+` WHERE name = $1`, lockName).
		Scan(&tok, &h.Generation, &host, &pid, &dep, &acq, &exp, &cur, &curAt, &h.Now, &h.SessionBound, &takeover)
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
	h.AcquiredAt, h.ExpiresAt, h.CurrentVersion, h.CurrentStartedAt = acq.Time, exp.Time, cur.Int64, curAt.Time
	h.TakeoverAt = takeover.Time
	return &h, nil
}

// Begin sends BEGIN and the transaction-local settings in one round trip.
// SET LOCAL is the only kind of setting that is safe through PgBouncer.
func (d *Driver) Begin(ctx context.Context, conn *sql.Conn, opts *driver.TxOptions) (driver.Tx, error) {
	q := "BEGIN"
	if opts != nil && opts.Begin != "" {
		q = opts.Begin
	}
	if d.SearchPath != "" {
		q += "; SET LOCAL search_path TO " + quoteIdent(d.SearchPath)
	}
	if opts != nil {
		if opts.LockTimeout > 0 {
			q += fmt.Sprintf("; SET LOCAL lock_timeout = %d", opts.LockTimeout.Milliseconds())
		}
		if opts.IdleTimeout > 0 {
			q += fmt.Sprintf("; SET LOCAL idle_in_transaction_session_timeout = %d", opts.IdleTimeout.Milliseconds())
			// PostgreSQL 14+: a backend whose client vanished mid-statement
			// notices within a second instead of running to the end.
			if serverVersion(conn) >= 14 {
				q += "; SET LOCAL client_connection_check_interval = 1000"
			}
		}
	}
	var prep *session
	if opts != nil {
		prep = d.preparing(ctx, conn, opts.Scope)
	}
	// The BEGIN batch is not sent yet: it goes out in the same round trip
	// as the first statement (or the commit). A small migration then costs
	// no more round trips than psql running BEGIN; stmt; COMMIT.
	return &tx{TxConn: driver.NewTxConn(conn, q, translate), d: d, prep: prep}, nil
}

// tx is a PostgreSQL migration transaction.
type tx struct {
	*driver.TxConn
	d *Driver
	// prep: the commit may be a prepared statement (see prepared.go).
	prep *session
}

// serverVersion is the server's major version as reported in the startup
// handshake (no query needed), 0 when unknown.
func serverVersion(conn *sql.Conn) int {
	v := 0
	_ = conn.Raw(func(dc any) error {
		if c, ok := dc.(*stdlib.Conn); ok {
			s := c.Conn().PgConn().ParameterStatus("server_version")
			for _, r := range s {
				if r < '0' || r > '9' {
					break
				}
				v = v*10 + int(r-'0')
			}
		}
		return nil
	})
	return v
}

func (d *Driver) Exec(ctx context.Context, conn *sql.Conn, stmt string) error {
	if mayReset(stmt) {
		if s, _ := sessionOf(conn); s != nil {
			s.names = nil
		}
	}
	_, err := conn.ExecContext(ctx, stmt)
	return translate(err)
}

func (t *tx) Exec(ctx context.Context, stmt string) error {
	if t.prep != nil && mayReset(stmt) {
		t.prep.names = nil // prepare again, under a new name
	}
	// A deferred BEGIN cannot fail on its own account (its settings are
	// constants), so an error from the batch is the statement's.
	_, err := t.ExecContext(ctx, stmt)
	return err
}

// fenceSQL yields the generation only while token ($2) holds the lease
// at generation $3, and keeps it so until the transaction ends. FOR KEY
// SHARE conflicts with FOR UPDATE, and so with exactly the updates that
// change who holds the lock: TryAcquire locks the row FOR UPDATE before it
// rewrites it, which PostgreSQL records as a key update. So a waiter's
// TryAcquire (FOR UPDATE SKIP LOCKED) cannot take the lock over before
// this transaction has committed, and one that took it over first leaves
// the fence empty (a locking read re-checks the newest row) or, in a
// REPEATABLE READ or SERIALIZABLE migration, fails it with a serialization
// error. A renewal is a plain UPDATE of non-key columns: it neither waits
// for the fence nor breaks it, so a migration whose whole transaction
// reads one snapshot may outlive any number of renewals (FOR SHARE failed
// it at commit after the first).
//
// The history row stores the fence's value in a NOT NULL column, so a
// runner that lost the lock fails its own insert and the whole transaction
// rolls back: the fence is enforced by the database, not by a check the
// client could race. It only reads: renewing the lease is the heartbeat's
// work, so a migration writes no row version of the lock table.
func (d *Driver) fenceSQL() string {
	return `WITH fence AS (SELECT generation FROM ` + d.lock + `
		WHERE name = $1 AND holder = $2 AND generation = $3 FOR KEY SHARE)`
}

// historyCols are the history row's columns that Commit writes, in the
// order of recordSQL's values.
const historyCols = `(version, name, checksum, phase, up_sql, down_sql, down_checksum, reversible, duration_ms, os_user, host, pid,
	deploy_id, fleetgate_version, statement_checksums, lock_generation, complete, statements_done, adopted,
	running_pid, running_backend_start)`

// historyValues is the number of history values passed as parameters,
// after the fence's three: the fence's value comes after the first
// fenceAt of them, in the order of historyCols.
const (
	historyValues = 18
	fenceAt       = 15
)

// commitText is the fixed text of the fenced writes, built once per
// driver, so that a migration's commit costs the client only its values.
type commitText struct {
	fence       string // the fence CTE alone, for a rollback
	applied     string // the fence and the history INSERT up to its fence value, as the applied CTE
	appliedOnly string // the same as the main statement (no event)
	upsert      string // what turns a partial row complete
	eventAfter  string // the event INSERT after the history row's values
	eventFenced string // the event INSERT after the fence's values (a rollback)
}

func (d *Driver) buildCommitText() commitText {
	var ps strings.Builder
	for i := range historyValues {
		if i == fenceAt {
			ps.WriteString("(SELECT generation FROM fence), ")
		}
		fmt.Fprintf(&ps, "$%d, ", 4+i)
	}
	insert := "INSERT INTO " + d.mig + " " + historyCols + " VALUES (" + ps.String()
	fence := d.fenceSQL()
	return commitText{
		fence: fence,
		// A data-modifying CTE runs whether or not it is referenced.
		applied:     fence + ", applied AS (" + insert,
		appliedOnly: fence + " " + insert,
		// A no-transaction migration keeps one row that moves from
		// partial to complete; a complete row is never replaced. A
		// resumed migration whose later statements were fixed stores the
		// fixed text.
		upsert: ` ON CONFLICT (version) DO UPDATE SET complete = EXCLUDED.complete,
			statements_done = EXCLUDED.statements_done, lock_generation = EXCLUDED.lock_generation,
			duration_ms = EXCLUDED.duration_ms, applied_at = clock_timestamp(), checksum = EXCLUDED.checksum,
			up_sql = EXCLUDED.up_sql, down_sql = EXCLUDED.down_sql, down_checksum = EXCLUDED.down_checksum,
			reversible = EXCLUDED.reversible, statement_checksums = EXCLUDED.statement_checksums,
			running_pid = EXCLUDED.running_pid, running_backend_start = EXCLUDED.running_backend_start
			WHERE NOT ` + d.mig + `.complete`,
		eventAfter:  d.eventSQL("$3::bigint", 3+historyValues),
		eventFenced: d.eventSQL("$3::bigint", 3),
	}
}

// recordSQL builds the fenced writes of rec: the fence, the history row
// and the event in one statement (data-modifying CTEs), so the commit
// batch parses and plans once for all three. Only a row that may replace
// a partial one (driver.ReplacesPartial, or a progress record) carries ON
// CONFLICT: inside a CTE it makes the statement several times dearer for
// the server to plan, and a transactional migration's row is new.
func (d *Driver) recordSQL(rec *driver.Record, partial bool) (string, []any) {
	t := &d.text
	args := make([]any, 0, 3+historyValues+15)
	args = append(args, lockName, rec.Token, rec.Generation)
	var b strings.Builder
	if a := rec.Applied; a != nil {
		args = append(args, a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, nullable(a.DownSQL, a.HasDown), nullable(a.DownChecksum, a.HasDown),
			a.HasDown, a.DurationMS, a.Actor.OSUser, a.Actor.Host, a.Actor.PID, a.Actor.DeployID, a.Actor.ToolVersion,
			nullable(strings.Join(a.StatementChecksums, ","), len(a.StatementChecksums) > 0),
			// Values, not text: one statement for every migration, which
			// a session of our own prepares once (see prepared.go).
			a.Complete, a.StatementsDone, a.Adopted)
		b.Grow(len(t.applied) + len(t.upsert) + len(t.eventAfter) + 160)
		if rec.Event != nil {
			b.WriteString(t.applied)
		} else {
			b.WriteString(t.appliedOnly)
		}
		// The session that writes a Running row is the one that runs the
		// next statement; the server names it, pid and start time.
		if a.Running {
			b.WriteString("pg_backend_pid(), (SELECT backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()))")
		} else {
			b.WriteString("NULL::int, NULL::timestamptz)")
		}
		if partial || driver.ReplacesPartial(a) {
			b.WriteString(t.upsert)
		}
		if ev := rec.Event; ev != nil {
			args = append(args, eventArgs(ev)...)
			b.WriteString(")\n")
			b.WriteString(t.eventAfter)
		}
		return b.String(), args
	}
	// A rollback has no row to insert; fail the batch when the fence is
	// gone by dividing by a zero count.
	b.WriteString(t.fence)
	b.WriteString(" SELECT 1 / (SELECT count(*)::int FROM fence)")
	if ev := rec.Event; ev != nil {
		args = append(args, eventArgs(ev)...)
		b.WriteString(";\n")
		b.WriteString(t.eventFenced)
	}
	return b.String(), args
}

func nullable(s string, ok bool) any {
	if !ok {
		return nil
	}
	return s
}

func (t *tx) Commit(ctx context.Context, rec *driver.Record) error {
	if t.Done() {
		return sql.ErrTxDone
	}
	d := t.d
	q, args := d.recordSQL(rec, false)
	notify := ""
	if rec.Notify && rec.Applied != nil {
		notify = strconv.FormatInt(rec.Applied.Version, 10)
	} else if rec.Notify {
		notify = "down"
	}
	var err error
	if t.prep != nil && t.Opened() {
		err = t.commitPrepared(ctx, q, args, notify)
	} else {
		if notify != "" {
			q += ";\nSELECT pg_notify(" + quoteLiteral(d.channel) + ", " + quoteLiteral(notify) + ")"
		}
		q += ";\nCOMMIT"
		_, err = t.ExecContext(ctx, q, args...)
	}
	if err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		if d.isFenceViolation(err) {
			return driver.ErrLockLost
		}
		return err
	}
	t.End()
	return nil
}

func (d *Driver) isFenceViolation(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	return (pe.Code == "23502" && pe.ColumnName == "lock_generation") || pe.Code == "22012"
}

func (t *tx) Rollback(ctx context.Context) error {
	if t.Done() {
		return nil
	}
	defer t.End()
	if !t.Opened() {
		return nil // the transaction was never opened on the server
	}
	_, err := t.Conn().ExecContext(ctx, "ROLLBACK")
	return translate(err)
}

func (d *Driver) SaveProgress(ctx context.Context, conn *sql.Conn, rec *driver.Record) error {
	q, args := d.recordSQL(rec, true)
	if _, err := conn.ExecContext(ctx, "BEGIN;\n"+q+";\nCOMMIT", args...); err != nil {
		_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		if d.isFenceViolation(err) {
			return driver.ErrLockLost
		}
		return fmt.Errorf("record progress: %w", translate(err))
	}
	return nil
}

func (t *tx) DeleteApplied(ctx context.Context, version int64) error {
	if _, err := t.ExecContext(ctx, "DELETE FROM "+t.d.mig+" WHERE version = $1", version); err != nil {
		return fmt.Errorf("delete history row %d: %w", version, err)
	}
	return nil
}

func (t *tx) DeleteProgress(ctx context.Context, version int64) error {
	if err := t.Flush(ctx); err != nil {
		return err
	}
	var n int
	err := t.QueryRowContext(ctx, "WITH del AS (DELETE FROM "+t.d.mig+" WHERE version = $1 AND NOT complete RETURNING 1) SELECT count(*) FROM del", version).Scan(&n)
	if err != nil {
		return fmt.Errorf("delete history row %d: %w", version, translate(err))
	}
	if n == 0 {
		return fmt.Errorf("delete history row %d: no partly applied row of that version", version)
	}
	return nil
}

func (d *Driver) ReadProgress(ctx context.Context, q driver.Querier, version int64) (driver.Progress, bool, error) {
	var p driver.Progress
	var sums sql.NullString
	var pid sql.NullInt64
	var started sql.NullTime
	err := q.QueryRowContext(ctx, `SELECT statements_done, statement_checksums, running_pid, running_backend_start
		FROM `+d.mig+` WHERE version = $1 AND NOT complete`, version).Scan(&p.StatementsDone, &sums, &pid, &started)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read progress of %d: %w", version, translate(err))
	}
	if sums.String != "" {
		p.StatementChecksums = strings.Split(sums.String, ",")
	}
	p.RunningPID, p.RunningStart = int(pid.Int64), started.Time
	return p, true, nil
}

// Capabilities: PostgreSQL rolls DDL back, announces commits with NOTIFY,
// ends a dead client's session (and with it its lock), honours
// lock_timeout, and its migrations are what internal/lint checks.
func (d *Driver) Capabilities() driver.Capabilities {
	return driver.Capabilities{TransactionalDDL: true, Notifications: true, SessionLiveness: true, LockTimeout: true,
		Checker: dialect.Postgres}
}

// Classify maps what translate did not see: a raw pgx error, or a
// connection pgx already closed, which it reports by message only.
func (d *Driver) Classify(err error) error {
	if err == nil {
		return nil
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return class(pe.Code)
	}
	msg := err.Error()
	for _, s := range []string{"conn closed", "connection refused", "connection reset", "broken pipe", "unexpected EOF",
		"the database system is starting up", "the database system is shutting down", "the database system is in recovery mode",
		"server closed the connection", "failed to receive message", "failed to write startup message"} {
		if strings.Contains(msg, s) {
			return driver.ErrTransient
		}
	}
	return nil
}

// class maps a SQLSTATE onto driver's error classes.
func class(code string) error {
	switch {
	case strings.HasPrefix(code, "08"), code == "57P01", code == "57P02", code == "57P03":
		// Connection exception; admin shutdown, crash shutdown, cannot
		// connect now (starting up).
		return driver.ErrTransient
	case code == "25P03":
		// The server ended the session because the migration's
		// transaction sat idle past its idle_in_transaction_session_timeout
		// (fleetgate sets it to the lease): a slow or starved network looks
		// like that from the server. The transaction rolled back with the
		// session, so it is a lost connection like the others.
		return driver.ErrTransient
	case strings.HasPrefix(code, "53"), strings.HasPrefix(code, "57P"):
		// Insufficient resources (too many connections); the other
		// operator interventions.
		return driver.ErrBusy
	case code == "42501":
		return driver.ErrPermission
	case code == "55P03":
		return driver.ErrLockTimeout
	case code == "23505":
		// unique_violation only: a duplicate_table from a migration's own
		// CREATE is a failed migration, not a row another runner wrote.
		return driver.ErrExists
	case code == "42P01", code == "3F000", code == "42704":
		// undefined_table, invalid_schema_name, undefined_object
		return driver.ErrNotExist
	}
	return nil
}

// translate turns pgx errors into driver.StatementError so that no caller
// needs pgconn to inspect one.
func translate(err error) error {
	var se *driver.StatementError
	if err == nil || errors.As(err, &se) {
		return err // nil, or translated already (by the Tx)
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		msg := pe.Message
		if pe.Detail != "" {
			msg += ": " + pe.Detail
		}
		return &driver.StatementError{SQLState: pe.Code, Message: msg, Position: int(pe.Position), Class: class(pe.Code), Err: err}
	}
	return err
}

// KeepSession lifts idle_session_timeout (PostgreSQL 14+) for this session
// alone. The lock's own session idles between renewals and polls by design.
func (d *Driver) KeepSession(ctx context.Context, conn *sql.Conn) error {
	if serverVersion(conn) < 14 {
		return nil
	}
	if _, err := conn.ExecContext(ctx, "SET idle_session_timeout = 0"); err != nil {
		return fmt.Errorf("lift idle_session_timeout: %w", translate(err))
	}
	return nil
}
