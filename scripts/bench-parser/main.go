//go:build ignore

// Measures one build of libpg_query on the files of scripts/bench-check.sh:
// the load (the first parse of the process), the mean time per file (each
// file parsed whole, in one call, as `fleetgate check` does per section),
// CPU time and peak RSS of the process. scripts/bench-parser.sh builds it
// once per candidate; see docs/checks.md for the table.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: bench-parser NAME DIR")
		os.Exit(2)
	}
	name, dir := os.Args[1], os.Args[2]
	files, err := filepath.Glob(filepath.Join(dir, "*.sql"))
	if err != nil || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "bench-parser: no .sql files in", dir)
		os.Exit(2)
	}
	sort.Strings(files)
	texts := make([]string, len(files))
	for i, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench-parser:", err)
			os.Exit(1)
		}
		texts[i] = string(b)
	}

	start := time.Now()
	if _, err := parseToJSON("SELECT 1"); err != nil {
		fmt.Fprintln(os.Stderr, "bench-parser: load:", err)
		os.Exit(1)
	}
	load := time.Since(start)

	start = time.Now()
	bytes := 0
	for i, t := range texts {
		out, err := parseToJSON(t)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-parser: %s: %v\n", files[i], err)
			os.Exit(1)
		}
		bytes += len(out)
	}
	all := time.Since(start)

	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Printf("| %s | %.0f ms | %.0f µs | %.0f ms | %.0f ms | %.0f ms | %.1f MB |\n",
		name, ms(load), float64(all.Microseconds())/float64(len(texts)), ms(all), ms(load+all), ms(cpu), float64(ru.Maxrss)/1024)
	_ = bytes
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
