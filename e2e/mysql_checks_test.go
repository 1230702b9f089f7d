package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// mysqlLayoutFiles are migrations only MySQL reads as written: backticks,
// # comments, a DELIMITER block, a conditional comment, in golang-migrate's
// layout. 0002 changes an existing table the unsafe ways MySQL's rules
// are about; 0003 is the online form of the same kind of changes.
var mysqlLayoutFiles = map[string]string{
	"0001_users.up.sql": "# the first table\nCREATE TABLE `users` (\n  `id` bigint NOT NULL AUTO_INCREMENT PRIMARY KEY,\n  `email` varchar(255) NOT NULL,\n  `legacy` text\n) ENGINE=InnoDB /*!40101 DEFAULT CHARSET=utf8mb4 */;\n" +
		"DELIMITER //\nCREATE TRIGGER users_bi BEFORE INSERT ON `users` FOR EACH ROW\nBEGIN\n  SET NEW.email = LOWER(NEW.email);\nEND//\nDELIMITER ;\n",
	"0001_users.down.sql": "DROP TABLE `users`;\n",
	"0002_unsafe.up.sql": "ALTER TABLE `users` ADD COLUMN `age` int NOT NULL;\n" +
		"ALTER TABLE `users` DROP COLUMN `legacy`, ALGORITHM=INSTANT;\n" +
		"START TRANSACTION;\nUPDATE `users` SET email = 'x' WHERE id = 1;\nCREATE INDEX users_email ON `users` (email);\nCOMMIT;\n" +
		"OPTIMIZE TABLE `users`;\n",
	"0002_unsafe.down.sql": "SELECT 1;\n",
	"0003_online.up.sql":   "ALTER TABLE `users` ADD COLUMN `nick` varchar(64) NULL, ALGORITHM=INSTANT;\nCREATE INDEX users_nick ON `users` (nick) ALGORITHM=INPLACE LOCK=NONE;\n",
	"0003_online.down.sql": "SELECT 1;\n",
}

type checkReport struct {
	Findings []struct {
		Rule, Severity, File, Message string
		Line, Col                     int
	} `json:"findings"`
	Files    int `json:"files"`
	Errors   int `json:"errors"`
	Warnings int `json:"warnings"`
}

func (r checkReport) rules(file string) []string {
	var out []string
	for _, f := range r.Findings {
		if strings.HasSuffix(f.File, file) {
			out = append(out, f.Rule)
		}
	}
	return out
}

// check --dialect mysql reads MySQL-layout files with MySQL's splitter and
// rules, needing no server: the findings are MySQL's, at the right lines,
// and the online forms pass. The dialect also comes from FLEETGATE_DIALECT
// or from a mysql:// database URL, which is not opened (nothing listens
// there) and whose password is never printed.
func TestCheckMySQLDialect(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, mysqlLayoutFiles)

	c := fg(t, nil, "check", "--dir", dir, "--dialect", "mysql", "--json")
	require.Equal(t, 5, c.Code, c.String())
	var rep checkReport
	require.NoError(t, json.Unmarshal([]byte(c.Stdout), &rep), c.String())
	require.Equal(t, 3, rep.Files)
	require.Empty(t, rep.rules("0001_users.up.sql"), "a new table, its trigger and conditional comment: %+v", rep.Findings)
	require.Equal(t, []string{"add-not-null-column", "require-online-alter", "drop-column", "implicit-commit-in-transaction", "require-online-alter", "optimize-table"},
		rep.rules("0002_unsafe.up.sql"), "%+v", rep.Findings)
	require.Empty(t, rep.rules("0003_online.up.sql"), "%+v", rep.Findings)
	for _, f := range rep.Findings {
		if f.Rule == "drop-column" {
			require.Equal(t, 2, f.Line, "drop-column at the file's line")
		}
		if f.Rule == "implicit-commit-in-transaction" {
			require.Equal(t, 5, f.Line)
			require.Contains(t, f.Message, "CREATE INDEX")
		}
	}
	require.Equal(t, 6, rep.Errors)

	// Read as PostgreSQL's (the default), the same files split
	// differently (the DELIMITER block's COMMIT-less END) and no MySQL
	// rule runs: the dialect matters.
	pg := fg(t, nil, "check", "--dir", dir, "--json")
	require.NotEqual(t, 0, pg.Code, pg.String())
	require.NotContains(t, pg.Stdout, "require-online-alter")

	// FLEETGATE_DIALECT, and a mysql:// URL that is never opened.
	env := append(cleanEnv(), "FLEETGATE_DIALECT=mariadb")
	e := fg(t, env, "check", filepath.Join(dir, "0002_unsafe.up.sql"))
	require.Equal(t, 5, e.Code, e.String())
	require.Contains(t, e.Stdout, "0002_unsafe.up.sql:7:1 optimize-table ")
	env = append(cleanEnv(), "DATABASE_URL=mysql://app:s3cretpw@127.0.0.1:1/app")
	u := fg(t, env, "check", filepath.Join(dir, "0003_online.up.sql"), filepath.Join(dir, "0002_unsafe.up.sql"))
	require.Equal(t, 5, u.Code, u.String())
	require.Contains(t, u.Stdout, "0002_unsafe.up.sql:1:1 add-not-null-column ")
	require.NotContains(t, u.String(), "s3cretpw")

	// A dialect that contradicts the URL, or one that does not exist: one
	// line naming the setting, exit 2.
	bad := fg(t, env, "check", "--dialect", "postgres", filepath.Join(dir, "0003_online.up.sql"))
	require.Equal(t, 2, bad.Code, bad.String())
	require.Contains(t, bad.Stderr, "--dialect")
	require.NotContains(t, bad.String(), "s3cretpw")
	bad = fg(t, nil, "check", "--dialect", "oracle", "--dir", dir)
	require.Equal(t, 2, bad.Code, bad.String())
	require.Equal(t, 1, strings.Count(strings.TrimSpace(bad.Stderr), "\n")+1, bad.Stderr)
	require.Contains(t, bad.Stderr, `unknown dialect "oracle"`)

	// SQLite has no checks: nothing found, exit 0.
	s := fg(t, nil, "check", "--dialect", "sqlite", filepath.Join(dir, "0002_unsafe.up.sql"))
	require.Equal(t, 0, s.Code, s.String())
	require.Empty(t, s.Stdout)
}

