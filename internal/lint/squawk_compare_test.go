package lint

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/source"
)

// squawkVersion is the squawk-cli release scripts/setup.sh installs and the
// table in docs/checks.md describes.
const squawkVersion = "2.66.0"

// squawkRules maps every rule of squawk 2.66 to the fleetgate rules that
// catch the same hazard. A rule with no fleetgate equivalent maps to nil;
// docs/checks.md says why for each (done at run time, a style preference,
// wrong for tables created in the same migration, or not yet).
var squawkRules = map[string][]string{
	"adding-field-with-default":                    {AddColumnVolatileDefault, AddSerialColumn},
	"adding-foreign-key-constraint":                {AddForeignKey},
	"adding-not-nullable-field":                    {SetNotNull},
	"adding-required-field":                        {AddNotNullColumn},
	"adding-serial-primary-key-field":              {AddUniqueConstraint, AddSerialColumn},
	"ban-alter-domain-with-add-constraint":         {AddCheckConstraint},
	"ban-char-field":                               nil,
	"ban-concurrent-index-creation-in-transaction": {NeedsNoTransaction},
	"ban-create-domain-with-constraint":            nil,
	"ban-drop-column":                              {DropColumn},
	"ban-drop-database":                            nil,
	"ban-drop-not-null":                            {DropNotNull},
	"ban-drop-table":                               {DropTable},
	"ban-duplicate-column-assignments":             nil,
	"ban-truncate-cascade":                         {TruncateCascade},
	"ban-uncommitted-transaction":                  nil,
	"changing-column-type":                         {ChangeColumnType, RewriteColumnType},
	"constraint-missing-not-valid":                 {AddForeignKey, AddCheckConstraint, AddUniqueConstraint},
	"disallowed-unique-constraint":                 {AddUniqueConstraint},
	"identifier-too-long":                          nil,
	"prefer-bigint-over-int":                       nil,
	"prefer-bigint-over-smallint":                  nil,
	"prefer-identity":                              nil,
	"prefer-repack":                                {VacuumFull, Cluster},
	"prefer-robust-stmts":                          nil,
	"prefer-text-field":                            nil,
	"prefer-timestamp-tz":                          nil,
	"renaming-column":                              {RenameColumn},
	"renaming-table":                               {RenameTable},
	"require-concurrent-index-creation":            {RequireConcurrentIndex},
	"require-concurrent-index-deletion":            {RequireConcurrentDropIndex},
	"require-concurrent-partition-detach":          {RequireConcurrentDetach},
	"require-concurrent-reindex":                   {RequireConcurrentReindex},
	"require-enum-value-ordering":                  nil,
	"require-lock-timeout":                         nil,
	"require-statement-timeout":                    nil,
	"require-table-schema":                         nil,
	"require-timeout-settings":                     nil,
	"transaction-nesting":                          nil,
	"unused-ignore":                                nil,
	"syntax-error":                                 {SyntaxError},
}

// squawkException is a squawk finding of a mapped rule in a file where
// fleetgate reports none of the rule's equivalents, and why fleetgate is
// right. Each kind is a row of the differences table in docs/checks.md.
type squawkException struct {
	file, rule, kind string
}

// Kinds of difference, as docs/checks.md names them.
const (
	diffNewTable = "table created in the same migration"
	diffPhase    = "post phase"
	diffStable   = "non-volatile default"
	diffNotValid = "NOT VALID"
)

var squawkExceptions = []squawkException{
	{"testdata/real/harbor/0001_initial_schema.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/harbor/0002_1.7.0_schema.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/harbor/0004_1.8.0_schema.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/harbor/0160_2.13.0_schema.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/hydra/20211226155900000000_grant_jwk_bearer.postgres.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/hydra/20241609000001000000_device_flow.postgres.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/supabase-storage/0002-storage-schema.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/supabase-storage/0021-s3-multipart-uploads.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/temporal/temporal/schema.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/temporal/temporal/versioned/v1.0/schema.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/temporal/visibility/schema.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/real/temporal/visibility/versioned/v1.0/schema.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0001_create_users.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0002_create_orders.sql", "constraint-missing-not-valid", diffNewTable},
	{"testdata/safe/0002_create_orders.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0016_partitioned_events.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0021_post_drop_column.sql", "ban-drop-column", diffPhase},
	{"testdata/safe/0022_post_drop_table.sql", "ban-drop-table", diffPhase},
	{"testdata/safe/0023_post_rename_unused.sql", "renaming-column", diffPhase},
	{"testdata/safe/0024_post_set_not_null.sql", "adding-not-nullable-field", diffPhase},
	{"testdata/safe/0027_table_created_then_shaped.sql", "adding-foreign-key-constraint", diffNewTable},
	{"testdata/safe/0027_table_created_then_shaped.sql", "adding-not-nullable-field", diffNewTable},
	{"testdata/safe/0027_table_created_then_shaped.sql", "adding-required-field", diffNewTable},
	{"testdata/safe/0027_table_created_then_shaped.sql", "changing-column-type", diffNewTable},
	{"testdata/safe/0027_table_created_then_shaped.sql", "constraint-missing-not-valid", diffNewTable},
	{"testdata/safe/0027_table_created_then_shaped.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0028_create_table_as.sql", "adding-serial-primary-key-field", diffNewTable},
	{"testdata/safe/0028_create_table_as.sql", "constraint-missing-not-valid", diffNewTable},
	{"testdata/safe/0028_create_table_as.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0037_golang_migrate_style.up.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0039_stable_defaults.sql", "adding-field-with-default", diffStable},
	{"testdata/safe/0040_new_table_reshaped.sql", "adding-field-with-default", diffNewTable},
	{"testdata/safe/0040_new_table_reshaped.sql", "adding-serial-primary-key-field", diffNewTable},
	{"testdata/safe/0040_new_table_reshaped.sql", "ban-drop-not-null", diffNewTable},
	{"testdata/safe/0040_new_table_reshaped.sql", "require-concurrent-index-creation", diffNewTable},
	{"testdata/safe/0040_new_table_reshaped.sql", "require-concurrent-index-deletion", diffNewTable},
	{"testdata/safe/0041_post_drop_not_null.sql", "ban-drop-not-null", diffPhase},
	{"testdata/safe/0043_domain_check_not_valid.sql", "ban-alter-domain-with-add-constraint", diffNotValid},
}

