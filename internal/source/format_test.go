package source

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = file(data)
	}
	return fsys
}

func TestLoadFormatDetects(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		files    map[string]string
		format   Format
		want     Format
		versions []int64
	}{
		{name: "Empty", files: map[string]string{"m/README.md": "x"}, want: FormatFleetgate, versions: []int64{}},
		{name: "Fleetgate", files: map[string]string{"m/1_a.sql": "-- fleetgate:up\nSELECT 1;\n"}, want: FormatFleetgate, versions: []int64{1}},
		{name: "GolangMigrate", files: map[string]string{
			"m/1_a.up.sql": "SELECT 1;\n", "m/1_a.down.sql": "", "m/10_b.up.sql": "SELECT 10;\n", "m/2_c-d.e.up.sql": "SELECT 2;\n", "m/2_other-name.down.sql": "SELECT 2;\n",
		}, want: FormatGolangMigrate, versions: []int64{1, 2, 10}},
		{name: "FleetgateAndGolangMigrateMix", files: map[string]string{
			"m/1_a.up.sql": "SELECT 1;\n", "m/2_b.sql": "-- fleetgate:up\nSELECT 2;\n",
		}, want: FormatFleetgate, versions: []int64{1, 2}},
		{name: "Goose", files: map[string]string{
			"m/00001_a.sql": "-- +goose Up\nSELECT 1;\n", "m/00002_b.sql": "-- +goose Up\nSELECT 2;\n-- +goose Down\n",
		}, want: FormatGoose, versions: []int64{1, 2}},
		{name: "Dbmate", files: map[string]string{
			"m/20240101000000_a.sql": "-- migrate:up\nselect 1;\n-- migrate:down\n",
		}, want: FormatDbmate, versions: []int64{20240101000000}},
		{name: "ChosenFormat", files: map[string]string{"m/1_a.up.sql": "SELECT 1;\n"}, format: FormatGolangMigrate, want: FormatGolangMigrate, versions: []int64{1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ms, f, err := LoadFormat(mapFS(tt.files), "m", tt.format)
			require.NoError(t, err)
			require.Equal(t, tt.want, f)
			got := []int64{}
			for _, m := range ms {
				got = append(got, m.Version)
			}
			require.Equal(t, tt.versions, got)
		})
	}
}

func TestLoadFormatErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		files    map[string]string
		format   Format
		wantFile string
		wantMsg  string
	}{
		{name: "GooseAmongFleetgate", files: map[string]string{
			"m/1_a.sql": "-- fleetgate:up\nSELECT 1;\n", "m/2_b.sql": "-- +goose Up\nSELECT 2;\n",
		}, wantFile: "m/2_b.sql", wantMsg: "a goose migration, but m/1_a.sql is a fleetgate migration"},
		{name: "DbmateAmongGoose", files: map[string]string{
			"m/1_a.sql": "-- +goose Up\nSELECT 1;\n", "m/2_b.sql": "-- migrate:up\nSELECT 2;\n-- migrate:down\n",
		}, wantFile: "m/2_b.sql", wantMsg: "a dbmate migration, but m/1_a.sql is a goose migration"},
		{name: "GooseGoMigration", files: map[string]string{
			"m/1_a.sql": "-- +goose Up\nSELECT 1;\n", "m/2_b.go": "package migrations\n",
		}, wantFile: "m/2_b.go", wantMsg: "goose Go migrations cannot be run"},
		{name: "GolangMigrateWantsUpFiles", files: map[string]string{"m/1_a.sql": "SELECT 1;\n"}, format: FormatGolangMigrate,
			wantFile: "m/1_a.sql", wantMsg: "not a golang-migrate file name"},
		{name: "GooseWantsSingleFiles", files: map[string]string{"m/1_a.up.sql": "SELECT 1;\n"}, format: FormatGoose,
			wantFile: "m/1_a.up.sql", wantMsg: "single <version>_<name>.sql files"},
		{name: "ChosenGooseOnFleetgateFile", files: map[string]string{"m/1_a.sql": "-- fleetgate:up\nSELECT 1;\n"}, format: FormatGoose,
			wantFile: "m/1_a.sql", wantMsg: "-- fleetgate:up in a goose migration"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := LoadFormat(mapFS(tt.files), "m", tt.format)
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.wantFile, e.File)
			require.Contains(t, e.Msg, tt.wantMsg)
		})
	}
}

func TestParseFormat(t *testing.T) {
	t.Parallel()

	for _, s := range []string{"", "auto", "fleetgate", "golang-migrate", "goose", "dbmate"} {
		_, err := ParseFormat(s)
		require.NoError(t, err, s)
	}
	_, err := ParseFormat("flyway")
	require.ErrorContains(t, err, `unknown format "flyway"`)
}