// On a MariaDB database the applying instance runs MySQL's checks under
// the lock, before it changes anything: a pre-phase DROP COLUMN on a table
// with history is refused (exit 5, the column stays, no history row, the
// lock released); `check` against the database and `plan` say the same;
// an allow directive lets it through, and a warning (UPDATE without WHERE)
// never blocks.
func TestCheckMySQLOnUp(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{
		"0001_users.sql": "-- fleetgate:up\nCREATE TABLE `users` (id BIGINT PRIMARY KEY, email VARCHAR(255), legacy TEXT) ENGINE=InnoDB;\n",
		"0002_drop.sql":  "-- fleetgate:up\n# the old code still reads legacy\nALTER TABLE `users` DROP COLUMN legacy, ALGORITHM=INSTANT;\n",
		"0003_fill.sql":  "-- fleetgate:up\nUPDATE users SET email = LOWER(email);\n",
	})
	url := dbtest.MariaDB(t)
	r := fg(t, nil, "up", "-d", url, "--dir", dir, "--to", "1")
	require.Equal(t, 0, r.Code, r.String())

	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 5, r.Code, r.String())
	require.Contains(t, r.Stderr, "0002_drop.sql:3:1 drop-column")
	db := openMySQL(t, url)
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'legacy'"),
		"the refused migration dropped the column")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE version > 1"), "nothing after version 1 applied")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL"), "the lock was left held")

	c := fg(t, nil, "check", "-d", url, "--dir", dir)
	require.Equal(t, 5, c.Code, c.String())
	require.Contains(t, c.Stdout, "0002_drop.sql:3:1 drop-column ")
	require.Contains(t, c.Stdout, "0003_fill.sql:2:1 update-without-where warning:")
	p := fg(t, nil, "plan", "-d", url, "--dir", dir)
	require.Equal(t, 5, p.Code, p.String())
	require.Contains(t, p.Stdout, "drop-column")

	require.NoError(t, os.WriteFile(filepath.Join(dir, "0002_drop.sql"),
		[]byte("-- fleetgate:allow drop-column the code stopped reading legacy in release 41\n-- fleetgate:up\n# the old code still reads legacy\nALTER TABLE `users` DROP COLUMN legacy, ALGORITHM=INSTANT;\n"), 0o644))
	r = fg(t, nil, "up", "-d", url, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	require.Contains(t, r.Stderr, "update-without-where")
	require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = 'users' AND COLUMN_NAME = 'legacy'"))
	require.Equal(t, 3, queryInt(t, db, "SELECT count(*) FROM fleetgate_migrations WHERE complete"))
}
