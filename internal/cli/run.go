package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/fleetgate/fleetgate"
)

// forwarded are the signals run passes on to its command. The command
// shares fleetgate's process group (so it keeps the terminal), which means
// a signal a terminal sends to the whole group (Ctrl-C) reaches it twice:
// once from the terminal, once forwarded, as with tini.
var forwarded = []os.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT,
	syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGWINCH}

// abortsGate says whether a signal that arrives before the command started
// stops fleetgate (the instance is being shut down) rather than being
// ignored (SIGUSR1, SIGUSR2, SIGWINCH mean nothing without a command).
func abortsGate(s os.Signal) bool {
	switch s {
	case syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT:
		return true
	}
	return false
}

const runUsage = "usage: fleetgate run [--wait-only] [--init] [--timeout D] [--to V] [--keep-env] [--gate-exit-offset N] -- CMD [ARGS]"

// runFlags are run's own flags, beside the gate's.
type runFlags struct {
	waitOnly bool
	keepEnv  bool
	init     bool
	offset   int
}

func (r *runFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&r.waitOnly, "wait-only", false, "only wait for the schema; never migrate")
	fs.BoolVar(&r.keepEnv, "keep-env", false, "pass fleetgate's own FLEETGATE_* variables on to the command")
	fs.BoolVar(&r.init, "init", false, "create the history tables even in a database that has user tables or another fleetgate history (as up --init)")
	fs.IntVar(&r.offset, "gate-exit-offset", 0, "exit with N plus fleetgate's code when the gate fails, to tell it from the command's status")
}

// maxGateExitOffset keeps offset + 5 (the highest gate code) below 126,
// where the shell's own statuses (126, 127, 128+signal) begin.
const maxGateExitOffset = 120

func (r *runFlags) check() error {
	if r.offset < 0 || r.offset > maxGateExitOffset {
		return &fleetgate.ConfigError{Setting: "--gate-exit-offset",
			Msg: fmt.Sprintf("must be between 0 and %d, so that the codes stay below the shell's 126", maxGateExitOffset)}
	}
	return nil
}

// childEnv is the command's environment: fleetgate's own, without the
// FLEETGATE_* variables unless keep is set. They configure fleetgate, and
// FLEETGATE_DATABASE_URL usually holds the migrator's credentials, which
// an app meant to hold only read/write grants must not receive. The app's
// own variables, DATABASE_URL included, pass through.
func childEnv(environ []string, keep bool) []string {
	if keep {
		return environ
	}
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		if !strings.HasPrefix(kv, "FLEETGATE_") {
			out = append(out, kv)
		}
	}
	return out
}

