package dbtest

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// Restart stops the throwaway PostgreSQL server and starts it again on the
// same port and data directory, as `pg_ctl restart -m MODE` does: it sends
// the postmaster the signal of that shutdown mode ("smart": SIGTERM, "fast":
// SIGINT, "immediate": SIGQUIT), waits for it to exit, and starts a new
// postmaster with the same settings, returning once it accepts connections.
// It does so itself rather than through pg_ctl so that the new postmaster is
// this package's child like the old one (stopped by its pid at Stop, and by
// the parent-death signal).
//
// Every connection to the server breaks, in every test of the binary: use
// it from a test that does not run in parallel with others. A server named
// by TEST_POSTGRES_URL cannot be restarted.
func (s *PGServer) Restart(ctx context.Context, mode string) error {
	sigs := map[string]syscall.Signal{"smart": syscall.SIGTERM, "fast": syscall.SIGINT, "immediate": syscall.SIGQUIT}
	sig, ok := sigs[mode]
	if !ok {
		return fmt.Errorf("dbtest: restart mode %q (want smart, fast or immediate)", mode)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return errors.New("dbtest: cannot restart a server given by TEST_POSTGRES_URL")
	}
	old := s.proc
	_ = old.cmd.Process.Signal(sig)
	select {
	case <-old.done:
	case <-ctx.Done():
		return fmt.Errorf("dbtest: restart: postgres (pid %d) did not stop: %w", old.cmd.Process.Pid, ctx.Err())
	}
	registry.mu.Lock()
	registry.procs = slices.DeleteFunc(registry.procs, func(q *process) bool { return q == old })
	registry.mu.Unlock()

	p, err := startProcess("postgres", old.dir, s.cred, syscall.SIGQUIT, syscall.SIGQUIT,
		filepath.Join(s.BinDir, "postgres"), postgresArgs(s.data, s.Port)...)
	if err != nil {
		return err
	}
	s.proc = p
	timeout := startTimeout
	if d, ok := ctx.Deadline(); ok {
		timeout = time.Until(d)
	}
	return s.waitReady(timeout)
}
