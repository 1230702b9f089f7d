package mysqllint

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/source"
)

var update = flag.Bool("update", false, "rewrite golden files")

func load(t *testing.T, dir string) []*source.Migration {
	t.Helper()
	ms, _, err := source.LoadDialect(os.DirFS(dir), ".", source.FormatAuto, dialect.MySQL)
	require.NoError(t, err)
	for _, m := range ms {
		m.File = filepath.Join(dir, m.File)
	}
	return ms
}

// The safe corpus holds the safe alternatives docs/checks.md recommends,
// changes to tables created in the same migration, post-phase
// contractions, batched DML, triggers and routines, and strings full of
// dangerous SQL. No rule may fire on it, except what a file allows.
func TestSafeCorpus(t *testing.T) {
	t.Parallel()
	for _, m := range load(t, "testdata/safe") {
		fs, err := Check(m)
		require.NoError(t, err)
		for _, f := range fs {
			require.True(t, f.Allowed, "%s: %s", m.File, f)
		}
	}
}

// Each unsafe example fires its rule; the findings, with positions and
// messages, are in unsafe.golden (go test -update rewrites it). Every rule
// is fired by some example.
func TestUnsafeCorpus(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	seen := map[string]bool{}
	for _, m := range load(t, "testdata/unsafe") {
		fs, err := Check(m)
		require.NoError(t, err)
		require.NotEmpty(t, fs, "%s fires no rule", m.File)
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
		require.True(t, seen[r.ID], "no unsafe example fires %s", r.ID)
	}
}

// Rules that mean what a PostgreSQL rule means carry its ID, so that one
// allow directive and one page of docs/checks.md serve both.
func TestSharedRuleIDs(t *testing.T) {
	t.Parallel()
	own := map[string]bool{RequireOnlineAlter: true, OptimizeTable: true, ImplicitCommitInTx: true, UnparsedStatement: true}
	for _, r := range Rules() {
		if own[r.ID] {
			_, clash := lint.Lookup(r.ID)
			require.False(t, clash, "%s is MySQL's own yet also a PostgreSQL rule", r.ID)
			continue
		}
		pg, ok := lint.Lookup(r.ID)
		require.True(t, ok, "%s is neither MySQL's own nor a PostgreSQL rule", r.ID)
		require.Equal(t, pg.Severity, r.Severity, r.ID)
		require.Equal(t, pg.PreOnly, r.PreOnly, r.ID)
	}
}

func TestAllowAndPhase(t *testing.T) {
	t.Parallel()
	parse := func(text string) *source.Migration {
		m, err := source.ParseDialect("1_x.sql", []byte(text), dialect.MySQL)
		require.NoError(t, err)
		return m
	}
	fs, err := Check(parse("-- fleetgate:up\n-- fleetgate:allow drop-column unused since v12\nALTER TABLE t DROP COLUMN c, ALGORITHM=INSTANT;\nDELETE FROM t;\n"))
	require.NoError(t, err)
	require.Len(t, fs, 2)
	require.Equal(t, lint.DropColumn, fs[0].Rule)
	require.True(t, fs[0].Allowed)
	require.Equal(t, "unused since v12", fs[0].Reason)
	require.Equal(t, lint.DeleteWithoutWhere, fs[1].Rule)
	require.True(t, fs[1].Blocking())
	require.Equal(t, 4, fs[1].Line)

	// A PostgreSQL rule named in a MySQL file is not "unknown".
	fs, err = Check(parse("-- fleetgate:up\n-- fleetgate:allow require-concurrent-index shared habit\nSELECT 1;\n"))
	require.NoError(t, err)
	require.Empty(t, fs)
}

func TestUnparsedPosition(t *testing.T) {
	t.Parallel()
	m, err := source.ParseDialect("1_x.sql", []byte("-- fleetgate:up\nSELECT 1;\n  CREATE TABLE t (\n    a INT\n  ) WITH SYSTEM VERSIONING;\n"), dialect.MySQL)
	require.NoError(t, err)
	fs, err := Check(m)
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, UnparsedStatement, fs[0].Rule)
	require.Equal(t, lint.SeverityWarning, fs[0].Severity)
	require.Equal(t, 5, fs[0].Line, fs[0].String())
}

// Every MySQL rule has its paragraph, with the safe alternative, in
// docs/checks.md.
func TestRulesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../../docs/checks.md")
	require.NoError(t, err)
	for _, r := range Rules() {
		require.Contains(t, string(doc), "\n#### "+r.ID+"\n", "docs/checks.md has no section for %s", r.ID)
	}
	_, mysql, ok := strings.Cut(string(doc), "\n## MySQL and MariaDB\n")
	require.True(t, ok)
	for _, id := range []string{RequireOnlineAlter, OptimizeTable, ImplicitCommitInTx, UnparsedStatement} {
		require.Contains(t, mysql, "\n#### "+id+"\n", "%s belongs in the MySQL section", id)
	}
}

// A column the migration itself added is unknown to old code, so dropping,
// renaming or redefining it later in the same migration breaks nothing
// (the MySQL crash fixtures of e2e do exactly that); the same name on
// another table, or a column the migration did not add, still fires.
func TestColumnAddedEarlier(t *testing.T) {
	t.Parallel()
	m, err := source.ParseDialect("1_x.sql", []byte("-- fleetgate:up\n"+
		"ALTER TABLE big ADD COLUMN a int, ALGORITHM=INSTANT;\n"+
		"ALTER TABLE big DROP COLUMN A, ALGORITHM=INSTANT;\n"+
		"ALTER TABLE big ADD COLUMN (b int, x int), ALGORITHM=INSTANT;\n"+
		"ALTER TABLE big RENAME COLUMN b TO c, ALGORITHM=INSTANT;\n"+
		"ALTER TABLE big MODIFY c bigint, CHANGE x y bigint, ALGORITHM=INPLACE, LOCK=NONE;\n"+
		"ALTER TABLE big DROP COLUMN c, DROP COLUMN y, DROP COLUMN old, ALGORITHM=INSTANT;\n"+
		"ALTER TABLE other DROP COLUMN a, ALGORITHM=INSTANT;\n"), dialect.MySQL)
	require.NoError(t, err)
	fs, err := Check(m)
	require.NoError(t, err)
	var got []string
	for _, f := range fs {
		got = append(got, fmt.Sprintf("%d %s", f.Line, f.Rule))
	}
	require.Equal(t, []string{"7 drop-column", "8 drop-column"}, got)
	require.Contains(t, fs[0].Message, "big.old")
	require.Contains(t, fs[1].Message, "other.a")
}
