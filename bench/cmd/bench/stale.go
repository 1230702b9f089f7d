package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// The harness's temp dirs carry an .owner file with its pid, so that a run
// can remove what a killed earlier run (kill -9 leaves no chance to clean
// up) left behind, without touching a concurrent run's dirs.
const ownerFile = ".owner"

func markOwned(dir string) error {
	return os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644)
}

func removeStaleDirs() {
	matches, _ := filepath.Glob(filepath.Join(os.TempDir(), "fleetgate-bench-*"))
	for _, dir := range matches {
		b, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || pid <= 0 {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			_ = os.RemoveAll(dir)
		}
	}
}
