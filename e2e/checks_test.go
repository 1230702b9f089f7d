package e2e

import (
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

const usersTable = "-- fleetgate:up\nCREATE TABLE users (id bigint PRIMARY KEY, email text, legacy text);\n-- fleetgate:down\nDROP TABLE users;\n"

func columnExists(t *testing.T, url, table, column string) bool {
	t.Helper()
	db := openDB(t, url)
	return queryInt(t, db, "SELECT count(*) FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = $1 AND column_name = $2", table, column) == 1
}

// A pre-phase DROP COLUMN is refused by check and by up (exit 5, the
// column stays); the same migration in the post phase passes check, is
// skipped by up and applied by up --phase post.
func TestCheckDropColumn(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_users.sql":       usersTable,
		"0002_drop_legacy.sql": "-- fleetgate:up\nALTER TABLE users DROP COLUMN legacy;\n",
	})
	c := fg(t, nil, "check", "--dir", dir)
	require.Equal(t, 5, c.Code, c.String())
	require.Contains(t, c.Stdout, "0002_drop_legacy.sql:2:1 drop-column ")
	require.Contains(t, c.Stderr, "blocking finding")

	url := dbtest.Postgres(t)
	// A database with migrations applied: the checks are enforced there
	// whatever the default for a fresh database.
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 5, r.Code, r.String())
	require.Contains(t, r.Stderr, "0002_drop_legacy.sql:2:1 drop-column")
	require.True(t, columnExists(t, url, "users", "legacy"), "the refused migration dropped the column")
	db := openDB(t, url)
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version = 2"))
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "the lock was left held")

	post := "-- fleetgate:phase post\n-- fleetgate:up\nALTER TABLE users DROP COLUMN legacy;\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0002_drop_legacy.sql"), []byte(post), 0o644))
	c = fg(t, nil, "check", "--dir", dir)
	require.Equal(t, 0, c.Code, c.String())
	// Dropping the column in the post phase breaks no old code, but still
	// changes the row type of users under the running code's prepared
	// statements: a warning, not a refusal.
	require.Equal(t, 1, strings.Count(c.Stdout, "\n"), c.Stdout)
	require.Contains(t, c.Stdout, "0002_drop_legacy.sql:3:13 invalidates-cached-plans warning: ALTER TABLE users drops legacy")

	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "--phase post")
	require.True(t, columnExists(t, url, "users", "legacy"), "up (pre phase) applied a post-phase migration")

	st := fg(t, nil, "status", "-d", url, "--dir", dir, "--json")
	require.Equal(t, 0, st.Code, st.String())
	var status struct {
		Migrations []struct {
			Version int64  `json:"version"`
			Phase   string `json:"phase"`
			State   string `json:"state"`
		} `json:"migrations"`
	}
	require.NoError(t, json.Unmarshal([]byte(st.Stdout), &status))
	require.Len(t, status.Migrations, 2)
	require.Equal(t, "pre", status.Migrations[0].Phase)
	require.Equal(t, "applied", status.Migrations[0].State)
	require.Equal(t, "post", status.Migrations[1].Phase)
	require.Equal(t, "pending", status.Migrations[1].State)

	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--phase", "post")
	require.Equal(t, 0, r.Code, r.String())
	require.False(t, columnExists(t, url, "users", "legacy"), "up --phase post did not drop the column")
}

// check --json and an allow directive: the finding is reported, marked
// allowed with its reason, and does not fail the check.
func TestCheckJSONAndAllow(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_users.sql": usersTable,
		"0002_idx.sql":   "-- fleetgate:allow require-concurrent-index users has 40 rows\n-- fleetgate:up\nCREATE INDEX users_email ON users (email);\n",
		"0003_wipe.sql":  "-- fleetgate:up\nDELETE FROM users;\n",
	})
	c := fg(t, nil, "check", "--dir", dir, "--json")
	require.Equal(t, 5, c.Code, c.String())
	var rep struct {
		Findings []struct {
			Rule, Severity, File, Message, Reason string
			Line, Col                             int
			Allowed                               bool
		} `json:"findings"`
		Files  int `json:"files"`
		Errors int `json:"errors"`
	}
	require.NoError(t, json.Unmarshal([]byte(c.Stdout), &rep))
	require.Equal(t, 3, rep.Files)
	require.Equal(t, 1, rep.Errors)
	require.Len(t, rep.Findings, 2)
	require.Equal(t, "require-concurrent-index", rep.Findings[0].Rule)
	require.True(t, rep.Findings[0].Allowed)
	require.Equal(t, "users has 40 rows", rep.Findings[0].Reason)
	require.Equal(t, "delete-without-where", rep.Findings[1].Rule)
	require.Equal(t, filepath.Join(dir, "0003_wipe.sql"), rep.Findings[1].File)
	require.Equal(t, 2, rep.Findings[1].Line)

	// Named files are checked wherever they are, and named as typed.
	c = fg(t, nil, "check", filepath.Join(dir, "0002_idx.sql"))
	require.Equal(t, 0, c.Code, c.String())
	require.Contains(t, c.Stdout, "(allowed: users has 40 rows)")
}

// A pending pre-phase migration that uses what an older pending post-phase
// migration changes is refused, with the way out in the message.
func TestPreDependsOnPendingPost(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_users.sql":       usersTable,
		"0002_drop_legacy.sql": "-- fleetgate:phase post\n-- fleetgate:up\nALTER TABLE users DROP COLUMN legacy;\n",
		"0003_legacy_json.sql": "-- fleetgate:up\nALTER TABLE users ADD COLUMN legacy jsonb;\n",
	})
	url := dbtest.Postgres(t)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 5, r.Code, r.String())
	require.Contains(t, r.Stderr, "0003_legacy_json.sql:2:1 pre-depends-on-post")
	require.Contains(t, r.Stderr, "fleetgate up --phase post --to 2")
	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--phase", "post")
	require.Equal(t, 5, r.Code, "up --phase post would run 3 before 2:\n%s", r.String())

	r = fg(t, nil, "up", "-d", url, "--dir", dir, "--phase", "post", "--to", "2")
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	db := openDB(t, url)
	require.Equal(t, "jsonb", queryText(t, db, "SELECT data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users' AND column_name = 'legacy'"))
}

func queryText(t testing.TB, db *sql.DB, q string, args ...any) string {
	t.Helper()
	var s string
	require.NoError(t, db.QueryRow(q, args...).Scan(&s), q)
	return s
}
