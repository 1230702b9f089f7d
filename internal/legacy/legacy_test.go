package legacy

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/driver/sqlite"
	"github.com/fleetgate/fleetgate/internal/source"
)

func TestDbmateVersionKeepsLeadingZeros(t *testing.T) {
	for file, want := range map[string]string{
		"db/migrations/001_init.sql":      "001",
		"20240218233822_notes.sql":        "20240218233822",
		"stored down script of 7_x":       "7", // no file: the number is all there is
		"0042_x.sql":                      "0042",
		"migrations/12abc_not_digits.sql": "7",
	} {
		require.Equal(t, want, dbmateVersion(file, 7), file)
	}
}

// noKeeper is an engine that cannot keep another tool's table: For leaves
// the table alone rather than guess at its SQL.
type noKeeper struct{ driver.Driver }

func TestFor(t *testing.T) {
	tables, err := driver.NewTables("fleetgate_migrations")
	require.NoError(t, err)
	d := sqlite.New(tables)

	require.Nil(t, For(source.FormatFleetgate, d), "fleetgate's own format has no other table")
	require.True(t, Supported(source.FormatFleetgate, noKeeper{}))
	require.Nil(t, For(source.FormatGoose, noKeeper{}))
	require.False(t, Supported(source.FormatGoose, noKeeper{}))

	g := For(source.FormatGoose, d)
	require.NotNil(t, g)
	require.Equal(t, "goose_db_version", g.Name)
	require.Equal(t, "schema_migrations", For(source.FormatGolangMigrate, d).Name)
	// dbmate's version keeps the file's leading zeros.
	require.Contains(t, For(source.FormatDbmate, d).Applied(&source.Migration{Version: 1, File: "db/001_init.sql"}), "'001'")
}
