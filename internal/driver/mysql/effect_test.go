package mysql

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/driver"
)

// Whether a DDL statement took effect is read from information_schema:
// before it ran, after it ran, half of a multi-table statement, and the
// statements whose effect the catalog does not show.
func TestStatementEffect(t *testing.T) {
	t.Parallel()
	raw := dbtest.MariaDB(t)
	db, err := Open(raw, nil)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	d := New(driver.Tables{Migrations: "m", Events: "e", Lock: "l"})
	exec := func(q string) {
		t.Helper()
		_, err := db.ExecContext(t.Context(), q)
		require.NoError(t, err, q)
	}
	effect := func(stmt string) (applied, known bool) {
		t.Helper()
		applied, known, why, err := d.StatementEffect(t.Context(), db, stmt)
		require.NoError(t, err, stmt)
		if !known {
			require.NotEmpty(t, why, stmt)
		}
		return applied, known
	}
	// Each statement: its effect is unknown-free and absent before it
	// runs, present after.
	for _, stmt := range []string{
		"CREATE TABLE a (id int PRIMARY KEY, x int)",
		"ALTER TABLE a ADD COLUMN y int, ADD INDEX a_x (x), ALGORITHM=INPLACE, LOCK=NONE",
		"ALTER TABLE a MODIFY x bigint, DROP COLUMN y",
		"CREATE UNIQUE INDEX a_x2 ON a (x)",
		"ALTER TABLE a RENAME INDEX a_x2 TO a_x3",
		"ALTER TABLE a CHANGE x z bigint",
		"DROP INDEX a_x ON a",
		"RENAME TABLE a TO b",
		"CREATE VIEW bv AS SELECT id FROM b",
		"DROP VIEW bv",
		"DROP TABLE b",
	} {
		applied, known := effect(stmt)
		require.True(t, known, "before: %s", stmt)
		require.False(t, applied, "before: %s", stmt)
		exec(stmt)
		applied, known = effect(stmt)
		require.True(t, known, "after: %s", stmt)
		require.True(t, applied, "after: %s", stmt)
	}
	// Half of a multi-table DROP: neither before nor after.
	exec("CREATE TABLE c1 (id int)")
	applied, known := effect("DROP TABLE c1, c2")
	require.False(t, known)
	require.False(t, applied)
	// Effects the catalog does not show.
	for _, stmt := range []string{"ALTER TABLE c1 MODIFY id bigint", "CREATE TRIGGER tr BEFORE INSERT ON c1 FOR EACH ROW SET NEW.id = 1",
		"GRANT SELECT ON c1 TO root", "CREATE OR REPLACE VIEW v AS SELECT 1", "this is not SQL"} {
		_, known := effect(stmt)
		require.False(t, known, stmt)
	}
}
