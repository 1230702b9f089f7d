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

// The registry in MySQL's SQL. Every method is one autocommit statement
// and keeps no session state, which is what a multiplexing proxy
// (ProxySQL) needs, as PgBouncer does on PostgreSQL. Times are the
// server's NOW(6), read back as Unix microseconds (micros), like the
// driver's other tables.

func (d *Driver) instances() string {
	if d.t.Schema != "" {
		return quoteIdent(d.t.Schema) + "." + quoteIdent(d.t.Instances)
	}
	return quoteIdent(d.t.Instances)
}

// EnsureRegistry creates the table. The key is the only bounded column
// (an InnoDB key is at most 3072 bytes: 512 utf8mb4 characters fit); the
// rest is TEXT so that a long host name or deploy id is stored, not
// refused in strict mode. TEXT columns have no default, and none is
// needed: every insert names them.
func (d *Driver) EnsureRegistry(ctx context.Context, q driver.Querier) error {
	// Looked up first: MySQL checks the CREATE privilege before it looks
	// whether the table exists, so a migrating role without CREATE would
	// be refused (and warned about on every up) for a table that is there.
	if ok, err := d.tablesPresent(ctx, q, d.instances()); err == nil && ok {
		return nil
	}
	_, err := q.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+d.instances()+` (
	instance_id VARCHAR(512) NOT NULL PRIMARY KEY,
	host TEXT NOT NULL,
	pid INT NOT NULL,
	deploy_id TEXT NOT NULL,
	build TEXT NOT NULL,
	versions LONGTEXT NOT NULL,
	max_version BIGINT NOT NULL,
	started_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
	last_seen TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`)
	if err = translate(err); err != nil {
		if driver.Is(d, err, driver.ErrPermission) {
			return fmt.Errorf("create %s: %w: %w", d.instances(), driver.ErrNoRegistry, err)
		}
		return fmt.Errorf("create %s: %w", d.instances(), err)
	}
	return nil
}

func (d *Driver) RegisterInstance(ctx context.Context, q driver.Querier, in *fleet.Instance) error {
	// A re-registration (after a reap) restarts the entry: MySQL assigns
	// left to right, and no assignment reads a column set before it.
	query := `INSERT INTO ` + d.instances() + ` (instance_id, host, pid, deploy_id, build, versions, max_version, started_at, last_seen)
		VALUES (?, ?, ?, ?, ?, ?, ?, NOW(6), NOW(6))
		ON DUPLICATE KEY UPDATE host = VALUES(host), pid = VALUES(pid), deploy_id = VALUES(deploy_id), build = VALUES(build),
			versions = VALUES(versions), max_version = VALUES(max_version), started_at = NOW(6), last_seen = NOW(6)`
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

// TouchInstance counts the matched row: Open sets found-rows, and the
// microsecond clock moves between heartbeats in any case.
func (d *Driver) TouchInstance(ctx context.Context, q driver.Querier, id string) (bool, error) {
	res, err := q.ExecContext(ctx, `UPDATE `+d.instances()+` SET last_seen = NOW(6) WHERE instance_id = ?`, id)
	if err != nil {
		return false, fmt.Errorf("heartbeat in %s: %w", d.instances(), translate(err))
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

func (d *Driver) RemoveInstance(ctx context.Context, q driver.Querier, id string) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances()+` WHERE instance_id = ?`, id); err != nil {
		return fmt.Errorf("deregister from %s: %w", d.instances(), translate(err))
	}
	return nil
}

// ReapInstances compares in the server's terms: FROM_UNIXTIME gives the
// instant in the session's zone, the zone TIMESTAMP columns are read in.
func (d *Driver) ReapInstances(ctx context.Context, q driver.Querier, before time.Time) error {
	if _, err := q.ExecContext(ctx, `DELETE FROM `+d.instances()+` WHERE last_seen < FROM_UNIXTIME(?)`, unixArg(before)); err != nil {
		return fmt.Errorf("reap %s: %w", d.instances(), translate(err))
	}
	return nil
}

func (d *Driver) ReadInstances(ctx context.Context, q driver.Querier) ([]fleet.Instance, time.Time, error) {
	r := driver.InstancesTable{Name: d.instances(), Now: "NOW(6)", Time: micros, Translate: translate,
		ScanTime: func() (any, func() time.Time) {
			var us sql.NullInt64
			return &us, func() time.Time { return microTime(us) }
		},
		Missing: func(err error) bool { return driver.Is(d, err, driver.ErrNotExist) }}
	return r.Read(ctx, q)
}