// runCmd is `fleetgate run`: up (or only wait), then CMD as a child with
// fleetgate's stdio and environment; fleetgate forwards signals to it,
// reaps orphans when it is PID 1, and exits with its status. Signals that
// arrive before CMD starts abort the gate with 128+signal, and the context
// (which main cancels on SIGINT and SIGTERM) is only heeded until then.
func (e *env) runCmd(ctx context.Context, args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	var r runFlags
	r.register(fs)
	var g gateFlags
	g.register(fs)
	flagArgs, cmdArgs, err := splitCommand(e, args)
	if err == nil {
		_, err = e.parse(fs, flagArgs)
	}
	if err == nil {
		err = g.check()
	}
	if err == nil {
		err = r.check()
	}
	if err == nil {
		e.setInit(r.init)
	}
	if err == nil && len(cmdArgs) == 0 {
		err = &fleetgate.ConfigError{Setting: "run", Msg: "no command given; " + runUsage}
	}
	if errors.Is(err, flag.ErrHelp) {
		e.showHelp(fs)
		return 0
	}
	if err != nil {
		e.fail(err)
		return fleetgate.ExitCode(err)
	}
	// A command that cannot be found is a broken build: say so before
	// migrating anything, with the shell's exit status.
	path, err := exec.LookPath(cmdArgs[0])
	if err != nil {
		return e.failCode(fmt.Errorf("run: %w", err), startFailure(err))
	}

	sigs := make(chan os.Signal, 32)
	signal.Notify(sigs, forwarded...)
	pid1 := os.Getpid() == 1
	if pid1 {
		signal.Notify(sigs, syscall.SIGCHLD)
	}
	defer signal.Stop(sigs)

	// Whatever the command's start needs that does not depend on the
	// schema is done before the gate, and warmStart runs beside it: from
	// the commit on, only the fork and exec are left.
	cmd := exec.Command(path)
	cmd.Args = cmdArgs
	cmd.Env = childEnv(os.Environ(), r.keepEnv)
	cmd.Stdin = os.Stdin
	cmd.Stdout, cmd.Stderr = fileOf(e.stdout, os.Stdout, pid1), fileOf(e.stderr, os.Stderr, pid1)
	go warmStart()

	m, bg, sig, err := e.gate(ctx, sigs, r.waitOnly, &g)
	if m != nil && (sig != nil || err != nil) {
		m.Close()
	}
	if sig != nil {
		e.log.Warn("interrupted before the command started; it was not started", "signal", sig.String())
		return 128 + int(sig.(syscall.Signal))
	}
	if err != nil {
		if r.offset == 0 {
			e.fail(err)
			return fleetgate.ExitCode(err)
		}
		return e.failCode(err, r.offset+fleetgate.ExitCode(err))
	}

	// The command counts as a running instance of this build from the
	// moment its schema is ready until it exits: post-phase migrations and
	// rollbacks that would break it wait for it (see fleetgate.Register).
	// The registration (one INSERT) goes out as soon as the command has
	// been started instead of before it: the command does not wait for its
	// round trip and commit, and on a busy machine (a fleet woken at once
	// on a few cores) its CPU, and its database session's, does not compete
	// with the fork and exec. A gate that reads the registry decides by
	// whether the row is in, and the row is in a round trip after the
	// command's start either way.
	// A registration that fails never kept the command from starting.
	// Not tied to ctx: a SIGTERM cancels it, but a draining command still
	// serves, and must still count, until it exits.
	if err := cmd.Start(); err != nil {
		m.Close()
		return e.failCode(fmt.Errorf("run: %w", err), startFailure(err))
	}
	e.log.Debug("command started", "pid", cmd.Process.Pid)
	released := make(chan struct{})
	defer close(released)
	// The registration is awaited beside the command, so that the signals
	// the command gets are forwarded from its first moment even while the
	// database is slow to answer.
	var reg *fleetgate.Registration
	registered := make(chan struct{})
	go func() {
		reg = e.register(context.WithoutCancel(ctx), m)
		close(registered)
	}()
	// fleetgate's connections and memory are no use to the command: let
	// them go once the registration is in, a background Up has ended, and
	// the command has had releaseDelay to start (releasing the memory is a
	// full collection and a walk of the process's mappings, some 10-30 ms
	// of CPU that would compete with the command's start).
	// The registration's heartbeat, one statement every few seconds, opens
	// a connection each time rather than keep one idle beside the command.
	go func() {
		t := time.NewTimer(releaseDelay)
		defer t.Stop()
		for _, c := range []<-chan struct{}{registered, bg} {
			if c == nil {
				continue
			}
			select {
			case <-c:
			case <-released:
				return
			}
		}
		select {
		case <-t.C:
		case <-released:
			return
		}
		if reg == nil {
			m.Close()
		} else {
			m.DB().SetMaxIdleConns(0)
		}
		t0, cpu0 := time.Now(), cpuTime()
		releaseMemory(released)
		e.log.Debug("memory released", "took", time.Since(t0), "cpu", cpuTime()-cpu0)
	}()
	defer func() {
		// A registration still on its way is awaited, so that its row is
		// removed rather than left to expire; not for ever, though.
		select {
		case <-registered:
		case <-time.After(5 * time.Second):
			e.log.Warn("the registration of this instance did not finish; if it lands, it expires on its own")
			return
		}
		if reg != nil {
			if err := reg.Close(); err != nil {
				e.log.Warn("could not remove this instance from the registry; it expires on its own", "error", err.Error())
			}
		}
		m.Close()
	}()
	var code int
	if pid1 {
		code = superviseAsInit(cmd.Process, sigs)
	} else {
		code = supervise(cmd, sigs)
	}
	if bg != nil {
		// Let it let go of the lock, if it has it, rather than leave that
		// to the lease; it ends within a few polls.
		select {
		case <-bg:
		case <-time.After(5 * time.Second):
		}
	}
	return code
}

