package fleetgate

import (
	"context"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/lock"
)

// rideOut runs attempt until it succeeds or fails for a reason other than
// a lost database (driver.IsTransient), backing off with jitter in
// between. It gives up when timeout (0: none) has passed since the start,
// or, without a timeout, after lock.DefaultOutage of failures in a row.
// attempt gets the time left of timeout (0 when none) and reports, with
// retry, whether a failure may be retried at all: only once the database
// has answered (a wrong URL must fail at once, not look like a hang).
func (m *Migrator) rideOut(ctx context.Context, timeout time.Duration, attempt func(left time.Duration) (retry bool, err error)) error {
	var deadline, outage time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	for n := 0; ; n++ {
		left := timeout
		if !deadline.IsZero() {
			left = max(time.Until(deadline), time.Millisecond)
		}
		retry, err := attempt(left)
		if err == nil || !retry || !driver.IsTransient(m.d, err) || ctx.Err() != nil {
			return err
		}
		if outage.IsZero() {
			outage = time.Now()
		}
		if (!deadline.IsZero() && time.Now().After(deadline)) || (deadline.IsZero() && time.Since(outage) > lock.DefaultOutage) {
			return err
		}
		wait := lock.Backoff(n)
		m.log.WarnContext(ctx, "lost the database connection; retrying", slog.String("error", err.Error()),
			slog.Duration("backoff", wait.Round(time.Millisecond)))
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
	}
}
