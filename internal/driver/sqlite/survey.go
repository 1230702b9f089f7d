package sqlite

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Survey reads, without writing, what Up's guard against a mistyped
// --table needs: other fleetgate history tables, and the other tables.
func (d *Driver) Survey(ctx context.Context, q driver.Querier, t driver.Tables) (*driver.Survey, error) {
	s := &driver.Survey{}
	cols := "'" + strings.Join(driver.HistoryColumns, "','") + "'"
	rows, err := q.QueryContext(ctx, `SELECT m.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
		WHERE m.type = 'table' AND p.name IN (`+cols+`) GROUP BY m.name HAVING count(*) = ? ORDER BY 1`, len(driver.HistoryColumns))
	if err != nil {
		return nil, translate(err)
	}
	var found []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			rows.Close()
			return nil, translate(err)
		}
		found = append(found, name)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, translate(err)
	}
	for _, name := range found {
		if name == t.Migrations {
			s.OwnExists = true
			return s, nil
		}
		var n int
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM "`+strings.ReplaceAll(name, `"`, `""`)+`"`).Scan(&n); err != nil {
			return nil, fmt.Errorf("count %s: %w", name, translate(err))
		}
		if n > 0 {
			s.Histories = append(s.Histories, driver.History{Table: name, Applied: n})
		}
	}
	rows, err = q.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\' ORDER BY 1`)
	if err != nil {
		return nil, translate(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, translate(err)
		}
		if !driver.IsOwn(name, t, s.Histories) {
			s.UserTables = append(s.UserTables, name)
		}
	}
	return s, translate(rows.Err())
}
