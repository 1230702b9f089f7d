package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoHeavyParserLinked: vitess's MySQL parser (and the gRPC and
// protobuf code it drags in) once grew the binary from 27 to 42 MB and
// added about 5 ms of package initialisation to every fleetgate process,
// on every database; the MySQL checks and crash recovery read statements
// with internal/dialect/mysqlstmt instead (docs/checks.md, "MySQL and
// MariaDB"). vitess stays a test-only dependency, as the differential
// tests' oracle; this keeps it, and gRPC, out of the binary, with and
// without cgo.
func TestNoHeavyParserLinked(t *testing.T) {
	t.Parallel()
	for _, cgo := range []string{"1", "0"} {
		cmd := exec.Command("go", "list", "-deps", ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED="+cgo)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps (CGO_ENABLED=%s): %v", cgo, err)
		}
		deps := strings.Fields(string(out))
		if len(deps) < 50 {
			t.Fatalf("go list -deps (CGO_ENABLED=%s) listed only %d packages: %q", cgo, len(deps), out)
		}
		for _, banned := range []string{"vitess.io/", "google.golang.org/grpc"} {
			var linked []string
			for _, p := range deps {
				if strings.HasPrefix(p, banned) {
					linked = append(linked, p)
				}
			}
			if len(linked) > 0 {
				t.Errorf("cmd/fleetgate links %d packages of %s (CGO_ENABLED=%s), among them %v; keep it test-only", len(linked), banned, cgo, linked[:min(3, len(linked))])
			}
		}
	}
}
