package source

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestPlanTx(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name      string
		sql       string
		noTx      bool // the file's own directive
		wantNoTx  bool
		wantUnits []Unit
		wantBegin string   // TxBody's begin, for sections run in one transaction
		wantBody  []string // TxBody's statements, for sections run in one transaction
	}{
		{name: "Plain", sql: "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1);",
			wantBody: []string{"CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)"}},
		{name: "DirectiveWithoutBlocks", sql: "CREATE TABLE a (id int);\nSELECT 1;", noTx: true, wantNoTx: true},
		{name: "OneBlockIsTheFile", sql: "BEGIN;\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1);\nCOMMIT;",
			wantUnits: []Unit{{Start: 0, End: 4, Open: 1}}, wantBegin: "BEGIN",
			wantBody: []string{"CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)"}},
		{name: "EndEndsABlock", sql: "begin transaction;\nSELECT 1;\nend;",
			wantUnits: []Unit{{Start: 0, End: 3, Open: 1}}, wantBegin: "begin transaction", wantBody: []string{"SELECT 1"}},
		{name: "IsolationLevelIsKept", sql: "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSET TRANSACTION READ WRITE;\nUPDATE a SET n = 1;\nCOMMIT WORK;",
			wantUnits: []Unit{{Start: 0, End: 4, Open: 2}}, wantBegin: "START TRANSACTION ISOLATION LEVEL SERIALIZABLE;\nSET TRANSACTION READ WRITE",
			wantBody: []string{"UPDATE a SET n = 1"}},
		{name: "OneBlockAmongOthersRunsInOneTransaction", sql: "CREATE TABLE a (id int);\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\nCREATE INDEX ai ON a (id);",
			wantUnits: []Unit{{Start: 0, End: 1}, {Start: 1, End: 4, Open: 1}, {Start: 4, End: 5}}, wantBegin: "BEGIN",
			wantBody: []string{"CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)", "CREATE INDEX ai ON a (id)"}},
		{name: "TwoBlocksRunAsUnits", sql: "BEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\nSELECT 2;\nBEGIN;\nINSERT INTO a VALUES (3);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;\nEND;",
			wantNoTx: true, wantUnits: []Unit{{Start: 0, End: 3, Open: 1}, {Start: 3, End: 4}, {Start: 4, End: 9, Open: 1}}},
		{name: "Concurrently", sql: "CREATE INDEX CONCURRENTLY ai ON a (id);", wantNoTx: true},
		{name: "DropIndexConcurrentlyAmongOthers", sql: "DROP INDEX CONCURRENTLY ai;\nCREATE INDEX CONCURRENTLY ai2 ON a (id);", wantNoTx: true},
		{name: "ConcurrentlyInStringsAndCommentsDoesNotCount", sql: "INSERT INTO log VALUES ('CREATE INDEX CONCURRENTLY'); -- concurrently\nSELECT \"concurrently\" FROM t;",
			wantBody: []string{"INSERT INTO log VALUES ('CREATE INDEX CONCURRENTLY')", "SELECT \"concurrently\" FROM t"}},
		{name: "Vacuum", sql: "VACUUM ANALYZE a;", wantNoTx: true},
		{name: "CreateDatabase", sql: "CREATE DATABASE other;", wantNoTx: true},
		{name: "DoBlockWithBeginInside", sql: "DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$;\nCREATE FUNCTION f() RETURNS int AS $f$ BEGIN RETURN 1; END $f$ LANGUAGE plpgsql;",
			wantBody: []string{"DO $$\nBEGIN\n  PERFORM 1;\nEND\n$$", "CREATE FUNCTION f() RETURNS int AS $f$ BEGIN RETURN 1; END $f$ LANGUAGE plpgsql"}},
		{name: "DirectiveWithOneBlock", sql: "BEGIN;\nSELECT 1;\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON a (id);", noTx: true,
			wantNoTx: true, wantUnits: []Unit{{Start: 0, End: 3, Open: 1}, {Start: 3, End: 4}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stmts, err := Split(tt.sql, 1)
			require.NoError(t, err)
			s := &Section{SQL: tt.sql, StartLine: 1, Statements: stmts}
			require.NoError(t, s.planTx(tt.noTx))
			require.Equal(t, tt.wantNoTx, s.NoTransaction)
			require.Equal(t, tt.wantUnits, s.Units)
			if s.NoTransaction {
				return
			}
			begin, body := s.TxBody()
			require.Equal(t, tt.wantBegin, begin)
			got := make([]string, len(body))
			for i, st := range body {
				got[i] = st.SQL
			}
			require.Equal(t, tt.wantBody, got)
		})
	}
}

func TestPlanTxErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		sql      string
		wantLine int
		wantMsg  string
	}{
		{name: "CommitWithoutBegin", sql: "CREATE TABLE a (id int);\nCOMMIT;", wantLine: 2, wantMsg: "COMMIT without a BEGIN"},
		{name: "NeverCommitted", sql: "SELECT 1;\nBEGIN;\nSELECT 2;", wantLine: 2, wantMsg: "never committed"},
		{name: "NestedBegin", sql: "BEGIN;\nSELECT 1;\nBEGIN;\nCOMMIT;", wantLine: 3, wantMsg: "BEGIN inside the transaction block opened at line 1"},
		{name: "Rollback", sql: "BEGIN;\nSELECT 1;\nROLLBACK;", wantLine: 3, wantMsg: "ROLLBACK of a whole transaction block"},
		{name: "Abort", sql: "BEGIN;\nABORT;", wantLine: 2, wantMsg: "ROLLBACK of a whole transaction block"},
		{name: "CommitAndChain", sql: "BEGIN;\nSELECT 1;\nCOMMIT AND CHAIN;\nSELECT 2;\nCOMMIT;", wantLine: 3, wantMsg: "COMMIT AND CHAIN is not supported"},
		{name: "PrepareTransaction", sql: "BEGIN;\nPREPARE TRANSACTION 'x';", wantLine: 2, wantMsg: "PREPARE TRANSACTION is not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stmts, err := Split(tt.sql, 1)
			require.NoError(t, err)
			s := &Section{SQL: tt.sql, StartLine: 1, Statements: stmts}
			err = s.planTx(false)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.wantLine, e.Line)
			require.Contains(t, e.Msg, tt.wantMsg)
		})
	}
}

func TestUnitAtAndBlockBody(t *testing.T) {
	t.Parallel()

	sql := "BEGIN ISOLATION LEVEL SERIALIZABLE;\nINSERT INTO a VALUES (1);\nCOMMIT;\nCREATE INDEX CONCURRENTLY i ON a (id);\nBEGIN;\nUPDATE a SET n = 2;\nUPDATE a SET n = 3;\nCOMMIT;"
	stmts, err := Split(sql, 1)
	require.NoError(t, err)
	s := &Section{SQL: sql, StartLine: 1, Statements: stmts}
	require.NoError(t, s.planTx(false))
	require.True(t, s.NoTransaction)

	u, ok := s.UnitAt(0)
	require.True(t, ok)
	begin, body := s.BlockBody(u)
	require.Equal(t, "BEGIN ISOLATION LEVEL SERIALIZABLE", begin)
	require.Len(t, body, 1)
	require.Equal(t, 1, body[0].Index)

	_, ok = s.UnitAt(3) // the index build is a unit of one statement, not a block
	require.False(t, ok)
	_, ok = s.UnitAt(1) // inside a block
	require.False(t, ok)

	u, ok = s.UnitAt(4)
	require.True(t, ok)
	require.Equal(t, Unit{Start: 4, End: 8, Open: 1}, u)
	_, body = s.BlockBody(u)
	require.Equal(t, "UPDATE a SET n = 2", body[0].SQL)
	require.Equal(t, "UPDATE a SET n = 3", body[1].SQL)
}

func TestNewSection(t *testing.T) {
	t.Parallel()

	s, err := NewSection("-- migrate:down transaction:false\ndrop index concurrently i;\n", 1, false)
	require.NoError(t, err)
	require.True(t, s.NoTransaction)
	s, err = NewSection("-- migrate:down\ndrop table a;\n", 1, false)
	require.NoError(t, err)
	require.False(t, s.NoTransaction)
	s, err = NewSection("BEGIN;\nDROP TABLE a;\nCOMMIT;\n", 1, false)
	require.NoError(t, err)
	_, body := s.TxBody()
	require.Equal(t, []string{"DROP TABLE a"}, sqls(body))
	_, err = NewSection("COMMIT;\n", 1, false)
	require.ErrorContains(t, err, "COMMIT without a BEGIN")
}
