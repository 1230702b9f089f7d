package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/fleet"
)

var _ driver.Registry = (*Driver)(nil)

func (d *Driver) EnsureRegistry(ctx context.Context, q driver.Querier) error {
	_, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+d.instances+` (
	instance_id TEXT PRIMARY KEY,
	host TEXT NOT NULL,
	pid INTEGER NOT NULL,
	deploy_id TEXT NOT NULL,
	build TEXT NOT NULL,
	versions TEXT NOT NULL,
	max_version INTEGER NOT NULL,
	started_at INTEGER NOT NULL,
	last_seen INTEGER NOT NULL
)`)
	if err != nil {
		if driver.Is(d, err, driver.ErrPermission) {
			return fmt.Errorf("create %s: %w: %w", d.instances, driver.ErrNoRegistry, translate(err))
		}
		return fmt.Errorf("create %s: %w", d.instances, translate(err))
	}
	return nil
}

func (d *Driver) RegisterInstance(ctx context.Context, q driver.Querier, in *fleet.Instance) error {
	query := `INSERT INTO ` + d.instances + ` (instance_id, host, pid, deploy_id, build, versions, max_version, started_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, ` + nowMS + `, ` + nowMS + `)
		ON CONFLICT (instance_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, deploy_id = excluded.deploy_id,
			build = excluded.build, versions = excluded.versions, max_version = excluded.max_version,
			started_at = excluded.started_at, last_seen = excluded.last_seen`
	args := []any{in.ID, in.Host, in.PID, in.DeployID, in.Build, fleet.Encode(in.Versions), in.MaxVersion}
	_, err := q.ExecContext(ctx, query, args...)
	if driver.Is(d, err, driver.ErrNotExist) {
		if err := d.EnsureRegistry(ctx, q); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, query, args...)
	}
	if driver.Is(d, err, driver.ErrPermission) {
		return fmt.Errorf("register in %s: %w: %w", d.instances, driver.ErrNoRegistry, translate(err))
	}
	if err != nil {
		return fmt.Errorf("register in %s: %w", d.instances, translate(err))
	}
	return nil
}

func (d *Driver) TouchInstance(ctx context.Context, q driver.Querier, id string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE `+d.instances+` SET last_seen = `+nowMS+` WHERE instance_id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("heartbeat in %s: %w", d.instances, translate(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (d *Driver) RemoveInstance(ctx context.Context, q driver.Querier, id string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances+` WHERE instance_id = ?`, id); err != nil {
		return fmt.Errorf("deregister from %s: %w", d.instances, translate(err))
	}
	return nil
}

func (d *Driver) ReapInstances(ctx context.Context, q driver.Querier, before time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances+` WHERE last_seen < ?`, before.UnixMilli()); err != nil {
		return fmt.Errorf("reap %s: %w", d.instances, translate(err))
	}
	return nil
}

func (d *Driver) ReadInstances(ctx context.Context, q driver.Querier) ([]fleet.Instance, time.Time, error) {
	r := driver.InstancesTable{Name: d.instances, Now: nowMS, Translate: translate,
		ScanTime: func() (any, func() time.Time) {
			var ms sql.NullInt64
			return &ms, func() time.Time { return time.UnixMilli(ms.Int64) }
		},
		Missing: func(err error) bool { return driver.Is(d, err, driver.ErrNotExist) }}
	return r.Read(ctx, q)
}
