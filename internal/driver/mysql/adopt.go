package mysql

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.Adopter = (*Driver)(nil)

// legacyQueries read each tool's MySQL table in the shape of
// driver.LegacyRow: rank, version, applied, dirty, type, description. The
// tools create them as golang-migrate's `schema_migrations (version bigint,
// dirty boolean)`, goose's `goose_db_version (id serial, version_id bigint,
// is_applied boolean, tstamp timestamp)`, dbmate's `schema_migrations
// (version varchar(128))` and flyway's flyway_schema_history; BOOLEAN is
// TINYINT(1) there, read back as 0 or 1.
var legacyQueries = map[string]string{
	driver.ToolGolangMigrate: "SELECT CAST(0 AS SIGNED), CAST(version AS CHAR), 1, dirty <> 0, '', '' FROM %s",
	driver.ToolGoose:         "SELECT CAST(id AS SIGNED), CAST(version_id AS CHAR), is_applied <> 0, 0, '', '' FROM %s ORDER BY id",
	driver.ToolDbmate:        "SELECT CAST(0 AS SIGNED), CAST(version AS CHAR), 1, 0, '', '' FROM %s ORDER BY version",
	driver.ToolFlyway: `SELECT CAST(installed_rank AS SIGNED), COALESCE(version, ''), success <> 0, 0, COALESCE(type, ''), COALESCE(description, '')
		FROM %s ORDER BY installed_rank`,
}

// ReadLegacy reads another tool's history table; schema is a MySQL
// database ("" for the connection's own). It only reads, and may run inside
// the transaction that records the adoption.
func (d *Driver) ReadLegacy(ctx context.Context, q driver.Querier, tool, schema, table string) ([]driver.LegacyRow, bool, error) {
	query, ok := legacyQueries[tool]
	if !ok {
		return nil, false, fmt.Errorf("unknown tool %q", tool)
	}
	name, sch, args := quoteIdent(table), "DATABASE()", []any{table}
	if schema != "" {
		name, sch, args = quoteIdent(schema)+"."+name, "?", []any{schema, table}
	}
	// information_schema names the columns as the tool created them; the
	// tools all use lower case, but a table created by hand may not, and
	// MySQL's column names are case-insensitive.
	rows, err := q.QueryContext(ctx, `SELECT LOWER(COLUMN_NAME) FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA = `+sch+` AND TABLE_NAME = ?`, args...)
	if err != nil {
		return nil, false, fmt.Errorf("look for %s: %w", name, translate(err))
	}
	cols := map[string]bool{}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, false, fmt.Errorf("read columns of %s: %w", name, translate(err))
		}
		cols[c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("read columns of %s: %w", name, translate(err))
	}
	if len(cols) == 0 {
		// A table always has a column: none means no such table (or one
		// this role cannot see, which it could not read either).
		return nil, false, nil
	}
	if err := driver.CheckLegacyColumns(name, tool, cols); err != nil {
		return nil, true, err
	}
	rows, err = q.QueryContext(ctx, fmt.Sprintf(query, name))
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", name, translate(err))
	}
	out, err := driver.ScanLegacyRows(rows)
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", name, translate(err))
	}
	return out, true, nil
}

// InsertAdopted inserts one row and one adopt event per version not yet
// recorded, inside the open transaction. The lease serialises adopters, so
// a version read as absent here stays absent until the insert; the row is
// read with a locking read all the same, so that a second writer could
// only wait, never insert twice.
func (d *Driver) InsertAdopted(ctx context.Context, tx driver.Tx, gen int64, rows []driver.Adopted) ([]int64, error) {
	var inserted []int64
	for i := range rows {
		a := &rows[i].Row
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM `+d.mig+` WHERE version = ? FOR UPDATE`, a.Version).Scan(&n); err != nil {
			return nil, fmt.Errorf("look for version %d: %w", a.Version, translate(err))
		}
		if n > 0 {
			continue // already recorded
		}
		var down, downSum any
		if a.HasDown {
			down, downSum = a.DownSQL, a.DownChecksum
		}
		var sums any
		if len(a.StatementChecksums) > 0 {
			sums = strings.Join(a.StatementChecksums, ",")
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO `+d.mig+` (version, name, checksum, phase, up_sql, down_sql, down_checksum,
			reversible, applied_at, duration_ms, db_user, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete,
			statements_done, adopted, statement_checksums)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, NOW(6), 0, CURRENT_USER(), ?, ?, ?, ?, ?, ?, TRUE, ?, TRUE, ?)`,
			a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, down, downSum, a.HasDown, a.Actor.OSUser, a.Actor.Host,
			a.Actor.PID, a.Actor.DeployID, a.Actor.ToolVersion, gen, a.StatementsDone, sums)
		if err != nil {
			return nil, fmt.Errorf("record adopted version %d: %w", a.Version, translate(err))
		}
		ev := rows[i].Event
		if err := d.insertEvent(ctx, tx, &ev, gen, nil); err != nil {
			return nil, fmt.Errorf("record adopt event for %d: %w", a.Version, err)
		}
		inserted = append(inserted, a.Version)
	}
	return inserted, nil
}