type squawkFinding struct {
	File string `json:"file"`
	Line int    `json:"line"` // from 0
	Rule string `json:"rule_name"`
}

// squawkBinary finds squawk. Its absence is a failure, never a skip, as a
// missing database server is for dbtest: scripts/setup.sh installs it.
func squawkBinary(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("squawk")
	if err != nil {
		t.Fatalf("squawk is not installed (scripts/setup.sh installs squawk-cli %s from npm; or npm install -g squawk-cli@%s): %v", squawkVersion, squawkVersion, err)
	}
	out, err := exec.Command(bin, "--version").Output()
	require.NoError(t, err)
	require.Equal(t, "squawk "+squawkVersion, strings.TrimSpace(string(out)),
		"docs/checks.md maps the rules of squawk %s; update the table, squawkRules and scripts/setup.sh together", squawkVersion)
	return bin
}

// runSquawk lints files with squawk and returns its findings by file.
func runSquawk(t *testing.T, bin string, files []string) map[string][]squawkFinding {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"--reporter", "json"}, files...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	// squawk exits 1 when it reports anything.
	require.True(t, err == nil || (errors.As(err, &ee) && ee.ExitCode() == 1), "squawk: %v: %s", err, stderr.String())
	var fs []squawkFinding
	require.NoError(t, json.Unmarshal(stdout.Bytes(), &fs), "squawk output: %s", stdout.String())
	byFile := map[string][]squawkFinding{}
	for _, f := range fs {
		byFile[f.File] = append(byFile[f.File], f)
	}
	return byFile
}

// comparedMigrations returns the migrations to compare: the lint corpus as
// fleetgate reads it, and every up migration of the vendored real-world
// directories, each file a pre-phase migration of its own (the way fleetgate
// would run it, in a transaction unless a statement cannot run in one).
func comparedMigrations(t *testing.T) []*source.Migration {
	t.Helper()
	ms := append(load(t, "testdata/safe"), load(t, "testdata/unsafe")...)
	var files []string
	require.NoError(t, filepath.WalkDir("testdata/real", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".sql") && !strings.HasSuffix(p, ".down.sql") {
			files = append(files, p)
		}
		return err
	}))
	sort.Strings(files)
	require.GreaterOrEqual(t, len(files), 300)
	for i, p := range files {
		data, err := os.ReadFile(p)
		require.NoError(t, err)
		sec, err := source.NewSection(string(data), 1, false)
		require.NoError(t, err, p)
		ms = append(ms, &source.Migration{Version: int64(i + 1), Name: filepath.Base(p), File: p,
			Phase: source.PhasePre, NoTransaction: sec.NoTransaction, Up: *sec})
	}
	return ms
}

