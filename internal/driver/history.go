package driver

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/history"
)

// ReadHistory returns the history rows, none when the tables do not exist:
// it never creates them, so read-only credentials and a database fleetgate
// never touched both read as "nothing applied".
func ReadHistory(ctx context.Context, d Driver, q Querier, cols Columns) ([]history.Applied, error) {
	rows, err := d.ReadApplied(ctx, q, cols)
	if err == nil {
		return rows, nil
	}
	ok, terr := d.TablesExist(ctx, q)
	if terr != nil {
		return nil, fmt.Errorf("connect: %w", terr)
	}
	if !ok {
		return nil, nil
	}
	// Another runner created the tables between our two reads.
	return d.ReadApplied(ctx, q, cols)
}

// HistoryTable reads fleetgate's history table with the column lists and
// the row scan every driver shares; only the table's quoted name, the
// dialect's expression for applied_at and how that value is scanned
// differ between databases.
type HistoryTable struct {
	// Name is the quoted, qualified table name.
	Name string
	// AppliedAt is the select expression for applied_at.
	AppliedAt string
	// ScanAppliedAt returns where one row's applied_at value is scanned
	// to and how it then reads as a time (zero when never applied).
	ScanAppliedAt func() (dest any, get func() time.Time)
	// Translate turns the client library's error into the driver's.
	Translate func(error) error
}

// Read implements Driver.ReadApplied. PlanColumns is what every start of
// every instance reads: on 1,000 rows the server formats and sends about a
// quarter of what the full row costs (the timestamps and the actor's text
// columns), and the client scans less.
func (h *HistoryTable) Read(ctx context.Context, q Querier, cols Columns) ([]history.Applied, error) {
	sel := "version, name, checksum, phase, complete, statements_done, coalesce(down_checksum, '')"
	if cols != PlanColumns {
		sel += `, reversible, ` + h.AppliedAt + `, duration_ms, db_user,
			os_user, host, pid, deploy_id, fleetgate_version, lock_generation, adopted`
		if cols == ScriptColumns {
			sel += ", up_sql, coalesce(down_sql, '')"
		}
	}
	rows, err := q.QueryContext(ctx, "SELECT "+sel+" FROM "+h.Name+" ORDER BY version")
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", h.Name, h.Translate(err))
	}
	defer rows.Close()
	if cols == PlanColumns {
		return h.readPlan(rows)
	}
	var out []history.Applied
	var dest []any
	for rows.Next() {
		// Scan straight into the slice: a row is some 300 bytes, and a
		// copy of each of a thousand was a measurable part of a no-op.
		out = append(out, history.Applied{})
		a := &out[len(out)-1]
		dest = append(dest[:0], &a.Version, &a.Name, &a.Checksum, &a.Phase, &a.Complete, &a.StatementsDone, &a.DownChecksum)
		var at func() time.Time
		if cols != PlanColumns {
			var atDest any
			atDest, at = h.ScanAppliedAt()
			dest = append(dest, &a.HasDown, atDest, &a.DurationMS, &a.DBUser,
				&a.Actor.OSUser, &a.Actor.Host, &a.Actor.PID, &a.Actor.DeployID, &a.Actor.ToolVersion, &a.LockGeneration, &a.Adopted)
			if cols == ScriptColumns {
				dest = append(dest, &a.UpSQL, &a.DownSQL)
			}
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, h.Translate(err)
		}
		if at != nil {
			a.AppliedAt = at()
		}
	}
	return out, h.Translate(rows.Err())
}

// planRow is a row of PlanColumns: a quarter of history.Applied.
type planRow struct {
	version                      int64
	name, checksum, downChecksum string
	phase                        string
	complete                     bool
	statementsDone               int
}

// readPlan scans PlanColumns rows, which every start of every instance
// reads. They are scanned into small rows first and copied once into a
// slice of the exact length: growing a []history.Applied row by row
// allocated and copied twice its final size (a megabyte for 1,000 rows,
// 40% of what a no-op up allocated, enough to cost it a collection). The
// small rows go into pages of a fixed size, which are never copied, where
// one growing slice of them allocated and copied twice their size again.
func (h *HistoryTable) readPlan(rows *sql.Rows) ([]history.Applied, error) {
	const pageRows = 256
	var pages [][]planRow
	n := 0
	for rows.Next() {
		if n%pageRows == 0 {
			pages = append(pages, make([]planRow, 0, pageRows))
		}
		page := &pages[len(pages)-1]
		*page = append(*page, planRow{})
		r := &(*page)[len(*page)-1]
		if err := rows.Scan(&r.version, &r.name, &r.checksum, &r.phase, &r.complete, &r.statementsDone, &r.downChecksum); err != nil {
			return nil, h.Translate(err)
		}
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, h.Translate(err)
	}
	if n == 0 {
		return nil, nil
	}
	out := make([]history.Applied, 0, n)
	for _, page := range pages {
		for _, r := range page {
			out = append(out, history.Applied{Version: r.version, Name: r.name, Checksum: r.checksum, Phase: r.phase,
				Complete: r.complete, StatementsDone: r.statementsDone, DownChecksum: r.downChecksum})
		}
	}
	return out, nil
}
