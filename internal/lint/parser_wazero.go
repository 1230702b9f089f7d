//go:build !cgo

package lint

import (
	"errors"

	"github.com/wasilibs/go-pgquery/parser"
)

// ParserBuild names the build of libpg_query linked into this binary.
const ParserBuild = "wasm"

// parseToJSON runs libpg_query compiled to WebAssembly on wazero: the
// fallback for builds without cgo (`go install` on a machine without a C
// compiler), where the first parse of a process compiles the module, about
// two seconds of CPU and a few hundred MB of memory (docs/checks.md).
func parseToJSON(sql string) (string, error) { return parser.ParseToJSON(sql) }

// cursorPos returns the 1-based character position of a syntax error, or 0.
func cursorPos(err error) int {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return pe.Cursorpos
	}
	return 0
}
