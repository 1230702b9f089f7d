package fleetgate_test

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

// TestLegacyTableKept: with the files in another tool's format, each
// migration fleetgate applies or reverts is written to that tool's own
// history table as the tool writes it, on PostgreSQL and SQLite, also for
// a no-transaction migration; LegacyOff writes nothing there.
func TestLegacyTableKept(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		files      fstest.MapFS
		query      string
		up, down   string // the table's rows after up and after one down, joined by ","
		legacyMode fleetgate.LegacyMode
	}{
		{
			name: "GolangMigrate",
			files: fstest.MapFS{
				"1_a.up.sql": {Data: []byte("CREATE TABLE a (id integer);\n")}, "1_a.down.sql": {Data: []byte("DROP TABLE a;\n")},
				"2_b.up.sql": {Data: []byte("CREATE TABLE b (id integer);\n")}, "2_b.down.sql": {Data: []byte("DROP TABLE b;\n")},
				"3_c.up.sql": {Data: []byte("CREATE TABLE c (id integer);\n")}, "3_c.down.sql": {Data: []byte("DROP TABLE c;\n")},
			},
			query: "SELECT version || ':' || CASE WHEN dirty THEN 'dirty' ELSE 'clean' END FROM schema_migrations ORDER BY version",
			up:    "3:clean", down: "2:clean",
		},
		{
			name: "Goose",
			files: fstest.MapFS{
				"1_a.sql": {Data: []byte("-- +goose Up\nCREATE TABLE a (id integer);\n-- +goose Down\nDROP TABLE a;\n")},
				"2_b.sql": {Data: []byte("-- +goose NO TRANSACTION\n-- +goose Up\nCREATE TABLE b (id integer);\nCREATE INDEX b_id ON b (id);\n-- +goose Down\nDROP TABLE b;\n")},
				"3_c.sql": {Data: []byte("-- +goose Up\nCREATE TABLE c (id integer);\n-- +goose Down\nDROP TABLE c;\n")},
			},
			query: "SELECT version_id || ':' || CASE WHEN is_applied THEN 'applied' ELSE 'not' END FROM goose_db_version ORDER BY id",
			up:    "0:applied,1:applied,2:applied,3:applied", down: "0:applied,1:applied,2:applied",
		},
		{
			name: "Dbmate",
			files: fstest.MapFS{
				"001_a.sql": {Data: []byte("-- migrate:up\nCREATE TABLE a (id integer);\n-- migrate:down\nDROP TABLE a;\n")},
				"002_b.sql": {Data: []byte("-- migrate:up\nCREATE TABLE b (id integer);\n-- migrate:down\nDROP TABLE b;\n")},
				"003_c.sql": {Data: []byte("-- migrate:up\nCREATE TABLE c (id integer);\n-- migrate:down\nDROP TABLE c;\n")},
			},
			query: "SELECT version FROM schema_migrations ORDER BY version",
			up:    "001,002,003", down: "001,002",
		},
		{
			name: "Off", legacyMode: fleetgate.LegacyOff,
			files: fstest.MapFS{
				"1_a.up.sql": {Data: []byte("CREATE TABLE a (id integer);\n")}, "1_a.down.sql": {Data: []byte("DROP TABLE a;\n")},
			},
			query: "SELECT count(*) FROM sqlite_master WHERE name = 'schema_migrations'",
			up:    "0", down: "0",
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					ctx := context.Background()
					m, err := fleetgate.Open(ctx, b.url(t), tt.files, &fleetgate.Config{LegacyTable: tt.legacyMode, Checks: fleetgate.ChecksOff})
					require.NoError(t, err)
					t.Cleanup(func() { m.Close() })
					query := tt.query
					if b.name == "Postgres" {
						query = strings.NewReplacer("sqlite_master", "pg_tables", "WHERE name", "WHERE tablename").Replace(query)
					} else {
						// SQLite stores booleans as integers.
						query = strings.NewReplacer("WHEN dirty", "WHEN dirty <> 0", "WHEN is_applied", "WHEN is_applied <> 0").Replace(query)
					}
					_, err = m.Up(ctx, nil)
					require.NoError(t, err)
					require.Equal(t, tt.up, rowsJoined(t, m.DB(), query), "after up")
					_, err = m.Down(ctx, &fleetgate.DownOpts{Steps: 1})
					require.NoError(t, err)
					require.Equal(t, tt.down, rowsJoined(t, m.DB(), query), "after down")
				})
			}
		})
	}
}

func rowsJoined(t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.Query(q)
	require.NoError(t, err)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v any
		require.NoError(t, rows.Scan(&v))
		if b, ok := v.([]byte); ok {
			v = string(b)
		}
		out = append(out, fmt.Sprint(v))
	}
	require.NoError(t, rows.Err())
	return strings.Join(out, ",")
}
