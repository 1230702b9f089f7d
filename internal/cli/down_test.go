package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestDownCommand(t *testing.T) {
	t.Parallel()
	setup := func(t *testing.T) (dir, url string) {
		t.Helper()
		dir = t.TempDir()
		for i := 1; i <= 4; i++ {
			body := fmt.Sprintf("-- fleetgate:up\nCREATE TABLE t%d (id integer);\n-- fleetgate:down\nDROP TABLE t%d;\n", i, i)
			require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%d_t%d.sql", i, i)), []byte(body), 0o644))
		}
		url = "sqlite:" + filepath.Join(t.TempDir(), "x.db")
		code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		return dir, url
	}

	t.Run("BadFlags", func(t *testing.T) {
		t.Parallel()
		dir, url := setup(t)
		for _, args := range [][]string{
			{"--steps", "0"}, {"--steps", "-2"}, {"--to", "-1"}, {"--steps", "1", "--unknown"},
			{"--to", "2", "--steps", "1"}, {"--to", "0", "--unknown"}, {"three"},
		} {
			code, _, stderr := runCLI(t, nil, append([]string{"down", "-d", url, "--dir", dir}, args...)...)
			require.Equal(t, 2, code, "%v: %s", args, stderr)
		}
		code, _, stderr := runCLI(t, nil, "up", "-d", url, "--dir", dir, "--if-ahead", "maybe")
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "--if-ahead")
		// Nothing was reverted by any of them.
		code, out, _ := runCLI(t, nil, "status", "-d", url, "--dir", dir)
		require.Equal(t, 0, code)
		require.NotContains(t, out, "pending")
	})

	t.Run("StepsAndTo", func(t *testing.T) {
		t.Parallel()
		dir, url := setup(t)
		code, _, stderr := runCLI(t, nil, "down", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "done reverted=1 at=3")
		code, _, stderr = runCLI(t, nil, "down", "--steps", "2", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "done reverted=2 at=1")
		code, _, stderr = runCLI(t, nil, "down", "--to", "0", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "done reverted=1 at=0")
		code, _, stderr = runCLI(t, nil, "down", "-d", url, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "nothing to roll back")
	})
}
