package mysql

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/fleet"
)

var _ driver.Registry = (*Driver)(nil)

// nowUS is the database clock in Unix microseconds; the registry stores
// its times as integers, compared by one clock (see driver.Registry).
const nowUS = "CAST(UNIX_TIMESTAMP(NOW(6)) * 1000000 AS SIGNED)"

func (d *Driver) EnsureRegistry(ctx context.Context, q driver.Querier) error {
	_, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+d.instances+` (
	instance_id VARCHAR(255) NOT NULL PRIMARY KEY,
	host VARCHAR(255) NOT NULL,
	pid INT NOT NULL,
	deploy_id VARCHAR(255) NOT NULL,
	build VARCHAR(255) NOT NULL,
	versions LONGTEXT NOT NULL,
	max_version BIGINT NOT NULL,
	started_at BIGINT NOT NULL,
	last_seen BIGINT NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`)
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
		VALUES (?, ?, ?, ?, ?, ?, ?, ` + nowUS + `, ` + nowUS + `)
		ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), deploy_id = VALUES(deploy_id), build = VALUES(build),
			versions = VALUES(versions), max_version = VALUES(max_version), started_at = VALUES(started_at), last_seen = VALUES(last_seen)`
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

// TouchInstance counts a matched row: Open sets found rows, and a
// caller's own pool still changes last_seen on every touch.
func (d *Driver) TouchInstance(ctx context.Context, q driver.Querier, id string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE `+d.instances+` SET last_seen = `+nowUS+` WHERE instance_id = ?`, id)
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
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances+` WHERE last_seen < ?`, before.UnixMicro()); err != nil {
		return fmt.Errorf("reap %s: %w", d.instances, translate(err))
	}
	return nil
}

func (d *Driver) ReadInstances(ctx context.Context, q driver.Querier) ([]fleet.Instance, time.Time, error) {
	rows, err := q.QueryContext(ctx, `SELECT n.t, r.instance_id, r.host, r.pid, r.deploy_id, r.build, r.versions,
		r.max_version, r.started_at, r.last_seen
		FROM (SELECT `+nowUS+` AS t) n LEFT JOIN `+d.instances+` r ON 1 = 1 ORDER BY r.started_at, r.instance_id`)
	if driver.Is(d, err, driver.ErrNotExist) {
		var us int64
		err := q.QueryRowContext(ctx, `SELECT `+nowUS).Scan(&us)
		return nil, time.UnixMicro(us), translate(err)
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read %s: %w", d.instances, translate(err))
	}
	defer rows.Close()
	var out []fleet.Instance
	var now int64
	for rows.Next() {
		var id, host, deploy, build, versions sql.NullString
		var pid, maxV, started, seen sql.NullInt64
		if err := rows.Scan(&now, &id, &host, &pid, &deploy, &build, &versions, &maxV, &started, &seen); err != nil {
			return nil, time.Time{}, translate(err)
		}
		if !id.Valid {
			continue
		}
		vs, err := fleet.Decode(versions.String)
		if err != nil {
			return nil, time.Time{}, fmt.Errorf("read %s: instance %s: %w", d.instances, id.String, err)
		}
		out = append(out, fleet.Instance{ID: id.String, Host: host.String, PID: int(pid.Int64), DeployID: deploy.String,
			Build: build.String, Versions: vs, MaxVersion: maxV.Int64, StartedAt: time.UnixMicro(started.Int64),
			LastSeen: time.UnixMicro(seen.Int64)})
	}
	return out, time.UnixMicro(now), translate(rows.Err())
}
