package driver

import (
	"context"
	"errors"
	"time"

	"github.com/fleetgate/fleetgate/internal/fleet"
)

// ErrNoRegistry means the registry table does not exist and this role may
// not create it.
var ErrNoRegistry = errors.New("no instance registry table")

// Registry is implemented by drivers that keep the instance registry: the
// running instances of the application and the build each runs (package
// fleet). Every method is one statement, so it is safe through a
// transaction-mode pooler and costs one round trip.
type Registry interface {
	// EnsureRegistry creates the registry table when it is missing.
	EnsureRegistry(ctx context.Context, q Querier) error
	// RegisterInstance inserts or replaces the row of in.ID, stamping
	// started_at and last_seen with the database clock.
	RegisterInstance(ctx context.Context, q Querier, in *fleet.Instance) error
	// TouchInstance refreshes last_seen; false when the row is gone (it
	// expired and was reaped, or someone deleted it).
	TouchInstance(ctx context.Context, q Querier, id string) (bool, error)
	// RemoveInstance deletes the row of id.
	RemoveInstance(ctx context.Context, q Querier, id string) error
	// ReadInstances returns every row and the database clock, so that
	// liveness is judged by one clock. A missing table reads as none.
	ReadInstances(ctx context.Context, q Querier) ([]fleet.Instance, time.Time, error)
	// ReapInstances deletes rows not seen since before (long dead).
	ReapInstances(ctx context.Context, q Querier, before time.Time) error
}
