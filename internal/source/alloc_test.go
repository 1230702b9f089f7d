package source

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Every start of every instance reads every migration: what costs an
// allocation per file or per word here costs a thousand of them at each
// start. These guard the hot paths of a no-op up.

// TestDetectFleetgateFileAllocatesNothing: a fleetgate file, the common
// case, is told from goose and dbmate files without copying its text.
// Not parallel: testing.AllocsPerRun counts the whole process's
// allocations and refuses to run beside parallel tests.
func TestDetectFleetgateFileAllocatesNothing(t *testing.T) {
	data := []byte("-- fleetgate:up\r\nCREATE TABLE t (id int);\r\n-- fleetgate:down\r\nDROP TABLE t;\r\n")
	var f Format
	allocs := testing.AllocsPerRun(100, func() { f = detectFile(filePlain, data) })
	require.Equal(t, FormatFleetgate, f)
	require.Zero(t, allocs)
	// The prefilter must not hide the other formats.
	require.Equal(t, FormatGoose, detectFile(filePlain, []byte("\xEF\xBB\xBF-- +goose Up\r\nSELECT 1;\r\n")))
	require.Equal(t, FormatDbmate, detectFile(filePlain, []byte("-- migrate:up\r\nSELECT 1;\r\n")))
}

// TestClassifyCopiesOnlyLeadingWords: classify upper-cases the first words
// it keys on, not every word of the statement. Not parallel, as above.
func TestClassifyCopiesOnlyLeadingWords(t *testing.T) {
	lx := lexFor("")
	long := "create index concurrently idx on t (a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, u, v, w)"
	var c stmtClass
	allocs := testing.AllocsPerRun(100, func() { c, _ = classify(long, lx) })
	require.Equal(t, clsNoTx, c)
	require.LessOrEqual(t, allocs, float64(8), "classify allocates per word")
}
