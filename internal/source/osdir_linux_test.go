package source

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// writeTree writes n fleetgate migrations into dir and returns each one's
// up section.
func writeTree(t *testing.T, dir string, n int) []string {
	t.Helper()
	ups := make([]string, n)
	for v := 1; v <= n; v++ {
		ups[v-1] = fmt.Sprintf("CREATE TABLE t%d (id int);\n", v)
		body := "-- fleetgate:up\n" + ups[v-1] + "-- fleetgate:down\nDROP TABLE t" + strconv.Itoa(v) + ";\n"
		require.NoError(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("%04d_m%d.sql", v, v)), []byte(body), 0o600))
	}
	return ups
}

// TestLoadDirFSTree reads a directory of the real file system through
// os.DirFS, the CLI's source, which the fast reader (osdir_linux.go)
// serves: every file's content and checksum arrive whole. It is also the
// child that TestLoadDirFSSystemCalls traces, on the directory
// FLEETGATE_TEST_LOAD_DIR names.
func TestLoadDirFSTree(t *testing.T) {
	t.Parallel()
	dir, n := os.Getenv("FLEETGATE_TEST_LOAD_DIR"), 40
	var ups []string
	if dir == "" {
		dir = t.TempDir()
		ups = writeTree(t, dir, n)
	} else {
		var err error
		n, err = strconv.Atoi(os.Getenv("FLEETGATE_TEST_LOAD_N"))
		require.NoError(t, err)
	}
	got, err := Load(os.DirFS(dir), ".")
	require.NoError(t, err)
	require.Len(t, got, n)
	for i, m := range ups {
		require.Equal(t, m, got[i].Up.SQL)
		require.Equal(t, Checksum([]byte(m)), got[i].Checksum)
	}
}

// TestLoadDirFSRefusesFIFO: a FIFO named like a migration is refused by
// name, without the open that would block until a writer came.
func TestLoadDirFSRefusesFIFO(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, 2)
	require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "0003_pipe.sql"), 0o600))
	done := make(chan error, 1)
	go func() {
		_, err := Load(os.DirFS(dir), ".")
		done <- err
	}()
	select {
	case err := <-done:
		requireError(t, err, "0003_pipe.sql", 0, "not a regular file")
	case <-time.After(time.Minute):
		t.Fatal("Load blocked on a FIFO")
	}
}

// TestLoadDirFSFollowsSymlinks: a migration that is a symbolic link to a
// file elsewhere is read as the file (os.DirFS follows links), and one
// that points at a FIFO is refused without being opened.
func TestLoadDirFSFollowsSymlinks(t *testing.T) {
	t.Parallel()
	dir, other := t.TempDir(), t.TempDir()
	writeTree(t, other, 1)
	require.NoError(t, os.Symlink(filepath.Join(other, "0001_m1.sql"), filepath.Join(dir, "0001_m1.sql")))
	got, err := Load(os.DirFS(dir), ".")
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "CREATE TABLE t1 (id int);\n", got[0].Up.SQL)

	require.NoError(t, syscall.Mkfifo(filepath.Join(other, "fifo"), 0o600))
	require.NoError(t, os.Symlink(filepath.Join(other, "fifo"), filepath.Join(dir, "0002_pipe.sql")))
	_, err = Load(os.DirFS(dir), ".")
	requireError(t, err, "0002_pipe.sql", 0, "not a regular file")
}

// TestLoadDirFSRefusesLargeFile: the size limit holds on the fast path
// too, from fstat, on a sparse file that costs no disk.
func TestLoadDirFSRefusesLargeFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeTree(t, dir, 1)
	f, err := os.Create(filepath.Join(dir, "0002_big.sql"))
	require.NoError(t, err)
	require.NoError(t, f.Truncate(MaxFileSize+1))
	require.NoError(t, f.Close())
	_, err = Load(os.DirFS(dir), ".")
	requireError(t, err, "0002_big.sql", 0, "over the 16 MiB limit")
}
