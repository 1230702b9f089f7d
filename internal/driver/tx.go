package driver

import (
	"context"
	"database/sql"
	"fmt"
)

// Tx is one open migration transaction on a pinned connection, returned by
// Driver.Begin. Every method runs inside that transaction, and none runs
// after Commit or Rollback (they fail with sql.ErrTxDone): there is no
// other way to reach it, so no work can land outside the transaction it
// belongs to. As a Querier it serves reads inside the transaction (Adopt
// reads the old tool's table again there).
type Tx interface {
	Querier
	// Exec runs one statement of a migration, translating the error.
	Exec(ctx context.Context, stmt string) error
	// DeleteApplied removes a migration's row (a rollback); Commit then
	// records the event.
	DeleteApplied(ctx context.Context, version int64) error
	// DeleteProgress removes the row of a partly applied migration
	// (`resolve --abandon`); a complete row is kept and an error returned.
	DeleteProgress(ctx context.Context, version int64) error
	// Commit writes rec, checks the fence and commits, all at once. It
	// returns ErrLockLost (after rolling back) if rec.Token no longer holds
	// the lock: nothing of the transaction is then committed.
	Commit(ctx context.Context, rec *Record) error
	// Rollback aborts the transaction; after Commit it does nothing.
	Rollback(ctx context.Context) error
}

// TxConn is the part of a Tx that every driver shares: the pinned
// connection, the BEGIN batch a driver may defer so that it goes out in
// the same round trip as the first statement (a small migration then costs
// no more round trips than psql running BEGIN; stmt; COMMIT), and the end
// of the transaction, after which nothing runs on it.
type TxConn struct {
	conn      *sql.Conn
	begin     string // the deferred BEGIN batch, "" once sent
	done      bool
	translate func(error) error
}

// NewTxConn wraps conn, on which the driver has opened a transaction or,
// with deferredBegin, will open it with the first statement. translate
// turns the client library's errors into StatementErrors.
func NewTxConn(conn *sql.Conn, deferredBegin string, translate func(error) error) *TxConn {
	return &TxConn{conn: conn, begin: deferredBegin, translate: translate}
}

// Conn is the connection the transaction runs on, for driver code that
// needs its session (the backend pid, server parameters).
func (t *TxConn) Conn() *sql.Conn { return t.conn }

// Take returns the deferred BEGIN batch followed by a separator, "" when
// it was sent already; the driver puts it in front of what it sends next.
func (t *TxConn) Take() string {
	q := t.begin
	t.begin = ""
	if q == "" {
		return ""
	}
	return q + ";\n"
}

// Opened reports whether BEGIN has reached the server; until it has, a
// rollback has nothing to undo.
func (t *TxConn) Opened() bool { return t.begin == "" }

// Flush sends a deferred BEGIN batch on its own, for what cannot carry it
// in its own round trip (a query whose rows are read).
func (t *TxConn) Flush(ctx context.Context) error {
	if t.done {
		return sql.ErrTxDone
	}
	if q := t.Take(); q != "" {
		if _, err := t.conn.ExecContext(ctx, q); err != nil {
			t.done = true
			return fmt.Errorf("begin: %w", t.translate(err))
		}
	}
	return nil
}

// End marks the transaction finished.
func (t *TxConn) End() { t.done = true }

// Done reports whether the transaction is finished.
func (t *TxConn) Done() bool { return t.done }

// ExecContext runs query inside the transaction, carrying a deferred
// BEGIN in the same round trip.
func (t *TxConn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	if t.done {
		return nil, sql.ErrTxDone
	}
	res, err := t.conn.ExecContext(ctx, t.Take()+query, args...)
	return res, t.translate(err)
}

// QueryContext runs query inside the transaction.
func (t *TxConn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	if err := t.Flush(ctx); err != nil {
		return nil, err
	}
	rows, err := t.conn.QueryContext(ctx, query, args...)
	return rows, t.translate(err)
}

// QueryRowContext runs query inside the transaction. A *sql.Row cannot
// carry an error of ours, so when the transaction is over or could not be
// opened the query goes out under a cancelled context: it fails, and never
// runs outside the transaction.
func (t *TxConn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	if err := t.Flush(ctx); err != nil {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		return t.conn.QueryRowContext(cctx, query, args...)
	}
	return t.conn.QueryRowContext(ctx, query, args...)
}

// CommitAfter writes what write records inside t's transaction and then
// sends COMMIT, for drivers whose fence is checked by write itself (a
// fenced UPDATE of the lock row that must touch one row). On any failure
// it rolls t back, so nothing of the transaction is committed.
func (c *TxConn) CommitAfter(ctx context.Context, t Tx, write func() error) error {
	if c.done {
		return sql.ErrTxDone
	}
	if err := write(); err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return err
	}
	if _, err := t.ExecContext(ctx, "COMMIT"); err != nil {
		_ = t.Rollback(context.WithoutCancel(ctx))
		return fmt.Errorf("commit: %w", err)
	}
	c.End()
	return nil
}
