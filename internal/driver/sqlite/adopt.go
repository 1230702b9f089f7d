package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.Adopter = (*Driver)(nil)

// legacyQueries read each tool's SQLite table in the shape of
// driver.LegacyRow: rank, version, applied, dirty, type, description.
var legacyQueries = map[string]string{
	driver.ToolGolangMigrate: `SELECT 0, CAST(version AS TEXT), 1, dirty, '', '' FROM %s`,
	driver.ToolGoose:         `SELECT id, CAST(version_id AS TEXT), is_applied, 0, '', '' FROM %s ORDER BY id`,
	driver.ToolDbmate:        `SELECT 0, CAST(version AS TEXT), 1, 0, '', '' FROM %s ORDER BY version`,
	driver.ToolFlyway: `SELECT installed_rank, coalesce(CAST(version AS TEXT), ''), success, 0, coalesce(type, ''), coalesce(description, '')
		FROM %s ORDER BY installed_rank`,
}

// ReadLegacy reads another tool's history table; schema is an attached
// database name or "".
func (d *Driver) ReadLegacy(ctx context.Context, q driver.Querier, tool, schema, table string) ([]driver.LegacyRow, bool, error) {
	query, ok := legacyQueries[tool]
	if !ok {
		return nil, false, fmt.Errorf("unknown tool %q", tool)
	}
	name, master, dbName := quoteIdent(table), "sqlite_master", "main"
	if schema != "" {
		name, master, dbName = quoteIdent(schema)+"."+name, quoteIdent(schema)+".sqlite_master", schema
	}
	var found string
	err := q.QueryRowContext(ctx, `SELECT name FROM `+master+` WHERE type = 'table' AND name = ?`, table).Scan(&found)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("look for %s: %w", name, translate(err))
	}
	cols := map[string]bool{}
	rows, err := q.QueryContext(ctx, `SELECT name FROM pragma_table_info(?, ?)`, table, dbName)
	if err != nil {
		return nil, true, fmt.Errorf("read columns of %s: %w", name, translate(err))
	}
	for rows.Next() {
		var c string
		if err := rows.Scan(&c); err != nil {
			rows.Close()
			return nil, true, translate(err)
		}
		cols[c] = true
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, true, translate(err)
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
// recorded, inside the open (IMMEDIATE) transaction.
func (d *Driver) InsertAdopted(ctx context.Context, tx driver.Tx, gen int64, rows []driver.Adopted) ([]int64, error) {
	var inserted []int64
	for i := range rows {
		a := &rows[i].Row
		var down, downSum any
		if a.HasDown {
			down, downSum = a.DownSQL, a.DownChecksum
		}
		var v int64
		err := tx.QueryRowContext(ctx, `INSERT INTO `+d.mig+` (version, name, checksum, phase, up_sql, down_sql, down_checksum,
			reversible, applied_at, duration_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete,
			statements_done, adopted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, `+nowMS+`, 0, ?, ?, ?, ?, ?, ?, 1, ?, 1)
			ON CONFLICT (version) DO NOTHING RETURNING version`,
			a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, down, downSum, a.HasDown, a.Actor.OSUser, a.Actor.Host,
			a.Actor.PID, a.Actor.DeployID, a.Actor.ToolVersion, gen, a.StatementsDone).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue // already recorded
		}
		if err != nil {
			return nil, fmt.Errorf("record adopted version %d: %w", a.Version, translate(err))
		}
		ev := rows[i].Event
		ev.LockGeneration = gen
		if err := d.AppendEvent(ctx, tx, &ev); err != nil {
			return nil, err
		}
		inserted = append(inserted, v)
	}
	return inserted, nil
}
