//go:build cgo

package lint

import (
	"errors"

	"github.com/pganalyze/pg_query_go/v6/parser"
)

// ParserBuild names the build of libpg_query linked into this binary.
const ParserBuild = "native"

// parseToJSON runs libpg_query itself, linked in through cgo: loading it
// costs nothing beyond the binary's start, and a parse allocates in C
// memory contexts that libpg_query frees before returning (scripts/
// bench-parser.sh and docs/checks.md have the numbers against the
// WebAssembly build).
func parseToJSON(sql string) (string, error) { return parser.ParseToJSON(sql) }

// cursorPos returns the 1-based character position of a syntax error, or 0.
func cursorPos(err error) int {
	var pe *parser.Error
	if errors.As(err, &pe) {
		return pe.Cursorpos
	}
	return 0
}
