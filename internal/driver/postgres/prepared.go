package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// A migration's commit writes its fenced history row and event in one
// statement (see recordSQL). Sent as a simple query, the server parses and
// plans that statement again for every migration, and planning the fence
// (a locking read of the lock row inside a data-modifying CTE) costs it
// several times what inserting the rows does; the client pays for quoting
// every value into the text. On a session that is the client's own, a run
// of migrations prepares the statement once instead and sends only its
// values, in the same single round trip as before: Bind and Execute of the
// prepared statement, then COMMIT, in one batch.
//
// Never through a pooler: a prepared statement is session state, which a
// transaction pooler (PgBouncer) would leave on a server connection that
// the next transaction may not get. So only a session that
// SessionIsDirect proves direct prepares anything; every other one keeps
// the simple query. And only within one TxOptions.Scope (a run on its
// pinned connection): between runs the connection is back in the pool,
// where a caller's own code may reset the session (DISCARD ALL), so a new
// scope prepares afresh under new names.

// stateKey is where a connection's prepared commits are kept, in the pgx
// connection's CustomData (so they live and die with the session).
const stateKey = "fleetgate/postgres"

// session is what the driver knows about one server session.
type session struct {
	directKnown, direct bool
	scope               any
	names               map[string]string // commit text → prepared statement name, valid in scope
	next                int               // for fresh names: a name is never prepared twice on a session
}

// sessionOf returns the driver's state of conn's session, nil when conn is
// not a pgx connection.
func sessionOf(conn *sql.Conn) (s *session, pc *pgconn.PgConn) {
	_ = conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return nil
		}
		pc = c.Conn().PgConn()
		data := pc.CustomData()
		if s, ok = data[stateKey].(*session); !ok {
			s = &session{}
			data[stateKey] = s
		}
		return nil
	})
	return s, pc
}

// preparing reports whether a transaction of scope on conn may use
// prepared commits, finding out once per session whether it is direct
// (one round trip, before the transaction's BEGIN is sent).
func (d *Driver) preparing(ctx context.Context, conn *sql.Conn, scope any) *session {
	if scope == nil {
		return nil
	}
	s, pc := sessionOf(conn)
	if s == nil {
		return nil
	}
	if !s.directKnown {
		s.direct, s.directKnown = d.SessionIsDirect(ctx, conn), true
	}
	if !s.direct {
		return nil
	}
	if s.scope != scope {
		// What the last scope prepared goes, so a long-lived pool does
		// not collect a statement per run; one already gone is no error.
		for _, name := range s.names {
			_ = conn.Raw(func(any) error { return pc.Deallocate(ctx, name) })
		}
		s.scope, s.names = scope, nil
	}
	return s
}

// mayReset reports whether a statement may drop the session's prepared
// statements. A false alarm only costs a commit sent as a simple query.
func mayReset(stmt string) bool {
	l := strings.ToLower(stmt)
	return strings.Contains(l, "deallocate") || strings.Contains(l, "discard")
}

// commitPrepared sends the commit's fenced writes as the prepared
// statement for text q (prepared first if this scope has not yet), the
// notification when notify is set, and COMMIT, in one batch.
func (t *tx) commitPrepared(ctx context.Context, q string, args []any, notify string) error {
	s := t.prep
	var err error
	rerr := t.Conn().Raw(func(dc any) error {
		pc := dc.(*stdlib.Conn).Conn().PgConn()
		name, ok := s.names[q]
		if !ok {
			name = "fleetgate_commit_" + strconv.Itoa(s.next)
			s.next++
			if _, err = pc.Prepare(ctx, name, q, nil); err != nil {
				return nil
			}
			if s.names == nil {
				s.names = map[string]string{}
			}
			s.names[q] = name
		}
		values := make([][]byte, len(args))
		for i, a := range args {
			values[i] = textValue(a)
		}
		b := &pgconn.Batch{}
		b.ExecPrepared(name, values, nil, nil)
		if notify != "" {
			b.ExecParams("SELECT pg_notify($1, $2)", [][]byte{[]byte(t.d.channel), []byte(notify)}, nil, nil, nil)
		}
		b.ExecParams("COMMIT", nil, nil, nil, nil)
		_, err = pc.ExecBatch(ctx, b).ReadAll()
		return nil
	})
	if rerr != nil {
		return rerr
	}
	return translate(err)
}

// textValue is a in PostgreSQL's text format, nil for NULL.
func textValue(a any) []byte {
	switch v := a.(type) {
	case nil:
		return nil
	case string:
		return []byte(v)
	case bool:
		return []byte(strconv.FormatBool(v))
	case int:
		return strconv.AppendInt(nil, int64(v), 10)
	case int32:
		return strconv.AppendInt(nil, int64(v), 10)
	case int64:
		return strconv.AppendInt(nil, v, 10)
	default:
		return []byte(fmt.Sprint(v))
	}
}
