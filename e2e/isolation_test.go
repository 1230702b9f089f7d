package e2e

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// A data migration that runs at REPEATABLE READ or SERIALIZABLE reads one
// snapshot for its whole length while the heartbeat renews the lease on
// another session (every 400 ms with a 2 s lease). It commits, once: a
// renewal is not a change of holder, and the commit's fence does not treat
// it as one. Each way a migration gets such an isolation level is covered:
// its own block, a block among the units of a no-transaction file, and the
// database's default.
func TestSnapshotMigrationOutlivesRenewals(t *testing.T) {
	t.Parallel()
	const work = "UPDATE counter SET n = n + 1;\nSELECT pg_sleep(1.5);\n"
	for _, c := range []struct {
		name, migration, setup string
	}{
		{name: "RepeatableReadBlock",
			migration: "-- fleetgate:up\nBEGIN ISOLATION LEVEL REPEATABLE READ;\n" + work + "COMMIT;\n"},
		{name: "SerializableBlockAmongUnits",
			migration: "-- fleetgate:no-transaction\n-- fleetgate:up\nCREATE TABLE before_block (id int);\n" +
				"BEGIN;\nSET TRANSACTION ISOLATION LEVEL SERIALIZABLE;\n" + work + "COMMIT;\nCREATE TABLE after_block (id int);\n"},
		{name: "DatabaseDefault",
			setup:     "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET default_transaction_isolation = %L', current_database(), 'repeatable read'); END $$",
			migration: "-- fleetgate:up\n" + work},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			if c.setup != "" {
				_, err := db.Exec(c.setup)
				require.NoError(t, err)
			}
			dir := writeFiles(t, map[string]string{
				"0001_counter.sql": "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n",
				"0002_data.sql":    c.migration,
			})
			r := fg(t, nil, "up", "-d", url, "--dir", dir, "--lease", "2s")
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
			require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
			require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"))
		})
	}
}
