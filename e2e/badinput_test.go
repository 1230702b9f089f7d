package e2e

import (
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

const counterSQL = "-- fleetgate:up\nCREATE TABLE counter (n integer NOT NULL);\nINSERT INTO counter VALUES (0);\n-- fleetgate:down\nDROP TABLE counter;\n"

// snapshot is everything a bad input must leave untouched: the user's
// tables and fleetgate's history, events and lock rows.
func snapshot(t *testing.T, db *sql.DB) string {
	t.Helper()
	var b strings.Builder
	rows, err := db.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`)
	require.NoError(t, err)
	var tables []string
	for rows.Next() {
		var n string
		require.NoError(t, rows.Scan(&n))
		tables = append(tables, n)
	}
	require.NoError(t, rows.Err())
	fmt.Fprintf(&b, "tables=%v\n", tables)
	for _, q := range []string{
		"SELECT string_agg(version || ':' || checksum || ':' || complete, ',' ORDER BY version) FROM fleetgate_migrations",
		"SELECT count(*)::text FROM fleetgate_events",
		"SELECT coalesce(holder, 'free') FROM fleetgate_lock",
		"SELECT n::text FROM counter",
	} {
		var s sql.NullString
		if err := db.QueryRow(q).Scan(&s); err != nil {
			s.String = "error: " + err.Error()
		}
		fmt.Fprintf(&b, "%s\n", s.String)
	}
	return b.String()
}

func TestBadInputs(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	big := "-- fleetgate:up\n" + strings.Repeat("-- padding padding padding padding\n", (16<<20)/35+10)
	type tc struct {
		name   string
		before map[string]string // applied first; default: the counter migration
		files  map[string]string // the directory of the failing run
		args   []string          // after "-d URL --dir DIR" unless noDB
		noDB   bool
		code   int
		want   []string // substrings of the error line
		// events is how many audit events the failure may append: a failed
		// migration is recorded as a failure event, nothing else writes.
		events int
	}
	base := map[string]string{"1_counter.sql": counterSQL}
	with := func(extra map[string]string) map[string]string {
		m := map[string]string{"1_counter.sql": counterSQL}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	cases := []tc{
		{name: "UnknownFlag", args: []string{"up", "--bogus"}, code: 2, want: []string{"bogus"}},
		{name: "UnknownCommand", args: []string{"upp"}, code: 2, want: []string{`unknown command "upp"`}},
		{name: "UnknownURLScheme", noDB: true, args: []string{"up", "-d", "oracle://scott:tiger@127.0.0.1/db"}, code: 2, want: []string{"--database", `unknown URL scheme "oracle"`}},
		{name: "NoDatabase", noDB: true, args: []string{"up"}, code: 2, want: []string{"--database", "no database given"}},
		{name: "MissingDirectory", args: []string{"up", "--dir", "/nonexistent/migrations"}, code: 2, want: []string{"--dir", "/nonexistent/migrations"}},
		{name: "UnknownDirective", files: with(map[string]string{"2_x.sql": "-- fleetgate:up\nSELECT 1;\n-- fleetgate:frobnicate\n"}), args: []string{"up"}, code: 2, want: []string{"2_x.sql:3", "frobnicate"}},
		{name: "MissingUpSection", files: with(map[string]string{"2_x.sql": "CREATE TABLE x (id int);\n"}), args: []string{"up"}, code: 2, want: []string{"2_x.sql"}},
		{name: "DuplicateVersion", files: with(map[string]string{"2_a.sql": "-- fleetgate:up\nSELECT 1;\n", "002_b.sql": "-- fleetgate:up\nSELECT 1;\n"}), args: []string{"up"}, code: 2, want: []string{"2_a.sql", "002_b.sql"}},
		{name: "NULBytes", files: with(map[string]string{"2_x.sql": "-- fleetgate:up\nSELECT 1;\nSELECT '\x00';\n"}), args: []string{"up"}, code: 2, want: []string{"2_x.sql:3"}},
		{name: "InvalidUTF8", files: with(map[string]string{"2_x.sql": "-- fleetgate:up\n\nSELECT '\xff\xfe';\n"}), args: []string{"up"}, code: 2, want: []string{"2_x.sql:3", "UTF-8"}},
		{name: "FileTooLarge", files: with(map[string]string{"2_x.sql": big}), args: []string{"up"}, code: 2, want: []string{"2_x.sql", "16 MiB"}},
		{name: "TableNameWithSQL", args: []string{"up", "--table", "x; DROP TABLE counter; --"}, code: 2, want: []string{"--table"}},
		{name: "BadLogFormat", args: []string{"up", "--log-format", "xml"}, code: 2, want: []string{"--log-format", "xml"}},
		{name: "NegativeTarget", args: []string{"up", "--to", "-3"}, code: 2, want: []string{"--to"}},
		{name: "BadLease", args: []string{"up", "--lease", "soon"}, code: 2, want: []string{"lease"}},
		{name: "EditedApplied",
			before: with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n"}),
			files:  with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id bigint);\n", "3_u.sql": "-- fleetgate:up\nCREATE TABLE t3 (id int);\n"}),
			args:   []string{"up"}, code: 4, want: []string{"2_t.sql", "edited after it was applied"}},
		// An applied file is verified by its checksums and parsed only when
		// they differ: an edit that breaks its down section still stops the
		// run, with its line.
		{name: "EditedAppliedMalformedDown",
			before: with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n-- fleetgate:down\nDROP TABLE t2;\n"}),
			files:  with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n-- fleetgate:down\nSELECT 'oops;\n"}),
			args:   []string{"up"}, code: 2, want: []string{"2_t.sql:4", "unterminated"}},
		{name: "AppliedMissingFromMiddle",
			before: with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n", "3_u.sql": "-- fleetgate:up\nCREATE TABLE t3 (id int);\n"}),
			files:  with(map[string]string{"3_u.sql": "-- fleetgate:up\nCREATE TABLE t3 (id int);\n", "4_v.sql": "-- fleetgate:up\nCREATE TABLE t4 (id int);\n"}),
			args:   []string{"up"}, code: 4, want: []string{"2_t", "not in this build's directory"}},
		{name: "OutOfOrderPending",
			before: with(map[string]string{"3_u.sql": "-- fleetgate:up\nCREATE TABLE t3 (id int);\n"}),
			files:  with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n", "3_u.sql": "-- fleetgate:up\nCREATE TABLE t3 (id int);\n"}),
			args:   []string{"up"}, code: 4, want: []string{"2_t.sql", "older than applied version 3", "--allow-out-of-order"}},
		{name: "SQLErrorInStatement2",
			files: with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\nUPDATE counter SET n = n + 1;\n\nINSERT INTO no_such_table VALUES (1);\n"}),
			args:  []string{"up"}, code: 1, events: 1, want: []string{"2_t.sql:5", "statement 3", "no_such_table", "42P01"}},
		{name: "EditedAppliedValidate",
			before: with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int);\n"}),
			files:  with(map[string]string{"2_t.sql": "-- fleetgate:up\nCREATE TABLE t2 (id int); -- edited\n"}),
			args:   []string{"validate"}, code: 4, want: []string{"2_t.sql", "checksum"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			url := dbtest.Postgres(t)
			db := openDB(t, url)
			before := c.before
			if before == nil {
				before = base
			}
			r := fg(t, nil, "up", "-d", url, "--dir", writeFiles(t, before))
			require.Equal(t, 0, r.Code, r.String())
			files := c.files
			if files == nil {
				files = base
			}
			dir := writeFiles(t, files)
			snap := snapshot(t, db)
			events := queryInt(t, db, "SELECT count(*) FROM fleetgate_events")

			args := c.args
			if !c.noDB {
				args = append([]string{args[0], "-d", url, "--dir", dir}, args[1:]...)
			} else {
				args = append(args, "--dir", dir)
			}
			r = fg(t, nil, args...)
			require.Equal(t, c.code, r.Code, r.String())
			var errLines []string
			for _, l := range strings.Split(strings.TrimSpace(r.Stderr), "\n") {
				if strings.HasPrefix(l, "fleetgate: ") {
					errLines = append(errLines, l)
				}
			}
			require.Len(t, errLines, 1, "want exactly one error line:\n%s", r.Stderr)
			for _, w := range c.want {
				require.Contains(t, errLines[0], w)
			}
			require.Equal(t, events+c.events, queryInt(t, db, "SELECT count(*) FROM fleetgate_events"), "events")
			if c.events > 0 {
				// The failure event is the only change.
				require.Equal(t, c.events, queryInt(t, db, "SELECT count(*) FROM fleetgate_events WHERE kind = 'failure' AND id > (SELECT max(id) - $1 FROM fleetgate_events)", c.events))
				require.NoError(t, db.QueryRow("DELETE FROM fleetgate_events WHERE kind = 'failure'").Err())
				require.NoError(t, db.QueryRow("SELECT setval(pg_get_serial_sequence('fleetgate_events', 'id'), (SELECT max(id) FROM fleetgate_events))").Err())
			}
			require.Equal(t, snap, snapshot(t, db), "database changed")
		})
	}
}

// A password, wherever it sits in the configuration, never reaches stdout
// or stderr, on success or on any failure path.
func TestPasswordNeverPrinted(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	const secret = "Zq7-sentinel_PW"
	url := dbtest.Postgres(t) // trust auth: the password is carried, never checked
	withPW := strings.Replace(url, "postgres://postgres@", "postgres://postgres:"+secret+"@", 1)
	require.NotEqual(t, url, withPW)
	sep := "?"
	if strings.Contains(url, "?") {
		sep = "&"
	}
	query := url + sep + "password=" + secret
	refused := "postgres://postgres:" + secret + "@127.0.0.1:1/db"
	noDB := strings.Replace(withPW, "/fleetgate_test_", "/nope_", 1)
	good := writeFiles(t, map[string]string{"1_counter.sql": counterSQL})
	bad := writeFiles(t, map[string]string{"1_counter.sql": counterSQL, "2_bad.sql": "-- fleetgate:up\nSELECT * FROM missing_" + secret + ";\n"})
	kv := filepath.Join(t.TempDir(), "kv")
	require.NoError(t, os.MkdirAll(kv, 0o755))
	// Fan-out: a targets file with the password as ${FG_PW} and verbatim,
	// and one whose bad line holds it.
	targets := filepath.Join(t.TempDir(), "targets.txt")
	require.NoError(t, os.WriteFile(targets, []byte(strings.Replace(url, "postgres://postgres@", "postgres://postgres:${FG_PW}@", 1)+"\n"+refused+"\n"), 0o600))
	badTargets := filepath.Join(t.TempDir(), "bad-targets.txt")
	require.NoError(t, os.WriteFile(badTargets, []byte("postgres://postgres:${FG_PW}@[::1:bad/db\n"), 0o600))

	type run struct {
		name string
		env  []string
		args []string
	}
	runs := []run{
		{"ConnectionRefused", nil, []string{"up", "-d", refused, "--dir", good}},
		{"ConnectionRefusedJSON", nil, []string{"up", "-d", refused, "--dir", good, "--log-format", "json"}},
		{"UnknownDatabase", nil, []string{"up", "-d", noDB, "--dir", good}},
		{"Userinfo", nil, []string{"up", "-d", withPW, "--dir", good}},
		{"QueryParameter", nil, []string{"status", "-d", query, "--dir", good}},
		{"StatusJSON", nil, []string{"status", "--json", "-d", withPW, "--dir", good}},
		{"HistoryJSON", nil, []string{"history", "--json", "-d", withPW, "--dir", good}},
		{"SQLError", nil, []string{"up", "-d", withPW, "--dir", bad}},
		{"SQLErrorJSONLogs", nil, []string{"up", "-d", withPW, "--dir", bad, "--log-format", "json"}},
		{"DatabaseURLEnv", []string{"DATABASE_URL=" + noDB}, []string{"up", "--dir", good}},
		{"FleetgateEnvJSON", []string{"FLEETGATE_DATABASE_URL=" + refused, "FLEETGATE_LOG_FORMAT=json"}, []string{"up", "--dir", good}},
		{"KeyValueDSN", nil, []string{"up", "-d", "host=127.0.0.1 password=" + secret, "--dir", good}},
		{"MalformedURL", nil, []string{"up", "-d", "postgres://postgres:" + secret + "@[::1:bad/db", "--dir", good}},
		{"TargetsFile", []string{"FG_PW=" + secret}, []string{"up", "--targets", targets, "--dir", bad, "--keep-going"}},
		{"TargetsFileJSON", []string{"FG_PW=" + secret}, []string{"up", "--targets", targets, "--dir", bad, "--keep-going", "--log-format", "json"}},
		{"TargetsStatusJSON", []string{"FG_PW=" + secret}, []string{"status", "--json", "--targets", targets, "--dir", good, "--keep-going"}},
		{"TargetsBadLine", []string{"FG_PW=" + secret}, []string{"up", "--targets", badTargets, "--dir", good}},
		{"TwoDatabases", nil, []string{"status", "-d", withPW, "-d", refused, "--dir", good, "--keep-going"}},
	}
	sawFailure := false
	for _, rn := range runs {
		r := fg(t, rn.env, rn.args...)
		sawFailure = sawFailure || r.Code != 0
		for _, out := range []string{r.Stdout, r.Stderr} {
			require.NotContains(t, out, secret, "%s leaked the password:\n%s", rn.name, r)
			require.NotContains(t, out, "Zq7-sentinel", "%s leaked part of the password", rn.name)
		}
		require.NotEmpty(t, r.Stdout+r.Stderr, rn.name)
	}
	require.True(t, sawFailure)
}
