package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var (
	_ driver.Monitor      = (*Driver)(nil)
	_ driver.IndexBuilder = (*Driver)(nil)
)

// Session reads the backend process id that the server sent when conn
// was opened, and the connection's local port. No query is sent, so
// watching a statement adds no round trip to the migration connection.
func (d *Driver) Session(conn *sql.Conn) (driver.Session, bool) {
	var s driver.Session
	_ = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		pc := c.Conn().PgConn()
		s.PID = int(pc.PID())
		if a, ok := pc.Conn().LocalAddr().(*net.TCPAddr); ok {
			s.ClientPort = a.Port
		}
		return nil
	})
	return s, s.PID != 0
}

// sessionCheck restricts a query to the case where pid really is the
// watched session: same client port (through PgBouncer the pid a client
// knows is PgBouncer's own, and may name an unrelated backend).
const sessionCheck = `EXISTS (SELECT 1 FROM pg_stat_activity s WHERE s.pid = $1 AND ($2 = 0 OR s.client_port = $2))`

// Blockers reads, from another session, who holds what the session waits
// for. Sessions of other users show only what pg_stat_activity lets this
// user see (pid, user and application name at least).
func (d *Driver) Blockers(ctx context.Context, q driver.Querier, s driver.Session) ([]driver.Blocker, error) {
	rows, err := q.QueryContext(ctx, `SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.usename::text, ''),
		coalesce(host(a.client_addr), ''), coalesce(a.state, ''), a.xact_start, a.query_start
		FROM pg_stat_activity a WHERE a.pid = ANY (pg_blocking_pids($1)) AND `+sessionCheck+` ORDER BY a.pid`, s.PID, s.ClientPort)
	if err != nil {
		return nil, fmt.Errorf("read blocking sessions: %w", translate(err))
	}
	defer rows.Close()
	var out []driver.Blocker
	for rows.Next() {
		var b driver.Blocker
		var xs, qs sql.NullTime
		if err := rows.Scan(&b.PID, &b.ApplicationName, &b.User, &b.ClientAddr, &b.State, &xs, &qs); err != nil {
			return nil, translate(err)
		}
		b.XactStart, b.QueryStart = xs.Time, qs.Time
		out = append(out, b)
	}
	return out, translate(rows.Err())
}

func (d *Driver) IndexProgress(ctx context.Context, q driver.Querier, s driver.Session) (*driver.IndexProgress, error) {
	var p driver.IndexProgress
	err := q.QueryRowContext(ctx, `SELECT phase, blocks_done, blocks_total, tuples_done, tuples_total, lockers_done, lockers_total
		FROM pg_stat_progress_create_index WHERE pid = $1 AND `+sessionCheck, s.PID, s.ClientPort).
		Scan(&p.Phase, &p.BlocksDone, &p.BlocksTotal, &p.TuplesDone, &p.TuplesTotal, &p.LockersDone, &p.LockersTotal)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read index build progress: %w", translate(err))
	}
	return &p, nil
}

