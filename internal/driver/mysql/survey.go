package mysql

import (
	"context"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

var _ driver.Surveyor = (*Driver)(nil)

// Survey reads, without writing, what Up's guard against a mistyped
// --table needs: fleetgate history tables in the database the history
// would go in (and in the connection's default database, where a missing
// schema prefix would have put it), and the other tables there. It runs
// only while the history table does not exist, so its information_schema
// reads (slow on MariaDB with many tables) cost a first deploy only; the
// table lists read names only, which MariaDB answers without opening the
// tables.
func (d *Driver) Survey(ctx context.Context, q driver.Querier, t driver.Tables) (*driver.Survey, error) {
	s := &driver.Survey{}
	var schema, current string
	if err := q.QueryRowContext(ctx, `SELECT coalesce(nullif(?, ''), DATABASE(), ''), coalesce(DATABASE(), '')`, t.Schema).
		Scan(&schema, &current); err != nil {
		return nil, translate(err)
	}
	if schema == "" {
		return s, nil // no database selected: nothing to survey
	}
	if t.Schema != "" {
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?`, t.Schema).Scan(&n); err != nil {
			return nil, translate(err)
		}
		if n == 0 {
			s.SchemaMissing = true
			return s, nil
		}
	}
	ph := strings.TrimSuffix(strings.Repeat("?, ", len(driver.HistoryColumns)), ", ")
	args := []any{schema, current}
	for _, c := range driver.HistoryColumns {
		args = append(args, c)
	}
	args = append(args, len(driver.HistoryColumns))
	rows, err := q.QueryContext(ctx, `SELECT TABLE_SCHEMA, TABLE_NAME FROM information_schema.COLUMNS
		WHERE TABLE_SCHEMA IN (?, ?) AND COLUMN_NAME IN (`+ph+`)
		GROUP BY TABLE_SCHEMA, TABLE_NAME HAVING count(*) = ? ORDER BY 1, 2`, args...)
	if err != nil {
		return nil, translate(err)
	}
	type tbl struct{ schema, name string }
	var found []tbl
	for rows.Next() {
		var x tbl
		if err := rows.Scan(&x.schema, &x.name); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		found = append(found, x)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	for _, x := range found {
		if x.schema == schema && x.name == t.Migrations {
			s.OwnExists = true
			return s, nil
		}
		var n int
		if err := q.QueryRowContext(ctx, "SELECT count(*) FROM "+quoteIdent(x.schema)+"."+quoteIdent(x.name)).Scan(&n); err != nil {
			// information_schema lists tables on which the user has any
			// privilege, not only SELECT: one it cannot read is not
			// evidence either way.
			continue
		}
		if n > 0 {
			s.Histories = append(s.Histories, driver.History{Table: x.schema + "." + x.name, Applied: n})
		}
	}
	rows, err = q.QueryContext(ctx, `SELECT TABLE_NAME FROM information_schema.TABLES
		WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`, schema)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	own := t
	own.Schema = schema
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, translate(err)
		}
		if !driver.IsOwn(schema+"."+name, own, s.Histories) {
			s.UserTables = append(s.UserTables, name)
		}
	}
	return s, translate(rows.Err())
}
