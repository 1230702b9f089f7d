package postgres

import (
	"context"
	"crypto/tls"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/driver"
)

func init() {
	driver.Register(driver.Engine{
		Dialect: dialect.Postgres,
		Name:    "PostgreSQL",
		Schemes: []string{"postgres", "postgresql"},
		Example: []string{"postgres://", "postgresql://"},
		Open:    Open,
		New:     func(t driver.Tables) (driver.Driver, error) { return New(t), nil },
	})
}

// Open parses a postgres:// URL and opens the pool. A cancelled migration
// statement is cancelled on the server and its answer awaited (pgx's
// default closes the socket at once, leaving the server to run the
// statement to its end, where it may still commit): a runner that stops
// its migration, for a lost lease or a signal, then knows that it
// stopped. A server that does not answer the cancel within cancelWait
// gets the socket closed after all.
func Open(raw string, redact func(string) string) (*sql.DB, error) {
	u, perr := url.Parse(raw)
	if perr != nil {
		return nil, fmt.Errorf("malformed PostgreSQL URL %s: %s", redact(raw), urlProblem(perr))
	}
	if u.Host == "" && !strings.Contains(u.RawQuery, "host=") {
		return nil, fmt.Errorf("malformed PostgreSQL URL %s: no host (want postgres://user@host:port/dbname)", redact(raw))
	}
	q := u.Query()
	// Simple protocol: no prepared statements to strand on a
	// transaction pooler's server connections, and one round trip for
	// our multi-statement commits.
	if q.Get("default_query_exec_mode") == "" {
		q.Set("default_query_exec_mode", "simple_protocol")
	}
	if q.Get("application_name") == "" {
		q.Set("application_name", "fleetgate")
	}
	if q.Get("connect_timeout") == "" {
		q.Set("connect_timeout", "10")
	}
	u.RawQuery = q.Encode()
	cfg, err := pgx.ParseConfig(u.String())
	if err != nil {
		return nil, fmt.Errorf("%s: %v", redact(raw), err)
	}
	cfg.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &stopHandler{
			cancel:   cancelRequest{conn: c},
			deadline: pgconn.DeadlineContextWatcherHandler{Conn: c.Conn()},
		}
	}
	return stdlib.OpenDB(*cfg, learnTLSRefusal(cfg)...), nil
}

// learnTLSRefusal: with sslmode "prefer" (pgx's default, so any URL
// without sslmode) pgx asks for TLS on one TCP connection and, when the
// server refuses, connects again for plain text: against a server
// without TLS every session cost two connections, and the server a
// backend forked for nothing. Once a connection of this pool ended up
// plain, the later ones of the pool go plain at once. That keeps what
// "prefer" promises: a refusal (or a failed handshake) already makes it
// fall back to plain text, so skipping the question only spares a round
// of it, and a server that starts offering TLS is used with TLS again by
// the next process. Only for one host, where the fallback is that host
// without TLS; other modes and multi-host URLs are left as they are.
func learnTLSRefusal(cfg *pgx.ConnConfig) []stdlib.OptionOpenDB {
	if cfg.TLSConfig == nil || len(cfg.Fallbacks) != 1 {
		return nil
	}
	fb := cfg.Fallbacks[0]
	if fb.TLSConfig != nil || fb.Host != cfg.Host || fb.Port != cfg.Port {
		return nil
	}
	var plain atomic.Bool
	after := cfg.AfterConnect
	cfg.AfterConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		if _, ok := pc.Conn().(*tls.Conn); !ok {
			plain.Store(true)
		}
		if after != nil {
			return after(ctx, pc)
		}
		return nil
	}
	return []stdlib.OptionOpenDB{stdlib.OptionBeforeConnect(func(_ context.Context, c *pgx.ConnConfig) error {
		// c is a copy of cfg: setting its fields leaves cfg alone.
		if plain.Load() {
			c.TLSConfig, c.Fallbacks = nil, nil
		}
		return nil
	})}
}

// urlProblem says what url.Parse found wrong, without the URL (which the
// caller prints redacted).
func urlProblem(err error) string {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "cannot be parsed"
	}
	msg := ue.Err.Error()
	if port, ok := strings.CutPrefix(msg, "invalid port "); ok {
		port, _, _ = strings.Cut(port, " after host")
		return fmt.Sprintf("port %s is not a number", strings.TrimPrefix(strings.Trim(port, `"`), ":"))
	}
	if strings.Contains(msg, "invalid userinfo") {
		return "the user or password has a character that must be percent-encoded (e.g. @ as %40, / as %2F)"
	}
	return "cannot be parsed: " + msg
}

// stopHandler cancels a migration statement on the server when its
// context ends (a lost lease, a signal) and waits for the server's answer,
// so a runner that stops its migration knows that it stopped. Elsewhere
// (fleetgate's own short statements and waits) it drops the socket at
// once, pgx's default: see driver.CancelOnServer.
type stopHandler struct {
	cancel    cancelRequest
	deadline  pgconn.DeadlineContextWatcherHandler
	cancelled bool
}

func (h *stopHandler) HandleCancel(ctx context.Context) {
	h.cancelled = driver.CancelsOnServer(ctx)
	if h.cancelled {
		h.cancel.HandleCancel(ctx)
	} else {
		h.deadline.HandleCancel(ctx)
	}
}

func (h *stopHandler) HandleUnwatchAfterCancel() {
	if h.cancelled {
		h.cancel.HandleUnwatchAfterCancel()
	} else {
		h.deadline.HandleUnwatchAfterCancel()
	}
}

// cancelRequest sends a cancel request for the statement in flight and
// lets it run to its end (the server, or a pooler, closes the cancel
// connection when it has passed the request on), bounded by cancelWait.
// pgx's CancelRequestContextWatcherHandler instead closes the cancel
// connection as soon as the statement returns, which can be before a
// pooler has forwarded the request: PgBouncer 1.18, Debian 12's, then
// exits ("bad client state" in disconnect_client, pgbouncer/pgbouncer#801)
// and every client of it gets "connection refused".
type cancelRequest struct {
	conn *pgconn.PgConn
	done chan struct{}
}

func (h *cancelRequest) HandleCancel(context.Context) {
	deadline := time.Now().Add(cancelWait)
	// A server that does not answer the cancel in time gets the socket
	// closed after all.
	_ = h.conn.Conn().SetDeadline(deadline)
	h.done = make(chan struct{})
	go func() {
		defer close(h.done)
		ctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if h.conn.CancelRequest(ctx) == nil {
			// The server has the request but may not have acted on it
			// yet; the connection's next statement must not be the one
			// it cancels (pgx waits the same way).
			time.Sleep(100 * time.Millisecond)
		}
	}()
}

func (h *cancelRequest) HandleUnwatchAfterCancel() {
	<-h.done
	_ = h.conn.Conn().SetDeadline(time.Time{})
}

// cancelWait bounds the wait for the server's answer to a cancel request.
const cancelWait = 5 * time.Second
