package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.Adopter = (*Driver)(nil)

// legacyQueries read each tool's table in the shape of driver.LegacyRow:
// rank, version, applied, dirty, type, description.
var legacyQueries = map[string]string{
	driver.ToolGolangMigrate: `SELECT 0::bigint, version::text, true, dirty, '', '' FROM %s`,
	driver.ToolGoose:         `SELECT id::bigint, version_id::text, is_applied, false, '', '' FROM %s ORDER BY id`,
	driver.ToolDbmate:        `SELECT 0::bigint, version::text, true, false, '', '' FROM %s ORDER BY version`,
	driver.ToolFlyway: `SELECT installed_rank::bigint, coalesce(version, ''), success, false, coalesce(type, ''), coalesce(description, '')
		FROM %s ORDER BY installed_rank`,
}

// ReadLegacy reads another tool's history table. It only reads, and may run
// inside the transaction that records the adoption, so that what is
// recorded is what was read.
func (d *Driver) ReadLegacy(ctx context.Context, q driver.Querier, tool, schema, table string) ([]driver.LegacyRow, bool, error) {
	query, ok := legacyQueries[tool]
	if !ok {
		return nil, false, fmt.Errorf("unknown tool %q", tool)
	}
	name := quoteIdent(table)
	if schema != "" {
		name = quoteIdent(schema) + "." + name
	}
	var oid sql.NullInt64
	if err := q.QueryRowContext(ctx, `SELECT to_regclass($1)::oid::bigint`, name).Scan(&oid); err != nil {
		return nil, false, fmt.Errorf("look for %s: %w", name, translate(err))
	}
	if !oid.Valid {
		return nil, false, nil
	}
	cols := map[string]bool{}
	rows, err := q.QueryContext(ctx, `SELECT attname FROM pg_attribute WHERE attrelid = $1::oid AND attnum > 0 AND NOT attisdropped`, oid.Int64)
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

// InsertAdopted inserts one row and one adopt event per version, each row
// only if the version is not recorded yet (ON CONFLICT DO NOTHING), inside
// the open transaction.
func (d *Driver) InsertAdopted(ctx context.Context, tx driver.Tx, gen int64, rows []driver.Adopted) ([]int64, error) {
	var inserted []int64
	for i := range rows {
		a := &rows[i].Row
		var v int64
		err := tx.QueryRowContext(ctx, `INSERT INTO `+d.mig+` (version, name, checksum, phase, up_sql, down_sql, down_checksum,
			reversible, duration_ms, os_user, host, pid, deploy_id, fleetgate_version, lock_generation, complete, statements_done, adopted)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11, $12, $13, $14, true, $15, true)
			ON CONFLICT (version) DO NOTHING RETURNING version`,
			a.Version, a.Name, a.Checksum, a.Phase, a.UpSQL, nullable(a.DownSQL, a.HasDown), nullable(a.DownChecksum, a.HasDown),
			a.HasDown, a.Actor.OSUser, a.Actor.Host, a.Actor.PID, a.Actor.DeployID, a.Actor.ToolVersion, gen, a.StatementsDone).Scan(&v)
		if errors.Is(err, sql.ErrNoRows) {
			continue // already recorded
		}
		if err != nil {
			return nil, fmt.Errorf("record adopted version %d: %w", a.Version, translate(err))
		}
		q, args := d.eventInsert(&rows[i].Event, fmt.Sprint(gen), 0)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return nil, fmt.Errorf("record adopt event for %d: %w", a.Version, err)
		}
		inserted = append(inserted, v)
	}
	return inserted, nil
}
