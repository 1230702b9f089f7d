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

	"github.com/jackc/pgx/v5"
)

// server is a throwaway PostgreSQL cluster in a temp dir, stopped by pid.
type server struct {
	binDir string
	root   string // temp dir holding data/, the socket and the log
	port   int
	cmd    *exec.Cmd
	exited chan struct{}
}

// pgCredential returns the credential to run initdb/postgres with: the
// postgres OS user when we are root (PostgreSQL refuses to run as root).
func pgCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root needs the postgres OS user: %w", err)
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

// startServer runs initdb in a new temp dir and starts postgres on a free
// loopback port with fsync off and room for 300 connections.
func startServer(ctx context.Context, binDir string) (*server, error) {
	cred, err := pgCredential()
	if err != nil {
		return nil, err
	}
	root, err := os.MkdirTemp("", "fleetgate-bench-pg-")
	if err != nil {
		return nil, err
	}
	s := &server{binDir: binDir, root: root, exited: make(chan struct{})}
	fail := func(err error) (*server, error) {
		s.stop()
		return nil, err
	}
	if err := markOwned(root); err != nil {
		return fail(err)
	}
	if err := os.Chmod(root, 0o755); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(root, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(err)
		}
	}
	data := filepath.Join(root, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("initdb: %v\n%s", err, out))
	}
	logf, err := os.Create(filepath.Join(root, "postgres.log"))
	if err != nil {
		return fail(err)
	}
	defer logf.Close()
	for attempt := 0; ; attempt++ {
		if s.port, err = freePort(); err != nil {
			return fail(err)
		}
		s.cmd = exec.Command(filepath.Join(binDir, "postgres"), "-D", data,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "port="+strconv.Itoa(s.port),
			"-c", "unix_socket_directories="+root,
			"-c", "max_connections=300",
			"-c", "fsync=off",
			// The wake-up scenario reads the commit instant of the last
			// migration with pg_xact_commit_timestamp.
			"-c", "track_commit_timestamp=on",
			"-c", "full_page_writes=off",
			"-c", "shared_buffers=256MB",
			"-c", "log_min_messages=warning",
			"-c", "log_min_error_statement=panic")
		// Own process group, so a terminal's ^C reaches only the harness,
		// which then stops the server itself. SIGQUIT (immediate shutdown)
		// if the harness dies without doing so.
		s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
		s.cmd.Stdout, s.cmd.Stderr = logf, logf
		if err := s.cmd.Start(); err != nil {
			return fail(fmt.Errorf("start postgres: %w", err))
		}
		s.exited = make(chan struct{})
		go func(cmd *exec.Cmd, ch chan struct{}) { _ = cmd.Wait(); close(ch) }(s.cmd, s.exited)
		err = s.waitReady(ctx, 30*time.Second)
		if err == nil {
			return s, nil
		}
		s.kill()
		if attempt == 2 || ctx.Err() != nil {
			log, _ := os.ReadFile(filepath.Join(root, "postgres.log"))
			return fail(fmt.Errorf("postgres did not start: %w\n%s", err, log))
		}
	}
}

func (s *server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.exited:
			return errors.New("postgres exited")
		default:
		}
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			c.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

func (s *server) kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
}

// stop shuts the server down by pid (fast shutdown, then SIGKILL of its
// process group after 10 s) and removes its temp dir.
func (s *server) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		select {
		case <-s.exited:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.exited:
			case <-time.After(10 * time.Second):
				s.kill()
			}
		}
	}
	if s.root != "" {
		_ = os.RemoveAll(s.root)
	}
}
