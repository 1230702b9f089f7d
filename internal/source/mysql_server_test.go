package source

import (
	"database/sql"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/dialect"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// Every statement the splitter cuts from a MySQL file runs on a real
// MariaDB, one Exec each as a runner sends them, and together they have the
// file's effect: the trigger fires, the procedure and function exist and
// work, the conditional comment ran. A statement cut in the wrong place
// fails with a syntax error here.
func TestSplitMySQLRunsOnMariaDB(t *testing.T) {
	t.Parallel()
	ms, _, err := LoadDialect(os.DirFS("testdata/mysql"), ".", FormatAuto, dialect.MySQL)
	require.NoError(t, err)
	require.Len(t, ms, 1)
	stmts := ms[0].Up.Statements
	require.Len(t, stmts, 8)

	dsn, err := dbtest.MySQLDSN(dbtest.MariaDB(t))
	require.NoError(t, err)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	db.SetMaxOpenConns(1)
	for _, s := range stmts {
		_, err := db.ExecContext(t.Context(), s.SQL)
		require.NoError(t, err, "statement %d at line %d:\n%s", s.Index, s.Line, s.SQL)
	}

	var notes []string
	rows, err := db.QueryContext(t.Context(), "SELECT CONCAT(note, '=', qty) FROM `order;s` ORDER BY id")
	require.NoError(t, err)
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		notes = append(notes, n)
	}
	require.NoError(t, rows.Err())
	// Row 1 started at 1--1 = 2 and was bumped 3 times; the trigger turned
	// the NULL qty of the conditional insert into 0.
	require.Equal(t, []string{"a;b=5", `say "hi;"=2`, "mariadb only=0"}, notes)
	var twice int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT twice(21)").Scan(&twice))
	require.Equal(t, 42, twice)
	var def string
	require.NoError(t, db.QueryRowContext(t.Context(),
		"SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'order;s' AND COLUMN_NAME = 'note'").Scan(&def))
	require.Equal(t, `'it''s; fine'`, def)
}
