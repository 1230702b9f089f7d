package source

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// checkVerified loads current as migration 1 with LoadVerified, told that
// applied was what ran, and holds it to LoadDialect: a file that is not
// parsed must be one LoadDialect accepts with the very checksums the
// history holds (so skipping its parse hides no error and no edit), and
// every other file must come back exactly as LoadDialect returns it.
// It reports whether the parse was skipped.
func checkVerified(t *testing.T, d dialect.Dialect, applied, current map[string]string) bool {
	t.Helper()
	mapFS := func(files map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for name, data := range files {
			fsys["m/"+name] = &fstest.MapFile{Data: []byte(data)}
		}
		return fsys
	}
	before, _, err := LoadDialect(mapFS(applied), "m", FormatAuto, d)
	if err != nil || len(before) != 1 {
		return false // never applied: nothing to compare with
	}
	known := map[int64]Applied{1: {Checksum: before[0].Checksum, DownChecksum: before[0].DownChecksum}}
	calls := 0
	fast, fastFormat, fastErr := LoadVerified(mapFS(current), "m", FormatAuto, d, func() map[int64]Applied { calls++; return known })
	full, fullFormat, fullErr := LoadDialect(mapFS(current), "m", FormatAuto, d)
	require.Equal(t, fullFormat, fastFormat)
	require.LessOrEqual(t, calls, 1)
	if fastErr == nil && len(fast) == 1 && fast[0].Unparsed {
		require.NoError(t, fullErr, "skipped the parse of a file LoadDialect refuses")
		require.Len(t, full, 1)
		m, f := fast[0], full[0]
		require.Equal(t, f.Checksum, m.Checksum, "skipped the parse of an edited up section")
		require.Equal(t, f.DownChecksum, m.DownChecksum, "skipped the parse of an edited down section")
		require.Equal(t, known[1].Checksum, m.Checksum)
		require.Equal(t, known[1].DownChecksum, m.DownChecksum)
		require.Equal(t, [4]any{f.Version, f.Name, f.File, f.DownFile}, [4]any{m.Version, m.Name, m.File, m.DownFile})
		require.Empty(t, m.Up.Statements)
		require.Nil(t, m.Down)
		return true
	}
	require.Equal(t, fullErr, fastErr)
	require.Equal(t, full, fast)
	return false
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
				require.Equal(t, c.skipped, checkVerified(t, d, c.applied, c.current))
			})
		}
	}
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
// a file applied as one text and found as another.
func FuzzLoadVerified(f *testing.F) {
	const plain = "-- fleetgate:up\nCREATE TABLE t (id int);\n-- fleetgate:down\nDROP TABLE t;\n"
	f.Add(plain, plain, false)
	f.Add(plain, "-- c\n"+plain, true)
	f.Add("-- fleetgate:up\nSELECT $$\n-- fleetgate:down\n$$;\n", "-- fleetgate:up\nSELECT $$\n-- fleetgate:down\n$$;\n", false)
	f.Add("-- fleetgate:up\nSELECT 'a\\';\n-- fleetgate:down\nSELECT 1;\n", "-- fleetgate:up\nSELECT 'a\\';\n-- fleetgate:down\nSELECT 1;\n", true)
	f.Add("-- fleetgate:up\n/* x\n-- fleetgate:down\n*/ SELECT 1;\n", "-- fleetgate:up\n/* x\n-- fleetgate:down\n*/ SELECT 1;\n", false)
	f.Fuzz(func(t *testing.T, applied, current string, mysql bool) {
		d := dialect.Postgres
		if mysql {
			d = dialect.MySQL
		}
		checkVerified(t, d, map[string]string{"1_a.sql": applied}, map[string]string{"1_a.sql": current})
	})
}
