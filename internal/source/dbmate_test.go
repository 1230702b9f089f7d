package source

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParseDbmate(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name           string
		data           string
		wantUp         []string
		wantDown       []string
		wantUpSQL      string
		wantUpLine     int
		wantNoTx       bool
		wantDownNoTx   bool
		wantDownStart  int
		wantPhasePost  bool
		wantDownSQLEnd string
	}{
		{
			name:       "UpAndDown",
			data:       "-- a comment\n-- migrate:up\ncreate table a (id int); -- one; two\ninsert into a values (1);\n\n-- migrate:down\ndrop table a;\n",
			wantUp:     []string{"create table a (id int)", "insert into a values (1)"},
			wantDown:   []string{"drop table a"},
			wantUpSQL:  "-- migrate:up\ncreate table a (id int); -- one; two\ninsert into a values (1);\n\n",
			wantUpLine: 2, wantDownStart: 6,
		},
		{
			name:       "EmptyDownIsNoOp",
			data:       "-- migrate:up\nselect 1;\n-- migrate:down\n",
			wantUp:     []string{"select 1"},
			wantDown:   []string{},
			wantUpSQL:  "-- migrate:up\nselect 1;\n",
			wantUpLine: 1, wantDownStart: 3,
		},
		{
			name:       "TransactionFalseIsPerSection",
			data:       "-- migrate:up transaction:false\ncreate index concurrently i on a (id);\n-- migrate:down\ndrop index i;\n",
			wantUp:     []string{"create index concurrently i on a (id)"},
			wantDown:   []string{"drop index i"},
			wantUpSQL:  "-- migrate:up transaction:false\ncreate index concurrently i on a (id);\n",
			wantUpLine: 1, wantDownStart: 3, wantNoTx: true,
		},
		{
			name:       "DownWithoutTransaction",
			data:       "--migrate:up\nselect 1;\n--migrate:down   transaction:false  other:x\ndrop index concurrently i;\n",
			wantUp:     []string{"select 1"},
			wantDown:   []string{"drop index concurrently i"},
			wantUpSQL:  "--migrate:up\nselect 1;\n",
			wantUpLine: 1, wantDownStart: 3, wantDownNoTx: true,
		},
		{
			name:       "FleetgatePhase",
			data:       "-- fleetgate:phase post\n-- migrate:up\nalter table a drop column b;\n-- migrate:down\n",
			wantUp:     []string{"alter table a drop column b"},
			wantDown:   []string{},
			wantUpSQL:  "-- migrate:up\nalter table a drop column b;\n",
			wantUpLine: 2, wantDownStart: 4, wantPhasePost: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m, err := Parse("db/20240101120000_x.sql", []byte(tt.data))
			require.NoError(t, err)
			require.Equal(t, int64(20240101120000), m.Version)
			require.Equal(t, tt.wantUp, sqls(m.Up.Statements))
			require.Equal(t, tt.wantDown, sqls(m.Down.Statements))
			require.Equal(t, tt.wantUpSQL, m.Up.SQL)
			require.Equal(t, tt.wantUpLine, m.Up.StartLine)
			require.Equal(t, tt.wantDownStart, m.Down.StartLine)
			require.Equal(t, Checksum([]byte(tt.wantUpSQL)), m.Checksum)
			require.Equal(t, Checksum([]byte(m.Down.SQL)), m.DownChecksum)
			require.Equal(t, tt.wantNoTx, m.NoTransaction)
			require.Equal(t, tt.wantDownNoTx, m.Down.NoTransaction)
			require.Equal(t, "db/20240101120000_x.sql", m.DownFile)
			if tt.wantPhasePost {
				require.Equal(t, PhasePost, m.Phase)
			}
			checkStatements(t, m.Up.SQL, m.Up.StartLine, m.Up.Statements)
			checkStatements(t, m.Down.SQL, m.Down.StartLine, m.Down.Statements)
		})
	}
}

func TestParseDbmateErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		data     string
		wantLine int
		wantMsg  string
	}{
		{name: "MissingUp", data: "create table a (id int);\n", wantLine: 0, wantMsg: "missing -- migrate:up"},
		{name: "MissingDown", data: "-- migrate:up\nselect 1;\n", wantLine: 0, wantMsg: "missing -- migrate:down"},
		{name: "SQLBeforeUp", data: "-- x\nselect 1;\n-- migrate:up\n-- migrate:down\n", wantLine: 2, wantMsg: "SQL before -- migrate:up"},
		{name: "SecondSection", data: "-- migrate:up\nselect 1;\n-- migrate:down\n-- migrate:up\nselect 2;\n-- migrate:down\n", wantLine: 4, wantMsg: "a second -- migrate:up section (the first is at line 1)"},
		{name: "DuplicateDown", data: "-- migrate:up\n-- migrate:down\n-- migrate:down\n", wantLine: 3, wantMsg: "duplicate -- migrate:down"},
		{name: "NeverCommitted", data: "-- migrate:up\nbegin;\nselect 1;\n-- migrate:down\n", wantLine: 2, wantMsg: "never committed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LoadFormat(mapFS(map[string]string{"m/1_x.sql": tt.data}), "m", FormatDbmate)
			requireError(t, err, "m/1_x.sql", tt.wantLine, tt.wantMsg)
		})
	}
}
