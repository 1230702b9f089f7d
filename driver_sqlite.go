//go:build !no_sqlite

package fleetgate

// The SQLite engine registers itself; build with -tags no_sqlite to leave
// it (and modernc.org/sqlite) out.
import _ "github.com/fleetgate/fleetgate/internal/driver/sqlite"
