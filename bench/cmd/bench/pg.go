package main

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// server is a throwaway PostgreSQL cluster in a temp dir (data/, the
// socket and the log), stopped by pid.
type server struct {
	*daemon
	binDir string
}

// startServer runs initdb in a new temp dir and starts postgres on a free
// loopback port with fsync off and room for 300 connections. SIGINT (fast
// shutdown) stops it; SIGQUIT (immediate shutdown) if the harness dies.
func startServer(ctx context.Context, binDir string) (*server, error) {
	cred, err := osCredential("postgres")
	if err != nil {
		return nil, err
	}
	d, err := newDaemon("postgres", "fleetgate-bench-pg-", syscall.SIGINT, cred)
	if err != nil {
		return nil, err
	}
	s := &server{daemon: d, binDir: binDir}
	data := filepath.Join(s.root, "data")
	initdb := exec.CommandContext(ctx, filepath.Join(binDir, "initdb"),
		"-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if out, err := initdb.CombinedOutput(); err != nil {
		s.stop()
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	err = s.start(ctx, cred, syscall.SIGQUIT, 30*time.Second, func(port int) *exec.Cmd {
		return exec.Command(filepath.Join(binDir, "postgres"), "-D", data,
			"-c", "listen_addresses=127.0.0.1",
			"-c", "port="+strconv.Itoa(port),
			"-c", "unix_socket_directories="+s.root,
			"-c", "max_connections=300",
			"-c", "fsync=off",
			// The wake-up scenario reads the commit instant of the last
			// migration with pg_xact_commit_timestamp.
			"-c", "track_commit_timestamp=on",
			"-c", "full_page_writes=off",
			"-c", "shared_buffers=256MB",
			"-c", "log_min_messages=warning",
			"-c", "log_min_error_statement=panic")
	}, func(ctx context.Context) error {
		c, err := pgx.Connect(ctx, s.url("postgres"))
		if err == nil {
			c.Close(ctx)
		}
		return err
	})
	if err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}
