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

// golang-migrate and dbmate send a whole MySQL file (section) to the server
// as one multi-statement query, and the server parses it; fleetgate sends
// the statements its splitter cuts, one at a time. Both must leave the
// same schema: the same tables, the same trigger and routine bodies.
func TestSplitMySQLMatchesMultiStatement(t *testing.T) {
	t.Parallel()
	text := "CREATE TABLE t (a INT NULL, b VARCHAR(20) NOT NULL DEFAULT 'x;y\\'z'); # note; here\n" +
		"CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  IF NEW.a IS NULL THEN\n    SET NEW.a = 0;\n  END IF;\n" +
		"  lbl: LOOP\n    LEAVE lbl;\n  END LOOP lbl;\n  SET NEW.b = CASE WHEN NEW.a > 1 THEN 'big' ELSE NEW.b END;\nEND;\n" +
		"CREATE PROCEDURE fill(n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  WHILE i < n DO\n    INSERT INTO t (a) VALUES (i);\n    SET i = i + 1;\n  END WHILE;\nEND;\n" +
		"/*!50003 CREATE FUNCTION dbl(x INT) RETURNS INT DETERMINISTIC RETURN x * 2 */;\n" +
		"CALL fill(3);\n-- done\n"
	stmts, err := SplitDialect(text, 1, dialect.MySQL)
	require.NoError(t, err)
	require.Len(t, stmts, 5)

	open := func(dsnParams string) *sql.DB {
		dsn, err := dbtest.MySQLDSN(dbtest.MariaDB(t))
		require.NoError(t, err)
		db, err := sql.Open("mysql", dsn+dsnParams)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		db.SetMaxOpenConns(1)
		return db
	}
	whole := open("?multiStatements=true")
	_, err = whole.ExecContext(t.Context(), text)
	require.NoError(t, err)
	split := open("")
	for _, s := range stmts {
		_, err := split.ExecContext(t.Context(), s.SQL)
		require.NoError(t, err, "statement at line %d", s.Line)
	}
	require.Equal(t, schemaOf(t, whole), schemaOf(t, split))
	require.Len(t, schemaOf(t, split), 5)
}

// schemaOf returns the definitions of the current database's tables,
// triggers and routines, and the rows of t.
func schemaOf(t *testing.T, db *sql.DB) []string {
	t.Helper()
	ctx := t.Context()
	var out []string
	col := func(q string, i int) string {
		rows, err := db.QueryContext(ctx, q)
		require.NoError(t, err, q)
		defer rows.Close()
		cols, err := rows.Columns()
		require.NoError(t, err)
		require.True(t, rows.Next(), q)
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		require.NoError(t, rows.Scan(ptrs...))
		return vals[i].String
	}
	out = append(out, col("SHOW CREATE TABLE t", 1), col("SHOW CREATE TRIGGER t_bi", 2),
		col("SHOW CREATE PROCEDURE fill", 2), col("SHOW CREATE FUNCTION dbl", 2),
		col("SELECT GROUP_CONCAT(CONCAT(a, ':', b) ORDER BY a) FROM t", 0))
	return out
}
