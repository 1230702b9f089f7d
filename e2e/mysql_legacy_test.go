package e2e

import (
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Other tools' history tables kept in step on MariaDB: a team that moves
// a MySQL fleet from golang-migrate, goose or dbmate to fleetgate can
// switch back at any moment.

// myLegacyTool is one tool's layout of the same three migrations (DDL, a
// data statement among DDL, a second table), and how that tool reads its
// table to say which version the database is at.
type myLegacyTool struct {
	name     string
	files    map[string]string
	versions []int64
	// version reads the tool's table with the tool's own query and
	// rules; ok is false when it says no migration is applied.
	version func(t *testing.T, db *sql.DB) (v int64, ok bool)
}

var myLegacyTools = []myLegacyTool{
	{
		name: "golang-migrate",
		files: map[string]string{
			"1_items.up.sql":   "CREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);\nCREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (0);\n",
			"1_items.down.sql": "DROP TABLE counter;\nDROP TABLE items;\n",
			"2_count.up.sql":   "UPDATE counter SET n = n + 1;\n",
			"2_count.down.sql": "UPDATE counter SET n = n - 1;\n",
			"3_notes.up.sql":   "CREATE TABLE notes (id bigint PRIMARY KEY);\nALTER TABLE items ADD COLUMN note_id bigint NULL;\n",
			"3_notes.down.sql": "ALTER TABLE items DROP COLUMN note_id;\nDROP TABLE notes;\n",
		},
		versions: []int64{1, 2, 3},
		// golang-migrate's mysql driver: Version() reads the one row;
		// a dirty row is a failure, not a version.
		version: func(t *testing.T, db *sql.DB) (int64, bool) {
			var v int64
			var dirty bool
			err := db.QueryRow("SELECT version, dirty FROM `schema_migrations` LIMIT 1").Scan(&v, &dirty)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, false
			}
			require.NoError(t, err)
			require.False(t, dirty, "golang-migrate would see a dirty database at %d", v)
			require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM schema_migrations"), "golang-migrate keeps one row")
			return v, true
		},
	},
	{
		name: "goose",
		files: map[string]string{
			"20240101000000_items.sql": "-- +goose Up\nCREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);\nCREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (0);\n" +
				"-- +goose Down\nDROP TABLE counter;\nDROP TABLE items;\n",
			"20240102000000_count.sql": "-- +goose Up\nUPDATE counter SET n = n + 1;\n-- +goose Down\nUPDATE counter SET n = n - 1;\n",
			"20240103000000_notes.sql": "-- +goose Up\n-- +goose StatementBegin\nCREATE TABLE notes (id bigint PRIMARY KEY);\n-- +goose StatementEnd\nALTER TABLE items ADD COLUMN note_id bigint NULL;\n" +
				"-- +goose Down\nALTER TABLE items DROP COLUMN note_id;\nDROP TABLE notes;\n",
		},
		versions: []int64{20240101000000, 20240102000000, 20240103000000},
		// goose's ListMigrations (newest row first); the first applied
		// row not undone by a newer is_applied=0 row is the version; 0 is
		// the row goose writes when it creates the table.
		version: func(t *testing.T, db *sql.DB) (int64, bool) {
			rows, err := db.Query("SELECT version_id, is_applied FROM goose_db_version ORDER BY id DESC")
			require.NoError(t, err)
			defer rows.Close()
			undone := map[int64]bool{}
			for rows.Next() {
				var v int64
				var applied bool
				require.NoError(t, rows.Scan(&v, &applied))
				if undone[v] {
					continue
				}
				if !applied {
					undone[v] = true
					continue
				}
				require.NoError(t, rows.Err())
				return v, v > 0
			}
			require.NoError(t, rows.Err())
			require.Fail(t, "goose_db_version has no applied row, not even goose's version 0")
			return 0, false
		},
	},
	{
		name: "dbmate",
		files: map[string]string{
			"001_items.sql": "-- migrate:up\nCREATE TABLE items (id bigint PRIMARY KEY, n int NOT NULL DEFAULT 0);\nCREATE TABLE counter (n int NOT NULL);\nINSERT INTO counter VALUES (0);\n" +
				"-- migrate:down\nDROP TABLE counter;\nDROP TABLE items;\n",
			"002_count.sql": "-- migrate:up\nUPDATE counter SET n = n + 1;\n-- migrate:down\nUPDATE counter SET n = n - 1;\n",
			"003_notes.sql": "-- migrate:up\nCREATE TABLE notes (id bigint PRIMARY KEY);\nALTER TABLE items ADD COLUMN note_id bigint NULL;\n" +
				"-- migrate:down\nALTER TABLE items DROP COLUMN note_id;\nDROP TABLE notes;\n",
		},
		versions: []int64{1, 2, 3},
		// dbmate's SelectMigrations: a file is applied when its version,
		// as text with the file's zeros, is in the table.
		version: func(t *testing.T, db *sql.DB) (int64, bool) {
			var s string
			err := db.QueryRow("SELECT version FROM `schema_migrations` ORDER BY version DESC LIMIT 1").Scan(&s)
			if errors.Is(err, sql.ErrNoRows) {
				return 0, false
			}
			require.NoError(t, err)
			require.Len(t, s, 3, "dbmate's version keeps the file's leading zeros: %q", s)
			v, err := strconv.ParseInt(s, 10, 64)
			require.NoError(t, err)
			return v, true
		},
	},
}

// TestMySQLLegacyTableInStep: after fleetgate applies a golang-migrate,
// goose or dbmate directory on MariaDB, the tool's own table says the
// newest version, read with the tool's own query and asked of the real
// tool, whose own up then changes nothing; after a down, the one below;
// after the last down, none; and up again brings it back, each data
// migration applied once.
func TestMySQLLegacyTableInStep(t *testing.T) {
	t.Parallel()
	for _, c := range myLegacyTools {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := writeFiles(t, c.files)
			url := mariadbURL(t)
			db := openDB(t, url)
			at := func() int64 {
				v, ok := c.version(t, db)
				if !ok {
					return 0
				}
				return v
			}
			r := fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, c.versions[2], at())
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
			require.Equal(t, c.versions[2], compatTool{name: c.name}.peerVersion(t, dir, url))
			compatTool{name: c.name}.peerMySQL(t, dir, strings.Replace(url, "mariadb://", "mysql://", 1)) // its own up: nothing to do
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"), "%s ran a data migration again", c.name)
			require.Equal(t, c.versions[2], at())

			r = fg(t, nil, "down", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, c.versions[1], at(), "after down")
			require.Equal(t, c.versions[1], compatTool{name: c.name}.peerVersion(t, dir, url), "after down")
			require.False(t, myTableExists(t, db, "notes"))
			r = fg(t, nil, "down", "-d", url, "--dir", dir, "--to", "0")
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, int64(0), at(), "after down to nothing")
			require.False(t, myTableExists(t, db, "items"))

			r = fg(t, nil, "up", "-d", url, "--dir", dir)
			require.Equal(t, 0, r.Code, r.String())
			require.Equal(t, c.versions[2], at(), "after up again")
			require.Equal(t, c.versions[2], compatTool{name: c.name}.peerVersion(t, dir, url), "after up again")
			require.Equal(t, 1, queryInt(t, db, "SELECT n FROM counter"))
			require.True(t, myColumnExists(t, db, "items", "note_id"))
		})
	}
}
