package adopt

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// TestLegacyAppliedFlyway covers what only flyway's history has: a schema
// marker, baselines, repeatable and undone migrations, dotted versions.
func TestLegacyAppliedFlyway(t *testing.T) {
	t.Parallel()

	local := []*source.Migration{{Version: 1}, {Version: 2}, {Version: 3}, {Version: 4}, {Version: 5}}
	row := func(rank int64, version, typ string, ok bool) driver.LegacyRow {
		return driver.LegacyRow{Rank: rank, Version: version, Type: typ, Applied: ok, Description: "d"}
	}
	tests := []struct {
		name    string
		rows    []driver.LegacyRow
		applied []int64
		wantErr string
	}{
		{name: "Versioned", rows: []driver.LegacyRow{row(1, "", "SCHEMA", true), row(2, "1", "SQL", true), row(3, "003", "SQL", true), row(4, "", "SQL", true)},
			applied: []int64{1, 3}},
		{name: "Baseline", rows: []driver.LegacyRow{row(1, "3", "BASELINE", true), row(2, "5", "SQL", true)}, applied: []int64{1, 2, 3, 5}},
		{name: "Undone", rows: []driver.LegacyRow{row(1, "1", "SQL", true), row(2, "2", "SQL", true), row(3, "2", "UNDO_SQL", true)}, applied: []int64{1}},
		{name: "Failed", rows: []driver.LegacyRow{row(1, "1", "SQL", true), row(2, "2", "SQL", false)}, wantErr: "failed migration, version 2 (d, installed_rank 2)"},
		{name: "FailedRepeatable", rows: []driver.LegacyRow{row(1, "", "SQL", false)}, wantErr: "failed migration, repeatable migration"},
		{name: "DottedVersion", rows: []driver.LegacyRow{row(1, "1.1", "SQL", true)}, wantErr: `version "1.1", which is not a whole number`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := Read(driver.ToolFlyway, "flyway_schema_history", tt.rows, local)
			if tt.wantErr != "" {
				var ve *plan.ValidationError
				require.ErrorAs(t, err, &ve)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var got []int64
			for _, m := range local {
				if st.Applied(m.Version) {
					got = append(got, m.Version)
				}
			}
			require.Equal(t, tt.applied, got)
		})
	}
}

// What each tool's rows say is applied, and the states each refuses.
func TestRead(t *testing.T) {
	t.Parallel()
	local := []*source.Migration{{Version: 1}, {Version: 2}, {Version: 3}}
	row := func(version string, ok, dirty bool) driver.LegacyRow {
		return driver.LegacyRow{Version: version, Applied: ok, Dirty: dirty}
	}
	tests := []struct {
		name, tool string
		rows       []driver.LegacyRow
		applied    []int64
		wantErr    string
	}{
		{name: "MigrateClean", tool: driver.ToolGolangMigrate, rows: []driver.LegacyRow{row("2", true, false)}, applied: []int64{1, 2}},
		{name: "MigrateEmpty", tool: driver.ToolGolangMigrate, applied: nil},
		{name: "MigrateNilVersion", tool: driver.ToolGolangMigrate, rows: []driver.LegacyRow{row("-1", true, false)}, applied: nil},
		{name: "MigrateDirty", tool: driver.ToolGolangMigrate, rows: []driver.LegacyRow{row("2", true, true)}, wantErr: "golang-migrate left version 2 dirty"},
		{name: "MigrateTwoRows", tool: driver.ToolGolangMigrate, rows: []driver.LegacyRow{row("1", true, false), row("2", true, false)}, wantErr: "has 2 rows"},
		{name: "GooseLastRowWins", tool: driver.ToolGoose, rows: []driver.LegacyRow{row("0", true, false), row("1", true, false), row("3", true, false), row("3", false, false)}, applied: []int64{1}},
		{name: "Dbmate", tool: driver.ToolDbmate, rows: []driver.LegacyRow{row("1", true, false), row("3", true, false)}, applied: []int64{1, 3}},
		{name: "DbmateNotANumber", tool: driver.ToolDbmate, rows: []driver.LegacyRow{row("x", true, false)}, wantErr: "not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			st, err := Read(tt.tool, "t", tt.rows, local)
			if tt.wantErr != "" {
				var ve *plan.ValidationError
				require.ErrorAs(t, err, &ve)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var got []int64
			for _, m := range local {
				if st.Applied(m.Version) {
					got = append(got, m.Version)
				}
			}
			require.Equal(t, tt.applied, got)
		})
	}
}

// Adoption records the applied local versions, adopted and stamped with
// the actor, leaves the others pending, and names applied versions with
// no file.
func TestAdoption(t *testing.T) {
	t.Parallel()
	local := []*source.Migration{
		{Version: 1, Name: "a", File: "1_a.sql", Up: source.Section{SQL: "SELECT 1", Statements: []source.Statement{{SQL: "SELECT 1"}}}},
		{Version: 2, Name: "b", File: "2_b.sql"},
	}
	st, err := Read(driver.ToolDbmate, "schema_migrations", []driver.LegacyRow{{Version: "1"}, {Version: "7"}}, local)
	require.NoError(t, err)
	actor := history.Actor{Host: "h", PID: 1}
	mt := Adoption(st, local, actor)
	require.Equal(t, []int64{1}, mt.Applied)
	require.Equal(t, []int64{2}, mt.Pending)
	require.Equal(t, []string{"7"}, mt.NotLocal)
	require.Len(t, mt.Todo, 1)
	r := mt.Todo[0].Row
	require.True(t, r.Adopted && r.Complete)
	require.Equal(t, 1, r.StatementsDone)
	require.Equal(t, actor, r.Actor)
	require.Equal(t, history.KindAdopt, mt.Todo[0].Event.Kind)
}