// IndexState looks the index up next to its table. The names come from
// the parser, already case-folded, so they are quoted as they are.
func (d *Driver) IndexState(ctx context.Context, q driver.Querier, schema, table, name string) (driver.IndexState, error) {
	tbl := quoteIdent(table)
	if schema != "" {
		tbl = quoteIdent(schema) + "." + tbl
	}
	var st driver.IndexState
	var building sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), x.indisvalid,
		(SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid LIMIT 1)
		FROM pg_index x
		JOIN pg_class c ON c.oid = x.indexrelid
		JOIN pg_class t ON t.oid = x.indrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE t.oid = to_regclass($1) AND c.relname = $2 AND c.relnamespace = t.relnamespace`, tbl, name).
		Scan(&st.Qualified, &st.Valid, &building)
	if errors.Is(err, sql.ErrNoRows) {
		return driver.IndexState{}, nil
	}
	if err != nil {
		return driver.IndexState{}, fmt.Errorf("look up index %s: %w", name, translate(err))
	}
	st.Exists, st.BuildingPID = true, int(building.Int64)
	return st, nil
}

func (d *Driver) IndexStateByName(ctx context.Context, q driver.Querier, schema, name string) (driver.IndexState, error) {
	idx := quoteIdent(name)
	if schema != "" {
		idx = quoteIdent(schema) + "." + idx
	}
	var st driver.IndexState
	var building sql.NullInt64
	err := q.QueryRowContext(ctx, `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), x.indisvalid,
		(SELECT p.pid FROM pg_stat_progress_create_index p WHERE p.index_relid = c.oid LIMIT 1)
		FROM pg_index x
		JOIN pg_class c ON c.oid = x.indexrelid
		JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE c.oid = to_regclass($1)`, idx).Scan(&st.Qualified, &st.Valid, &building)
	if errors.Is(err, sql.ErrNoRows) {
		return driver.IndexState{}, nil
	}
	if err != nil {
		return driver.IndexState{}, fmt.Errorf("look up index %s: %w", name, translate(err))
	}
	st.Exists, st.BuildingPID = true, int(building.Int64)
	return st, nil
}

func (d *Driver) DropIndexConcurrently(ctx context.Context, conn *sql.Conn, qualified string) error {
	if _, err := conn.ExecContext(ctx, "DROP INDEX CONCURRENTLY IF EXISTS "+qualified); err != nil {
		return fmt.Errorf("drop invalid index %s: %w", qualified, translate(err))
	}
	return nil
}

var _ driver.Backends = (*Driver)(nil)

// StatementRunning looks the recorded backend up by pid and start time
// (a pid alone may have been reused), and for any other backend executing
// the same statement text in this database, which is how the statement is
// found when a pooler ran it on another backend than the one recorded. The text is
// compared within the server's track_activity_query_size.
func (d *Driver) StatementRunning(ctx context.Context, q driver.Querier, pid int, started time.Time, stmt string) (alive, active bool, others []int, err error) {
	rows, err := q.QueryContext(ctx, `SELECT a.pid, a.pid = $1 AND a.backend_start = $2, coalesce(a.state, '') = 'active'
		FROM pg_stat_activity a
		WHERE a.pid <> pg_backend_pid() AND a.datname = current_database() AND (
			(a.pid = $1 AND a.backend_start = $2)
			OR (a.state = 'active' AND (a.query = $3 OR (octet_length(a.query) >= (SELECT setting::int FROM pg_settings WHERE name = 'track_activity_query_size') - 4
				AND left($3, length(a.query)) = a.query))))`,
		pid, started, stmt)
	if err != nil {
		return false, false, nil, fmt.Errorf("look for the backend running the statement: %w", translate(err))
	}
	defer rows.Close()
	for rows.Next() {
		var p int
		var rec, act bool
		if err := rows.Scan(&p, &rec, &act); err != nil {
			return false, false, nil, translate(err)
		}
		if rec {
			alive, active = true, act
		} else {
			others = append(others, p)
		}
	}
	return alive, active, others, translate(rows.Err())
}

func (d *Driver) TerminateBackend(ctx context.Context, q driver.Querier, pid int) error {
	var ok bool
	if err := q.QueryRowContext(ctx, "SELECT pg_terminate_backend($1)", pid).Scan(&ok); err != nil {
		return fmt.Errorf("terminate backend %d: %w", pid, translate(err))
	}
	return nil
}

// EndSession terminates the session and waits until the server has let it
// go: pg_terminate_backend only asks, and the backend rolls back its
// transaction on the way out.
func (d *Driver) EndSession(ctx context.Context, q driver.Querier, s driver.Session) error {
	if _, err := q.ExecContext(ctx, `SELECT pg_terminate_backend($1) WHERE `+sessionCheck, s.PID, s.ClientPort); err != nil {
		return fmt.Errorf("terminate session %d: %w", s.PID, translate(err))
	}
	for {
		var alive bool
		if err := q.QueryRowContext(ctx, `SELECT `+sessionCheck, s.PID, s.ClientPort).Scan(&alive); err != nil {
			return fmt.Errorf("wait for session %d to end: %w", s.PID, translate(err))
		}
		if !alive {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for session %d to end: %w", s.PID, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