// warmStart pays, while the gate waits, for what a process's first
// exec.Cmd.Start and first log line initialise lazily, so that the wake-up
// does not: Go checks once that pidfds work, with a throwaway child process
// (a clone, its exit and a wait), and loads the local time zone from
// /etc/localtime when it first formats a time. Together some 1-3 ms on a
// VM where system calls and page faults are slow, paid by every waiter of
// a fleet woken by the same commit at the same moment.
func warmStart() {
	// os.FindProcess is the cheapest call that runs Go's pidfd check.
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Release()
	}
	_, _ = time.Now().Zone()
}

// releaseDelay is how long the command has to start before fleetgate
// releases its memory beside it. The steady state that counts (a
// container's limit over the command's life) is reached a moment later;
// the command's start is what a waiting fleet waits for.
const releaseDelay = time.Second

// releaseMemory hands the memory that migrating needed (the checks' parse
// trees, the files, the history) back to the system before fleetgate sits
// beside the command for the rest of its life. Go's background scavenger
// would return it only gradually, and a container's memory limit counts it
// all the while. The executable's pages that migrating touched go too
// (dropExecutablePages), and go again whenever a megabyte of them has come
// back, until done is closed (keepExecutablePagesDropped).
func releaseMemory(done <-chan struct{}) {
	debug.FreeOSMemory()
	keepExecutablePagesDropped(done, time.Second, 1<<20)
}

// cpuTime is the CPU time this process has used so far (zero where
// getrusage fails), for the debug lines of run's steps.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// gate runs up or wait. A signal that stops it is returned instead of the
// error it caused. bg, when not nil, is closed when an Up that goes on in
// the background (see upOrReady) has ended.
func (e *env) gate(ctx context.Context, sigs <-chan os.Signal, waitOnly bool, g *gateFlags) (m *fleetgate.Migrator, bg <-chan struct{}, sig os.Signal, err error) {
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var got os.Signal
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case s := <-sigs:
				if abortsGate(s) {
					got = s
					cancel()
					return
				}
			case <-done:
				return
			}
		}
	}()
	m, err = e.open(gctx)
	if err == nil {
		if waitOnly {
			err = e.waitFor(gctx, m, g)
		} else {
			bg, err = e.upOrReady(gctx, m, g)
		}
	}
	close(done)
	<-stopped
	if got == nil && ctx.Err() != nil {
		// main cancels ctx on SIGINT and SIGTERM; the same signal reaches
		// sigs at about the same moment.
		select {
		case s := <-sigs:
			if abortsGate(s) {
				got = s
			}
		case <-time.After(100 * time.Millisecond):
		}
	}
	if got != nil {
		return m, nil, got, nil
	}
	if err == nil && ctx.Err() != nil {
		err = fmt.Errorf("interrupted before the command started: %w", ctx.Err())
	}
	return m, bg, nil, err
}

// upOrReady runs Up, and returns as soon as the schema is ready. When
// another instance holds the lock, Up polls for it and then takes it in
// turn, only to find nothing left to do, so a fleet behind one migrator
// would start its apps one lock hand-off after another. A Wait beside it,
// woken by the commit's notification, ends the gate at once, and Up goes
// on in the background (bg is closed when it ends): it no longer has
// anything to apply, and cancelling it could interrupt a lock attempt
// whose lease the database has already granted. In every other case Up's
// outcome decides.
func (e *env) upOrReady(ctx context.Context, m *fleetgate.Migrator, g *gateFlags) (<-chan struct{}, error) {
	type upOut struct {
		res *fleetgate.UpResult
		err error
	}
	// Up's context is cancelled with ctx only until Up is left to the
	// background.
	uctx, ucancel := context.WithCancel(context.WithoutCancel(ctx))
	detach := context.AfterFunc(ctx, ucancel)
	upc := make(chan upOut, 1)
	go func() {
		res, err := m.Up(uctx, &fleetgate.UpOpts{To: g.to, AllowOutOfOrder: g.ooo, Timeout: g.timeout})
		upc <- upOut{res, err}
	}()
	wctx, wcancel := context.WithCancel(ctx)
	defer wcancel()
	var waitc chan error
	// Most instances find nothing to do within milliseconds: don't open a
	// second connection for them.
	head := time.NewTimer(250 * time.Millisecond)
	defer head.Stop()
	for {
		select {
		case u := <-upc:
			detach()
			ucancel()
			wcancel()
			if waitc != nil {
				<-waitc
			}
			if u.res != nil && len(u.res.Applied) > 0 {
				e.log.Info("done", "applied", len(u.res.Applied))
			}
			return nil, u.err
		case <-head.C:
			waitc = make(chan error, 1)
			go func() {
				// Up reports the lock holder; the Wait stays quiet.
				_, err := m.Wait(wctx, &fleetgate.WaitOpts{To: g.to, PollInterval: g.poll, ReportEvery: -1, AllowOutOfOrder: g.ooo})
				waitc <- err
			}()
		case err := <-waitc:
			waitc = nil
			if err != nil || !detach() {
				continue // Up's outcome decides
			}
			e.log.Info("schema is ready (applied by another instance)")
			bg := make(chan struct{})
			go func() {
				defer close(bg)
				defer ucancel()
				if u := <-upc; u.err != nil {
					e.log.Warn("up, left to finish in the background, failed", "error", u.err.Error())
				}
			}()
			return bg, nil
		}
	}
}

