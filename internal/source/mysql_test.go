package source

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

func TestSplitMySQL(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{name: "Plain", sql: "SELECT 1; SELECT 2", want: []string{"SELECT 1", "SELECT 2"}},
		{name: "BacktickIdentifier", sql: "CREATE TABLE `a;b` (`x``;` int); SELECT 1", want: []string{"CREATE TABLE `a;b` (`x``;` int)", "SELECT 1"}},
		{name: "BackslashEscapedQuote", sql: `INSERT INTO t VALUES ('it\'s; here', "say \"hi;\""); SELECT 2`, want: []string{`INSERT INTO t VALUES ('it\'s; here', "say \"hi;\"")`, "SELECT 2"}},
		{name: "DoubledQuote", sql: "SELECT 'it''s;'; SELECT 2", want: []string{"SELECT 'it''s;'", "SELECT 2"}},
		{name: "EscapedBackslashEndsString", sql: `SELECT 'a\\'; SELECT 2`, want: []string{`SELECT 'a\\'`, "SELECT 2"}},
		{name: "HashComment", sql: "# setup; really\nSELECT 1; # trailing; comment\nSELECT 2", want: []string{"SELECT 1", "SELECT 2"}},
		{name: "DashCommentNeedsSpace", sql: "SELECT 1--1;\nSELECT 2 -- x;\n;", want: []string{"SELECT 1--1", "SELECT 2"}},
		{name: "DashDashBeforeHash", sql: "--#0", want: []string{"--"}}, // found by FuzzSplitMySQL
		// The server reports the missing END; the splitter sends what is there.
		{name: "UnclosedBodyRunsToTheEnd", sql: "CREATE TRIGGER BEGIN; SELECT 1;", want: []string{"CREATE TRIGGER BEGIN; SELECT 1;"}},
		{name: "DashDashAtEnd", sql: "SELECT 1 --", want: []string{"SELECT 1"}},
		{name: "DashCommentAtLineEnd", sql: "SELECT 1 --\n; SELECT 2", want: []string{"SELECT 1", "SELECT 2"}},
		{name: "BlockCommentsDoNotNest", sql: "/* a /* b */ SELECT 1; */ SELECT 2;", want: []string{"SELECT 1", "*/ SELECT 2"}},
		{name: "ConditionalCommentKept", sql: "/*!40101 SET @old = @@sql_mode; */;\n/*M!100100 SET x = 1 */;SELECT 1", want: []string{"/*!40101 SET @old = @@sql_mode; */", "/*M!100100 SET x = 1 */", "SELECT 1"}},
		{name: "DollarIsIdentifier", sql: "SELECT $a$; SELECT 2", want: []string{"SELECT $a$", "SELECT 2"}},
		{
			name: "TriggerWithoutDelimiter",
			sql: "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN\n  IF NEW.a IS NULL THEN SET NEW.a = 1; END IF;\n" +
				"  CASE NEW.b WHEN 1 THEN SET NEW.c = 2; ELSE BEGIN END; END CASE;\n  SET NEW.d = CASE WHEN NEW.a > 1 THEN 1 ELSE 0 END;\nEND;\nSELECT 1",
			want: []string{"CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN\n  IF NEW.a IS NULL THEN SET NEW.a = 1; END IF;\n" +
				"  CASE NEW.b WHEN 1 THEN SET NEW.c = 2; ELSE BEGIN END; END CASE;\n  SET NEW.d = CASE WHEN NEW.a > 1 THEN 1 ELSE 0 END;\nEND", "SELECT 1"},
		},
		{
			name: "ProcedureWithDefinerAndLoops",
			sql: "CREATE DEFINER=`root`@`localhost` PROCEDURE p(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  lbl: WHILE i < n DO SET i = i + 1; END WHILE lbl;\n" +
				"  REPEAT SET i = i - 1; UNTIL i = 0 END REPEAT;\n  l2: LOOP LEAVE l2; END LOOP;\nEND;\nCALL p(3);",
			want: []string{"CREATE DEFINER=`root`@`localhost` PROCEDURE p(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  lbl: WHILE i < n DO SET i = i + 1; END WHILE lbl;\n" +
				"  REPEAT SET i = i - 1; UNTIL i = 0 END REPEAT;\n  l2: LOOP LEAVE l2; END LOOP;\nEND", "CALL p(3)"},
		},
		{name: "FunctionWithoutBody", sql: "CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN CASE WHEN 1 THEN 1 END; SELECT f()", want: []string{"CREATE FUNCTION f() RETURNS INT DETERMINISTIC RETURN CASE WHEN 1 THEN 1 END", "SELECT f()"}},
		{name: "EventBody", sql: "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END; SELECT 1", want: []string{"CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM t; DELETE FROM u; END", "SELECT 1"}},
		{name: "BeginNotAtomic", sql: "BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; END; SELECT 1", want: []string{"BEGIN NOT ATOMIC DECLARE x INT; SET x = 1; END", "SELECT 1"}},
		{name: "TransactionBegin", sql: "BEGIN; INSERT INTO t VALUES (1); COMMIT;", want: []string{"BEGIN", "INSERT INTO t VALUES (1)", "COMMIT"}},
		{name: "CreateTableNamedLikeKeyword", sql: "CREATE TABLE `begin` (a int); CREATE TABLE t (`end` int); SELECT 1", want: []string{"CREATE TABLE `begin` (a int)", "CREATE TABLE t (`end` int)", "SELECT 1"}},
		{
			name: "DelimiterBlock",
			sql: "CREATE TABLE t (a int);\nDELIMITER $$\nCREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\nEND$$\n" +
				"CREATE PROCEDURE p() BEGIN SELECT 1; END $$\ndelimiter ;\nINSERT INTO t VALUES (1);",
			want: []string{"CREATE TABLE t (a int)", "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW\nBEGIN\n  IF NEW.a < 0 THEN SET NEW.a = 0; END IF;\nEND",
				"CREATE PROCEDURE p() BEGIN SELECT 1; END", "INSERT INTO t VALUES (1)"},
		},
		{name: "DelimiterSlashes", sql: "DELIMITER //\nSELECT 'a//b'; SELECT 2//\nDELIMITER ;\nSELECT 3;", want: []string{"SELECT 'a//b'; SELECT 2", "SELECT 3"}},
		{name: "DelimiterInStringIsNotACommand", sql: "SELECT 'x\nDELIMITER $$\n'; SELECT 2", want: []string{"SELECT 'x\nDELIMITER $$\n'", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := SplitDialect(tt.sql, 1, dialect.MySQL)
			require.NoError(t, err)
			require.Equal(t, tt.want, sqls(got))
		})
	}
}

