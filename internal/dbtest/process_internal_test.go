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

// A stale directory's recorded pid may since have been reused by a server
// of a live run whose directory name merely starts with the stale one's
// (fleetgate-dbtest-12 and fleetgate-dbtest-123): that server is not a
// leftover and must live.
func TestRemoveStaleSparesLongerName(t *testing.T) {
	t.Parallel()

	tmp := t.TempDir()
	gone := exec.Command("true")
	require.NoError(t, gone.Run())
	stale := filepath.Join(tmp, rootPrefix+strconv.Itoa(gone.Process.Pid))
	require.NoError(t, os.MkdirAll(filepath.Join(stale, "postgres"), 0o755))
	// The live run's server directory: under the stale name and one more
	// digit.
	liveDir := filepath.Join(stale+"0", "postgres")
	require.NoError(t, os.MkdirAll(liveDir, 0o755))

	server := exec.Command("sh", "-c", "while :; do sleep 0.05; done", liveDir)
	require.NoError(t, server.Start())
	exited := make(chan error, 1)
	go func() { exited <- server.Wait() }()
	t.Cleanup(func() { _ = server.Process.Kill() })
	cmdline := fmt.Sprintf("/proc/%d/cmdline", server.Process.Pid)
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(cmdline)
		return err == nil && bytes.Contains(b, []byte(liveDir))
	}, 10*time.Second, 5*time.Millisecond, "server's command line never named %s", liveDir)
	// The stale run recorded that pid (reused since).
	require.NoError(t, os.WriteFile(filepath.Join(stale, "postgres", pidFileName),
		[]byte(strconv.Itoa(server.Process.Pid)+"\n"), 0o644))

	removeStale(tmp)

	require.NoDirExists(t, stale)
	select {
	case err := <-exited:
		t.Fatalf("the live run's server was killed as a leftover: %v", err)
	default:
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

func TestNamesDir(t *testing.T) {
	t.Parallel()

	const dir = "/tmp/fleetgate-dbtest-12"
	for _, tt := range []struct {
		cmdline string
		want    bool
	}{
		{"sh\x00-c\x00loop\x00/tmp/fleetgate-dbtest-12\x00", true},
		{"postgres\x00-D\x00/tmp/fleetgate-dbtest-12/postgres/data\x00", true},
		{"mariadbd\x00--datadir=/tmp/fleetgate-dbtest-12/mariadb/data\x00", true},
		{"pgbouncer\x00/tmp/fleetgate-dbtest-123/pgbouncer-ab/pgbouncer.ini\x00", false},
		{"pgbouncer\x00/tmp/fleetgate-dbtest-123/x\x00/tmp/fleetgate-dbtest-12/y\x00", true},
		{"", false},
	} {
		require.Equal(t, tt.want, namesDir([]byte(tt.cmdline), dir), "%q", tt.cmdline)
	}
}
