package mysql

import (
	"context"
	"database/sql"
	sqldriver "database/sql/driver"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var (
	_ driver.Monitor      = (*Driver)(nil)
	_ driver.SessionEnder = (*Driver)(nil)
)

// idConnector wraps go-sql-driver's so that each connection can tell its
// server session (CONNECTION_ID()), which go-sql-driver reads in the
// handshake but does not keep. The id is asked for once, the first time
// a connection is watched (Session), and kept with the connection.
type idConnector struct {
	sqldriver.Connector
	batch sqldriver.Connector // the same with multiStatements (see idConn.batch)
}

func (c idConnector) Connect(ctx context.Context) (sqldriver.Conn, error) {
	var nc net.Conn
	dc, err := c.Connector.Connect(context.WithValue(ctx, dialedKey{}, &nc))
	if err != nil {
		return nil, err
	}
	return &idConn{inner: dc, nc: nc, batcher: c.batch}, nil
}

// idConn forwards everything to go-sql-driver's connection; database/sql
// finds the optional interfaces it implements through these methods.
type idConn struct {
	inner sqldriver.Conn
	id    int64 // 0 until Session asked
	// nc is the network connection under inner (nil where fleetgate did
	// not dial it), which ExecContext closes to cancel a statement; cut
	// is set once it did, and the connection is then of no further use.
	nc  net.Conn
	cut atomic.Bool

	// batcher opens side, a session beside this one for fleetgate's own
	// statements sent several at a time (batch); nil until first used.
	batcher sqldriver.Connector
	side    sqldriver.Conn

	// What fleetgate already asked of this session, so that the runner's
	// per-statement calls cost no round trip the second time (see
	// sessionOf): SessionIsDirect's answer (0 not asked, 1 direct, -1
	// not), and the lock_wait_timeout and idle_transaction_timeout, in
	// seconds, that fleetgate last set (0: unknown, set it).
	direct            int8
	lockWait, idleTrx int
}

func (c *idConn) Prepare(q string) (sqldriver.Stmt, error) { return c.inner.Prepare(q) }
func (c *idConn) Close() error {
	if c.side != nil {
		_ = c.side.Close()
	}
	return c.inner.Close()
}
func (c *idConn) Begin() (sqldriver.Tx, error) { return c.inner.Begin() } //nolint:staticcheck // the interface requires it
func (c *idConn) BeginTx(ctx context.Context, o sqldriver.TxOptions) (sqldriver.Tx, error) {
	return c.inner.(sqldriver.ConnBeginTx).BeginTx(ctx, o)
}
func (c *idConn) PrepareContext(ctx context.Context, q string) (sqldriver.Stmt, error) {
	return c.inner.(sqldriver.ConnPrepareContext).PrepareContext(ctx, q)
}

// ExecContext cancels a statement as go-sql-driver would, by closing
// the connection when ctx ends, but without its watcher: go-sql-driver
// hands every cancellable statement's context to a goroutine of the
// connection and waits for it to let go when the statement is done, two
// goroutine switches (and thread wake-ups) per statement; fleetgate's
// contexts are all cancellable (signals), and a migration sends a few
// hundred statements. context.AfterFunc costs no goroutine until ctx
// ends. Queries keep go-sql-driver's watcher: their rows outlive the call.
func (c *idConn) ExecContext(ctx context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Result, error) {
	ex := c.inner.(sqldriver.ExecerContext)
	if c.nc == nil || ctx.Done() == nil {
		return ex.ExecContext(ctx, q, args)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() {
		c.cut.Store(true)
		_ = c.nc.Close()
	})
	res, err := ex.ExecContext(context.WithoutCancel(ctx), q, args)
	if !stop() && err != nil {
		// What go-sql-driver returns for a cancelled statement.
		return nil, ctx.Err()
	}
	return res, err
}
func (c *idConn) QueryContext(ctx context.Context, q string, args []sqldriver.NamedValue) (sqldriver.Rows, error) {
	return c.inner.(sqldriver.QueryerContext).QueryContext(ctx, q, args)
}
func (c *idConn) Ping(ctx context.Context) error { return c.inner.(sqldriver.Pinger).Ping(ctx) }
func (c *idConn) ResetSession(ctx context.Context) error {
	if c.cut.Load() {
		return sqldriver.ErrBadConn
	}
	return c.inner.(sqldriver.SessionResetter).ResetSession(ctx)
}
func (c *idConn) IsValid() bool { return !c.cut.Load() && c.inner.(sqldriver.Validator).IsValid() }
func (c *idConn) CheckNamedValue(nv *sqldriver.NamedValue) error {
	return c.inner.(sqldriver.NamedValueChecker).CheckNamedValue(nv)
}

// batch sends q, several statements of fleetgate's own separated by
// semicolons (never a migration's: their statements must each run
// alone), in one round trip on the side session, which it opens on first
// use, and returns the rows each statement affected. sent is false when
// nothing reached the server (no side session could be had, or the
// arguments cannot be interpolated): the caller may do the work another
// way. After a failure of a statement the server runs none of the rest,
// and batch rolls back what the batch may have left open.
func (c *idConn) batch(ctx context.Context, q string, args []any) (affected []int64, sent bool, err error) {
	if c.batcher == nil {
		return nil, false, errors.New("no batch session")
	}
	for range 2 { // a side session the server has closed since is replaced once
		if c.side == nil {
			if c.side, err = c.batcher.Connect(ctx); err != nil {
				c.side = nil
				return nil, false, err
			}
		}
		nv := make([]sqldriver.NamedValue, len(args))
		for i, a := range args {
			nv[i] = sqldriver.NamedValue{Ordinal: i + 1, Value: a}
			if err := c.side.(sqldriver.NamedValueChecker).CheckNamedValue(&nv[i]); err != nil {
				return nil, false, err
			}
		}
		var res sqldriver.Result
		res, err = c.side.(sqldriver.ExecerContext).ExecContext(ctx, q, nv)
		switch {
		case err == nil:
			r, ok := res.(interface{ AllRowsAffected() []int64 })
			if !ok {
				return nil, true, errors.New("the client library does not report each statement's rows")
			}
			return r.AllRowsAffected(), true, nil
		case errors.Is(err, sqldriver.ErrSkip):
			return nil, false, err
		case errors.Is(err, sqldriver.ErrBadConn):
			// Nothing was sent on a session that had gone.
			_ = c.side.Close()
			c.side = nil
			continue
		}
		if c.side.(sqldriver.Validator).IsValid() {
			if _, rerr := c.side.(sqldriver.ExecerContext).ExecContext(context.WithoutCancel(ctx), "ROLLBACK", nil); rerr == nil {
				return nil, true, err
			}
		}
		// A session that broke mid-batch rolls back on the server.
		_ = c.side.Close()
		c.side = nil
		return nil, true, err
	}
	return nil, false, err
}

// connectionID asks the server once for the session id of c.
func (c *idConn) connectionID(ctx context.Context) int64 {
	if c.id != 0 {
		return c.id
	}
	rows, err := c.QueryContext(ctx, "SELECT CONNECTION_ID()", nil)
	if err != nil {
		return 0
	}
	defer rows.Close()
	v := make([]sqldriver.Value, 1)
	if rows.Next(v) != nil {
		return 0
	}
	switch x := v[0].(type) {
	case int64:
		c.id = x
	case []byte:
		c.id, _ = strconv.ParseInt(string(x), 10, 64)
	}
	return c.id
}

// Session names conn's server session. The first call on a connection
// costs one round trip (see idConnector); later ones none. ClientPort is
// left 0: the process list's HOST already tells a proxy's session apart
// (see SessionIsDirect), and the id is the server's own.
func (d *Driver) Session(sc *sql.Conn) (driver.Session, bool) {
	var s driver.Session
	_ = sc.Raw(func(dc any) error {
		if c, ok := dc.(*idConn); ok {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			s.PID = int(c.connectionID(ctx))
		}
		return nil
	})
	return s, s.PID != 0
}

// Blockers reads who session s waits for, from another session:
//
//   - a row lock: the holder from information_schema.INNODB_LOCK_WAITS
//     (MariaDB, MySQL 5.7) or sys.innodb_lock_waits (MySQL 8);
//   - a metadata lock (an ALTER queued behind a transaction that read the
//     table): on MySQL 8 the sessions holding a granted lock on the object
//     s waits for, from performance_schema.metadata_locks; where that is
//     not available (MariaDB keeps metadata locks out of
//     information_schema unless the METADATA_LOCK_INFO plugin is loaded)
//     every session with an InnoDB transaction open since before s's
//     statement started, which is who holds metadata locks on tables.
//
// Each blocker is described from the process list: thread id, user, host,
// what it is doing, when its transaction started and how long it has been
// in its current state.
func (d *Driver) Blockers(ctx context.Context, q driver.Querier, s driver.Session) ([]driver.Blocker, error) {
	var state sql.NullString
	var age sql.NullInt64
	err := q.QueryRowContext(ctx, "SELECT STATE, TIME FROM information_schema.PROCESSLIST WHERE ID = ?", s.PID).Scan(&state, &age)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the waiting session: %w", translate(err))
	}
	st := strings.ToLower(state.String)
	var ids []int64
	switch {
	case strings.Contains(st, "metadata lock"):
		ids, err = d.ids(ctx, q, `SELECT DISTINCT t2.PROCESSLIST_ID FROM performance_schema.metadata_locks w
			JOIN performance_schema.threads t1 ON t1.THREAD_ID = w.OWNER_THREAD_ID
			JOIN performance_schema.metadata_locks g ON g.OBJECT_TYPE = w.OBJECT_TYPE AND g.OBJECT_SCHEMA <=> w.OBJECT_SCHEMA
				AND g.OBJECT_NAME <=> w.OBJECT_NAME AND g.LOCK_STATUS = 'GRANTED'
			JOIN performance_schema.threads t2 ON t2.THREAD_ID = g.OWNER_THREAD_ID
			WHERE t1.PROCESSLIST_ID = ? AND w.LOCK_STATUS = 'PENDING' AND t2.PROCESSLIST_ID <> ?`, s.PID, s.PID)
		if err != nil || len(ids) == 0 {
			ids, err = d.ids(ctx, q, `SELECT trx_mysql_thread_id FROM information_schema.INNODB_TRX
				WHERE trx_mysql_thread_id <> ? AND trx_started <= NOW() - INTERVAL ? SECOND`, s.PID, age.Int64)
		}
	case strings.Contains(st, "lock wait") || strings.Contains(st, "updating") || strings.Contains(st, "sending data") || st == "":
		ids, err = d.ids(ctx, q, `SELECT b.trx_mysql_thread_id FROM information_schema.INNODB_LOCK_WAITS w
			JOIN information_schema.INNODB_TRX r ON r.trx_id = w.requesting_trx_id
			JOIN information_schema.INNODB_TRX b ON b.trx_id = w.blocking_trx_id
			WHERE r.trx_mysql_thread_id = ?`, s.PID)
		if err != nil {
			ids, err = d.ids(ctx, q, `SELECT blocking_pid FROM sys.innodb_lock_waits WHERE waiting_pid = ?`, s.PID)
		}
	default:
		return nil, nil
	}
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(ids)), ", ")
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	rows, err := q.QueryContext(ctx, `SELECT p.ID, coalesce(p.USER, ''), coalesce(p.HOST, ''), coalesce(p.COMMAND, ''),
		coalesce(p.STATE, ''), `+micros("t.trx_started")+`, `+micros("NOW(6) - INTERVAL p.TIME SECOND")+`, t.trx_id IS NOT NULL
		FROM information_schema.PROCESSLIST p LEFT JOIN information_schema.INNODB_TRX t ON t.trx_mysql_thread_id = p.ID
		WHERE p.ID IN (`+ph+`) ORDER BY p.ID`, args...)
	if err != nil {
		return nil, fmt.Errorf("read blocking sessions: %w", translate(err))
	}
	defer rows.Close()
	var out []driver.Blocker
	for rows.Next() {
		var b driver.Blocker
		var command, pstate string
		var xs, qs sql.NullInt64
		var inTrx bool
		if err := rows.Scan(&b.PID, &b.User, &b.ClientAddr, &command, &pstate, &xs, &qs, &inTrx); err != nil {
			return nil, translate(err)
		}
		b.State = strings.ToLower(command)
		if command == "Sleep" && inTrx {
			b.State = "idle in transaction"
		} else if pstate != "" {
			b.State += ": " + pstate
		}
		b.XactStart, b.QueryStart = microTime(xs), microTime(qs)
		out = append(out, b)
	}
	return out, translate(rows.Err())
}

func (d *Driver) ids(ctx context.Context, q driver.Querier, query string, args ...any) ([]int64, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id sql.NullInt64
		if err := rows.Scan(&id); err != nil {
			return nil, translate(err)
		}
		if id.Valid {
			out = append(out, id.Int64)
		}
	}
	return out, translate(rows.Err())
}

// IndexProgress: MySQL reports none that fleetgate reads.
func (d *Driver) IndexProgress(context.Context, driver.Querier, driver.Session) (*driver.IndexProgress, error) {
	return nil, nil
}

// EndSession kills session s, if it still exists, and waits until the
// server no longer lists it: a statement whose client went away runs on
// until the server notices, and a killed one rolls back on the way out.
func (d *Driver) EndSession(ctx context.Context, q driver.Querier, s driver.Session) error {
	if err := d.TerminateBackend(ctx, q, s.PID); err != nil {
		return err
	}
	for {
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = ?", s.PID).Scan(&n); err != nil {
			return fmt.Errorf("wait for session %d to end: %w", s.PID, translate(err))
		}
		if n == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for session %d to end: %w", s.PID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
