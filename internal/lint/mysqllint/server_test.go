package mysqllint

import (
	"context"
	"database/sql"
	"errors"
	"testing"

	gomysql "github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/source"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// The claims the MySQL rules make, checked on a real MariaDB: what the
// rule flags copies the table (the server reports one affected row per
// copied row) or commits behind the file's back, and what docs/checks.md
// recommends instead either runs without a copy or is refused outright,
// never silently copied. Each statement is also run through Check, so a
// rule and the server cannot drift apart.
func TestRulesMatchServer(t *testing.T) {
	t.Parallel()
	dsn, err := dbtest.MySQLDSN(dbtest.MariaDB(t))
	require.NoError(t, err)
	db, err := sql.Open("mysql", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	conn, err := db.Conn(t.Context())
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	ctx := t.Context()
	exec := func(q string) int64 {
		t.Helper()
		res, err := conn.ExecContext(ctx, q)
		require.NoError(t, err, q)
		n, err := res.RowsAffected()
		require.NoError(t, err)
		return n
	}
	refused := func(q string) {
		t.Helper()
		_, err := conn.ExecContext(ctx, q)
		var me *gomysql.MySQLError
		require.True(t, errors.As(err, &me), "%s: want a refusal, got %v", q, err)
		// 1845/1846: ALGORITHM or LOCK not supported for this operation.
		require.Contains(t, []uint16{1845, 1846}, me.Number, "%s: %v", q, err)
	}
	rules := func(q string) []string {
		t.Helper()
		m, err := source.ParseDialect("1_x.sql", []byte("-- fleetgate:up\n"+q+";\n"), dialect.MySQL)
		require.NoError(t, err)
		fs, err := Check(m)
		require.NoError(t, err)
		var ids []string
		for _, f := range fs {
			ids = append(ids, f.Rule)
		}
		return ids
	}

	exec("CREATE TABLE users (id INT PRIMARY KEY, a INT NOT NULL, email VARCHAR(100) NULL) ENGINE=InnoDB")
	exec("CREATE TABLE orders (id INT PRIMARY KEY, user_id INT NOT NULL) ENGINE=InnoDB")
	exec("INSERT INTO users VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c')")
	exec("INSERT INTO orders VALUES (1, 1), (2, 2), (3, 3)")

	// require-online-alter: without ALGORITHM the server copies silently;
	// with ALGORITHM=INSTANT or INPLACE, LOCK=NONE it refuses instead.
	copyChange := "ALTER TABLE users MODIFY a VARCHAR(20) NOT NULL"
	require.Contains(t, rules(copyChange), RequireOnlineAlter)
	refused(copyChange + ", ALGORITHM=INSTANT")
	refused(copyChange + ", ALGORITHM=INPLACE, LOCK=NONE")
	require.EqualValues(t, 3, exec(copyChange), "the ALTER without ALGORITHM copied every row")
	// The recommended forms run without a copy where the change allows.
	instant := "ALTER TABLE users ADD COLUMN note VARCHAR(20) NULL, ALGORITHM=INSTANT"
	require.Empty(t, rules(instant))
	require.EqualValues(t, 0, exec(instant))
	online := "ALTER TABLE users ADD INDEX idx_email (email), ALGORITHM=INPLACE, LOCK=NONE"
	require.Empty(t, rules(online))
	require.EqualValues(t, 0, exec(online))
	createIndex := "CREATE INDEX idx_a ON users (a) ALGORITHM=INPLACE LOCK=NONE"
	require.Empty(t, rules(createIndex))
	require.EqualValues(t, 0, exec(createIndex))

	// add-foreign-key: with foreign_key_checks on, INPLACE is refused and
	// the plain form copies; with the checks off, INPLACE, LOCK=NONE works
	// without a copy, which is the safe alternative.
	fk := "ALTER TABLE orders ADD CONSTRAINT fk_user FOREIGN KEY (user_id) REFERENCES users (id)"
	require.Equal(t, []string{lint.AddForeignKey}, rules(fk))
	refused(fk + ", ALGORITHM=INPLACE, LOCK=NONE")
	require.EqualValues(t, 3, exec(fk), "adding the foreign key copied every row")
	exec("ALTER TABLE orders DROP FOREIGN KEY fk_user, ALGORITHM=INPLACE, LOCK=NONE")
	safeFK := fk + ", ALGORITHM=INPLACE, LOCK=NONE"
	require.Empty(t, rules(safeFK))
	exec("SET foreign_key_checks = 0")
	require.EqualValues(t, 0, exec(safeFK))
	exec("SET foreign_key_checks = 1")

	// implicit-commit-in-transaction: the ALTER commits the INSERT before
	// it, so the ROLLBACK cannot undo it.
	block := "START TRANSACTION;\nINSERT INTO orders VALUES (4, 1);\nALTER TABLE users ADD COLUMN x INT NULL, ALGORITHM=INSTANT;\nCOMMIT"
	m, err := source.ParseDialect("1_x.sql", []byte("-- fleetgate:up\n"+block+";\n"), dialect.MySQL)
	require.NoError(t, err)
	fs, err := Check(m)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, ImplicitCommitInTx, fs[0].Rule)
	exec("START TRANSACTION")
	exec("INSERT INTO orders VALUES (4, 1)")
	exec("ALTER TABLE users ADD COLUMN x INT NULL, ALGORITHM=INSTANT")
	exec("ROLLBACK")
	var n int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE id = 4").Scan(&n))
	require.Equal(t, 1, n, "the ALTER committed the INSERT before it")
	// A temporary table does not commit: the rule leaves it alone.
	require.Empty(t, rules("START TRANSACTION;\nCREATE TEMPORARY TABLE tmp (a INT);\nCOMMIT"))
	exec("START TRANSACTION")
	exec("INSERT INTO orders VALUES (5, 1)")
	exec("CREATE TEMPORARY TABLE tmp (a INT)")
	exec("ROLLBACK")
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT COUNT(*) FROM orders WHERE id = 5").Scan(&n))
	require.Equal(t, 0, n)

	// add-not-null-column: MySQL adds it to a table with rows, filling in
	// the type's zero value, and old code's INSERT that does not name the
	// column then fails in strict mode (error 1364); a DEFAULT keeps it
	// working.
	notNull := "ALTER TABLE users ADD COLUMN tenant INT NOT NULL, ALGORITHM=INSTANT"
	require.Equal(t, []string{lint.AddNotNullColumn}, rules(notNull))
	exec(notNull)
	var tenant int
	require.NoError(t, conn.QueryRowContext(ctx, "SELECT tenant FROM users WHERE id = 1").Scan(&tenant))
	require.Zero(t, tenant)
	_, err = conn.ExecContext(ctx, "INSERT INTO users (id, a, email) VALUES (10, 1, 'old code')")
	var me *gomysql.MySQLError
	require.True(t, errors.As(err, &me), "%v", err)
	require.EqualValues(t, 1364, me.Number, "%v", err)
	withDefault := "ALTER TABLE users ADD COLUMN region INT NOT NULL DEFAULT 0, ALGORITHM=INSTANT"
	require.Empty(t, rules(withDefault))
	exec(withDefault)
	exec("ALTER TABLE users DROP COLUMN tenant")
	exec("INSERT INTO users (id, a, email) VALUES (10, 1, 'old code')")

	// optimize-table: InnoDB rebuilds the table.
	require.Equal(t, []string{OptimizeTable}, rules("OPTIMIZE TABLE users"))
	msgs := queryStrings(ctx, t, conn, "OPTIMIZE TABLE users")
	require.Contains(t, msgs, "Table does not support optimize, doing recreate + analyze instead")
}

// queryStrings returns the Msg_text column of a table-maintenance result.
func queryStrings(ctx context.Context, t *testing.T, conn *sql.Conn, q string) []string {
	t.Helper()
	rows, err := conn.QueryContext(ctx, q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var tbl, op, typ, msg string
		require.NoError(t, rows.Scan(&tbl, &op, &typ, &msg))
		out = append(out, msg)
	}
	require.NoError(t, rows.Err())
	return out
}
