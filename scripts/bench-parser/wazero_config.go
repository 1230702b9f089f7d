//go:build ignore

package parser

import (
	"os"

	"github.com/tetratelabs/wazero"
)

// runtimeConfig replaces go-pgquery's fixed runtime configuration (compiler,
// in-memory compilation cache) in the copy scripts/bench-parser.sh builds, so
// that one binary measures each wazero mode: BENCH_WAZERO=interpreter, or
// BENCH_WAZERO_CACHE=DIR for a compilation cache on disk.
func runtimeConfig() wazero.RuntimeConfig {
	if os.Getenv("BENCH_WAZERO") == "interpreter" {
		return wazero.NewRuntimeConfigInterpreter()
	}
	cache := wazero.NewCompilationCache()
	if dir := os.Getenv("BENCH_WAZERO_CACHE"); dir != "" {
		c, err := wazero.NewCompilationCacheWithDir(dir)
		if err != nil {
			panic(err)
		}
		cache = c
	}
	return wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache)
}
