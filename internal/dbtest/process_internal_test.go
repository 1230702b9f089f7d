package dbtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRemoveStale(t *testing.T) {
	t.Parallel()

	tmp := t.TempDir()

	// A pid that existed a moment ago and is gone now.
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	deadPid := gone.Process.Pid
	stale := filepath.Join(tmp, rootPrefix+strconv.Itoa(deadPid))
	serverDir := filepath.Join(stale, "postgres")
	require.NoError(t, os.MkdirAll(serverDir, 0o755))

	// A "server" left running from the stale directory: its command line
	// names the directory, as a real server's data directory argument does.
	leftover := exec.Command("sh", "-c", "while :; do sleep 0.05; done", stale)
	require.NoError(t, leftover.Start())
	exited := make(chan error, 1)
	go func() { exited <- leftover.Wait() }()
	t.Cleanup(func() { _ = leftover.Process.Kill() })
	// Start returns once exec has closed the child's close-on-exec fds,
	// but the kernel sets up the new argument area after that: for a
	// moment /proc/<pid>/cmdline is empty, and removeStale rightly spares
	// a process it cannot tell is ours. A leftover server has long been
	// running, so wait until its command line shows.
	cmdline := fmt.Sprintf("/proc/%d/cmdline", leftover.Process.Pid)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(cmdline)
		return err == nil && bytes.Contains(b, []byte(stale))
	}, 10*time.Second, 5*time.Millisecond, "leftover's command line never named %s", stale)
	require.NoError(t, os.WriteFile(filepath.Join(serverDir, pidFileName),
		[]byte(strconv.Itoa(leftover.Process.Pid)+"\n"), 0o644))

	// A directory whose pid (init) is alive is someone else's run: kept.
	live := filepath.Join(tmp, rootPrefix+"1")
	require.NoError(t, os.Mkdir(live, 0o755))
	// Not ours at all: kept.
	other := filepath.Join(tmp, rootPrefix+"notapid")
	require.NoError(t, os.Mkdir(other, 0o755))

	removeStale(tmp)

	require.NoDirExists(t, stale)
	require.DirExists(t, live)
	require.DirExists(t, other)
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("leftover process still running")
	}
}

func TestTail(t *testing.T) {
	t.Parallel()

	for _, tt := range []struct {
		name string
		in   string
		n    int
		want string
	}{
		{"Short", "a\nb\n", 5, "a\nb"},
		{"Cut", "a\nb\nc\nd\n", 2, "c\nd"},
		{"NoTrailingNewline", "a\nb", 1, "b"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tail([]byte(tt.in), tt.n))
		})
	}
}
