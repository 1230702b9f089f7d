package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/lock"
)

// lockLost explains a lost lease with only what is known: how it was lost
// (the lease's own cause), what this runner committed before, and what
// became of the migration in flight, read back from the history once its
// server session is known to have stopped. A runner that cannot tell says
// so rather than guessing. direction is "up" or "down".
func (m *Migrator) lockLost(ctx context.Context, lease *lock.Lease, direction string, done []int64, err error) error {
	cause := lease.LostError()
	if cause == nil {
		cause = ErrLockLost // the fence refused a commit before the heartbeat noticed
	}
	verb := map[string]string{"up": "applied", "down": "reverted"}[direction]
	var parts []string
	if len(done) > 0 {
		parts = append(parts, fmt.Sprintf("this runner %s %s before", verb, versionList(done)))
	}
	var le *executor.LockLostError
	if errors.As(err, &le) && le.Version != 0 {
		parts = append(parts, m.inFlight(ctx, lease, direction, le))
	} else if len(done) == 0 {
		parts = append(parts, "this runner committed nothing")
	}
	return fmt.Errorf("%w; %s", cause, strings.Join(parts, "; "))
}

// inFlight says what became of the migration that ran when the lease was
// lost.
func (m *Migrator) inFlight(ctx context.Context, lease *lock.Lease, direction string, le *executor.LockLostError) string {
	v := le.Version
	if !le.Ended {
		return fmt.Sprintf("version %d: its server session could not be confirmed stopped, so it may still commit; `fleetgate status` shows whether it did", v)
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	rows, err := m.readApplied(rctx, m.db, false)
	if err != nil {
		return fmt.Sprintf("version %d: its statement was stopped, but whether it committed first is unknown (the history could not be read: %v); `fleetgate status` shows it", v, err)
	}
	var row *history.Applied
	for i := range rows {
		if rows[i].Version == v && rows[i].Complete {
			row = &rows[i]
		}
	}
	switch {
	case direction == "up" && row != nil && row.LockGeneration == lease.Gen:
		return fmt.Sprintf("version %d was committed by this runner just before the loss was noticed", v)
	case direction == "up" && row != nil:
		return fmt.Sprintf("version %d was stopped and not committed by this runner; another runner applied it since", v)
	case direction == "up":
		return fmt.Sprintf("version %d was stopped and not committed", v)
	case row != nil:
		return fmt.Sprintf("version %d was stopped and not reverted", v)
	default:
		return fmt.Sprintf("version %d is no longer applied (reverted by this runner just before the loss was noticed, or by another runner since)", v)
	}
}
