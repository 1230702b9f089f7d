//go:build !no_mysql

package fleetgate

// The MySQL/MariaDB engine registers itself; build with -tags no_mysql to
// leave it (and go-sql-driver/mysql) out.
import _ "github.com/fleetgate/fleetgate/internal/driver/mysql"
