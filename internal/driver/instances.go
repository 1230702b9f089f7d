package driver

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/fleet"
)

// ErrNoRegistry means the registry table does not exist and this role may
// not create it.
var ErrNoRegistry = errors.New("no instance registry table")

// Registry is implemented by drivers that keep the instance registry: the
// running instances of the application and the build each runs (package
// fleet). Every method is one statement, so it is safe through a
// transaction-mode pooler and costs one round trip.
type Registry interface {
	// EnsureRegistry creates the registry table when it is missing.
	EnsureRegistry(ctx context.Context, q Querier) error
	// RegisterInstance inserts or replaces the row of in.ID, stamping
	// started_at and last_seen with the database clock.
	RegisterInstance(ctx context.Context, q Querier, in *fleet.Instance) error
	// TouchInstance refreshes last_seen; false when the row is gone (it
	// expired and was reaped, or someone deleted it).
	TouchInstance(ctx context.Context, q Querier, id string) (bool, error)
	// RemoveInstance deletes the row of id.
	RemoveInstance(ctx context.Context, q Querier, id string) error
	// ReadInstances returns every row and the database clock, so that
	// liveness is judged by one clock. A missing table reads as none.
	ReadInstances(ctx context.Context, q Querier) ([]fleet.Instance, time.Time, error)
	// ReapInstances deletes rows not seen since before (long dead).
	ReapInstances(ctx context.Context, q Querier, before time.Time) error
}

// InstancesTable reads the registry table with the query shape and the row
// scan every driver shares; only the table's quoted name, the dialect's
// clock and how a time is selected and scanned differ between databases.
type InstancesTable struct {
	// Name is the quoted, qualified table name.
	Name string
	// Now is the select expression of the database clock.
	Now string
	// Time turns a time expression (a column or Now) into what is
	// selected; nil selects it as it is.
	Time func(expr string) string
	// ScanTime returns where one selected time is scanned to and how it
	// then reads as a time; a NULL (the outer join's row of an empty
	// table) must scan.
	ScanTime func() (dest any, get func() time.Time)
	// Missing reports a translated error that says the table does not
	// exist.
	Missing func(error) bool
	// Translate turns the client library's error into the driver's.
	Translate func(error) error
}

// Read implements Registry.ReadInstances.
func (r *InstancesTable) Read(ctx context.Context, q Querier) ([]fleet.Instance, time.Time, error) {
	sel := func(expr string) string {
		if r.Time == nil {
			return expr
		}
		return r.Time(expr)
	}
	// The clock comes with the rows, in one statement; an empty table
	// still gives it through the outer join.
	rows, err := q.QueryContext(ctx, `SELECT `+sel("clk.t")+`, r.instance_id, r.host, r.pid, r.deploy_id, r.build, r.versions,
		r.max_version, `+sel("r.started_at")+`, `+sel("r.last_seen")+`
		FROM (SELECT `+r.Now+` AS t) clk LEFT JOIN `+r.Name+` r ON 1 = 1 ORDER BY r.started_at, r.instance_id`)
	if err = r.Translate(err); err != nil && r.Missing(err) {
		dest, now := r.ScanTime()
		err := q.QueryRowContext(ctx, `SELECT `+sel(r.Now)).Scan(dest)
		return nil, now(), r.Translate(err)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read %s: %w", r.Name, err)
	}
	defer rows.Close()
	var out []fleet.Instance
	nowDest, now := r.ScanTime()
	for rows.Next() {
		var id, host, deploy, build, versions sql.NullString
		var pid, maxV sql.NullInt64
		startedDest, started := r.ScanTime()
		seenDest, seen := r.ScanTime()
		if err := rows.Scan(nowDest, &id, &host, &pid, &deploy, &build, &versions, &maxV, startedDest, seenDest); err != nil {
			return nil, time.Time{}, r.Translate(err)
		}
		if !id.Valid {
			continue
		}
		vs, err := fleet.Decode(versions.String)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("read %s: instance %s: %w", r.Name, id.String, err)
		}
		out = append(out, fleet.Instance{ID: id.String, Host: host.String, PID: int(pid.Int64), DeployID: deploy.String,
			Build: build.String, Versions: vs, MaxVersion: maxV.Int64, StartedAt: started(), LastSeen: seen()})
	}
	if err := rows.Err(); err != nil {
		return nil, time.Time{}, r.Translate(err)
	}
	return out, now(), nil
}
