package plan

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/source"
)

// withDown is a local migration whose file has a down section.
func withDown(v int64, down string) *source.Migration {
	m := mig(v, source.PhasePre)
	m.File = "f.sql"
	m.DownFile = "f.sql"
	m.Down = &source.Section{SQL: down, Statements: []source.Statement{{SQL: down, Line: 9}}}
	m.DownChecksum = source.Checksum([]byte(down))
	return m
}

func stored(v int64, down string) Stored {
	return Stored{Version: v, Name: "m", Reversible: true, DownSQL: down, DownChecksum: source.Checksum([]byte(down))}
}

func irreversible(v int64) Stored { return Stored{Version: v, Name: "m"} }

func TestStepsTarget(t *testing.T) {
	t.Parallel()
	applied := []Stored{stored(1, ""), stored(5, ""), stored(9, "")}
	tests := []struct {
		name string
		n    int
		want int64
	}{
		{name: "OneStep", n: 1, want: 5},
		{name: "TwoSteps", n: 2, want: 1},
		{name: "AllSteps", n: 3, want: 0},
		{name: "MoreThanApplied", n: 7, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, StepsTarget(applied, tt.n))
		})
	}
	require.Equal(t, int64(0), StepsTarget(nil, 1))
}

func TestBuildDown(t *testing.T) {
	t.Parallel()
	type want struct {
		versions []int64
		fromFile []bool
		differs  []bool
	}
	tests := []struct {
		name     string
		local    []*source.Migration
		applied  []Stored
		target   DownTarget
		want     want
		irrevers []int64
		problem  ProblemKind
	}{
		{name: "NothingApplied", local: []*source.Migration{withDown(1, "DROP TABLE a")}, want: want{}},
		{name: "AboveNewestFirst", local: []*source.Migration{withDown(1, "d1"), withDown(2, "d2"), withDown(3, "d3")},
			applied: []Stored{stored(1, "d1"), stored(2, "d2"), stored(3, "d3")}, target: DownTarget{Above: 1},
			want: want{versions: []int64{3, 2}, fromFile: []bool{true, true}, differs: []bool{false, false}}},
		{name: "AllWithZero", local: []*source.Migration{withDown(1, "d1"), withDown(2, "d2")},
			applied: []Stored{stored(1, "d1"), stored(2, "d2")},
			want:    want{versions: []int64{2, 1}, fromFile: []bool{true, true}, differs: []bool{false, false}}},
		{name: "StoredWhenFileAbsent", local: []*source.Migration{withDown(1, "d1")},
			applied: []Stored{stored(1, "d1"), stored(2, "d2")}, target: DownTarget{Above: 1},
			want: want{versions: []int64{2}, fromFile: []bool{false}, differs: []bool{false}}},
		{name: "FileWinsAndDiffers", local: []*source.Migration{withDown(1, "d1"), withDown(2, "fixed d2")},
			applied: []Stored{stored(1, "d1"), stored(2, "broken d2")}, target: DownTarget{Above: 1},
			want: want{versions: []int64{2}, fromFile: []bool{true}, differs: []bool{true}}},
		{name: "DownAddedToFileAfterApply", local: []*source.Migration{withDown(1, "d1")},
			applied: []Stored{irreversible(1)},
			want:    want{versions: []int64{1}, fromFile: []bool{true}, differs: []bool{true}}},
		{name: "UnknownOnlyAhead", local: []*source.Migration{withDown(1, "d1"), withDown(2, "d2")},
			applied: []Stored{stored(1, "d1"), stored(2, "d2"), stored(4, "d4"), stored(5, "d5")}, target: DownTarget{Unknown: true},
			want: want{versions: []int64{5, 4}, fromFile: []bool{false, false}, differs: []bool{false, false}}},
		{name: "UnknownNothingAhead", local: []*source.Migration{withDown(1, "d1")},
			applied: []Stored{stored(1, "d1")}, target: DownTarget{Unknown: true}, want: want{}},
		{name: "UnknownRefusesHole", local: []*source.Migration{withDown(1, "d1"), withDown(3, "d3")},
			applied: []Stored{stored(1, "d1"), stored(2, "d2"), stored(3, "d3"), stored(4, "d4")}, target: DownTarget{Unknown: true},
			problem: Missing},
		{name: "IrreversibleStoredInTheWay", local: []*source.Migration{withDown(1, "d1")},
			applied: []Stored{stored(1, "d1"), irreversible(2), stored(3, "d3")}, target: DownTarget{Unknown: true},
			irrevers: []int64{2}},
		{name: "IrreversibleFileInTheWay", local: []*source.Migration{withDown(1, "d1"), mig(2, source.PhasePre)},
			applied: []Stored{stored(1, "d1"), stored(2, "d2")}, target: DownTarget{Above: 0},
			irrevers: []int64{2}},
		{name: "IrreversibleBelowTargetIsFine", local: []*source.Migration{mig(1, source.PhasePre), withDown(2, "d2")},
			applied: []Stored{irreversible(1), stored(2, "d2")}, target: DownTarget{Above: 1},
			want: want{versions: []int64{2}, fromFile: []bool{true}, differs: []bool{false}}},
		{name: "EveryIrreversibleNamed", applied: []Stored{irreversible(1), stored(2, "d2"), irreversible(3)},
			irrevers: []int64{3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			steps, err := BuildDown(tt.local, tt.applied, tt.target)
			if tt.problem != "" {
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tt.problem, ve.Problems[0].Kind)
				return
			}
			if tt.irrevers != nil {
				var ie *IrreversibleError
				require.ErrorAs(t, err, &ie)
				var got []int64
				for _, m := range ie.Migrations {
					got = append(got, m.Version)
					require.Contains(t, ie.Error(), "_m")
				}
				require.Equal(t, tt.irrevers, got)
				require.Contains(t, ie.Error(), "nothing was changed")
				return
			}
			require.NoError(t, err)
			var got want
			for _, s := range steps {
				got.versions = append(got.versions, s.Version)
				got.fromFile = append(got.fromFile, s.FromFile)
				got.differs = append(got.differs, s.Differs)
			}
			require.Equal(t, tt.want, got)
		})
	}
}

