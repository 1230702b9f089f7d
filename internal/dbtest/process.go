package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// rootPrefix names the per-binary directory under os.TempDir(); the pid
// of the test binary follows it.
const rootPrefix = "fleetgate-dbtest-"

// pidFileName is written beside each process's files with the process's
// pid, so a later run can stop it if this binary dies without Stop.
const pidFileName = "server.pid"

// errStopped is returned once Stop has run: the servers are gone.
var errStopped = errors.New("dbtest: Stop has already run; no servers can be started")

// registry holds everything this package started in this test binary.
var registry struct {
	mu      sync.Mutex
	root    string     // "" until the first server needs files
	procs   []*process // in start order; Stop ends them in reverse
	closers []func() error
	stopped bool
}

// stopOnce makes concurrent Stop calls (TestMain and a signal) wait for the
// one that does the work.
var stopOnce sync.Once

// Main runs the tests, then Stop, then exits with the tests' code. Stop also
// runs if m.Run panics on the main goroutine, and on SIGINT or SIGTERM, after
// which the binary dies of that signal (or exits 1 where the signal was
// ignored when it started, as in a non-interactive shell's background job).
//
// A panic on a test goroutine (including the one go test -timeout raises)
// ends the process without running Stop; the parent-death signal then
// stops the servers, and the next run removes their files.
func Main(m *testing.M) {
	os.Exit(run(m))
}

// M wraps m so that its Run is Main without the exit: the tests, then Stop
// (with the same signal handling), then the code. It is for a TestMain that
// checks more once the servers and their goroutines are gone:
//
//	func TestMain(m *testing.M) { goleak.VerifyTestMain(dbtest.M(m)) }
func M(m *testing.M) interface{ Run() int } { return mainRunner{m} }

type mainRunner struct{ m *testing.M }

func (r mainRunner) Run() int { return run(r.m) }

func run(m *testing.M) int {
	defer Stop()
	stopSignals := handleSignals()
	defer stopSignals()
	return m.Run()
}

// handleSignals stops the servers on SIGINT or SIGTERM and then re-raises
// the signal. The returned func ends the handler and waits for it, so that
// no goroutine of this package is left behind.
func handleSignals() (stop func()) {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		select {
		case sig := <-ch:
			Stop()
			signal.Reset(sig)
			if s, ok := sig.(syscall.Signal); ok {
				_ = syscall.Kill(os.Getpid(), s)
				time.Sleep(time.Second) // the signal's default action ends us
			}
			os.Exit(1)
		case <-quit:
		}
	}()
	return func() {
		signal.Stop(ch)
		close(quit)
		<-done
	}
}

// Stop stops every server this package started and removes their files. It
// is safe to call more than once and from several goroutines; later calls
// wait for the first. After Stop, starting a server fails.
//
// Database pools are closed first; then each process, newest first, gets its
// graceful signal (PostgreSQL: SIGQUIT, the same immediate shutdown as
// pg_ctl stop -m immediate; PgBouncer and MariaDB: SIGTERM) and SIGKILL
// if it is still alive a few seconds later.
//
// Once Stop returns, no goroutine of this package is left, so a TestMain
// that checks for leaked goroutines can run m.Run, then Stop, then check.
func Stop() {
	stopOnce.Do(func() {
		registry.mu.Lock()
		registry.stopped = true
		procs := registry.procs
		closers := registry.closers
		root := registry.root
		registry.procs, registry.closers = nil, nil
		registry.mu.Unlock()

		for _, c := range slices.Backward(closers) {
			_ = c()
		}
		for _, p := range slices.Backward(procs) {
			if err := p.stop(); err != nil {
				fmt.Fprintf(os.Stderr, "dbtest: %v\n", err)
			}
		}
		if root != "" {
			if err := os.RemoveAll(root); err != nil {
				fmt.Fprintf(os.Stderr, "dbtest: remove %s: %v\n", root, err)
			}
		}
	})
}

func isStopped() bool {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	return registry.stopped
}

// addCloser registers c (an admin pool's Close) to run at Stop.
func addCloser(c func() error) error {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.stopped {
		_ = c()
		return errStopped
	}
	registry.closers = append(registry.closers, c)
	return nil
}

