package source

import (
	"maps"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// checkVerified loads the directory current with LoadVerified, told that
// every migration of the directory applied was applied as it is there,
// and holds it to LoadDialect: a migration that is not parsed must be one
// LoadDialect accepts with the very checksums the history holds (so
// skipping its parse hides no error and no edit), and every other one
// must come back exactly as LoadDialect returns it, since `up` runs, checks
// and records (both scripts) what it parsed without loading again.
// It returns the versions whose parse was skipped.
func checkVerified(t *testing.T, d dialect.Dialect, applied, current map[string]string) []int64 {
	t.Helper()
	mapFS := func(files map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for name, data := range files {
			fsys["m/"+name] = &fstest.MapFile{Data: []byte(data)}
		}
		return fsys
	}
	before, _, err := LoadDialect(mapFS(applied), "m", FormatAuto, d)
	if err != nil {
		return nil // never applied: nothing to compare with
	}
	known := map[int64]Applied{}
	for _, m := range before {
		known[m.Version] = Applied{Checksum: m.Checksum, DownChecksum: m.DownChecksum}
	}
	calls := 0
	fast, fastFormat, fastErr := LoadVerified(mapFS(current), "m", FormatAuto, d, func() map[int64]Applied { calls++; return known })
	full, fullFormat, fullErr := LoadDialect(mapFS(current), "m", FormatAuto, d)
	require.Equal(t, fullFormat, fastFormat)
	require.LessOrEqual(t, calls, 1)
	if fastErr != nil || fullErr != nil {
		require.Equal(t, fullErr, fastErr, "a skipped parse changed which error the directory gives")
		return nil
	}
	require.Len(t, fast, len(full))
	var skipped []int64
	for i, m := range fast {
		f := full[i]
		if !m.Unparsed {
			require.Equal(t, f, m, "migration %d is not what LoadDialect returns", m.Version)
			continue
		}
		skipped = append(skipped, m.Version)
		a, ok := known[m.Version]
		require.True(t, ok, "skipped the parse of migration %d, which was never applied", m.Version)
		require.Equal(t, f.Checksum, m.Checksum, "skipped the parse of an edited up section")
		require.Equal(t, f.DownChecksum, m.DownChecksum, "skipped the parse of an edited down section")
		require.Equal(t, a.Checksum, m.Checksum)
		require.Equal(t, a.DownChecksum, m.DownChecksum)
		require.Equal(t, [5]any{f.Version, f.Name, f.File, f.DownFile, f.Phase}, [5]any{m.Version, m.Name, m.File, m.DownFile, m.Phase})
		require.Empty(t, m.Up.Statements)
		require.Nil(t, m.Down)
	}
	return skipped
}

func TestLoadVerified(t *testing.T) {
	t.Parallel()
	const plain = "-- fleetgate:up\nCREATE TABLE t (id int);\n\n-- fleetgate:down\nDROP TABLE t;\n"
	one := func(data string) map[string]string { return map[string]string{"1_a.sql": data} }
	cases := []struct {
		name             string
		applied, current map[string]string
		skipped          bool
	}{
		{"Unchanged", one(plain), one(plain), true},
		{"UnchangedCRLFAndBOM", one(plain), one("\xEF\xBB\xBF" + strings.ReplaceAll(plain, "\n", "\r\n")), true},
		{"NoDownSection", one("-- fleetgate:up\nSELECT 1;\n"), one("-- fleetgate:up\nSELECT 1;\n"), true},
		{"CommentBeforeMarker", one("-- adds t\n\n" + plain), one("-- adds t, reworded\n" + plain), true},
		{"MigrateLayout", map[string]string{"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 2;\n"},
			map[string]string{"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 2;\n"}, true},
		{"MigrateLayoutNoDown", map[string]string{"1_a.up.sql": "SELECT 1;\n"}, map[string]string{"1_a.up.sql": "SELECT 1;\n"}, true},

		// Parsed, and what the parse finds is reported as before.
		{"EditedUp", one(plain), one(strings.Replace(plain, "int", "bigint", 1)), false},
		{"EditedDown", one(plain), one(strings.Replace(plain, "DROP TABLE t", "DROP TABLE IF EXISTS t", 1)), false},
		{"MalformedDown", one(plain), one(strings.Replace(plain, "DROP TABLE t;", "SELECT 'unterminated;", 1)), false},
		{"DownAdded", one("-- fleetgate:up\nSELECT 1;\n"), one("-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\nSELECT 2;\n"), false},
		{"DownRemoved", one(plain), one("-- fleetgate:up\nCREATE TABLE t (id int);\n\n"), false},
		{"MigrateDownEdited", map[string]string{"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 2;\n"},
			map[string]string{"1_a.up.sql": "SELECT 1;\n", "1_a.down.sql": "SELECT 'x;\n"}, false},
		{"DirectiveAdded", one(plain), one("-- fleetgate:phase bogus\n" + plain), false},
		{"DirectiveKept", one("-- fleetgate:no-transaction\n" + plain), one("-- fleetgate:no-transaction\n" + plain), false},
		{"SQLBeforeMarker", one(plain), one("SELECT 1;\n" + plain), false},
		{"BlockCommentBeforeMarker", one(plain), one("/*\n" + plain), false},
		{"IndentedComment", one(plain), one("  -- note\n" + plain), false},
		{"MySQLStyleDashes", one(plain), one("--note\n" + plain), false},
		{"MarkerInString", one("-- fleetgate:up\nSELECT '\n-- fleetgate:down\n';\n"), one("-- fleetgate:up\nSELECT '\n-- fleetgate:down\n';\n"), false},
		{"SecondUpMarker", one(plain), one(plain + "-- fleetgate:up\n"), false},
		{"MarkerWithSpaces", one(plain), one(strings.Replace(plain, "-- fleetgate:down", "--  fleetgate:down", 1)), false},
		{"NULByte", one(plain), one(plain + "\x00"), false},
		{"Emptied", one(plain), one(""), false},
	}
	for _, c := range cases {
		for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
			t.Run(c.name+"/"+string(d), func(t *testing.T) {
				t.Parallel()
				require.Equal(t, c.skipped, len(checkVerified(t, d, c.applied, c.current)) == 1)
			})
		}
	}
}

