package cli

import (
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestPackageInitIsCheap: every command, a no-op `up` on every instance of
// a fleet at every start included, pays for the package initialisation of
// everything linked in. fleetgate's own packages build their tables and
// expressions on first use instead (the checks' list of non-volatile
// functions alone was 261 KB and a fifth of the binary's init time). The
// runtime reports each package's init with GODEBUG=inittrace=1; this test
// binary links every package the command links.
func TestPackageInitIsCheap(t *testing.T) {
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)
	// init github.com/fleetgate/fleetgate/internal/lint @1.2 ms, 1.3 ms clock, 261664 bytes, 40 allocs
	line := regexp.MustCompile(`(?m)^init (github\.com/fleetgate/fleetgate\S*) @\S+ ms, \S+ ms clock, (\d+) bytes, (\d+) allocs$`)
	seen := 0
	for _, m := range line.FindAllStringSubmatch(string(out), -1) {
		pkg := m[1]
		if strings.Contains(pkg, "/dbtest") || strings.Contains(pkg, "/drivertest") {
			continue // test-only
		}
		seen++
		bytes, _ := strconv.Atoi(m[2])
		require.LessOrEqual(t, bytes, 8<<10, "package %s allocates %d bytes in its init; build tables and expressions on first use (sync.OnceValue)", pkg, bytes)
	}
	require.Greater(t, seen, 5, "no init trace of fleetgate's packages in:\n%s", out)
}
