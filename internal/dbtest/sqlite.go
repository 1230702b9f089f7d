package dbtest

import (
	"path/filepath"
	"testing"
)

// SQLite returns a "sqlite:/abs/path/test.db" URL naming a file in
// t.TempDir() that does not exist yet; the directory, and so the file, is
// removed when the test ends. Opening it (journal mode, busy timeout) is the
// SQLite driver's business. With modernc.org/sqlite, database/sql opens it
// as sql.Open("sqlite", strings.TrimPrefix(u, "sqlite:")).
func SQLite(t testing.TB) string {
	t.Helper()
	return "sqlite:" + filepath.Join(t.TempDir(), "test.db")
}