// TestLoadVerifiedApplyOntoApplied: `up` applying what is pending onto
// applied migrations parses only the pending files, and those come back
// as LoadDialect returns them (directives, down section and its checksum
// included: the history row records both scripts), in either layout.
func TestLoadVerifiedApplyOntoApplied(t *testing.T) {
	t.Parallel()
	const a = "-- adds a\n-- fleetgate:up\nCREATE TABLE a (id int);\n-- fleetgate:down\nDROP TABLE a;\n"
	applied := map[string]string{"1_a.sql": a, "2_b.up.sql": "SELECT 1;\n", "2_b.down.sql": "SELECT 2;\n"}
	pending := map[string]string{
		"3_c.sql": "-- fleetgate:no-transaction\n-- fleetgate:allow require-concurrent-index small\n-- fleetgate:up\n" +
			"CREATE INDEX CONCURRENTLY c_i ON a (id);\n-- fleetgate:down\nDROP INDEX CONCURRENTLY c_i;\n",
		"4_d.sql":      "-- fleetgate:phase post\n-- fleetgate:up\nALTER TABLE a DROP COLUMN id;\n",
		"5_e.up.sql":   "CREATE TABLE e (id int);\n",
		"5_e.down.sql": "DROP TABLE e;\n",
		"6_f.sql":      "-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\n",
	}
	current := maps.Clone(applied)
	maps.Copy(current, pending)
	for _, d := range []dialect.Dialect{dialect.Postgres, dialect.MySQL} {
		require.Equal(t, []int64{1, 2}, checkVerified(t, d, applied, current), "dialect %s", d)
	}
	// A malformed pending file is reported as the full load reports it.
	current["6_f.sql"] = "-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\nSELECT 'x;\n"
	require.Empty(t, checkVerified(t, dialect.Postgres, applied, current))
}

// TestLoadVerifiedPendingAndHistoryErrors: a version without a complete
// row is parsed (a malformed pending file still stops the run with its
// line), and a history that could not be read (nil) parses everything.
func TestLoadVerifiedPendingAndHistoryErrors(t *testing.T) {
	t.Parallel()
	fsys := fstest.MapFS{
		"m/1_a.sql": {Data: []byte("-- fleetgate:up\nSELECT 1;\n")},
		"m/2_b.sql": {Data: []byte("-- fleetgate:up\nSELECT 'x;\n")},
	}
	known := map[int64]Applied{1: {Checksum: Checksum([]byte("SELECT 1;\n"))}}
	_, _, err := LoadVerified(fsys, "m", FormatAuto, dialect.Postgres, func() map[int64]Applied { return known })
	require.EqualError(t, err, "m/2_b.sql:2: unterminated quoted string")

	delete(fsys, "m/2_b.sql")
	ms, _, err := LoadVerified(fsys, "m", FormatAuto, dialect.Postgres, func() map[int64]Applied { return known })
	require.NoError(t, err)
	require.True(t, ms[0].Unparsed)
	ms, _, err = LoadVerified(fsys, "m", FormatAuto, dialect.Postgres, func() map[int64]Applied { return nil })
	require.NoError(t, err)
	require.False(t, ms[0].Unparsed)
	require.Len(t, ms[0].Up.Statements, 1)
}

// FuzzLoadVerified holds LoadVerified to LoadDialect (checkVerified) for
// a file applied as one text and found as another, next to a pending
// file (which must come back as LoadDialect parses it).
func FuzzLoadVerified(f *testing.F) {
	const plain = "-- fleetgate:up\nCREATE TABLE t (id int);\n-- fleetgate:down\nDROP TABLE t;\n"
	const pending = "-- fleetgate:up\nCREATE TABLE u (id int);\n-- fleetgate:down\nDROP TABLE u;\n"
	f.Add(plain, plain, pending, false)
	f.Add(plain, "-- c\n"+plain, pending, true)
	f.Add(plain, plain, "-- fleetgate:no-transaction\n-- fleetgate:up\nCREATE INDEX CONCURRENTLY i ON t (id);\n", false)
	f.Add(plain, plain, "-- fleetgate:phase post\n-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\n", true)
	f.Add(plain, plain, "-- fleetgate:up\nSELECT 'x;\n", false)
	f.Add("-- fleetgate:up\nSELECT $$\n-- fleetgate:down\n$$;\n", "-- fleetgate:up\nSELECT $$\n-- fleetgate:down\n$$;\n", "", false)
	f.Add("-- fleetgate:up\nSELECT 'a\\';\n-- fleetgate:down\nSELECT 1;\n", "-- fleetgate:up\nSELECT 'a\\';\n-- fleetgate:down\nSELECT 1;\n", pending, true)
	f.Add("-- fleetgate:up\n/* x\n-- fleetgate:down\n*/ SELECT 1;\n", "-- fleetgate:up\n/* x\n-- fleetgate:down\n*/ SELECT 1;\n", pending, false)
	f.Fuzz(func(t *testing.T, applied, current, pending string, mysql bool) {
		d := dialect.Postgres
		if mysql {
			d = dialect.MySQL
		}
		now := map[string]string{"1_a.sql": current}
		if pending != "" {
			now["2_b.sql"] = pending
		}
		checkVerified(t, d, map[string]string{"1_a.sql": applied}, now)
	})
}
