package mysqlstmt

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A keyword inside a string, a quoted identifier or a comment never
// counts; the code of an executable comment does.
func TestLexHidesQuotedAndComments(t *testing.T) {
	t.Parallel()
	for sql, want := range map[string][]string{
		"SELECT 'DROP TABLE t' FROM x":          {"SELECT", "FROM", "X"},
		`SELECT "it\"s DROP", 'a''DROP' FROM x`: {"SELECT", "FROM", "X"},
		"SELECT `DROP``TABLE` FROM x":           {"SELECT", "FROM", "X"},
		"SELECT 1 -- DROP TABLE t\nFROM x":      {"SELECT", "FROM", "X"},
		"SELECT 1 # DROP TABLE t\nFROM x":       {"SELECT", "FROM", "X"},
		"SELECT 1 /* DROP TABLE t */ FROM x":    {"SELECT", "FROM", "X"},
		"SELECT 1--1 FROM x":                    {"SELECT", "FROM", "X"},
		"/*!40101 SET NAMES utf8mb4 */":         {"SET", "NAMES", "UTF8MB4"},
		"/*M!100100 DROP TABLE t */":            {"DROP", "TABLE", "T"},
		"SELECT 1 /*!80000 , DROP */ FROM x":    {"SELECT", "DROP", "FROM", "X"},
		"SELECT 'a\\\\' FROM x":                 {"SELECT", "FROM", "X"},
		"SELECT 1st_try, 1e5, 0x1F FROM x":      {"SELECT", "1ST_TRY", "FROM", "X"},
	} {
		require.Equal(t, want, FirstWords(sql, 10), sql)
	}
	st, err := Parse("ALTER TABLE t ADD COLUMN x VARCHAR(10) NOT NULL DEFAULT 'DROP COLUMN y; ALGORITHM=COPY'")
	require.NoError(t, err)
	require.Len(t, st.Specs, 1)
	require.Equal(t, "varchar(10) not null default 'drop column y; algorithm=copy'", st.Specs[0].Columns[0].Type)
}

// A statement that cannot be recognized names the token it stopped at,
// in vitess's words, so that the checks' message keeps its position.
func TestErrorPosition(t *testing.T) {
	t.Parallel()
	sql := "ALTER TABLE users ADD COLUMN IF NOT EXISTS nick VARCHAR(20) NULL, ALGORITHM=INSTANT"
	_, err := Parse(sql)
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, 29, e.Off)
	require.Equal(t, "IF", e.Near)
	_, verr := fromVitess(sql, true)
	require.EqualError(t, err, verr.Error())
	for _, sql := range []string{"SELECT 'open", "SELECT `open", "SELECT 1 /* open", "", "DROP TABLE", "ALTER TABLE t ADD COLUMN x INT; DROP TABLE t"} {
		_, err := Parse(sql)
		require.Error(t, err, sql)
	}
	// A head is kept for the crash recovery, as vitess's non-strict parse
	// keeps it.
	st, err := Parse("CREATE TABLE s.t (a INT) WITH SYSTEM VERSIONING")
	require.Error(t, err)
	require.Equal(t, CreateTable, st.Kind)
	require.Equal(t, []Name{{Schema: "s", Table: "t"}}, st.Tables)
}
