package e2e

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// script writes an executable bash script and returns its path.
func script(t testing.TB, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "app.sh")
	require.NoError(t, os.WriteFile(p, []byte("#!/bin/bash\n"+body), 0o755))
	return p
}

// startCmd starts any command the way start starts fleetgate (own
// process group, killed in Cleanup), with stdin when not nil.
func startCmd(t testing.TB, stdin io.Reader, env []string, name string, args ...string) *proc {
	t.Helper()
	p := &proc{done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdin = stdin
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, p.cmd.Start())
	p.start = time.Now()
	go func() {
		err := p.cmd.Wait()
		p.res = result{Code: exitCode(err), Stdout: p.stdout.String(), Stderr: p.stderr.String(), Elapsed: time.Since(p.start)}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
			<-p.done
		}
	})
	return p
}

// startIn starts fleetgate with stdin.
func startIn(t testing.TB, stdin io.Reader, env []string, args ...string) *proc {
	t.Helper()
	return startCmd(t, stdin, env, bin, args...)
}

// waitFile waits until path exists and contains want, and returns its
// content.
func waitFile(t *testing.T, path, want string, timeout time.Duration) string {
	t.Helper()
	var got string
	waitFor(t, timeout, func() bool {
		b, _ := os.ReadFile(path)
		got = string(b)
		return strings.Contains(got, want)
	})
	return got
}

var oneTable = map[string]string{"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id integer);\n"}

