//go:build !linux

package cli

// dropExecutablePages is Linux-only (see memory_linux.go).
func dropExecutablePages() {}
