package dbtest

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// cleanupTB collects what a harness function registers and reports, so
// that a test can run the cleanups itself and read the errors they raise.
type cleanupTB struct {
	testing.TB
	cleanups []func()
	errs     []string
}

func (c *cleanupTB) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }
func (c *cleanupTB) Errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *cleanupTB) runCleanups() {
	for _, f := range slices.Backward(c.cleanups) {
		f()
	}
}

// A PgBouncer that dies while its test runs fails that test at cleanup
// with its exit and the end of its log: the test's own symptom is only
// "connection refused" on the pooler's port.
func TestPgBouncerDeathReported(t *testing.T) {
	t.Parallel()
	direct := Postgres(t)
	ctb := &cleanupTB{TB: t}
	defer ctb.runCleanups()
	u, err := url.Parse(PgBouncer(ctb, direct))
	require.NoError(t, err)

	var p *process
	registry.mu.Lock()
	for _, q := range registry.procs {
		ini, _ := os.ReadFile(filepath.Join(q.dir, "pgbouncer.ini"))
		if q.name == "pgbouncer" && strings.Contains(string(ini), "listen_port = "+u.Port()+"\n") {
			p = q
		}
	}
	registry.mu.Unlock()
	require.NotNil(t, p, "no pgbouncer of ours listens on %s", u.Port())
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGKILL))
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		t.Fatal("pgbouncer survived SIGKILL")
	}
	require.Empty(t, ctb.errs, "nothing reported before the cleanup")

	ctb.runCleanups()
	ctb.cleanups = nil
	require.Len(t, ctb.errs, 1)
	require.Contains(t, ctb.errs[0], "exited during the test: signal: killed")
	require.Contains(t, ctb.errs[0], "pgbouncer.log", "it points at the log")
	require.Contains(t, ctb.errs[0], "process up: PgBouncer", "it quotes the log's end")
}