// serverDir returns a new directory named name under this binary's root,
// owned by cred's user when cred is non-nil. The first call creates the root
// and removes stale roots of earlier runs.
func serverDir(name string, cred *syscall.Credential) (string, error) {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	if registry.stopped {
		return "", errStopped
	}
	if registry.root == "" {
		tmp := os.TempDir()
		removeStale(tmp)
		root := filepath.Join(tmp, rootPrefix+strconv.Itoa(os.Getpid()))
		// A directory with our pid is from a dead process whose pid we reuse.
		if err := os.RemoveAll(root); err != nil {
			return "", fmt.Errorf("dbtest: remove old %s: %w", root, err)
		}
		// World-searchable so the postgres and mysql users reach their dirs.
		if err := os.Mkdir(root, 0o755); err != nil {
			return "", fmt.Errorf("dbtest: %w", err)
		}
		if err := os.Chmod(root, 0o755); err != nil {
			return "", fmt.Errorf("dbtest: %w", err)
		}
		registry.root = root
	}
	dir := filepath.Join(registry.root, name)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("dbtest: %w", err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return "", fmt.Errorf("dbtest: %w", err)
		}
	}
	return dir, nil
}

// removeStale removes tmp's fleetgate-dbtest-<pid> directories whose pid
// no longer exists, first killing any server still running from them.
// Errors are ignored: another user's leftovers are not ours to remove.
func removeStale(tmp string) {
	dirs, _ := filepath.Glob(filepath.Join(tmp, rootPrefix+"*"))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), rootPrefix))
		if err != nil || pid == os.Getpid() || pidAlive(pid) {
			continue
		}
		killLeftovers(dir)
		_ = os.RemoveAll(dir)
	}
}

