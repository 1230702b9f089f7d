package cli

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// touchExecutable reads one byte of every page of this process's
// read-only, non-executable mappings of its own executable (constant data
// and the runtime's tables), as running code does, and returns how many
// bytes those mappings span.
func touchExecutable(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	require.NoError(t, err)
	f, err := os.Open("/proc/self/maps")
	require.NoError(t, err)
	defer f.Close()
	page := os.Getpagesize()
	var sum byte
	spanned := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || fields[1] != "r--p" {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		require.NoError(t, err1)
		require.NoError(t, err2)
		for a := start; a < end; a += uint64(page) {
			sum += *(*byte)(unsafe.Add(unsafe.Pointer(nil), uintptr(a)))
		}
		spanned += int(end - start)
	}
	require.NoError(t, sc.Err())
	_ = sum
	return spanned
}

// TestReleaseMemoryKeepsExecutableDropped: `run` sits beside its command
// for the command's whole life, and whatever it runs after dropping the
// executable's pages (the command's start, the registry's heartbeat)
// maps them back, a large folio per touch. releaseMemory drops them again
// once a megabyte has come back. The test brings megabytes back by
// reading them and waits, with a generous ceiling, for them to go.
func TestReleaseMemoryKeepsExecutableDropped(t *testing.T) {
	t.Parallel()
	done := make(chan struct{})
	defer close(done)
	releaseMemory(done)
	spanned := touchExecutable(t)
	page := int64(os.Getpagesize())
	touched, ok := residentFilePages()
	require.True(t, ok)
	t.Logf("read %d MB of constant data: %d MB of file pages resident", spanned>>20, touched*page>>20)
	require.Greater(t, spanned, 4<<20, "the test binary has too little constant data to tell")
	deadline := time.Now().Add(time.Minute)
	for {
		n, ok := residentFilePages()
		require.True(t, ok)
		if (touched-n)*page >= 2<<20 {
			t.Logf("dropped to %d MB", n*page>>20)
			return
		}
		require.True(t, time.Now().Before(deadline), "file pages still resident after a minute: %d MB (touched: %d MB)", n*page>>20, touched*page>>20)
		time.Sleep(20 * time.Millisecond)
	}
}

// TestDropExecutablePages: after the executable's constant data was read,
// dropExecutablePages takes it out of the resident set. Run as it is, the
// test binary has usually been written back to disk; TestDropFreshExecutable
// runs this test again in a copy written a moment before.
func TestDropExecutablePages(t *testing.T) {
	if os.Getenv("FLEETGATE_TEST_FRESH_COPY") == "" {
		t.Parallel()
	}
	page := int64(os.Getpagesize())
	touchExecutable(t)
	before, ok := residentFilePages()
	require.True(t, ok)
	dropExecutablePages()
	after, ok := residentFilePages()
	require.True(t, ok)
	t.Logf("file pages resident: %d MB before the drop, %d MB after", before*page>>20, after*page>>20)
	require.GreaterOrEqual(t, (before-after)*page, int64(4<<20), "the drop left the executable's pages resident")
}

// TestDropFreshExecutable: a binary written less than about 30 s before
// (the kernel's writeback delay) has dirty pages in the page cache, which
// smaps counts as Private_Dirty in every mapping of it; `run` of a freshly
// built or copied fleetgate must still drop its pages.
func TestDropFreshExecutable(t *testing.T) {
	t.Parallel()
	self, err := os.ReadFile(os.Args[0])
	require.NoError(t, err)
	fresh := filepath.Join(t.TempDir(), "cli.test")
	require.NoError(t, os.WriteFile(fresh, self, 0o700))
	cmd := exec.Command(fresh, "-test.run=^TestDropExecutablePages$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), "FLEETGATE_TEST_FRESH_COPY=1")
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "--- PASS: TestDropExecutablePages")
}