// The same text split by PostgreSQL's rules and by MySQL's ends statements
// in different places: the dialect must be chosen by the caller, never
// guessed.
func TestSplitDialectDiffers(t *testing.T) {
	t.Parallel()
	sql := `INSERT INTO t VALUES ('a\'; DROP TABLE t; --');`
	pg, err := SplitDialect(sql, 1, dialect.Postgres)
	require.NoError(t, err)
	require.Equal(t, []string{`INSERT INTO t VALUES ('a\'`, "DROP TABLE t"}, sqls(pg))
	my, err := SplitDialect(sql, 1, dialect.MySQL)
	require.NoError(t, err)
	require.Equal(t, []string{`INSERT INTO t VALUES ('a\'; DROP TABLE t; --')`}, sqls(my))
}

func TestSplitMySQLPositions(t *testing.T) {
	t.Parallel()
	got, err := SplitDialect("# c\nDELIMITER $$\n  SELECT 1$$ SELECT 2$$\nDELIMITER ;\n\tSELECT 3;", 5, dialect.MySQL)
	require.NoError(t, err)
	require.Equal(t, []Statement{
		{SQL: "SELECT 1", Line: 7, Col: 3, Index: 0},
		{SQL: "SELECT 2", Line: 7, Col: 14, Index: 1},
		{SQL: "SELECT 3", Line: 9, Col: 2, Index: 2},
	}, got)
}

func TestSplitMySQLErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, sql, msg string }{
		{"UnterminatedBackslashString", "SELECT 'a\\';\nSELECT 1", "line 1: unterminated quoted string"},
		{"UnterminatedBacktick", "SELECT 1;\nSELECT `a", "line 2: unterminated quoted identifier"},
		{"UnterminatedConditional", "SELECT 1;\n/*!40101 SET x=1", "line 2: unterminated block comment"},
		{"DelimiterWithoutArgument", "DELIMITER \nSELECT 1", "line 1: DELIMITER needs the new delimiter, as in DELIMITER $$"},
		{"DelimiterTwoArguments", "DELIMITER $$ ;;\n", `line 1: DELIMITER takes one delimiter, not "$$ ;;"`},
		{"DelimiterMidStatement", "SELECT 1\nDELIMITER $$\nSELECT 2$$", "line 2: DELIMITER inside the statement that starts at line 1; end that statement first"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := SplitDialect(tt.sql, 1, dialect.MySQL)
			require.EqualError(t, err, tt.msg)
		})
	}
}

// The layouts of the other tools, read for MySQL: each tool's way of
// writing a trigger gives the one statement the tool sends.
func TestLoadMySQLLayouts(t *testing.T) {
	t.Parallel()
	trigger := "CREATE TRIGGER trg BEFORE INSERT ON t FOR EACH ROW BEGIN\n  IF NEW.a IS NULL THEN SET NEW.a = 0; END IF;\nEND"
	tests := []struct {
		name   string
		files  fstest.MapFS
		format Format
		want   []string
	}{
		{
			name: "GolangMigrateMultiStatement",
			files: fstest.MapFS{
				"1_t.up.sql":   {Data: []byte("CREATE TABLE t (a int); # the table\n" + trigger + ";\nINSERT INTO t VALUES ('x\\';y');\n")},
				"1_t.down.sql": {Data: []byte("DROP TABLE t;")},
			},
			format: FormatGolangMigrate,
			want:   []string{"CREATE TABLE t (a int)", trigger, "INSERT INTO t VALUES ('x\\';y')"},
		},
		{
			name: "GooseStatementBlock",
			files: fstest.MapFS{"1_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (a int);\n-- +goose StatementBegin\n" + trigger + ";\n-- +goose StatementEnd\n" +
				"-- +goose Down\nDROP TABLE t;\n")}},
			format: FormatGoose,
			want:   []string{"CREATE TABLE t (a int)", trigger + ";"},
		},
		{
			name:   "Dbmate",
			files:  fstest.MapFS{"1_t.sql": {Data: []byte("-- migrate:up\nCREATE TABLE t (a int);\n" + trigger + ";\n\n-- migrate:down\nDROP TABLE t;\n")}},
			format: FormatDbmate,
			want:   []string{"CREATE TABLE t (a int)", trigger},
		},
		{
			name: "FleetgateDelimiter",
			files: fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nCREATE TABLE t (a int);\nDELIMITER //\n" + trigger + "//\nDELIMITER ;\n" +
				"-- fleetgate:down\nDROP TABLE t;\n")}},
			format: FormatFleetgate,
			want:   []string{"CREATE TABLE t (a int)", trigger},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, f, err := LoadDialect(tt.files, ".", FormatAuto, dialect.MySQL)
			require.NoError(t, err)
			require.Equal(t, tt.format, f)
			require.Len(t, ms, 1)
			require.Equal(t, tt.want, sqls(ms[0].Up.Statements))
			require.NotNil(t, ms[0].Down)
			require.Equal(t, []string{"DROP TABLE t"}, sqls(ms[0].Down.Statements))
		})
	}
}

