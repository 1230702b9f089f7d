package fleetgate_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/source"
)

// TestCreateMigrationKeepsTheFormat: `fleetgate new` in a directory of
// another tool writes a file of that tool's format, so the directory stays
// readable (one format per directory).
func TestCreateMigrationKeepsTheFormat(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		existing map[string]string
		want     fleetgate.Format
		files    int
	}{
		{name: "Empty", want: fleetgate.FormatFleetgate, files: 1},
		{name: "Fleetgate", existing: map[string]string{"1_a.sql": "-- fleetgate:up\nSELECT 1;\n"}, want: fleetgate.FormatFleetgate, files: 2},
		{name: "GolangMigrate", existing: map[string]string{"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": ""}, want: fleetgate.FormatGolangMigrate, files: 4},
		{name: "Goose", existing: map[string]string{"1_a.sql": "-- +goose Up\nSELECT 1;\n"}, want: fleetgate.FormatGoose, files: 2},
		{name: "Dbmate", existing: map[string]string{"1_a.sql": "-- migrate:up\nselect 1;\n-- migrate:down\n"}, want: fleetgate.FormatDbmate, files: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			for name, body := range tt.existing {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
			}
			p, err := fleetgate.CreateMigration(dir, "add_things", fleetgate.PhasePost, time.Now())
			require.NoError(t, err)
			require.FileExists(t, p)
			entries, err := os.ReadDir(dir)
			require.NoError(t, err)
			require.Len(t, entries, tt.files)

			ms, f, err := source.LoadFormat(os.DirFS(dir), ".", fleetgate.FormatAuto)
			require.NoError(t, err)
			require.Equal(t, tt.want, f)
			last := ms[len(ms)-1]
			require.Equal(t, "add_things", last.Name)
			require.Equal(t, fleetgate.PhasePost, last.Phase)
		})
	}
}
