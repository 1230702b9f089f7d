package driver

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Monitor is implemented by drivers that can watch a running migration
// statement from another connection (PostgreSQL): who blocks it, and how
// far an index build has got. Watching never takes a lock and each query
// is a single short statement, so it cannot hold up the statement it
// watches (CREATE INDEX CONCURRENTLY waits for older snapshots).
type Monitor interface {
	// Session identifies the server session of conn without a round trip
	// (it is known from the connection's start-up); ok is false when the
	// driver cannot tell.
	Session(conn *sql.Conn) (s Session, ok bool)
	// Blockers returns the sessions that s waits for: those holding a lock
	// it wants, or queued for it ahead of it. None when it is not waiting,
	// or when s turns out not to be the session it was taken for (a
	// pooler's connection).
	Blockers(ctx context.Context, q Querier, s Session) ([]Blocker, error)
	// IndexProgress returns the progress of the index build that s runs,
	// nil when it runs none.
	IndexProgress(ctx context.Context, q Querier, s Session) (*IndexProgress, error)
}

// Session is a server session as another connection can find it. Through
// a pooler the process id a client learns at start-up is the pooler's, not
// a server's; the client port tells the two apart.
type Session struct {
	PID        int
	ClientPort int // the client's TCP port as the server sees it; 0 for a Unix socket
}

// IndexBuilder is implemented by drivers that can inspect and clean up
// after an interrupted CREATE INDEX CONCURRENTLY.
type IndexBuilder interface {
	// IndexState describes the index name on table (schema "" means the
	// search path), in the table's schema as CREATE INDEX puts it.
	IndexState(ctx context.Context, q Querier, schema, table, name string) (IndexState, error)
	// IndexStateByName describes the index name in schema ("" means the
	// search path), for a statement that names no table (DROP INDEX).
	IndexStateByName(ctx context.Context, q Querier, schema, name string) (IndexState, error)
	// DropIndexConcurrently drops an index by its qualified name, outside
	// any transaction.
	DropIndexConcurrently(ctx context.Context, conn *sql.Conn, qualified string) error
}

// Blocker is a session holding, or queued ahead for, a lock that a
// migration statement waits for. The blocker's query text is not kept: it
// may hold application data, and it would end up in logs and in the
// audit log.
type Blocker struct {
	PID             int       `json:"pid"`
	ApplicationName string    `json:"application_name"`
	User            string    `json:"user,omitempty"`
	ClientAddr      string    `json:"client_addr,omitempty"`
	State           string    `json:"state,omitempty"`
	XactStart       time.Time `json:"xact_start,omitempty"`
	QueryStart      time.Time `json:"query_start,omitempty"`
}

func (b Blocker) String() string {
	var parts []string
	parts = append(parts, fmt.Sprintf("application_name %q", b.ApplicationName))
	if b.User != "" {
		parts = append(parts, "user "+b.User)
	}
	if b.ClientAddr != "" {
		parts = append(parts, "client "+b.ClientAddr)
	}
	if b.State != "" {
		parts = append(parts, "state "+b.State)
	}
	if !b.XactStart.IsZero() {
		parts = append(parts, "transaction started "+b.XactStart.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	if !b.QueryStart.IsZero() {
		parts = append(parts, "query started "+b.QueryStart.UTC().Format("2006-01-02T15:04:05.000Z"))
	}
	return fmt.Sprintf("pid %d (%s)", b.PID, strings.Join(parts, ", "))
}

// Blockers formats a list of blockers for a message.
func Blockers(bs []Blocker) string {
	s := make([]string, len(bs))
	for i, b := range bs {
		s[i] = b.String()
	}
	return strings.Join(s, "; ")
}

// IndexProgress is a row of pg_stat_progress_create_index.
type IndexProgress struct {
	Phase                     string
	BlocksDone, BlocksTotal   int64
	TuplesDone, TuplesTotal   int64
	LockersDone, LockersTotal int64
}

// IndexState says whether an index exists and is valid; an INVALID index
// is what an interrupted CREATE INDEX CONCURRENTLY leaves behind, unless
// BuildingPID > 0: a backend is still building it (its client may have
// died, but the server finishes the statement).
type IndexState struct {
	Exists      bool
	Valid       bool
	Qualified   string // schema-qualified, quoted name for DROP INDEX
	BuildingPID int
}

// SessionEnder is implemented by drivers whose server sessions can outlive
// their client (PostgreSQL): a statement whose connection was cut goes on
// until the server notices. EndSession terminates s, if it still exists,
// and waits until it is gone, so that nothing it runs can commit after the
// caller has reported it stopped.
type SessionEnder interface {
	EndSession(ctx context.Context, q Querier, s Session) error
}
