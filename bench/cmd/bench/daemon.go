package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// daemon is a throwaway database server process in a temp dir, stopped by
// pid: what the PostgreSQL server and the MariaDB server share.
type daemon struct {
	name    string // the binary's name, for messages and root/<name>.log
	root    string // the temp dir holding its files
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	stopSig syscall.Signal // its graceful (fast) shutdown
}

// osCredential returns the credential to run a server with: the OS user
// name when we are root (the servers refuse to run as root), else nil.
func osCredential(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("running as root needs the %s OS user: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// newDaemon makes the server's temp dir (world-searchable, marked as this
// run's for the stale-dir sweep) and, in it, subdirs; all are cred's.
func newDaemon(name, prefix string, stopSig syscall.Signal, cred *syscall.Credential, subdirs ...string) (*daemon, error) {
	root, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, err
	}
	d := &daemon{name: name, root: root, exited: make(chan struct{}), stopSig: stopSig}
	if err := d.prepare(cred, subdirs); err != nil {
		d.stop()
		return nil, err
	}
	return d, nil
}

func (d *daemon) prepare(cred *syscall.Credential, subdirs []string) error {
	if err := markOwned(d.root); err != nil {
		return err
	}
	if err := os.Chmod(d.root, 0o755); err != nil {
		return err
	}
	dirs := []string{d.root}
	for _, s := range subdirs {
		dir := filepath.Join(d.root, s)
		if err := os.Mkdir(dir, 0o700); err != nil {
			return err
		}
		dirs = append(dirs, dir)
	}
	if cred == nil {
		return nil
	}
	for _, dir := range dirs {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	return nil
}

// start runs the command that command builds for a free loopback port as
// cred, in its own process group (a terminal's ^C reaches only the
// harness, which then stops the server itself; deathSig if the harness
// dies without doing so), and waits up to limit for ready. Another
// process may take the port before the server binds it: three ports are
// tried.
func (d *daemon) start(ctx context.Context, cred *syscall.Credential, deathSig syscall.Signal, limit time.Duration,
	command func(port int) *exec.Cmd, ready func(ctx context.Context) error) error {
	logPath := filepath.Join(d.root, d.name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	for attempt := 0; ; attempt++ {
		if d.port, err = freePort(); err != nil {
			return err
		}
		d.cmd = command(d.port)
		d.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: deathSig}
		d.cmd.Stdout, d.cmd.Stderr = logf, logf
		if err := d.cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", d.name, err)
		}
		d.exited = make(chan struct{})
		go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(d.cmd, d.exited)
		err = d.waitReady(ctx, limit, ready)
		if err == nil {
			return nil
		}
		d.kill()
		if attempt == 2 || ctx.Err() != nil {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("%s did not start: %w\n%s", d.name, err, log)
		}
	}
}

func (d *daemon) waitReady(ctx context.Context, limit time.Duration, ready func(ctx context.Context) error) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-d.exited:
			return errors.New(d.name + " exited")
		default:
		}
		err := ready(ctx)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) kill() {
	if d.cmd != nil && d.cmd.Process != nil {
		_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
		<-d.exited
	}
}

// stop shuts the server down by pid (its graceful signal, then SIGKILL of
// its process group after 10 s) and removes its temp dir.
func (d *daemon) stop() {
	if d.cmd != nil && d.cmd.Process != nil {
		select {
		case <-d.exited:
		default:
			_ = d.cmd.Process.Signal(d.stopSig)
			select {
			case <-d.exited:
			case <-time.After(10 * time.Second):
				d.kill()
			}
		}
	}
	if d.root != "" {
		_ = os.RemoveAll(d.root)
	}
}