// splitCommand separates fleetgate's flags from the command: the command
// starts after "--" or at the first argument that is not a flag.
func splitCommand(e *env, args []string) (flagArgs, cmdArgs []string, err error) {
	probe := flag.NewFlagSet("run", flag.ContinueOnError)
	probe.SetOutput(io.Discard)
	c := e.c
	c.register(probe)
	var r runFlags
	r.register(probe)
	var g gateFlags
	g.register(probe)
	if err := probe.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, nil, err
		}
		return nil, nil, &fleetgate.ConfigError{Setting: "flags", Msg: err.Error()}
	}
	cmdArgs = probe.Args()
	return args[:len(args)-len(cmdArgs)], cmdArgs, nil
}

// fileOf gives the command fleetgate's own file when w writes to one, so
// that it gets the terminal or pipe itself rather than a copy through
// fleetgate (and so that fleetgate's scrubbing of secrets does not touch
// the application's output). As PID 1 nothing may be copied (no Wait runs
// to finish the copy), so the process's file is used.
func fileOf(w *scrubWriter, def *os.File, pid1 bool) io.Writer {
	if f, ok := w.w.(*os.File); ok {
		return f
	}
	if pid1 {
		return def
	}
	return w.w
}

// startFailure is the shell's status for a command that did not start:
// 126 when it exists but cannot be executed, 127 when it is not found.
func startFailure(err error) int {
	if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) || errors.Is(err, syscall.EISDIR) {
		return 126
	}
	return 127
}

// supervise forwards signals until the command exits and returns its status.
func supervise(cmd *exec.Cmd, sigs <-chan os.Signal) int {
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case <-exited:
			return statusOf(cmd.ProcessState.Sys().(syscall.WaitStatus))
		}
	}
}

// superviseAsInit is supervise for PID 1 in a container: orphans are
// re-parented to us, and their zombies would fill the process table, so we
// reap every child. One wait4(-1) loop reaps them all, the command
// included; a second waiter (exec.Cmd.Wait) would race it for the
// command's status.
func superviseAsInit(p *os.Process, sigs <-chan os.Signal) int {
	// SIGCHLD can coalesce or be dropped when the channel is full; the
	// ticker makes sure no exit goes unnoticed for long.
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case s := <-sigs:
			if s != syscall.SIGCHLD {
				_ = p.Signal(s)
				continue
			}
		case <-tick.C:
		}
		if code, done := reap(p.Pid); done {
			return code
		}
	}
}

// reap collects every exited child; done reports that pid was among them.
func reap(pid int) (code int, done bool) {
	for {
		var ws syscall.WaitStatus
		got, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil || got <= 0 {
			return code, done
		}
		if got == pid && (ws.Exited() || ws.Signaled()) {
			code, done = statusOf(ws), true
		}
	}
}

// statusOf is the exit status a shell reports: the exit code, or 128 plus
// the signal that killed the process.
func statusOf(ws syscall.WaitStatus) int {
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// register records this instance in the registry; a failure is logged, not
// fatal: the application runs either way. nil when not registered.
func (e *env) register(ctx context.Context, m *fleetgate.Migrator) *fleetgate.Registration {
	reg, err := m.Register(ctx)
	if err != nil {
		e.log.Warn("could not register this instance; post-phase migrations cannot see it", "error", err.Error())
		return nil
	}
	if !reg.Registered {
		return nil
	}
	return reg
}
