// Package dialect names the databases fleetgate speaks to and the static
// facts about them that code outside the drivers needs to branch on.
package dialect

import "fmt"

// Dialect is one database family.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
	MySQL    Dialect = "mysql"
)

// TransactionalDDL reports whether a schema change rolls back with its
// transaction. Where it does not (MySQL), a migration cannot be recorded
// atomically with its effect.
func (d Dialect) TransactionalDDL() bool { return d != MySQL }

// Validate rejects a dialect fleetgate does not know.
func (d Dialect) Validate() error {
	switch d {
	case Postgres, SQLite, MySQL:
		return nil
	}
	return fmt.Errorf("unknown dialect %q", string(d))
}