// killLeftovers SIGKILLs the processes recorded in dir/*/server.pid, if
// they are still running from dir (their command line names it or a path
// under it; this guards against a reused pid).
func killLeftovers(dir string) {
	files, _ := filepath.Glob(filepath.Join(dir, "*", pidFileName))
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 1 || !pidAlive(pid) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil || !namesDir(cmdline, dir) {
			continue
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// namesDir reports whether a NUL-separated command line has dir, or a path
// under it, as an argument or inside one (--datadir=dir/data); not a
// longer name that starts with dir's (another run's fleetgate-dbtest-123
// for fleetgate-dbtest-12).
func namesDir(cmdline []byte, dir string) bool {
	for rest := cmdline; ; {
		i := bytes.Index(rest, []byte(dir))
		if i < 0 {
			return false
		}
		rest = rest[i+len(dir):]
		if len(rest) == 0 || rest[0] == '/' || rest[0] == 0 {
			return true
		}
	}
}

func pidAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// serviceUser returns the credential to run a server as. Servers refuse to
// run as root, so when we are root they run as the OS user made for them by
// their Debian package; otherwise they run as us (nil).
func serviceUser(name, server string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("dbtest: running as root, and %s refuses to run as root, but there is no %q OS user to run it as (%w); install the server with scripts/setup.sh", server, name, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("dbtest: uid of %s: %w", name, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("dbtest: gid of %s: %w", name, err)
	}
	cred := &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	// Drop root's supplementary groups for the user's own.
	gids, _ := u.GroupIds()
	for _, g := range gids {
		if n, err := strconv.ParseUint(g, 10, 32); err == nil {
			cred.Groups = append(cred.Groups, uint32(n))
		}
	}
	return cred, nil
}

// writeFileAs writes a file that cred's user (when non-nil) owns.
func writeFileAs(path string, data []byte, cred *syscall.Credential) error {
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return err
	}
	if cred != nil {
		return os.Chown(path, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// runOnce runs a short setup command (initdb, mariadb-install-db) as cred
// and returns its combined output for error messages.
func runOnce(ctx context.Context, dir string, cred *syscall.Credential, path string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd.CombinedOutput()
}

// process is a long-running server this package started.
type process struct {
	name    string // for messages: "postgres", "pgbouncer", "mariadbd"
	dir     string // where its files live
	logPath string // its stdout and stderr
	stopSig syscall.Signal
	cmd     *exec.Cmd
	done    chan struct{} // closed once the process has been reaped
	waitErr error         // valid after done is closed
}

// startProcess starts path as cred in dir, logging to dir/<name>.log, and
// registers it for Stop. stopSig is its graceful-stop signal and deathSig
// the signal it gets when the test binary dies.
func startProcess(name, dir string, cred *syscall.Credential, stopSig, deathSig syscall.Signal, path string, args ...string) (*process, error) {
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("dbtest: %w", err)
	}
	defer logf.Close() // the child has its own copy
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Credential: cred,
		// Its own process group: a terminal's Ctrl-C goes to the test
		// binary, whose handler stops servers in order.
		Setpgid:   true,
		Pdeathsig: deathSig,
	}
	p := &process{name: name, dir: dir, logPath: logPath, stopSig: stopSig, cmd: cmd, done: make(chan struct{})}

	// The parent-death signal fires when the thread that forked the child
	// exits, not the process, so fork from a goroutine that holds its
	// thread until the child is reaped. Returning while still locked then
	// retires the thread, which no longer matters.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("dbtest: start %s: %w", name, err)
	}
	_ = os.WriteFile(filepath.Join(dir, pidFileName), []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)

	registry.mu.Lock()
	if registry.stopped {
		registry.mu.Unlock()
		_ = p.stop()
		return nil, errStopped
	}
	registry.procs = append(registry.procs, p)
	registry.mu.Unlock()
	return p, nil
}

// stopGrace is how long a process has to exit after its graceful signal.
const stopGrace = 10 * time.Second

// stop ends the process by its own pid: the graceful signal, then SIGKILL
// after stopGrace. It waits until the process is reaped.
func (p *process) stop() error {
	select {
	case <-p.done:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(p.stopSig)
	select {
	case <-p.done:
		return nil
	case <-time.After(stopGrace):
	}
	_ = p.cmd.Process.Kill()
	select {
	case <-p.done:
		return fmt.Errorf("%s (pid %d) ignored %v for %v and was killed", p.name, p.cmd.Process.Pid, p.stopSig, stopGrace)
	case <-time.After(stopGrace):
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", p.name, p.cmd.Process.Pid)
	}
}

// stopAndForget stops p and drops it from the registry (for servers that
// live as long as one test, such as PgBouncer).
func (p *process) stopAndForget() error {
	err := p.stop()
	registry.mu.Lock()
	registry.procs = slices.DeleteFunc(registry.procs, func(q *process) bool { return q == p })
	registry.mu.Unlock()
	return err
}

// waitReady polls probe until it succeeds, the process exits or timeout
// passes. Errors carry the tail of the process's log.
func (p *process) waitReady(timeout time.Duration, probe func(ctx context.Context) error) error {
	deadline := time.Now().Add(timeout)
	var last error
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		last = probe(ctx)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return p.failure(fmt.Errorf("exited while starting: %v", p.waitErr))
		default:
		}
		if time.Now().After(deadline) {
			return p.failure(fmt.Errorf("not ready after %v: %w", timeout, last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// failure wraps err with the process's name, pid and the end of its log.
func (p *process) failure(err error) error {
	return fmt.Errorf("dbtest: %s (pid %d) %w\n--- end of %s ---\n%s", p.name, p.cmd.Process.Pid, err, p.logPath, logTail(p.logPath))
}

// logTail returns the last lines of the file at path.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	const max = 4096
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(-max, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return tail(b, 30)
}

// tail returns the last n lines of b.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// addrInUse reports whether p's log says its port was taken, so the start
// can be retried on another port.
func (p *process) addrInUse() bool {
	s := logTail(p.logPath)
	return strings.Contains(s, "Address already in use") || strings.Contains(s, "address already in use")
}

// freePort returns a loopback TCP port that was free a moment ago. Another
// process may take it before the server binds, so callers retry on
// "address in use".
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("dbtest: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// portAttempts is how many ports a server start tries.
const portAttempts = 3

// randomName returns prefix followed by 12 random lowercase hex digits,
// safe as an unquoted SQL identifier.
func randomName(prefix string) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// findBinary returns the first of paths that is an executable file, or
// looks the names up in PATH.
func findBinary(paths []string, names ...string) (string, error) {
	for _, p := range paths {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("none of %s found (nor %s in PATH)", strings.Join(paths, ", "), strings.Join(names, ", "))
}
