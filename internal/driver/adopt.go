package driver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/history"
)

// Legacy tools whose history tables an Adopter reads.
const (
	ToolGolangMigrate = "golang-migrate"
	ToolGoose         = "goose"
	ToolDbmate        = "dbmate"
	ToolFlyway        = "flyway"
)

// ErrLegacyTable means a table exists under the name given for another
// tool's history but does not have that tool's columns: most likely the
// wrong --from (golang-migrate and dbmate both call theirs
// schema_migrations).
var ErrLegacyTable = errors.New("not that tool's history table")

// LegacyRow is one row of another migration tool's history table, reduced to
// what deciding "which versions did it apply" needs. Which fields mean
// something depends on the tool.
type LegacyRow struct {
	// Rank orders rows as the tool wrote them: goose's id, flyway's
	// installed_rank. 0 for golang-migrate and dbmate.
	Rank int64
	// Version as the tool stores it, in text: golang-migrate's bigint,
	// goose's version_id, dbmate's varchar, flyway's dotted version ("" for
	// a repeatable migration).
	Version string
	// Applied is goose's is_applied and flyway's success; true for
	// golang-migrate and dbmate, whose rows only exist for applied versions.
	Applied bool
	// Dirty is golang-migrate's dirty flag: it failed part way.
	Dirty bool
	// Type and Description are flyway's (SQL, BASELINE, UNDO_SQL, ...).
	Type, Description string
}

// Adopter is the optional ability of a Driver to take over the history of
// another migration tool. Both methods are in the driver because they are
// SQL; deciding what the rows mean is the caller's.
type Adopter interface {
	// ReadLegacy reads tool's history table (schema may be "" for the
	// search path). found is false when no such table exists; a table
	// without the tool's columns is ErrLegacyTable.
	ReadLegacy(ctx context.Context, q Querier, tool, schema, table string) (rows []LegacyRow, found bool, err error)
	// InsertAdopted inserts each row, marked adopted and stamped with lock
	// generation gen, together with its event, in tx. Versions fleetgate
	// already records are left as they are, and get no event. It returns
	// the versions it inserted. The caller then commits tx, whose fence
	// makes the batch count only while the lock is still held.
	InsertAdopted(ctx context.Context, tx Tx, gen int64, rows []Adopted) ([]int64, error)
}

// Adopted is one version to record as applied without running it.
type Adopted struct {
	Row   history.Applied
	Event history.Event
}

// LegacyColumns are the columns each tool's history table must have, and
// LegacyForeign a column that proves the table is another tool's: both
// golang-migrate and dbmate name theirs schema_migrations, and only
// golang-migrate's has dirty.
var LegacyColumns = map[string][]string{
	ToolGolangMigrate: {"version", "dirty"},
	ToolGoose:         {"id", "version_id", "is_applied"},
	ToolDbmate:        {"version"},
	ToolFlyway:        {"installed_rank", "version", "description", "type", "success"},
}

// LegacyForeign maps a tool to a column its history table never has.
var LegacyForeign = map[string]string{ToolDbmate: "dirty"}

// CheckLegacyColumns refuses a table, named name in messages, whose
// columns cols lack the tool's, or include one the tool's table never has.
func CheckLegacyColumns(name, tool string, cols map[string]bool) error {
	var missing []string
	for _, c := range LegacyColumns[tool] {
		if !cols[c] {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s has no column %s, which %s's history table has", ErrLegacyTable, name, strings.Join(missing, ", "), tool)
	}
	if c, ok := LegacyForeign[tool]; ok && cols[c] {
		return fmt.Errorf("%w: %s has a %s column, which %s's history table does not have", ErrLegacyTable, name, c, tool)
	}
	return nil
}

// ScanLegacyRows reads the rows of a driver's legacy-history query, whose
// columns are rank, version, applied, dirty, type and description in that
// order, and closes them.
func ScanLegacyRows(rows *sql.Rows) ([]LegacyRow, error) {
	defer rows.Close()
	var out []LegacyRow
	for rows.Next() {
		var r LegacyRow
		if err := rows.Scan(&r.Rank, &r.Version, &r.Applied, &r.Dirty, &r.Type, &r.Description); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
