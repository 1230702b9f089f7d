package source

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// st builds an expected statement; Index is filled in from its position.
func st(sql string, line, col int) Statement {
	return Statement{SQL: sql, Line: line, Col: col}
}

func TestSplit(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		sql       string
		firstLine int // defaults to 1
		want      []Statement
	}{
		{name: "Empty", sql: "", want: []Statement{}},
		{name: "OnlyWhitespace", sql: " \n\t\n", want: []Statement{}},
		{name: "OnlyComments", sql: "-- a;\n/* b; */\n", want: []Statement{}},
		{name: "EmptyStatements", sql: ";;  ;\n;", want: []Statement{}},
		{name: "One", sql: "SELECT 1;", want: []Statement{st("SELECT 1", 1, 1)}},
		{name: "NoTrailingSemicolon", sql: "SELECT 1", want: []Statement{st("SELECT 1", 1, 1)}},
		{
			name: "TwoOnOneLine",
			sql:  "SELECT 1; SELECT 2;",
			want: []Statement{st("SELECT 1", 1, 1), st("SELECT 2", 1, 11)},
		},
		{
			name: "MultiLinePositions",
			sql:  "\n\n  CREATE TABLE t (\n    id int\n  );\n\n\tINSERT INTO t VALUES (1);\n",
			want: []Statement{
				st("CREATE TABLE t (\n    id int\n  )", 3, 3),
				st("INSERT INTO t VALUES (1)", 7, 2),
			},
		},
		{
			name:      "FirstLineOffset",
			sql:       "SELECT 1;\n\nSELECT 2;",
			firstLine: 10,
			want:      []Statement{st("SELECT 1", 10, 1), st("SELECT 2", 12, 1)},
		},
		{
			name: "ColumnCountsCharactersNotBytes",
			sql:  "SELECT 'é'; SELECT 2;",
			want: []Statement{st("SELECT 'é'", 1, 1), st("SELECT 2", 1, 13)},
		},
		{
			name: "LeadingCommentsDroppedInteriorKept",
			sql:  "-- create it;\n/* really; */ CREATE TABLE t (id int -- the key;\n);",
			want: []Statement{st("CREATE TABLE t (id int -- the key;\n)", 2, 15)},
		},
		{
			name: "TrailingCommentDropped",
			sql:  "SELECT 1 -- done\n;\nSELECT 2 /* end */",
			want: []Statement{st("SELECT 1", 1, 1), st("SELECT 2", 3, 1)},
		},
		{
			name: "CommentAfterLastStatement",
			sql:  "SELECT 1;\n-- the end; really\n",
			want: []Statement{st("SELECT 1", 1, 1)},
		},
		{
			name: "SingleQuotes",
			sql:  "INSERT INTO t VALUES ('a;b', 'it''s;');SELECT 2",
			want: []Statement{st("INSERT INTO t VALUES ('a;b', 'it''s;')", 1, 1), st("SELECT 2", 1, 40)},
		},
		{
			name: "MultiLineString",
			sql:  "SELECT 'a;\nb';\nSELECT 3;",
			want: []Statement{st("SELECT 'a;\nb'", 1, 1), st("SELECT 3", 3, 1)},
		},
		{
			name: "BackslashInStandardString",
			sql:  `SELECT 'a\'; SELECT 2;`,
			want: []Statement{st(`SELECT 'a\'`, 1, 1), st("SELECT 2", 1, 14)},
		},
		{
			name: "EString",
			sql:  `SELECT E'it\'s; fine'; SELECT e'\\'; SELECT 3;`,
			want: []Statement{st(`SELECT E'it\'s; fine'`, 1, 1), st(`SELECT e'\\'`, 1, 24), st("SELECT 3", 1, 38)},
		},
		{
			name: "EStringDoubledQuote",
			sql:  `SELECT E'a''b;c'; SELECT 2`,
			want: []Statement{st(`SELECT E'a''b;c'`, 1, 1), st("SELECT 2", 1, 19)},
		},
		{
			name: "IdentifierEndingInEIsNotEString",
			sql:  `SELECT type'a\'; SELECT 2`,
			want: []Statement{st(`SELECT type'a\'`, 1, 1), st("SELECT 2", 1, 18)},
		},
		{
			name: "DoubleQuotedIdentifier",
			sql:  `CREATE TABLE "a;""b" (id int); SELECT 2`,
			want: []Statement{st(`CREATE TABLE "a;""b" (id int)`, 1, 1), st("SELECT 2", 1, 32)},
		},
		{
			name: "BacktickIdentifier",
			sql:  "CREATE TABLE `a;b` (id int); SELECT 2",
			want: []Statement{st("CREATE TABLE `a;b` (id int)", 1, 1), st("SELECT 2", 1, 30)},
		},
		{
			name: "DollarQuote",
			sql:  "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql;\nSELECT 2;",
			want: []Statement{
				st("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql", 1, 1),
				st("SELECT 2", 2, 1),
			},
		},
		{
			name: "NamedDollarQuoteWithNestedDollars",
			sql:  "DO $body$\nBEGIN\n  PERFORM $$;$$;\n  RAISE NOTICE '$x$';\nEND\n$body$;\nSELECT 2;",
			want: []Statement{
				st("DO $body$\nBEGIN\n  PERFORM $$;$$;\n  RAISE NOTICE '$x$';\nEND\n$body$", 1, 1),
				st("SELECT 2", 7, 1),
			},
		},
		{
			name: "DollarTagIsCaseSensitive",
			sql:  "SELECT $a$ ; $A$ ; $a$; SELECT 2",
			want: []Statement{st("SELECT $a$ ; $A$ ; $a$", 1, 1), st("SELECT 2", 1, 25)},
		},
		{
			name: "DollarTagWithDigitsAndUnderscore",
			sql:  "SELECT $_t1$ ; $_t1$; SELECT 2",
			want: []Statement{st("SELECT $_t1$ ; $_t1$", 1, 1), st("SELECT 2", 1, 23)},
		},
		{
			name: "ParametersAreNotDollarQuotes",
			sql:  "PREPARE p AS SELECT $1 + $2; SELECT $1$;",
			want: []Statement{st("PREPARE p AS SELECT $1 + $2", 1, 1), st("SELECT $1$", 1, 30)},
		},
		{
			name: "DollarInIdentifierIsNotAQuote",
			sql:  "SELECT a$b$c; SELECT 2",
			want: []Statement{st("SELECT a$b$c", 1, 1), st("SELECT 2", 1, 15)},
		},
		{
			name: "LoneDollar",
			sql:  "SELECT $ ; SELECT $x; SELECT 3",
			want: []Statement{st("SELECT $", 1, 1), st("SELECT $x", 1, 12), st("SELECT 3", 1, 23)},
		},
		{
			name: "LineCommentWithSemicolonAndQuote",
			sql:  "SELECT 1 -- it's; not the end\n + 1;\nSELECT 2",
			want: []Statement{st("SELECT 1 -- it's; not the end\n + 1", 1, 1), st("SELECT 2", 3, 1)},
		},
		{
			name: "BlockCommentWithSemicolon",
			sql:  "SELECT /* ; ' */ 1; SELECT 2",
			want: []Statement{st("SELECT /* ; ' */ 1", 1, 1), st("SELECT 2", 1, 21)},
		},
		{
			name: "NestedBlockComments",
			sql:  "/* outer /* inner; */ still; comment */ SELECT 1; SELECT 2",
			want: []Statement{st("SELECT 1", 1, 41), st("SELECT 2", 1, 51)},
		},
		{
			name: "BlockCommentSharingSlash",
			sql:  "/*/ SELECT 1; */ SELECT 2;",
			want: []Statement{st("SELECT 2", 1, 18)},
		},
		{
			name: "MultiLineBlockCommentPositions",
			sql:  "/* a\nb\n*/ SELECT 1;",
			want: []Statement{st("SELECT 1", 3, 4)},
		},
		{
			name: "DivisionAndMinusAreNotComments",
			sql:  "SELECT 4/2 - 1; SELECT 2",
			want: []Statement{st("SELECT 4/2 - 1", 1, 1), st("SELECT 2", 1, 17)},
		},
		{
			name: "SQLiteTrigger",
			sql: "CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO b VALUES (1);\n  UPDATE c SET n = n + 1;\nEND;\n" +
				"SELECT 2;",
			want: []Statement{
				st("CREATE TRIGGER t AFTER INSERT ON a BEGIN\n  INSERT INTO b VALUES (1);\n  UPDATE c SET n = n + 1;\nEND", 1, 1),
				st("SELECT 2", 5, 1),
			},
		},
		{
			name: "SQLiteTempTriggerWithCaseInBody",
			sql:  "create temp trigger if not exists t before delete on a begin select case when 1 then raise(abort, 'x;') end; delete from b; end; SELECT 2",
			want: []Statement{
				st("create temp trigger if not exists t before delete on a begin select case when 1 then raise(abort, 'x;') end; delete from b; end", 1, 1),
				st("SELECT 2", 1, 130),
			},
		},
		{
			name: "SQLiteTriggerWithCaseInWhen",
			sql:  "CREATE TRIGGER t AFTER UPDATE ON a WHEN CASE WHEN 1 THEN 1 END BEGIN SELECT 1; END; SELECT 2",
			want: []Statement{
				st("CREATE TRIGGER t AFTER UPDATE ON a WHEN CASE WHEN 1 THEN 1 END BEGIN SELECT 1; END", 1, 1),
				st("SELECT 2", 1, 85),
			},
		},
		{
			name: "PostgresTriggerHasNoBody",
			sql:  "CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f(); SELECT 2",
			want: []Statement{
				st("CREATE TRIGGER t AFTER INSERT ON a FOR EACH ROW EXECUTE FUNCTION f()", 1, 1),
				st("SELECT 2", 1, 71),
			},
		},
		{
			name: "BeginOutsideTriggerSplits",
			sql:  "BEGIN; SELECT 1; END;",
			want: []Statement{st("BEGIN", 1, 1), st("SELECT 1", 1, 8), st("END", 1, 18)},
		},
		{
			name: "BeginAtomicRoutineBody",
			sql:  "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END; SELECT 3",
			want: []Statement{
				st("CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; SELECT CASE WHEN true THEN 2 END; END", 1, 1),
				st("SELECT 3", 1, 119),
			},
		},
		{
			name: "CreateTableNamedTriggerIsOrdinary",
			sql:  "CREATE TABLE trigger (begin int); SELECT 2",
			want: []Statement{st("CREATE TABLE trigger (begin int)", 1, 1), st("SELECT 2", 1, 35)},
		},
		{
			name: "UnclosedTriggerRunsToEnd",
			sql:  "CREATE TRIGGER t BEGIN SELECT 1; ",
			want: []Statement{st("CREATE TRIGGER t BEGIN SELECT 1;", 1, 1)},
		},
		{
			name: "CRIsWhitespace",
			sql:  "SELECT 1;\r\nSELECT 2;\r\n",
			want: []Statement{st("SELECT 1", 1, 1), st("SELECT 2", 2, 1)},
		},
		{
			name: "UnicodeIdentifiers",
			sql:  "CREATE TABLE café (naïve int); SELECT 2",
			want: []Statement{st("CREATE TABLE café (naïve int)", 1, 1), st("SELECT 2", 1, 32)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := tt.firstLine
			if first == 0 {
				first = 1
			}
			for i := range tt.want {
				tt.want[i].Index = i
			}
			got, err := Split(tt.sql, first)
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestSplitErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		sql       string
		firstLine int // defaults to 1
		wantLine  int
		wantMsg   string
	}{
		{name: "UnterminatedString", sql: "SELECT 1;\nSELECT 'abc;\n", wantLine: 2, wantMsg: "unterminated quoted string"},
		{name: "UnterminatedStringEndsInDoubledQuote", sql: "SELECT 'a''", wantLine: 1, wantMsg: "unterminated quoted string"},
		{name: "UnterminatedEString", sql: `SELECT E'a\'`, wantLine: 1, wantMsg: "unterminated quoted string"},
		{name: "UnterminatedEStringTrailingBackslash", sql: `SELECT E'a\`, wantLine: 1, wantMsg: "unterminated quoted string"},
		{name: "UnterminatedIdentifier", sql: "\n\nSELECT \"a", wantLine: 3, wantMsg: "unterminated quoted identifier"},
		{name: "UnterminatedBacktick", sql: "SELECT `a", wantLine: 1, wantMsg: "unterminated quoted identifier"},
		{name: "UnterminatedDollar", sql: "SELECT 1;\nDO $$\nBEGIN\n", wantLine: 2, wantMsg: "unterminated dollar-quoted string $$"},
		{name: "UnterminatedNamedDollar", sql: "DO $fn$ SELECT 1 $FN$", wantLine: 1, wantMsg: "unterminated dollar-quoted string $fn$"},
		{name: "UnterminatedBlockComment", sql: "SELECT 1;\n/* note", wantLine: 2, wantMsg: "unterminated block comment"},
		{name: "UnterminatedNestedBlockComment", sql: "/* a /* b */ c", wantLine: 1, wantMsg: "unterminated block comment"},
		{name: "LoneSlashStar", sql: "/*", wantLine: 1, wantMsg: "unterminated block comment"},
		{name: "LineOffset", sql: "\nSELECT '", firstLine: 40, wantLine: 41, wantMsg: "unterminated quoted string"},
		{name: "AfterMultiLineString", sql: "SELECT 'a\nb\nc';\n/*", wantLine: 4, wantMsg: "unterminated block comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first := tt.firstLine
			if first == 0 {
				first = 1
			}
			got, err := Split(tt.sql, first)
			require.Nil(t, got)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, &Error{Line: tt.wantLine, Msg: tt.wantMsg}, e)
		})
	}
}

// TestSplitLinear guards against accidental quadratic behaviour, which would
// turn a large or hostile file into a hang at start-up on every instance.
func TestSplitLinear(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		sql  string
		want int
	}{
		{name: "ManyStatementsOnOneLine", sql: strings.Repeat("SELECT 'é';", 200_000), want: 200_000},
		{name: "ManyEmptyStatements", sql: strings.Repeat(";", 1_000_000), want: 0},
		{name: "ManyLoneDollars", sql: strings.Repeat("$a ", 300_000), want: 1},
		{name: "ManyParameters", sql: strings.Repeat("$1 ", 300_000), want: 1},
		{name: "DeepBlockComment", sql: strings.Repeat("/*", 300_000) + strings.Repeat("*/", 300_000), want: 0},
		{name: "ManyEStrings", sql: strings.Repeat(`E'\'\'';`, 200_000), want: 200_000},
		{name: "LongTrigger", sql: "CREATE TRIGGER t BEGIN " + strings.Repeat("CASE END;", 300_000) + " END", want: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Split(tt.sql, 1)
			require.NoError(t, err)
			require.Len(t, got, tt.want)
		})
	}
}
