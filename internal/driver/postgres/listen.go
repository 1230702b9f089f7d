package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5/stdlib"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.Notifier = (*Driver)(nil)

// Listen subscribes conn's session to the channel that Commit notifies.
// LISTEN needs no privilege, so read-only credentials can use it; it fails
// on a hot standby, which never receives notifications anyway, and the
// caller then polls.
func (d *Driver) Listen(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "LISTEN "+quoteIdent(d.channel)); err != nil {
		return fmt.Errorf("listen: %w", translate(err))
	}
	return nil
}

var _ driver.ReleaseNotifier = (*Driver)(nil)

// ListenRelease subscribes conn's session to the lock's release only.
func (d *Driver) ListenRelease(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "LISTEN "+quoteIdent(d.releaseChannel())); err != nil {
		return fmt.Errorf("listen: %w", translate(err))
	}
	return nil
}

// Unlisten ends every subscription of conn's session.
func (d *Driver) Unlisten(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "UNLISTEN *"); err != nil {
		return fmt.Errorf("unlisten: %w", translate(err))
	}
	return nil
}

// WaitNotification waits on conn's socket for a notification. pgx buffers
// notifications that arrive while other statements run on the same
// session, so a caller may read the history on conn between waits without
// losing one. A timeout leaves the session usable (pgx only closes it on
// errors other than a read deadline).
func (d *Driver) WaitNotification(ctx context.Context, conn *sql.Conn, timeout time.Duration) (bool, error) {
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := conn.Raw(func(dc any) error {
		c, ok := dc.(*stdlib.Conn)
		if !ok {
			return fmt.Errorf("listen: %T is not a pgx connection: %w", dc, errors.ErrUnsupported)
		}
		_, err := c.Conn().WaitForNotification(wctx)
		return err
	})
	switch {
	case err == nil:
		return true, nil
	case ctx.Err() != nil:
		return false, ctx.Err()
	case errors.Is(err, context.DeadlineExceeded):
		return false, nil
	}
	return false, fmt.Errorf("wait for notification: %w", translate(err))
}
