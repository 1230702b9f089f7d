package e2e

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// TestVersionFromBuildInfo: a binary built from a clone says which commit
// it is, from the build information, rather than "dev". It builds from a
// fresh clone because the go command stamps VCS information only in a
// checkout whose .git is a directory (not in a git worktree), and with
// -buildvcs on (this machine's GOFLAGS turn it off).
func TestVersionFromBuildInfo(t *testing.T) {
	t.Parallel()
	src := filepath.Join(t.TempDir(), "src")
	out, err := exec.Command("git", "clone", "--quiet", "..", src).CombinedOutput()
	require.NoError(t, err, "%s", out)
	head, err := exec.Command("git", "-C", src, "rev-parse", "HEAD").Output()
	require.NoError(t, err)
	commit := strings.TrimSpace(string(head))
	exe := filepath.Join(t.TempDir(), "fleetgate")
	build := exec.Command("go", "build", "-o", exe, "./cmd/fleetgate")
	build.Dir = src
	build.Env = append(os.Environ(), "GOFLAGS=-buildvcs=true", "GOWORK=off")
	out, err = build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-v"}} {
		out, err := exec.Command(exe, args...).Output()
		require.NoError(t, err, "%v", args)
		require.NotContains(t, string(out), "fleetgate dev", "%v", args)
		// The go command derives a pseudo-version from the commit
		// (v0.0.0-<time>-<commit[:12]>); a tagged release reads vX.Y.Z.
		first, _, _ := strings.Cut(string(out), "\n")
		require.Regexp(t, `^fleetgate v\d+\.\d+\.\d+-\S*`+commit[:12]+`$`, first, "%v", args)
		require.Contains(t, string(out), "commit:  "+commit+" (", "%v", args)
	}
}

// TestInterruptedExitStatus: SIGTERM and SIGINT stop a waiting fleetgate
// with the shell's status for the signal and the word "interrupted", not
// exit 1 "context canceled", which reads as a failed migration.
func TestInterruptedExitStatus(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"1_a.sql": "-- fleetgate:up\nCREATE TABLE a (id integer);\n"})
	for sig, want := range map[syscall.Signal]int{syscall.SIGTERM: 143, syscall.SIGINT: 130} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			url := dbtest.SQLite(t)
			// Nothing applies the pending migration, so wait blocks. Its
			// stderr goes to a file, read while it runs.
			logPath := filepath.Join(t.TempDir(), "stderr")
			logf, err := os.Create(logPath)
			require.NoError(t, err)
			defer logf.Close()
			cmd := exec.Command(bin, "wait", "-d", url, "--dir", dir, "--poll", "100ms")
			cmd.Env, cmd.Stderr = cleanEnv(), logf
			cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
			require.NoError(t, cmd.Start())
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			t.Cleanup(func() {
				select {
				case <-done:
				default:
					_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
					<-done
				}
			})
			require.Eventually(t, func() bool {
				b, _ := os.ReadFile(logPath)
				return strings.Contains(string(b), "waiting for the schema")
			}, time.Minute, 20*time.Millisecond, "wait never said it was waiting")
			require.NoError(t, cmd.Process.Signal(sig))
			var werr error
			select {
			case werr = <-done:
				done <- werr
			case <-time.After(time.Minute):
				t.Fatal("wait did not stop after the signal")
			}
			b, err := os.ReadFile(logPath)
			require.NoError(t, err)
			r := result{Code: exitCode(werr), Stderr: string(b)}
			require.Equal(t, want, r.Code, r.String())
			require.Contains(t, r.Stderr, "interrupted by "+map[syscall.Signal]string{syscall.SIGTERM: "SIGTERM", syscall.SIGINT: "SIGINT"}[sig])
			require.NotContains(t, r.Stderr, "context canceled")
		})
	}
}

