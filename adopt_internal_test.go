package fleetgate

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
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
			st, err := legacyApplied(FromFlyway, "flyway_schema_history", tt.rows, local)
			if tt.wantErr != "" {
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				require.ErrorContains(t, err, tt.wantErr)
				return
			}
			require.NoError(t, err)
			var got []int64
			for _, m := range local {
				if st.applied(m.Version) {
					got = append(got, m.Version)
				}
			}
			require.Equal(t, tt.applied, got)
		})
	}
}
