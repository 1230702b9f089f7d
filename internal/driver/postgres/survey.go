package postgres

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// Survey reads, without writing, what Up's guard against a mistyped
// --table needs: fleetgate history tables in any schema of this database
// (a missing or wrong schema is the typical typo), and the other tables in
// the schema the history would be created in.
func (d *Driver) Survey(ctx context.Context, q driver.Querier, t driver.Tables) (*driver.Survey, error) {
	s := &driver.Survey{}
	var schema string
	if err := q.QueryRowContext(ctx, `SELECT coalesce(nullif($1, ''), current_schema(), '')`, t.Schema).Scan(&schema); err != nil {
		return nil, translate(err)
	}
	if t.Schema != "" {
		var ok bool
		if err := q.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, t.Schema).Scan(&ok); err != nil {
			return nil, translate(err)
		}
		s.SchemaMissing = !ok
	}
	// A schema fan-out target (SearchPath set) expects its siblings to have
	// histories of their own: they are no sign of a mistyped --table, and
	// counting each of a thousand schemas' rows for each of them would
	// make the fan-out quadratic. Its own schema's tables are still looked at.
	if d.SearchPath != "" {
		return s, d.surveyUserTables(ctx, q, t, schema, s)
	}
	rows, err := q.QueryContext(ctx, `SELECT table_schema, table_name FROM information_schema.columns
		WHERE column_name::text = ANY($1::text[]) AND table_schema NOT IN ('pg_catalog', 'information_schema')
		GROUP BY 1, 2 HAVING count(*) = $2::int ORDER BY 1, 2`,
		"{"+strings.Join(driver.HistoryColumns, ",")+"}", len(driver.HistoryColumns))
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
		q1 := fmt.Sprintf("SELECT count(*) FROM %s.%s", quoteIdent(x.schema), quoteIdent(x.name))
		if err := q.QueryRowContext(ctx, q1).Scan(&n); err != nil {
			// information_schema lists tables on which the user has any
			// privilege, not only SELECT: one it cannot read is not
			// evidence either way.
			continue
		}
		if n > 0 {
			s.Histories = append(s.Histories, driver.History{Table: x.schema + "." + x.name, Applied: n})
		}
	}
	return s, d.surveyUserTables(ctx, q, t, schema, s)
}

// surveyUserTables lists the tables in schema that are not fleetgate's.
func (d *Driver) surveyUserTables(ctx context.Context, q driver.Querier, t driver.Tables, schema string, s *driver.Survey) error {
	if s.SchemaMissing {
		return nil
	}
	rows, err := q.QueryContext(ctx, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = $1 AND table_type = 'BASE TABLE' ORDER BY 1`, schema)
	if err != nil {
		return translate(err)
	}
	defer rows.Close()
	own := t
	own.Schema = schema
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return translate(err)
		}
		if !driver.IsOwn(schema+"."+name, own, s.Histories) {
			s.UserTables = append(s.UserTables, name)
		}
	}
	return translate(rows.Err())
}
