package cli

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/fleetgate/fleetgate/internal/dbtest"
	"github.com/stretchr/testify/require"
)

// The PostgreSQL tests of this package start a throwaway server on first
// use; Main stops it.
func TestMain(m *testing.M) { dbtest.Main(m) }

// writeMigration writes a fleetgate-format migration with the given up
// statements and no down section.
func writeMigration(t *testing.T, dir, name, up string) {
	t.Helper()
	require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte("-- fleetgate:up\n"+up+"\n"), 0o644))
}
