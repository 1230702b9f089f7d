package driver

import (
	"context"
)

// Survey is what a database holds around fleetgate's history tables, read
// before Up creates them: a mistyped --table must not start a second
// history beside the real one and re-run every migration.
type Survey struct {
	// SchemaMissing is set when the history table names a schema that does
	// not exist.
	SchemaMissing bool
	// OwnExists is set when the history table itself exists: another runner
	// created it in the meantime, and nothing else matters.
	OwnExists bool
	// Histories are other fleetgate history tables (schema.name or name)
	// with the number of migrations each records.
	Histories []History
	// UserTables are the tables in the history table's schema that are not
	// fleetgate's own.
	UserTables []string
}

// History is one fleetgate history table found by Survey.
type History struct {
	Table   string
	Applied int
}

// Surveyor is implemented by drivers that can Survey a database.
type Surveyor interface {
	Survey(ctx context.Context, q Querier, t Tables) (*Survey, error)
}

// HistoryColumns identify a fleetgate history table whatever its name: no
// other table has all of them (the events table lacks up_sql).
var HistoryColumns = []string{"up_sql", "fleetgate_version", "lock_generation", "statements_done"}

// IsOwn says whether table (as Survey names it) is one of the tables of t
// or of a history table found beside it.
func IsOwn(table string, t Tables, histories []History) bool {
	match := func(tt Tables) bool {
		return table == qualify(tt.Schema, tt.Migrations) || table == qualify(tt.Schema, tt.Events) ||
			table == qualify(tt.Schema, tt.Lock) || table == qualify(tt.Schema, tt.Instances)
	}
	if match(t) {
		return true
	}
	for _, h := range histories {
		if ht, err := NewTables(h.Table); err == nil && match(ht) {
			return true
		}
	}
	return false
}

func qualify(schema, name string) string {
	if schema == "" {
		return name
	}
	return schema + "." + name
}
