package source

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseGoose(t *testing.T) {
	t.Parallel()

	const fn = `CREATE FUNCTION touch() RETURNS trigger AS $$
BEGIN
  NEW.updated_at = now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;`

	type want struct {
		up, down     []string // statement SQL; down nil: no down section
		upSQL        string
		upLine       int
		noTx, downTx bool
		phase        Phase
		units        []Unit
	}
	tests := []struct {
		name string
		data string
		want want
	}{
		{
			name: "UpAndDown",
			data: "-- header comment\n\n-- +goose Up\nCREATE TABLE a (id int);\nINSERT INTO a VALUES (1); -- one; really\n\n-- +goose Down\nDROP TABLE a;\n",
			want: want{up: []string{"CREATE TABLE a (id int)", "INSERT INTO a VALUES (1)"}, down: []string{"DROP TABLE a"},
				upSQL: "CREATE TABLE a (id int);\nINSERT INTO a VALUES (1); -- one; really\n\n", upLine: 4},
		},
		{
			name: "NoDownIsIrreversible",
			data: "-- +goose Up\nSELECT 1;\n",
			want: want{up: []string{"SELECT 1"}, upSQL: "SELECT 1;\n", upLine: 2},
		},
		{
			name: "EmptyDownIsNoOp",
			data: "-- +goose Up\nSELECT 1;\n-- +goose Down\n",
			want: want{up: []string{"SELECT 1"}, down: []string{}, upSQL: "SELECT 1;\n", upLine: 2},
		},
		{
			name: "StatementBlockIsOneStatement",
			data: "-- +goose Up\n-- +goose StatementBegin\n-- the trigger function\n" + fn + "\n-- +goose StatementEnd\nCREATE TABLE b (id int);\n\n-- +goose Down\n-- +goose StatementBegin\nDROP FUNCTION touch();\n-- +goose StatementEnd\n",
			want: want{up: []string{fn, "CREATE TABLE b (id int)"}, down: []string{"DROP FUNCTION touch();"},
				upSQL: "-- +goose StatementBegin\n-- the trigger function\n" + fn + "\n-- +goose StatementEnd\nCREATE TABLE b (id int);\n\n", upLine: 2},
		},
		{
			name: "NoTransactionCoversBothDirections",
			data: "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX CONCURRENTLY i ON a (id);\n-- +goose Down\nDROP INDEX i;\n",
			want: want{up: []string{"CREATE INDEX CONCURRENTLY i ON a (id)"}, down: []string{"DROP INDEX i"}, noTx: true, downTx: true,
				upSQL: "CREATE INDEX CONCURRENTLY i ON a (id);\n", upLine: 3},
		},
		{
			name: "AnnotationsAreCaseInsensitive",
			data: "--+goose up\nSELECT 1;\n-- +goose  down\nSELECT 2;\n",
			want: want{up: []string{"SELECT 1"}, down: []string{"SELECT 2"}, upSQL: "SELECT 1;\n", upLine: 2},
		},
		{
			name: "ExplicitBlocksAreUnits",
			data: "-- +goose NO TRANSACTION\n-- +goose Up\nBEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\nBEGIN;\nINSERT INTO a VALUES (2);\nCOMMIT;\n",
			want: want{up: []string{"BEGIN", "INSERT INTO a VALUES (1)", "COMMIT", "BEGIN", "INSERT INTO a VALUES (2)", "COMMIT"}, noTx: true,
				upSQL: "BEGIN;\nINSERT INTO a VALUES (1);\nCOMMIT;\nBEGIN;\nINSERT INTO a VALUES (2);\nCOMMIT;\n", upLine: 3,
				units: []Unit{{Start: 0, End: 3, Open: 1}, {Start: 3, End: 6, Open: 1}}},
		},
		{
			name: "FleetgateDirectivesApply",
			data: "-- fleetgate:phase post\n-- +goose Up\nALTER TABLE a DROP COLUMN b;\n",
			want: want{up: []string{"ALTER TABLE a DROP COLUMN b"}, phase: PhasePost, upSQL: "ALTER TABLE a DROP COLUMN b;\n", upLine: 3},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse("db/00042_x.sql", []byte(tt.data))
			require.NoError(t, err)
			require.Equal(t, int64(42), m.Version)
			require.Equal(t, "x", m.Name)
			require.Equal(t, tt.want.upSQL, m.Up.SQL)
			require.Equal(t, tt.want.upLine, m.Up.StartLine)
			require.Equal(t, Checksum([]byte(tt.want.upSQL)), m.Checksum)
			require.Equal(t, tt.want.noTx, m.NoTransaction)
			require.Equal(t, tt.want.units, m.Up.Units)
			phase := tt.want.phase
			if phase == "" {
				phase = PhasePre
			}
			require.Equal(t, phase, m.Phase)
			require.Equal(t, tt.want.up, sqls(m.Up.Statements))
			checkStatements(t, m.Up.SQL, m.Up.StartLine, m.Up.Statements)
			if tt.want.down == nil {
				require.Nil(t, m.Down)
				require.Empty(t, m.DownFile)
				return
			}
			require.NotNil(t, m.Down)
			require.Equal(t, "db/00042_x.sql", m.DownFile)
			require.Equal(t, tt.want.down, sqls(m.Down.Statements))
			require.Equal(t, tt.want.downTx, m.Down.NoTransaction)
			checkStatements(t, m.Down.SQL, m.Down.StartLine, m.Down.Statements)
		})
	}
}

func TestParseGooseErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		data     string
		wantLine int
		wantMsg  string
	}{
		{name: "SQLBeforeUp", data: "-- +goose NO TRANSACTION\nSELECT 1;\n-- +goose Up\n", wantLine: 2, wantMsg: "SQL before -- +goose Up"},
		{name: "DuplicateUp", data: "-- +goose Up\nSELECT 1;\n-- +goose Up\n", wantLine: 3, wantMsg: "duplicate -- +goose Up (first at line 1)"},
		{name: "DownBeforeUp", data: "-- +goose Down\n-- +goose Up\n", wantLine: 1, wantMsg: "-- +goose Down before -- +goose Up"},
		{name: "UnknownAnnotation", data: "-- +goose Up\n-- +goose Sideways\n", wantLine: 2, wantMsg: `unknown goose annotation "Sideways"`},
		{name: "CommentMentioningGoose", data: "-- +goose Up\n-- ported from +goose by hand\nSELECT 1;\n", wantLine: 2, wantMsg: "unknown goose annotation"},
		{name: "LeadingWhitespace", data: "-- +goose Up\n  -- +goose StatementBegin\n", wantLine: 2, wantMsg: "leading whitespace"},
		{name: "Envsub", data: "-- +goose ENVSUB ON\n-- +goose Up\nSELECT '${X}';\n", wantLine: 1, wantMsg: "ENVSUB ON is not supported"},
		{name: "StatementEndWithoutBegin", data: "-- +goose Up\n-- +goose StatementEnd\n", wantLine: 2, wantMsg: "StatementEnd without StatementBegin"},
		{name: "StatementBeginNeverEnded", data: "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n", wantLine: 2, wantMsg: "StatementBegin without StatementEnd"},
		{name: "DownInsideBlock", data: "-- +goose Up\n-- +goose StatementBegin\nSELECT 1;\n-- +goose Down\n", wantLine: 4, wantMsg: "inside the StatementBegin block of line 2"},
		{name: "TransactionControlInsideBlock", data: "-- +goose Up\n-- +goose StatementBegin\nBEGIN;\nSELECT 1;\nCOMMIT;\n-- +goose StatementEnd\n", wantLine: 3, wantMsg: "transaction control inside"},
		{name: "CommitWithoutBegin", data: "-- +goose Up\nCREATE TABLE a (id int);\nCOMMIT;\n", wantLine: 3, wantMsg: "COMMIT without a BEGIN"},
		{name: "FleetgateSectionMarker", data: "-- +goose Up\n-- fleetgate:down\n", wantLine: 2, wantMsg: "-- fleetgate:down in a goose migration"},
		{name: "UnterminatedString", data: "-- +goose Up\nSELECT 'x;\n", wantLine: 2, wantMsg: "unterminated quoted string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fsys := map[string]string{"m/1_x.sql": tt.data}
			_, _, err := LoadFormat(mapFS(fsys), "m", FormatGoose)
			requireError(t, err, "m/1_x.sql", tt.wantLine, tt.wantMsg)
		})
	}
}

func sqls(stmts []Statement) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = s.SQL
	}
	return out
}
