//go:build !no_postgres

package fleetgate

// The PostgreSQL engine registers itself; build with -tags no_postgres to
// leave it (and pgx) out.
import _ "github.com/fleetgate/fleetgate/internal/driver/postgres"
