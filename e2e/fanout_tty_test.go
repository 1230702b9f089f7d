package e2e

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"github.com/stretchr/testify/require"
)

// ttyRun runs fleetgate with its stderr on a pseudo-terminal (stdout a
// pipe) and returns its exit code and what the terminal received, with the
// terminal's own "\r\n" for "\n" turned back.
func ttyRun(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	require.NoError(t, err)
	defer ptmx.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	tty.Close() // the child holds it now; the master reads EIO once it exits
	t.Cleanup(func() { _ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	read := make(chan string, 1)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, ptmx) // ends with EIO when the last writer closes
		read <- b.String()
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var werr error
	select {
	case werr = <-done:
	case <-time.After(2 * time.Minute):
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		t.Fatalf("fleetgate %v did not finish", args)
	}
	var out string
	select {
	case out = <-read:
	case <-time.After(30 * time.Second):
		t.Fatal("the terminal did not reach its end after fleetgate exited")
	}
	return exitCode(werr), strings.ReplaceAll(out, "\r\n", "\n")
}

var progressRE = regexp.MustCompile(`\r\x1b\[K(\d+)/(\d+) done, (\d+) failed, (\d+) running`)

// The fan-out's report on a terminal and off it: on a pseudo-terminal the
// progress line is redrawn in place (carriage return, erase to the end of
// the line) on every start and finish, counts only grow, never more than
// --parallel run, the failure is printed above the line and the summary
// comes after it is erased; through a pipe there are plain lines only, one
// per target, and no control sequence.
func TestFanOutProgressTTY(t *testing.T) {
	t.Parallel()
	const n, bad, parallel = 6, 2, 2
	urls, file := tenantDBs(t, n, bad)
	dir := writeFiles(t, tenantSet(""))
	env := []string{"FG_TENANT_PW=x"}

	code, out := ttyRun(t, env, "up", "--targets", file, "--dir", dir, "--init", "--keep-going", "--parallel", strconv.Itoa(parallel))
	require.Equal(t, 1, code, out)
	draws := progressRE.FindAllStringSubmatch(out, -1)
	require.GreaterOrEqual(t, len(draws), 2*n, "a redraw per start and per finish:\n%q", out)
	prevDone, prevFailed := -1, -1
	for _, d := range draws {
		done, _ := strconv.Atoi(d[1])
		failed, _ := strconv.Atoi(d[3])
		running, _ := strconv.Atoi(d[4])
		require.Equal(t, strconv.Itoa(n), d[2])
		require.GreaterOrEqual(t, done, prevDone, "done went back: %q", d[0])
		require.GreaterOrEqual(t, failed, prevFailed, "failed went back: %q", d[0])
		require.LessOrEqual(t, running, parallel, "more running than --parallel: %q", d[0])
		prevDone, prevFailed = done, failed
	}
	last := draws[len(draws)-1][0]
	require.Equal(t, fmt.Sprintf("\r\x1b[K%d/%d done, 1 failed, 0 running", n, n), last)
	// Between two redraws nothing but the failure line: the progress is
	// one line, overwritten, not a line per update.
	require.Equal(t, 1, strings.Count(out, dbName(urls[bad])+": FAILED (exit 1)"), out)
	require.Contains(t, out, "\r\x1b[K"+dbName(urls[bad])+": FAILED (exit 1): ")
	for i, u := range urls {
		if i != bad {
			require.NotContains(t, out, dbName(u)+": ok", "a success is only a count on a terminal")
		}
	}
	tail := out[strings.LastIndex(out, last)+len(last):]
	require.True(t, strings.HasPrefix(tail, "\r\x1b[K"), "the line is erased before the summary: %q", tail)
	require.Contains(t, tail, fmt.Sprintf("up over %d targets: %d ok, 1 failed, 0 not started\nfailed targets:\n", n, n-1))
	for i, u := range urls {
		want := 10
		if i == bad {
			want = 4
		}
		require.Equal(t, want, queryOnce(t, u, "SELECT count(*) FROM fleetgate_migrations WHERE complete"), dbName(u))
	}

	// Not a terminal: the same run again (the bad tenant fails again, the
	// others are up to date), plain lines only.
	r := fg(t, env, "up", "--targets", file, "--dir", dir, "--keep-going", "--parallel", strconv.Itoa(parallel))
	require.Equal(t, 1, r.Code, r)
	require.NotContains(t, r.Stderr, "\r")
	require.NotContains(t, r.Stderr, "\x1b")
	for i, u := range urls {
		line := dbName(u) + ": ok, applied 0 migrations in "
		if i == bad {
			line = dbName(u) + ": FAILED (exit 1): "
		}
		require.Regexp(t, `(?m)^\[[1-6]/6\] `+regexp.QuoteMeta(line), r.Stderr)
	}
	require.Contains(t, r.Stderr, fmt.Sprintf("up over %d targets: %d ok, 1 failed, 0 not started\n", n, n-1))
}
