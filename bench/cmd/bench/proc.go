package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// procs tracks every process group the harness started, so that an
// interrupted run can kill them all (by process group id, never by name).
type procs struct {
	mu     sync.Mutex
	groups map[int]struct{}
	closed bool
}

var children = &procs{groups: map[int]struct{}{}}

func (p *procs) add(pid int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.groups[pid] = struct{}{}
	return true
}

func (p *procs) remove(pid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.groups, pid)
}

// killAll sends SIGKILL to every tracked process group and refuses new ones.
func (p *procs) killAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
	for pgid := range p.groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-t.max:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(bytes.TrimSpace(t.buf))
}

// proc is one started tool process, in its own process group.
type proc struct {
	cmd     *exec.Cmd
	out     *tailBuffer
	start   time.Time
	done    chan struct{}
	end     time.Time
	code    int
	err     error
	timeout *time.Timer
	// maxRSS is the process's peak resident set in bytes, from the rusage
	// that wait4 returned (0 if it could not be read).
	maxRSS int64
	// cpu is the user + system time the process used.
	cpu time.Duration
}

// toolEnv is the environment every tool runs with: no inherited database
// URLs or tool settings, colours off.
func toolEnv() []string {
	env := []string{"NO_COLOR=1", "TERM=dumb"}
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// startProc starts bin with args in dir, in a new process group. The group
// is killed with SIGKILL if it is still running after timeout.
func startProc(dir string, timeout time.Duration, bin string, args ...string) (*proc, error) {
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	cmd.Env = toolEnv()
	out := &tailBuffer{max: 4096}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &proc{cmd: cmd, out: out, done: make(chan struct{}), code: -1}
	p.start = time.Now()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	if !children.add(pid) {
		_ = syscall.Kill(-pid, syscall.SIGKILL)
	}
	p.timeout = time.AfterFunc(timeout, func() { _ = syscall.Kill(-pid, syscall.SIGKILL) })
	go func() {
		err := cmd.Wait()
		p.end = time.Now()
		p.timeout.Stop()
		p.maxRSS = peakRSS(cmd.ProcessState)
		if ps := cmd.ProcessState; ps != nil {
			p.cpu = ps.UserTime() + ps.SystemTime()
		}
		// Anything the tool left behind in its group goes too.
		_ = syscall.Kill(-pid, syscall.SIGKILL)
		children.remove(pid)
		p.err = err
		var ee *exec.ExitError
		switch {
		case err == nil:
			p.code = 0
		case errors.As(err, &ee):
			p.code = ee.ExitCode() // -1 when killed by a signal
		}
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL to the process group.
func (p *proc) kill() { _ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL) }

// wait blocks until the process exited and returns its exit code (-1 when
// killed by a signal) and wall time.
func (p *proc) wait() (int, time.Duration) {
	<-p.done
	return p.code, p.end.Sub(p.start)
}

// peakRSS returns the peak resident set of an exited process in bytes.
// Linux reports ru_maxrss in KiB. It is the process's own peak (children
// are reported separately by wait4 and not counted), which is what each
// tool's single process is.
func peakRSS(ps *os.ProcessState) int64 {
	if ps == nil {
		return 0
	}
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok || ru == nil {
		return 0
	}
	return ru.Maxrss * 1024
}

// runProc runs a process to completion.
type runResult struct {
	Code    int
	Elapsed time.Duration
	Output  string
	MaxRSS  int64 // bytes
}

func runProc(dir string, timeout time.Duration, bin string, args ...string) runResult {
	p, err := startProc(dir, timeout, bin, args...)
	if err != nil {
		return runResult{Code: -1, Output: err.Error()}
	}
	code, d := p.wait()
	return runResult{Code: code, Elapsed: d, Output: p.out.String(), MaxRSS: p.maxRSS}
}