func TestBuildDownStoredScript(t *testing.T) {
	t.Parallel()
	down := "-- revert\nUPDATE a SET n = n - 1;\n\nDROP TABLE b;\n"
	steps, err := BuildDown(nil, []Stored{stored(7, down)}, DownTarget{})
	require.NoError(t, err)
	require.Len(t, steps, 1)
	st := steps[0]
	require.Equal(t, "stored down script of 7_m", st.File)
	require.False(t, st.NoTransaction)
	require.Len(t, st.Statements, 2)
	require.Equal(t, "UPDATE a SET n = n - 1", st.Statements[0].SQL)
	require.Equal(t, 2, st.Statements[0].Line, "lines count within the stored script")
	require.Equal(t, 4, st.Statements[1].Line)

	steps, err = BuildDown(nil, []Stored{stored(8, "-- fleetgate:no-transaction\nDROP INDEX CONCURRENTLY i;\n")}, DownTarget{})
	require.NoError(t, err)
	require.True(t, steps[0].NoTransaction, "a stored down carrying the directive runs outside a transaction")

	// A MySQL script is split by MySQL's rules (a backslash-escaped
	// quote, a # comment), and its DDL makes it run statement by
	// statement.
	my := "# undo; it\n" + `UPDATE a SET s = 'it\'s; gone';` + "\nDROP TABLE b;\n"
	steps, err = BuildDown(nil, []Stored{stored(10, my)}, DownTarget{Dialect: dialect.MySQL})
	require.NoError(t, err)
	require.Len(t, steps[0].Statements, 2)
	require.Equal(t, `UPDATE a SET s = 'it\'s; gone'`, steps[0].Statements[0].SQL)
	require.True(t, steps[0].NoTransaction)

	_, err = BuildDown(nil, []Stored{stored(9, "SELECT 'unterminated;\n")}, DownTarget{})
	var se *source.Error
	require.ErrorAs(t, err, &se)
	require.Equal(t, "stored down script of 9_m", se.File)
}

func TestHasNoTransaction(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		sql  string
		want bool
	}{
		{name: "None", sql: "DROP TABLE a;\n"},
		{name: "OwnLine", sql: "-- fleetgate:no-transaction\nDROP INDEX CONCURRENTLY i;\n", want: true},
		{name: "Indented", sql: "  --  fleetgate:no-transaction  \n", want: true},
		{name: "InsideAStatementComment", sql: "DROP TABLE a; -- fleetgate:no-transaction\n"},
		{name: "OtherDirective", sql: "-- fleetgate:phase post\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, HasNoTransaction(tt.sql))
		})
	}
}