// TestSquawkComparison runs squawk and fleetgate's checks over the lint
// corpus and four public projects' migrations (testdata/real, see its
// README files). Wherever squawk reports a hazard that fleetgate has a rule
// for, fleetgate must report an equivalent rule in the same statement, or
// the file and rule must be a listed exception whose kind docs/checks.md
// explains.
func TestSquawkComparison(t *testing.T) {
	t.Parallel()
	bin := squawkBinary(t)
	ms := comparedMigrations(t)
	files := make([]string, len(ms))
	for i, m := range ms {
		files[i] = m.File
	}
	sq := runSquawk(t, bin, files)

	exceptions := map[[2]string]string{}
	for _, e := range squawkExceptions {
		exceptions[[2]string{e.file, e.rule}] = e.kind
	}
	used := map[[2]string]bool{}
	var missed []string
	// counts: squawk rule -> files it is reported in, files where fleetgate
	// agrees on every statement, and the same two for the real-world files.
	counts := map[string][4]int{}
	for _, m := range ms {
		fs, err := Check(m)
		require.NoError(t, err)
		// ours holds the rules fleetgate reports in each statement.
		ours := map[int]map[string]bool{}
		for _, f := range fs {
			i := statementAt(m, f.Line)
			if ours[i] == nil {
				ours[i] = map[string]bool{}
			}
			ours[i][f.Rule] = true
		}
		reported, disagreed := map[string]bool{}, map[string]bool{}
		first, last := m.Up.StartLine, m.Up.StartLine+strings.Count(m.Up.SQL, "\n")
		for _, f := range sq[m.File] {
			line := f.Line + 1
			if line < first || line > last {
				continue // outside the up section: fleetgate does not check down sections
			}
			equiv, known := squawkRules[f.Rule]
			require.True(t, known, "squawk reports rule %s, which squawkRules and docs/checks.md do not map", f.Rule)
			if len(equiv) == 0 {
				continue
			}
			reported[f.Rule] = true
			at := statementAt(m, line)
			require.GreaterOrEqual(t, at, 0, "%s:%d: squawk's %s is in no statement fleetgate split", m.File, line, f.Rule)
			caught := false
			for _, r := range equiv {
				caught = caught || ours[at][r]
			}
			if caught {
				continue
			}
			disagreed[f.Rule] = true
			key := [2]string{m.File, f.Rule}
			if exceptions[key] != "" {
				used[key] = true
				continue
			}
			missed = append(missed, fmt.Sprintf("%s:%d %s (fleetgate in this file: %v)", m.File, line, f.Rule, rulesOf(fs)))
		}
		real := strings.HasPrefix(m.File, "testdata/real/")
		for r := range reported {
			c := counts[r]
			c[0]++
			if real {
				c[2]++
			}
			if !disagreed[r] {
				c[1]++
				if real {
					c[3]++
				}
			}
			counts[r] = c
		}
	}
	var rules []string
	for r := range counts {
		rules = append(rules, r)
	}
	sort.Strings(rules)
	for _, r := range rules {
		c := counts[r]
		t.Logf("| %s | %d | %d | %d | %d |", r, c[0], c[1], c[2], c[3])
	}
	require.Empty(t, missed, "squawk reports a hazard fleetgate has a rule for, and fleetgate says nothing")
	for _, e := range squawkExceptions {
		require.True(t, used[[2]string{e.file, e.rule}], "exception %s %s is no longer needed: fleetgate reports it, or squawk no longer does", e.file, e.rule)
	}
}

// TestSquawkTableDocumented: docs/checks.md has a row for every squawk rule,
// linking the fleetgate rules it maps to (and no others), and explains every kind of
// exception the comparison lists.
func TestSquawkTableDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/checks.md")
	require.NoError(t, err)
	_, section, ok := strings.Cut(string(doc), "\n## Compared with squawk\n")
	require.True(t, ok, "docs/checks.md has no '## Compared with squawk' section")
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	// rows maps a squawk rule to the fleetgate column of its row in the
	// table of every squawk rule.
	_, table, ok := strings.Cut(section, "\n### Every squawk rule\n")
	require.True(t, ok, "docs/checks.md has no '### Every squawk rule' table")
	table, _, _ = strings.Cut(table, "\n### ")
	rows := map[string]string{}
	for _, l := range strings.Split(table, "\n") {
		if cells := strings.Split(l, "|"); strings.HasPrefix(l, "| `") && len(cells) >= 4 {
			rows[strings.Trim(cells[1], " `")] = cells[2]
		}
	}
	for rule, equiv := range squawkRules {
		row, ok := rows[rule]
		require.True(t, ok, "docs/checks.md: no row for squawk rule %s", rule)
		for _, r := range equiv {
			require.Contains(t, row, "["+r+"]", "docs/checks.md: the row of %s should name %s", rule, r)
		}
		if len(equiv) == 0 {
			require.NotContains(t, row, "](#", "docs/checks.md: %s maps to no fleetgate rule in squawkRules, but its row links one", rule)
		}
	}
	for name := range rows {
		_, ok := squawkRules[name]
		require.True(t, ok, "docs/checks.md lists squawk rule %s, which squawkRules does not", name)
	}
	for _, e := range squawkExceptions {
		require.True(t, strings.Contains(section, "*"+e.kind+"*"), "docs/checks.md does not explain the exception kind %q", e.kind)
		row := fmt.Sprintf("| `internal/lint/%s` | `%s` | %s |", e.file, e.rule, e.kind)
		require.True(t, strings.Contains(section, row), "docs/checks.md does not list the exception:\n%s", row)
	}
}

// statementAt returns the index of the statement of m's up section that
// line falls in, or -1.
func statementAt(m *source.Migration, line int) int {
	for i := len(m.Up.Statements) - 1; i >= 0; i-- {
		st := m.Up.Statements[i]
		if line >= st.Line {
			if line <= st.Line+strings.Count(st.SQL, "\n") {
				return i
			}
			return -1
		}
	}
	return -1
}
