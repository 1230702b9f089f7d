// Package e2e tests fleetgate's promises with the built binary, real
// processes, real signals and real databases started by internal/dbtest.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// bin is the fleetgate binary under test, built once by TestMain.
var bin string

// execAtEnv makes the test binary act as a start barrier: it sleeps until
// the given instant and then becomes the command in its arguments, so that
// many processes start fleetgate at the same moment.
const execAtEnv = "FLEETGATE_E2E_EXEC_AT"

func TestMain(m *testing.M) {
	if at := os.Getenv(execAtEnv); at != "" {
		ns, _ := strconv.ParseInt(at, 10, 64)
		time.Sleep(time.Until(time.Unix(0, ns)))
		args := os.Args[1:]
		env := []string{}
		for _, kv := range os.Environ() {
			if len(kv) < len(execAtEnv) || kv[:len(execAtEnv)] != execAtEnv {
				env = append(env, kv)
			}
		}
		err := syscall.Exec(args[0], args, env)
		fmt.Fprintln(os.Stderr, "exec:", err)
		os.Exit(127)
	}
	// The process-level suite builds the binary and runs it in real
	// processes for about ten minutes on two cores; -short is the quick
	// run (unit tests and the in-process lock and driver suites), so it
	// leaves this package out, saying so.
	flag.Parse()
	if testing.Short() {
		fmt.Println("e2e: skipped under -short (the process-level suite runs without it)")
		os.Exit(0)
	}
	dir, err := os.MkdirTemp("", "fleetgate-e2e-")
	if err != nil {
		panic(err)
	}
	bin = filepath.Join(dir, "fleetgate")
	build := exec.Command("go", "build", "-o", bin, "../cmd/fleetgate")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build fleetgate:", err)
		os.Exit(2)
	}
	code := func() int {
		defer dbtest.Stop()
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}