// `fleetgate run`: migrate, then become a supervisor of the command that
// exits with its status, whatever ends it.
func TestRunExitStatus(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, oneTable)

	t.Run("AppExitCode", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		r := fg(t, nil, "run", "-d", url, "--dir", dir, "--", "sh", "-c", "echo from-app; echo to-stderr >&2; exit 42")
		require.Equal(t, 42, r.Code, r.String())
		require.Equal(t, "from-app\n", r.Stdout, "the app writes to fleetgate's own stdout")
		require.Contains(t, r.Stderr, "to-stderr")
		require.Equal(t, 1, queryInt(t, openDB(t, url), "SELECT count(*) FROM fleetgate_migrations"), "migrated before the app")
	})

	t.Run("NoDashDash", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		r := fg(t, nil, "run", "-d", url, "--dir", dir, "sh", "-c", "exit 3")
		require.Equal(t, 3, r.Code, r.String())
	})

	t.Run("EnvironmentAndStdin", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		p := startIn(t, strings.NewReader("line from stdin\n"), []string{"APP_SETTING=kept"},
			"run", "-d", url, "--dir", dir, "--", "sh", "-c", `read -r l; echo "$APP_SETTING $l"`)
		r := p.wait(t, time.Minute)
		require.Equal(t, 0, r.Code, r.String())
		require.Equal(t, "kept line from stdin\n", r.Stdout)
	})

	t.Run("SignalsForwarded", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		out := filepath.Join(t.TempDir(), "signals")
		app := script(t, `
for s in HUP INT QUIT USR1 USR2 WINCH; do trap "echo $s >> $1" $s; done
trap "echo TERM >> $1; exit 17" TERM
echo ready >> $1
while :; do sleep 0.05; done
`)
		p := start(t, nil, "run", "-d", url, "--dir", dir, "--", app, out)
		waitFile(t, out, "ready", 30*time.Second)
		for _, s := range []struct {
			sig  syscall.Signal
			name string
		}{{syscall.SIGHUP, "HUP"}, {syscall.SIGINT, "INT"}, {syscall.SIGQUIT, "QUIT"}, {syscall.SIGUSR1, "USR1"},
			{syscall.SIGUSR2, "USR2"}, {syscall.SIGWINCH, "WINCH"}} {
			p.signal(s.sig)
			waitFile(t, out, s.name, 10*time.Second)
		}
		p.signal(syscall.SIGTERM)
		r := p.wait(t, 30*time.Second)
		require.Equal(t, 17, r.Code, "fleetgate exits with the app's status\n%s", r)
		b, err := os.ReadFile(out)
		require.NoError(t, err)
		require.Equal(t, "ready\nHUP\nINT\nQUIT\nUSR1\nUSR2\nWINCH\nTERM\n", string(b))
	})

	t.Run("TermKillsApp", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		out := filepath.Join(t.TempDir(), "pid")
		app := script(t, `echo $$ > `+out+`.tmp; mv `+out+`.tmp `+out+`; exec sleep 60`)
		p := start(t, nil, "run", "-d", url, "--dir", dir, "--", app)
		waitFile(t, out, "\n", 30*time.Second)
		p.signal(syscall.SIGTERM)
		r := p.wait(t, 30*time.Second)
		require.Equal(t, 128+int(syscall.SIGTERM), r.Code, r.String())
	})

	t.Run("AppKilled", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		out := filepath.Join(t.TempDir(), "pid")
		app := script(t, `echo $$ > `+out+`.tmp; mv `+out+`.tmp `+out+`; exec sleep 60`)
		p := start(t, nil, "run", "-d", url, "--dir", dir, "--", app)
		pid, err := strconv.Atoi(strings.TrimSpace(waitFile(t, out, "\n", 30*time.Second)))
		require.NoError(t, err)
		require.NoError(t, syscall.Kill(pid, syscall.SIGKILL))
		r := p.wait(t, 30*time.Second)
		require.Equal(t, 137, r.Code, r.String())
	})

	t.Run("MigrationFails", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		bad := writeFiles(t, map[string]string{
			"1_items.sql": oneTable["1_items.sql"],
			"2_bad.sql":   "-- fleetgate:up\nALTER TABLE nosuch ADD COLUMN x integer;\n",
		})
		marker := filepath.Join(t.TempDir(), "started")
		r := fg(t, nil, "run", "-d", url, "--dir", bad, "--", "touch", marker)
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, "2_bad.sql")
		require.NoFileExists(t, marker, "the app started although its migration failed")
	})

	t.Run("CommandNotFound", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		r := fg(t, nil, "run", "-d", url, "--dir", dir, "--", "no-such-command-fleetgate")
		require.Equal(t, 127, r.Code, r.String())
		require.Contains(t, r.Stderr, "no-such-command-fleetgate")
		_, err := os.Stat(strings.TrimPrefix(url, "sqlite:"))
		if err == nil {
			require.Equal(t, 0, queryInt(t, openDB(t, url), "SELECT count(*) FROM sqlite_master WHERE name = 'items'"), "migrated for a command that cannot start")
		}
	})

	t.Run("NoCommand", func(t *testing.T) {
		t.Parallel()
		r := fg(t, nil, "run", "-d", dbtest.SQLite(t), "--dir", dir)
		require.Equal(t, 2, r.Code, r.String())
		require.Contains(t, r.Stderr, "no command")
	})

	// A shutdown while the instance still waits for its schema: the app
	// never starts, and fleetgate reports the signal as a shell would.
	t.Run("TermWhileWaiting", func(t *testing.T) {
		t.Parallel()
		url := dbtest.SQLite(t)
		marker := filepath.Join(t.TempDir(), "started")
		p := start(t, nil, "run", "--wait-only", "-d", url, "--dir", dir, "--", "touch", marker)
		time.Sleep(700 * time.Millisecond)
		p.signal(syscall.SIGTERM)
		r := p.wait(t, 30*time.Second)
		require.Equal(t, 128+int(syscall.SIGTERM), r.Code, r.String())
		require.NoFileExists(t, marker)
		require.Contains(t, r.Stderr, "not started")
	})

	// As PID 1 of a container, fleetgate reaps the orphans the app leaves
	// behind; without that they stay zombies for the container's life.
	t.Run("ReapsOrphansAsPID1", func(t *testing.T) {
		t.Parallel()
		unshare, err := exec.LookPath("unshare")
		require.NoError(t, err, "util-linux unshare runs fleetgate as PID 1 of a new PID namespace")
		url := dbtest.SQLite(t)
		app := script(t, `
for i in 1 2 3 4 5; do sh -c 'sleep 0.05 &'; done   # orphans: their parent exits at once
sleep 1
zombies=$(grep -s '^State:' /proc/[0-9]*/status | grep -c zombie)
echo "pid=$$ ppid=$PPID zombies=$zombies"
[ "$zombies" = 0 ] || exit 99
exit 5
`)
		p := startCmd(t, nil, nil, unshare, "--pid", "--fork", "--mount-proc", bin, "run", "-d", url, "--dir", dir, "--", app)
		r := p.wait(t, time.Minute)
		require.Equal(t, 5, r.Code, "want the app's status 5 (99: zombies were left)\n%s", r)
		require.Contains(t, r.Stdout, "ppid=1 ", "fleetgate was not PID 1")
	})
}
