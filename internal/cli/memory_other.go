//go:build !linux

package cli

import "time"

// dropExecutablePages is Linux-only (see memory_linux.go).
func dropExecutablePages() {}

// keepExecutablePagesDropped is Linux-only (see memory_linux.go).
func keepExecutablePagesDropped(<-chan struct{}, time.Duration, int64) {}
