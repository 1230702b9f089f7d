package lint

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

func load(t *testing.T, dir string) []*source.Migration {
	t.Helper()
	ms, err := source.Load(os.DirFS(dir), ".")
	require.NoError(t, err)
	for _, m := range ms {
		m.File = filepath.Join(dir, m.File)
	}
	return ms
}

// unaccepted leaves out the findings a file accepts with -- fleetgate:allow:
// a reviewed warning (the at-least-once one on a concurrent detach, which
// cannot run in a transaction) is part of a safe migration.
// unaccepted is the findings no allow directive accepts, except
// invalidates-cached-plans: that advice is about the application's
// statement cache, not the SQL, and fires on every expand step, the safe
// alternatives included (TestCachedPlans tests it).
func unaccepted(fs []Finding) []Finding {
	var out []Finding
	for _, f := range fs {
		if !f.Allowed && f.Rule != InvalidatesCachedPlans {
			out = append(out, f)
		}
	}
	return out
}

// The safe corpus is what real migrations look like: DO blocks, functions
// with dollar quoting, comments and strings full of dangerous SQL, the
// safe alternatives the rules recommend, post-phase contractions and
// changes to tables created in the same migration. No rule may fire on it.
func TestSafeCorpus(t *testing.T) {
	t.Parallel()
	ms := load(t, "testdata/safe")
	require.GreaterOrEqual(t, len(ms), 30)
	advised := map[string]bool{}
	for _, m := range ms {
		fs, err := Check(m)
		require.NoError(t, err)
		require.Empty(t, unaccepted(fs), "%s: %v", m.File, fs)
		for _, f := range fs {
			if f.Rule == InvalidatesCachedPlans {
				advised[filepath.Base(m.File)] = true
			}
		}
	}
	// The expand steps on existing tables get the advice; a table created
	// and shaped in the same migration does not.
	require.True(t, advised["0013_add_nullable_columns.sql"])
	require.False(t, advised["0027_table_created_then_shaped.sql"])
	require.False(t, advised["0040_new_table_reshaped.sql"])
	// The corpus as a set of pending migrations: none depends on a post
	// one the way the dependency rule means.
	var pre, post []*source.Migration
	for _, m := range ms {
		if m.Phase == source.PhasePost {
			post = append(post, m)
		} else if m.Version > 24 {
			pre = append(pre, m)
		}
	}
	fs, err := Dependencies(pre, post)
	require.NoError(t, err)
	require.Empty(t, fs)
}

// The unsafe corpus has one failing migration per rule; its findings,
// printed as `fleetgate check` prints them, are a golden file.
func TestUnsafeGolden(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	seen := map[string]bool{}
	for _, m := range load(t, "testdata/unsafe") {
		fs, err := Check(m)
		require.NoError(t, err)
		require.NotEmpty(t, fs, m.File)
		for _, f := range fs {
			seen[f.Rule] = true
			b.WriteString(f.String())
			b.WriteByte('\n')
		}
	}
	golden := "testdata/unsafe.golden"
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), b.String())
	for _, r := range Rules() {
		switch r.ID {
		case NeedsNoTransaction, PreDependsOnPost, AtLeastOnce:
			// A file with CONCURRENTLY runs outside a transaction by
			// itself, and the dependency rule needs two migrations; both
			// are covered by TestRules and TestDependencies; so is the
			// at-least-once rule, which only no-transaction files fire.
			continue
		}
		require.True(t, seen[r.ID], "no unsafe example fires %s", r.ID)
	}
}
