package mysqllint

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/lint"
	"github.com/fleetgate/fleetgate/internal/source"
)

// alterClauses are ALTER TABLE clauses, combined in pairs by
// diffMigrations.
var alterClauses = []string{
	"ADD COLUMN a INT NULL", "ADD COLUMN b BIGINT NOT NULL", "ADD c VARCHAR(20) NOT NULL DEFAULT 'x'",
	"ADD COLUMN d INT NOT NULL AUTO_INCREMENT", "ADD COLUMN (e INT, f INT NOT NULL)", "ADD COLUMN g2 INT AS (a + 1) NOT NULL",
	"DROP COLUMN g", "DROP h", "MODIFY COLUMN i BIGINT NOT NULL", "MODIFY j TEXT", "CHANGE k l INT NULL", "CHANGE COLUMN m M BIGINT",
	"RENAME COLUMN n TO o", "ADD INDEX p (a)", "ADD UNIQUE KEY q (a, b)", "ADD PRIMARY KEY (id)", "ADD FULLTEXT INDEX ft (a)",
	"ADD CONSTRAINT r FOREIGN KEY (a) REFERENCES u (id)", "ADD FOREIGN KEY (a) REFERENCES s.u (id) ON DELETE CASCADE",
	"DROP INDEX s", "DROP PRIMARY KEY", "DROP FOREIGN KEY t", "RENAME INDEX u TO v", "RENAME TO w", "RENAME TO s.w2",
	"ALGORITHM=INSTANT", "ALGORITHM=INPLACE", "ALGORITHM=COPY", "LOCK=NONE", "LOCK=SHARED",
	"ENGINE=InnoDB", "FORCE", "ALTER COLUMN x SET DEFAULT 0", "PARTITION BY HASH(id) PARTITIONS 4",
}

// diffMigrations are the migrations the checks are compared on: the
// checks' own test migrations, the MySQL end-to-end fixtures, the MySQL
// examples of docs/checks.md, the benchmark's statements alone and inside
// a transaction, and every pair of ALTER TABLE clauses on a table that
// exists, on one the migration created, and in the post phase.
func diffMigrations(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	files, err := filepath.Glob("testdata/*/*.sql")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		out[f] = string(b)
	}
	e2e, err := os.ReadFile("../../../e2e/mysql_test.go")
	require.NoError(t, err)
	for i, m := range regexp.MustCompile(`"((?:CREATE|ALTER|DROP|RENAME|INSERT|UPDATE|DELETE|SELECT) [^"]*?);(?:\\n)?"`).FindAllStringSubmatch(string(e2e), -1) {
		if s, err := strconv.Unquote(`"` + m[1] + `"`); err == nil {
			out[fmt.Sprintf("e2e-%d", i)] = "-- fleetgate:up\n" + s + ";\n"
		}
	}
	doc, err := os.ReadFile("../../../docs/checks.md")
	require.NoError(t, err)
	_, mysql, _ := strings.Cut(string(doc), "\n## MySQL and MariaDB\n")
	for i, m := range regexp.MustCompile("(?s)```sql\n(.*?)```").FindAllStringSubmatch(mysql, -1) {
		out[fmt.Sprintf("docs-%d", i)] = "-- fleetgate:up\n" + m[1]
	}
	for i, s := range corpusStatements {
		out[fmt.Sprintf("bench-%d", i)] = "-- fleetgate:up\n" + s + ";\n"
		out[fmt.Sprintf("bench-tx-%d", i)] = "-- fleetgate:up\nSTART TRANSACTION;\n" + s + ";\nCOMMIT;\n"
	}
	out["add-then-drop"] = addThenDrop
	for i, a := range alterClauses {
		for j, b := range alterClauses {
			alter := "ALTER TABLE users " + a + ", " + b + ";\n"
			out[fmt.Sprintf("alter-%d-%d", i, j)] = "-- fleetgate:up\n" + alter
			if i%3 == 0 {
				out[fmt.Sprintf("alter-new-%d-%d", i, j)] = "-- fleetgate:up\nCREATE TABLE users (id INT);\n" + alter
				out[fmt.Sprintf("alter-post-%d-%d", i, j)] = "-- fleetgate:up\n-- fleetgate:phase post\n" + alter
			}
		}
	}
	return out
}

func findings(t *testing.T, name, text string, check func(*source.Migration) ([]lint.Finding, error)) []string {
	t.Helper()
	m, err := source.ParseDialect("1_x.sql", []byte(text), dialect.MySQL)
	require.NoError(t, err, name)
	fs, err := check(m)
	require.NoError(t, err, name)
	var out []string
	for _, f := range fs {
		if f.Rule == UnparsedStatement {
			// The parse error's words and the token it stopped at
			// may differ; the rule and the statement must not.
			out = append(out, fmt.Sprintf("%d %s", f.Line, f.Rule))
			continue
		}
		out = append(out, f.String())
	}
	return out
}

// knownDiffs are the migrations on which the checks deliberately differ
// from what they said with vitess's parser, each with the reason.
var knownDiffs = map[string]string{
	addThenDrop: "a column the migration added is no column old code uses (TestColumnAddedEarlier); vitess's checks called dropping it a breaking change",
}

// addThenDrop is the shape of e2e's MySQL crash fixture: a column added,
// then dropped by the same migration.
const addThenDrop = "-- fleetgate:up\nALTER TABLE big ADD COLUMN a int, ALGORITHM=COPY;\nCREATE INDEX big_v ON big (v);\n" +
	"ALTER TABLE big DROP COLUMN a, ALGORITHM=COPY;\n"

// The checks find exactly what they found with vitess's parser, over
// diffMigrations, except where knownDiffs explains why not.
func TestMatchesVitess(t *testing.T) {
	t.Parallel()
	ms := diffMigrations(t)
	require.Greater(t, len(ms), 1000)
	t.Logf("%d migrations", len(ms))
	var diffs []string
	for name, text := range ms {
		want := findings(t, name, text, vitessCheck)
		got := findings(t, name, text, Check)
		if why, ok := knownDiffs[text]; ok {
			require.NotEqual(t, want, got, "%s is listed as a difference (%s) but is none", name, why)
			continue
		}
		if strings.Join(want, "\n") != strings.Join(got, "\n") {
			diffs = append(diffs, fmt.Sprintf("%s:\n%s\n vitess:\n  %s\n got:\n  %s", name, text, strings.Join(want, "\n  "), strings.Join(got, "\n  ")))
		}
	}
	require.Empty(t, diffs, "%d differences:\n%s", len(diffs), strings.Join(diffs, "\n\n"))
}
