package source

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"
)

// fileCalls are the system calls that reading a file can cost.
var fileCalls = map[uint64]string{
	syscall.SYS_OPEN: "open", syscall.SYS_OPENAT: "openat", syscall.SYS_NEWFSTATAT: "newfstatat",
	syscall.SYS_FSTAT: "fstat", syscall.SYS_STAT: "stat", syscall.SYS_LSTAT: "lstat", 332: "statx",
	syscall.SYS_FCNTL: "fcntl", syscall.SYS_EPOLL_CTL: "epoll_ctl", syscall.SYS_READ: "read",
	syscall.SYS_PREAD64: "pread64", syscall.SYS_CLOSE: "close",
}

// TestLoadDirFSSystemCalls counts, with ptrace, the system calls a Load of
// an os.DirFS directory makes per migration file: a no-op `up` reads every
// applied file to verify its checksum, and on a thousand files the calls
// were a quarter of the process's CPU. The count is the difference between
// a directory of 300 files and one of 100, so the process's own start and
// the directory listing cancel out. Through os.File a file cost ten calls
// (stat, open, four fcntl, a failed epoll_ctl, two reads, close); the
// reader does it in four (openat, fstat, read, close).
func TestLoadDirFSSystemCalls(t *testing.T) {
	t.Parallel()
	count := func(n int) map[string]int {
		dir := t.TempDir()
		writeTree(t, dir, n)
		cmd := exec.Command(os.Args[0], "-test.run=^TestLoadDirFSTree$", "-test.count=1")
		cmd.Env = append(os.Environ(), "FLEETGATE_TEST_LOAD_DIR="+dir, fmt.Sprintf("FLEETGATE_TEST_LOAD_N=%d", n))
		return traceCalls(t, cmd)
	}
	small, large := count(100), count(300)
	perFile, total := map[string]float64{}, 0.0
	for name, c := range large {
		if d := float64(c-small[name]) / 200; d > 0 {
			perFile[name], total = d, total+d
		}
	}
	t.Logf("file system calls per migration file: %.2f %v", total, perFile)
	require.LessOrEqual(t, total, 4.5, "reading one migration file should cost openat, fstat, read and close: %v", perFile)
}

// traceCalls runs cmd under ptrace, every thread of it, and returns how
// many times it entered each of fileCalls. cmd must succeed.
func traceCalls(t *testing.T, cmd *exec.Cmd) map[string]int {
	t.Helper()
	// ptrace requests must come from the thread that is the tracer.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Ptrace: true, Pdeathsig: syscall.SIGKILL}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	defer cmd.Process.Release() // reaped below by Wait4, not by cmd.Wait
	pid := cmd.Process.Pid
	var ws syscall.WaitStatus
	_, err := syscall.Wait4(pid, &ws, syscall.WALL, nil) // the stop at exec
	require.NoError(t, err)
	const exitKill = 0x100000 // PTRACE_O_EXITKILL: the child dies with the tracer
	require.NoError(t, syscall.PtraceSetOptions(pid, syscall.PTRACE_O_TRACESYSGOOD|syscall.PTRACE_O_TRACECLONE|exitKill))
	require.NoError(t, syscall.PtraceSyscall(pid, 0))
	counts := map[string]int{}
	inCall := map[int]bool{}
	for {
		wpid, err := syscall.Wait4(-1, &ws, syscall.WALL, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		require.NoError(t, err)
		switch {
		case ws.Exited() || ws.Signaled():
			if wpid == pid {
				require.True(t, ws.Exited() && ws.ExitStatus() == 0, "child failed (%v):\n%s", ws, out.String())
				return counts
			}
			continue
		case !ws.Stopped():
			continue
		}
		sig := ws.StopSignal()
		deliver := 0
		switch {
		case sig == syscall.SIGTRAP|0x80: // a system call's entry or exit
			if !inCall[wpid] {
				var regs syscall.PtraceRegs
				if syscall.PtraceGetRegs(wpid, &regs) == nil {
					if name, ok := fileCalls[regs.Orig_rax]; ok {
						counts[name]++
					}
				}
			}
			inCall[wpid] = !inCall[wpid]
		case sig == syscall.SIGTRAP: // the clone event; the thread is traced
		case sig == syscall.SIGSTOP && !seen(inCall, wpid): // a new thread's first stop
			inCall[wpid] = false
		default:
			deliver = int(sig)
		}
		_ = syscall.PtraceSyscall(wpid, deliver)
	}
}

func seen(m map[int]bool, tid int) bool {
	_, ok := m[tid]
	return ok
}
