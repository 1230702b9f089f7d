package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/fleet"
)

var _ driver.Registry = (*Driver)(nil)

func (d *Driver) instances() string {
	if d.t.Schema != "" {
		return quoteIdent(d.t.Schema) + "." + quoteIdent(d.t.Instances)
	}
	return quoteIdent(d.t.Instances)
}

func (d *Driver) EnsureRegistry(ctx context.Context, q driver.Querier) error {
	_, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+d.instances()+` (
	instance_id text PRIMARY KEY,
	host text NOT NULL,
	pid integer NOT NULL,
	deploy_id text NOT NULL,
	build text NOT NULL,
	versions text NOT NULL,
	max_version bigint NOT NULL,
	started_at timestamptz NOT NULL DEFAULT clock_timestamp(),
	last_seen timestamptz NOT NULL DEFAULT clock_timestamp()
)`)
	if err = translate(err); err != nil {
		if driver.Is(d, err, driver.ErrPermission) {
			return fmt.Errorf("create %s: %w: %w", d.instances(), driver.ErrNoRegistry, err)
		}
		// Two first instances creating it at once race on the catalog's
		// unique index; the loser finds it there.
		if driver.Is(d, err, driver.ErrExists) {
			return nil
		}
		return fmt.Errorf("create %s: %w", d.instances(), err)
	}
	return nil
}

func (d *Driver) RegisterInstance(ctx context.Context, q driver.Querier, in *fleet.Instance) error {
	query := `INSERT INTO ` + d.instances() + ` (instance_id, host, pid, deploy_id, build, versions, max_version)
		VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (instance_id) DO UPDATE SET host = excluded.host, pid = excluded.pid, deploy_id = excluded.deploy_id,
			build = excluded.build, versions = excluded.versions, max_version = excluded.max_version,
			started_at = clock_timestamp(), last_seen = clock_timestamp()`
	args := []any{in.ID, in.Host, in.PID, in.DeployID, in.Build, fleet.Encode(in.Versions), in.MaxVersion}
	_, err := q.ExecContext(ctx, query, args...)
	if err = translate(err); driver.Is(d, err, driver.ErrNotExist) {
		if err := d.EnsureRegistry(ctx, q); err != nil {
			return err
		}
		_, err = q.ExecContext(ctx, query, args...)
		err = translate(err)
	}
	if driver.Is(d, err, driver.ErrPermission) {
		return fmt.Errorf("register in %s: %w: %w", d.instances(), driver.ErrNoRegistry, err)
	}
	if err != nil {
		return fmt.Errorf("register in %s: %w", d.instances(), err)
	}
	return nil
}

func (d *Driver) TouchInstance(ctx context.Context, q driver.Querier, id string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE `+d.instances()+` SET last_seen = clock_timestamp() WHERE instance_id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("heartbeat in %s: %w", d.instances(), translate(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (d *Driver) RemoveInstance(ctx context.Context, q driver.Querier, id string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances()+` WHERE instance_id = $1`, id); err != nil {
		return fmt.Errorf("deregister from %s: %w", d.instances(), translate(err))
	}
	return nil
}

func (d *Driver) ReapInstances(ctx context.Context, q driver.Querier, before time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances()+` WHERE last_seen < $1`, before); err != nil {
		return fmt.Errorf("reap %s: %w", d.instances(), translate(err))
	}
	return nil
}

func (d *Driver) ReadInstances(ctx context.Context, q driver.Querier) ([]fleet.Instance, time.Time, error) {
	r := driver.InstancesTable{Name: d.instances(), Now: "clock_timestamp()", Translate: translate,
		ScanTime: func() (any, func() time.Time) {
			var t sql.NullTime
			return &t, func() time.Time { return t.Time }
		},
		Missing: func(err error) bool { return driver.Is(d, err, driver.ErrNotExist) }}
	return r.Read(ctx, q)
}
