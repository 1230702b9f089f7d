package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheckCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644))
	}
	write("1_users.sql", "-- fleetgate:up\nCREATE TABLE users (id bigint, legacy text);\nCREATE INDEX users_id ON users (id);\n")
	write("2_drop.sql", "-- fleetgate:up\n-- dropped in the post phase next release\nALTER TABLE users\n  DROP COLUMN legacy;\n")

	t.Run("Text", func(t *testing.T) {
		t.Parallel()
		code, out, stderr := runCLI(t, nil, "check", "--dir", dir)
		require.Equal(t, 5, code, stderr)
		require.Equal(t, dir+"/2_drop.sql:3:1 drop-column dropping column users.legacy breaks old code still reading or writing it; stop using it in the code first, then do it in a post-phase migration (-- fleetgate:phase post) once no old code is left\n"+
			dir+"/2_drop.sql:3:13 invalidates-cached-plans warning: ALTER TABLE users drops legacy: running code's prepared statements that return whole rows of users (SELECT *, RETURNING *) fail once per connection after this commits (\"cached plan must not change result type\", SQLSTATE 0A000); retry them (Go: package pgxhook), reset statement caches with OnSchemaChange, or recycle connections (docs/deploy.md, Stale prepared statements)\n", out)
		require.Contains(t, stderr, "checked files=2 errors=1 warnings=1")
		require.Contains(t, stderr, "fleetgate: 1 blocking finding(s) in 1 file(s)")
		require.NotContains(t, stderr, "drop-column", "findings go to stdout only")
	})
	t.Run("JSON", func(t *testing.T) {
		t.Parallel()
		code, out, stderr := runCLI(t, nil, "check", "--json", "--dir", dir)
		require.Equal(t, 5, code, stderr)
		var rep struct {
			Findings []map[string]any `json:"findings"`
			Files    int              `json:"files"`
			Errors   int              `json:"errors"`
		}
		require.NoError(t, json.Unmarshal([]byte(out), &rep))
		require.Equal(t, 2, rep.Files)
		require.Equal(t, 1, rep.Errors)
		require.Len(t, rep.Findings, 2)
		require.Equal(t, "drop-column", rep.Findings[0]["rule"])
		require.Equal(t, "error", rep.Findings[0]["severity"])
		require.EqualValues(t, 3, rep.Findings[0]["line"])
		require.Equal(t, "invalidates-cached-plans", rep.Findings[1]["rule"])
		require.Equal(t, "warning", rep.Findings[1]["severity"])
	})
	t.Run("NamedTogether", func(t *testing.T) {
		t.Parallel()
		// Files named together are applied together: users is new to
		// 2_drop.sql, so no running code holds statements on it.
		code, out, stderr := runCLI(t, nil, "check", filepath.Join(dir, "1_users.sql"), filepath.Join(dir, "2_drop.sql"))
		require.Equal(t, 5, code, stderr)
		require.Contains(t, out, "drop-column")
		require.NotContains(t, out, "invalidates-cached-plans")
	})
	t.Run("NamedFile", func(t *testing.T) {
		t.Parallel()
		code, out, stderr := runCLI(t, nil, "check", filepath.Join(dir, "1_users.sql"))
		require.Equal(t, 0, code, stderr)
		require.Empty(t, out)
	})
	t.Run("MissingFile", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runCLI(t, nil, "check", filepath.Join(dir, "9_nope.sql"))
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, "9_nope.sql")
	})
	t.Run("MalformedFile", func(t *testing.T) {
		t.Parallel()
		bad := filepath.Join(t.TempDir(), "3_bad.sql")
		require.NoError(t, os.WriteFile(bad, []byte("CREATE TABLE x (id int);\n"), 0o644))
		code, _, stderr := runCLI(t, nil, "check", bad)
		require.Equal(t, 2, code, stderr)
		require.Contains(t, stderr, bad+": missing -- fleetgate:up section")
	})
}

func TestUpLockFlags(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, nil, "up", "--lock-timeout", "-1s", "-d", "sqlite:x.db")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--lock-timeout")
	code, _, stderr = runCLI(t, nil, "up", "--lock-retries", "-3", "-d", "sqlite:x.db")
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "--lock-retries")
}