// TestStaticBinaryInEmptyRoot: the binary the Dockerfile builds
// (CGO_ENABLED=0) is static and needs nothing but itself, the CA bundle and
// the migrations: it runs `version` and a SQLite `up` in a root directory
// holding only those, as it would in the FROM scratch image.
func TestStaticBinaryInEmptyRoot(t *testing.T) {
	t.Parallel()
	chroot, err := exec.LookPath("chroot")
	require.NoError(t, err, "chroot (coreutils) is needed")
	root := t.TempDir()
	static := filepath.Join(root, "fleetgate")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", static, "../cmd/fleetgate")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	bout, err := build.CombinedOutput()
	require.NoError(t, err, "%s", bout)
	f, err := elf.Open(static)
	require.NoError(t, err)
	for _, p := range f.Progs {
		require.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader")
	}
	f.Close()

	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	require.NoError(t, err, "the CA bundle (Debian's ca-certificates) is copied into the image")
	require.NoError(t, os.MkdirAll(filepath.Join(root, "etc/ssl/certs"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(root, "etc/ssl/certs/ca-certificates.crt"), ca, 0o644))
	require.NoError(t, os.Mkdir(filepath.Join(root, "migrations"), 0o755))
	ex, err := filepath.Glob("../examples/quickstart/*.sql")
	require.NoError(t, err)
	for _, src := range ex {
		b, err := os.ReadFile(src)
		require.NoError(t, err)
		require.NoError(t, os.WriteFile(filepath.Join(root, "migrations", filepath.Base(src)), b, 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(root, "data"), 0o777))

	run := func(args ...string) (int, string) {
		argv := append([]string{chroot, root, "/fleetgate"}, args...)
		if os.Geteuid() != 0 {
			argv = append([]string{"unshare", "--map-root-user"}, argv...)
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = []string{} // nothing from this machine
		out, err := cmd.CombinedOutput()
		return exitCode(err), string(out)
	}
	code, out := run("version")
	require.Equal(t, 0, code, out)
	require.Contains(t, out, "fleetgate ")
	code, out = run("up", "-d", "sqlite:/data/app.db", "--dir", "/migrations")
	require.Equal(t, 0, code, out)
	db := openDB(t, "sqlite:"+filepath.Join(root, "data/app.db"))
	requireRows := queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations")
	require.Equal(t, 3, requireRows)
	require.Equal(t, 2, queryInt(t, db, "SELECT count(*) FROM accounts"))
	// Nothing else appeared in the root: no /tmp, no cache, no home.
	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	require.ElementsMatch(t, []string{"fleetgate", "etc", "migrations", "data"}, names)
}

// TestSetupScriptAsRootAndUser: the README's `scripts/setup.sh &&
// scripts/test.sh` works as written both as root (no sudo in a root
// container) and as a user: with everything installed, neither needs
// sudo, and the user's run does not ask for it.
func TestSetupScriptAsRootAndUser(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs("../scripts/setup.sh")
	require.NoError(t, err)
	// PATH without sudo: a root container has none, and a user's run with
	// everything installed must not need it.
	env := []string{"PATH=/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
	runAs := func(argv ...string) (int, string) {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		return exitCode(err), string(out)
	}
	if os.Geteuid() == 0 {
		code, out := runAs("bash", script)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "database binaries ready")
		setpriv, err := exec.LookPath("setpriv")
		require.NoError(t, err, "setpriv (util-linux) runs the script as nobody")
		code, out = runAs(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "bash", script)
		require.Equal(t, 0, code, out)
		require.Contains(t, out, "database binaries and squawk")
		require.NotContains(t, out, "sudo")
		return
	}
	code, out := runAs("bash", script)
	require.Equal(t, 0, code, out)
	require.NotContains(t, out, "sudo")
}

// TestStatusNamesRunningMigration: while a migration runs, status says
// which one, by version and name.
func TestStatusNamesRunningMigration(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"1_a.sql":    "-- fleetgate:up\nCREATE TABLE a (id integer);\n",
		"2_slow.sql": "-- fleetgate:up\nSELECT pg_sleep(120);\n",
	})
	url := dbtest.Postgres(t)
	require.Equal(t, 0, fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1").Code)
	start(t, nil, "up", "-d", url, "--dir", dir, "--lease", "1s")
	require.EventuallyWithT(t, func(c *assert.CollectT) {
		r := fg(t, nil, "status", "-d", url, "--dir", dir)
		assert.Contains(c, r.Stdout, ", running 2 slow", "status never named the running migration: %s", r)
	}, time.Minute, 100*time.Millisecond)
}