// goose and dbmate send text to the server, which does not know the mysql
// client's DELIMITER command: a file relying on it fails under those
// tools, so it is refused with the way to write it instead.
func TestLoadMySQLDelimiterRefusedWhereToolsSendText(t *testing.T) {
	t.Parallel()
	goose := fstest.MapFS{"1_t.sql": {Data: []byte("-- +goose Up\nDELIMITER $$\nSELECT 1$$\n")}}
	_, _, err := LoadDialect(goose, ".", FormatAuto, dialect.MySQL)
	require.ErrorContains(t, err, "1_t.sql:2: DELIMITER is a command of the mysql client; goose sends it")
	dbmate := fstest.MapFS{"1_t.sql": {Data: []byte("-- migrate:up\nDELIMITER $$\nSELECT 1$$\n-- migrate:down\n")}}
	_, _, err = LoadDialect(dbmate, ".", FormatAuto, dialect.MySQL)
	require.ErrorContains(t, err, "1_t.sql:2: DELIMITER is a command of the mysql client; dbmate sends")
}

// An explicit transaction block in a MySQL file is found as in any other,
// and MariaDB's BEGIN NOT ATOMIC compound statement is not mistaken for
// one.
func TestMySQLTransactionBlocks(t *testing.T) {
	t.Parallel()
	files := fstest.MapFS{"1_t.sql": {Data: []byte("-- fleetgate:up\nBEGIN NOT ATOMIC SELECT 1; END;\nSTART TRANSACTION;\nINSERT INTO t VALUES ('a\\';');\nCOMMIT;\n")}}
	ms, _, err := LoadDialect(files, ".", FormatAuto, dialect.MySQL)
	require.NoError(t, err)
	up := ms[0].Up
	require.Equal(t, []string{"BEGIN NOT ATOMIC SELECT 1; END", "START TRANSACTION", "INSERT INTO t VALUES ('a\\';')", "COMMIT"}, sqls(up.Statements))
	require.Equal(t, []Unit{{Start: 0, End: 1}, {Start: 1, End: 4, Open: 1}}, up.Units)
}

// What commits implicitly on MySQL is decided by the leading keywords,
// lexed: comments are skipped, conditional comments read as code, and the
// TEMPORARY forms and plain DML are left in the transaction.
func TestImplicitCommit(t *testing.T) {
	t.Parallel()
	for stmt, want := range map[string]string{
		"CREATE TABLE t (id int)":                       "CREATE TABLE",
		"create unique index i on t (a)":                "CREATE INDEX",
		"CREATE OR REPLACE VIEW v AS SELECT 1":          "CREATE VIEW",
		"/* why */ ALTER TABLE t ADD COLUMN c int":      "ALTER TABLE",
		"# note\nDROP TABLE IF EXISTS t":                "DROP TABLE",
		"RENAME TABLE a TO b":                           "RENAME TABLE",
		"TRUNCATE t":                                    "TRUNCATE TABLE",
		"GRANT SELECT ON db.* TO 'a'@'%'":               "GRANT",
		"/*!50001 CREATE ALGORITHM=UNDEFINED VIEW v */": "CREATE ALGORITHM",
		"OPTIMIZE TABLE t":                              "OPTIMIZE TABLE",
		"LOCK TABLES t WRITE":                           "LOCK TABLES",
		"SET @@autocommit = 1":                          "SET autocommit",
		"CREATE TEMPORARY TABLE x (id int)":             "",
		"DROP TEMPORARY TABLE x":                        "",
		"INSERT INTO t VALUES ('CREATE TABLE')":         "",
		"UPDATE t SET a = 1":                            "",
		"SET @x = 1":                                    "",
		"-- CREATE TABLE\nDELETE FROM t":                "",
		"CALL p()":                                      "",
	} {
		require.Equal(t, want, ImplicitCommit(stmt), stmt)
	}
	// A MySQL section with DDL runs statement by statement; one of DML
	// alone stays one transaction.
	s, err := NewSectionDialect("CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n", 1, false, dialect.MySQL)
	require.NoError(t, err)
	require.True(t, s.NoTransaction)
	s, err = NewSectionDialect("INSERT INTO t VALUES (1);\nUPDATE t SET id = 2;\n", 1, false, dialect.MySQL)
	require.NoError(t, err)
	require.False(t, s.NoTransaction)
	s, err = NewSectionDialect("CREATE TABLE t (id int);\n", 1, false, dialect.Postgres)
	require.NoError(t, err)
	require.False(t, s.NoTransaction)
}
