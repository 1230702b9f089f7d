package driver

import (
	"context"
	"database/sql"
	"time"
)

// Notifier is the optional ability of a driver to announce committed
// migrations to waiting sessions (PostgreSQL LISTEN/NOTIFY). Callers probe
// for it with a type assertion; a driver without it is polled.
//
// A notification is only a hint that the history changed: a caller re-reads
// the history after every wake-up, and polls as well, because a session can
// miss notifications (a reconnect, a pooler in between).
type Notifier interface {
	// Listen subscribes conn's session to the commit announcements. conn
	// must be dedicated to the caller and talk to its own server session
	// (SessionIsDirect); through a transaction pooler the subscription
	// would stay behind on a server connection that others then share.
	Listen(ctx context.Context, conn *sql.Conn) error
	// Unlisten ends conn's subscription.
	Unlisten(ctx context.Context, conn *sql.Conn) error
	// WaitNotification blocks until an announcement reaches conn, ctx ends,
	// or timeout passes; it reports false with a nil error on timeout. An
	// error means the session is unusable for listening.
	WaitNotification(ctx context.Context, conn *sql.Conn, timeout time.Duration) (bool, error)
}
