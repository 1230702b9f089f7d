package source

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"
)

func file(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }

func TestLoad(t *testing.T) {
	t.Parallel()

	type want struct {
		version       int64
		name          string
		file          string
		downFile      string
		up            string   // Up.SQL
		down          *string  // Down.SQL, nil for no down section
		downStmts     []string // SQL of the down statements
		noTransaction bool
	}
	str := func(s string) *string { return &s }

	tests := []struct {
		name string
		fsys fstest.MapFS
		dir  string
		want []want
	}{
		{
			name: "EmptyDirectory",
			fsys: fstest.MapFS{"m/README.md": file("# migrations\n")},
			dir:  "m",
			want: []want{},
		},
		{
			name: "FleetgateFormatAndIgnoredEntries",
			fsys: fstest.MapFS{
				"m/2_b.sql":            file("-- fleetgate:up\nSELECT 2;\n"),
				"m/1_a.sql":            file("-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\nSELECT -1;\n"),
				"m/README.md":          file("not a migration"),
				"m/notes.txt":          file("nor this"),
				"m/.3_hidden.sql":      file("garbage"),
				"m/.editor-backup.sql": file("garbage"),
				"m/4_dir.sql/x":        file("a directory named like a migration"),
				"m/sub/5_nested.sql":   file("-- fleetgate:up\nSELECT 5;\n"),
				"m/.git/config":        file(""),
				"6_outside.sql":        file("-- fleetgate:up\n"),
			},
			dir: "m",
			want: []want{
				{version: 1, name: "a", file: "m/1_a.sql", downFile: "m/1_a.sql", up: "SELECT 1;\n", down: str("SELECT -1;\n"), downStmts: []string{"SELECT -1"}},
				{version: 2, name: "b", file: "m/2_b.sql", up: "SELECT 2;\n"},
			},
		},
		{
			name: "RootDirectory",
			fsys: fstest.MapFS{"1_a.sql": file("-- fleetgate:up\nSELECT 1;\n")},
			dir:  ".",
			want: []want{{version: 1, name: "a", file: "1_a.sql", up: "SELECT 1;\n"}},
		},
		{
			name: "GolangMigrateLayout",
			fsys: fstest.MapFS{
				"m/1_create.up.sql":     file("CREATE TABLE t (id int);\n"),
				"m/1_create.down.sql":   file("DROP TABLE t;\n"),
				"m/2_seed.up.sql":       file("-- fleetgate:no-transaction\nINSERT INTO t VALUES (1);\n"),
				"m/3_idx.up.sql":        file("CREATE INDEX i ON t (id);\n"),
				"m/3_drop_idx.down.sql": file("DROP INDEX i;\n"),
				"m/4_noop.up.sql":       file("SELECT 1;\n"),
				"m/4_noop.down.sql":     file(" \n\t\n"),
				"m/5_commented.up.sql":  file("SELECT 1;\n"),
				"m/5_commented.down.sql": file(
					"-- nothing to undo; the up only reads\n"),
			},
			dir: "m",
			want: []want{
				{version: 1, name: "create", file: "m/1_create.up.sql", downFile: "m/1_create.down.sql", up: "CREATE TABLE t (id int);\n", down: str("DROP TABLE t;\n"), downStmts: []string{"DROP TABLE t"}},
				{version: 2, name: "seed", file: "m/2_seed.up.sql", up: "-- fleetgate:no-transaction\nINSERT INTO t VALUES (1);\n", noTransaction: true},
				{version: 3, name: "idx", file: "m/3_idx.up.sql", downFile: "m/3_drop_idx.down.sql", up: "CREATE INDEX i ON t (id);\n", down: str("DROP INDEX i;\n"), downStmts: []string{"DROP INDEX i"}},
				{version: 4, name: "noop", file: "m/4_noop.up.sql", downFile: "m/4_noop.down.sql", up: "SELECT 1;\n", down: str(" \n\t\n"), downStmts: []string{}},
				{version: 5, name: "commented", file: "m/5_commented.up.sql", downFile: "m/5_commented.down.sql", up: "SELECT 1;\n", down: str("-- nothing to undo; the up only reads\n"), downStmts: []string{}},
			},
		},
		{
			name: "MixedLayouts",
			fsys: fstest.MapFS{
				"m/0001_a.sql":    file("-- fleetgate:up\nSELECT 1;\n"),
				"m/0002_b.up.sql": file("SELECT 2;\n"),
			},
			dir: "m",
			want: []want{
				{version: 1, name: "a", file: "m/0001_a.sql", up: "SELECT 1;\n"},
				{version: 2, name: "b", file: "m/0002_b.up.sql", up: "SELECT 2;\n"},
			},
		},
		{
			name: "TimestampVersions",
			fsys: fstest.MapFS{
				"m/20250101000000_b.sql":  file("-- fleetgate:up\n"),
				"m/20241231235959_a.sql":  file("-- fleetgate:up\n"),
				"m/99991231235959_z.sql":  file("-- fleetgate:up\n"),
				"m/20250101000001_c.sql":  file("-- fleetgate:up\n"),
				"m/20250101000000x_y.txt": file("ignored"),
			},
			dir: "m",
			want: []want{
				{version: 20241231235959, name: "a", file: "m/20241231235959_a.sql"},
				{version: 20250101000000, name: "b", file: "m/20250101000000_b.sql"},
				{version: 20250101000001, name: "c", file: "m/20250101000001_c.sql"},
				{version: 99991231235959, name: "z", file: "m/99991231235959_z.sql"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(tt.fsys, tt.dir)
			require.NoError(t, err)
			require.Len(t, got, len(tt.want))
			for i, w := range tt.want {
				m := got[i]
				require.Equal(t, w.version, m.Version)
				require.Equal(t, w.name, m.Name)
				require.Equal(t, w.file, m.File)
				require.Equal(t, w.downFile, m.DownFile)
				require.Equal(t, w.up, m.Up.SQL)
				require.Equal(t, Checksum([]byte(w.up)), m.Checksum)
				require.Equal(t, w.noTransaction, m.NoTransaction)
				require.Equal(t, PhasePre, m.Phase)
				if w.down == nil {
					require.Nil(t, m.Down)
					require.Empty(t, m.DownChecksum)
					continue
				}
				require.NotNil(t, m.Down)
				require.Equal(t, *w.down, m.Down.SQL)
				require.Equal(t, Checksum([]byte(*w.down)), m.DownChecksum)
				require.NotNil(t, m.Down.Statements)
				sqls := []string{}
				for _, s := range m.Down.Statements {
					sqls = append(sqls, s.SQL)
				}
				require.Equal(t, w.downStmts, sqls)
			}
		})
	}
}

// TestLoadSortsNumerically uses versions that sort differently as strings
// ("10" < "9") to show that order comes from the number, not the name.
func TestLoadSortsNumerically(t *testing.T) {
	t.Parallel()

	fsys := fstest.MapFS{}
	for v := 1; v <= 124; v++ {
		name := fmt.Sprintf("m/%d_step-%d.sql", v, v)
		if v%2 == 0 {
			name = fmt.Sprintf("m/%d_step-%d.up.sql", v, v)
		}
		fsys[name] = file("-- fleetgate:up\nSELECT " + strconv.Itoa(v) + ";\n")
	}
	got, err := Load(fsys, "m")
	require.NoError(t, err)
	require.Len(t, got, 124)
	for i, m := range got {
		v := i + 1
		require.Equal(t, int64(v), m.Version)
		require.Equal(t, "step-"+strconv.Itoa(v), m.Name)
		require.Equal(t, "SELECT "+strconv.Itoa(v), m.Up.Statements[0].SQL)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		fsys     fstest.MapFS
		wantFile string
		wantLine int
		wantMsg  string
	}{
		{
			name: "DuplicateVersionWithZeroPadding",
			fsys: fstest.MapFS{
				"m/1_a.sql":   file("-- fleetgate:up\n"),
				"m/001_b.sql": file("-- fleetgate:up\n"),
			},
			wantFile: "m/1_a.sql", wantMsg: "duplicate version 1: also in m/001_b.sql",
		},
		{
			name: "DuplicateVersionAcrossLayouts",
			fsys: fstest.MapFS{
				"m/7_a.sql":    file("-- fleetgate:up\n"),
				"m/7_b.up.sql": file("SELECT 1;\n"),
			},
			wantFile: "m/7_b.up.sql", wantMsg: "duplicate version 7: also in m/7_a.sql",
		},
		{
			name: "DuplicateDownFiles",
			fsys: fstest.MapFS{
				"m/7_a.up.sql":   file("SELECT 1;\n"),
				"m/7_a.down.sql": file("SELECT 1;\n"),
				"m/7_b.down.sql": file("SELECT 1;\n"),
			},
			wantFile: "m/7_b.down.sql", wantMsg: "duplicate version 7: also in m/7_a.down.sql",
		},
		{
			name: "DownWithoutUp",
			fsys: fstest.MapFS{
				"m/1_a.up.sql":   file("SELECT 1;\n"),
				"m/2_b.down.sql": file("SELECT 1;\n"),
			},
			wantFile: "m/2_b.down.sql", wantMsg: "no matching 2_<name>.up.sql",
		},
		{
			name: "DownFileBesideFleetgateFile",
			fsys: fstest.MapFS{
				"m/3_a.sql":      file("-- fleetgate:up\n"),
				"m/3_a.down.sql": file("SELECT 1;\n"),
			},
			wantFile: "m/3_a.down.sql", wantMsg: "duplicate version 3: also in m/3_a.sql, which is not a .up.sql file",
		},
		{
			name:     "MisnamedFile",
			fsys:     fstest.MapFS{"m/1_a.sql": file("-- fleetgate:up\n"), "m/2-add-users.sql": file("-- fleetgate:up\n")},
			wantFile: "m/2-add-users.sql", wantMsg: "<version>_<name>.sql",
		},
		{
			name:     "UppercaseSuffix",
			fsys:     fstest.MapFS{"m/1_a.SQL": file("-- fleetgate:up\n")},
			wantFile: "m/1_a.SQL", wantMsg: `must end in ".sql"`,
		},
		{
			name:     "VersionZero",
			fsys:     fstest.MapFS{"m/0_init.sql": file("-- fleetgate:up\n")},
			wantFile: "m/0_init.sql", wantMsg: "positive",
		},
		{
			name:     "VersionOverflow",
			fsys:     fstest.MapFS{"m/99999999999999999999_a.sql": file("-- fleetgate:up\n")},
			wantFile: "m/99999999999999999999_a.sql", wantMsg: "does not fit in a 64-bit integer",
		},
		{
			name:     "NameCheckedBeforeContent",
			fsys:     fstest.MapFS{"m/1_a.sql": file("\x00"), "m/x.sql": file("-- fleetgate:up\n")},
			wantFile: "m/x.sql", wantMsg: "<version>_<name>.sql",
		},
		{
			name:     "NULByte",
			fsys:     fstest.MapFS{"m/1_a.sql": file("-- fleetgate:up\nSELECT 1;\n\x00")},
			wantFile: "m/1_a.sql", wantLine: 3, wantMsg: "NUL byte",
		},
		{
			name:     "InvalidUTF8",
			fsys:     fstest.MapFS{"m/1_a.sql": file("-- fleetgate:up\n\xc0\xaf")},
			wantFile: "m/1_a.sql", wantLine: 2, wantMsg: "invalid UTF-8",
		},
		{
			name:     "InvalidUTF8InDownFile",
			fsys:     fstest.MapFS{"m/1_a.up.sql": file("SELECT 1;\n"), "m/1_a.down.sql": file("\n\n\xfe")},
			wantFile: "m/1_a.down.sql", wantLine: 3, wantMsg: "invalid UTF-8",
		},
		{
			name:     "UnknownDirective",
			fsys:     fstest.MapFS{"m/1_a.sql": file("-- fleetgate:up\n-- fleetgate:no-tx\n")},
			wantFile: "m/1_a.sql", wantLine: 2, wantMsg: `unknown directive "no-tx"`,
		},
		{
			name:     "MissingUp",
			fsys:     fstest.MapFS{"m/1_a.sql": file("CREATE TABLE t (id int);\n")},
			wantFile: "m/1_a.sql", wantMsg: "missing -- fleetgate:up section",
		},
		{
			name:     "UnterminatedStringInDownFile",
			fsys:     fstest.MapFS{"m/1_a.up.sql": file("SELECT 1;\n"), "m/1_a.down.sql": file("SELECT 1;\nSELECT 'x;\n")},
			wantFile: "m/1_a.down.sql", wantLine: 2, wantMsg: "unterminated quoted string",
		},
		{
			name:     "DirectiveInDownFile",
			fsys:     fstest.MapFS{"m/1_a.up.sql": file("SELECT 1;\n"), "m/1_a.down.sql": file("-- fleetgate:no-transaction\nDROP INDEX i;\n")},
			wantFile: "m/1_a.down.sql", wantLine: 1, wantMsg: "directives belong in the .up.sql file",
		},
		{
			name:     "UnknownDirectiveInDownFile",
			fsys:     fstest.MapFS{"m/1_a.up.sql": file("SELECT 1;\n"), "m/1_a.down.sql": file("\n-- fleetgate:nope\n")},
			wantFile: "m/1_a.down.sql", wantLine: 2, wantMsg: `unknown directive "nope"`,
		},
		{
			name:     "NotARegularFile",
			fsys:     fstest.MapFS{"m/1_a.sql": &fstest.MapFile{Mode: fs.ModeNamedPipe}},
			wantFile: "m/1_a.sql", wantMsg: "not a regular file",
		},
		{
			name: "FirstErrorInVersionOrder",
			fsys: fstest.MapFS{
				"m/10_a.sql": file("-- fleetgate:bad\n"),
				"m/9_a.sql":  file("-- fleetgate:up\n'"),
			},
			wantFile: "m/9_a.sql", wantLine: 2, wantMsg: "unterminated quoted string",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Load(tt.fsys, "m")
			require.Nil(t, got)
			requireError(t, err, tt.wantFile, tt.wantLine, tt.wantMsg)
		})
	}
}

// statOnlyFS fails every attempt to read the named file, to prove that an
// oversized file is refused from its size alone.
type statOnlyFS struct {
	fstest.MapFS
	name string
}

func (f statOnlyFS) Open(name string) (fs.File, error) {
	if name == f.name {
		return nil, errors.New("test: file must not be opened")
	}
	return f.MapFS.Open(name)
}

func (f statOnlyFS) ReadFile(name string) ([]byte, error) {
	if name == f.name {
		return nil, errors.New("test: file must not be read")
	}
	return f.MapFS.ReadFile(name)
}

func TestLoadRefusesLargeFileBeforeReading(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		size int
		ok   bool
	}{
		{name: "AtLimit", size: MaxFileSize, ok: true},
		{name: "OverLimit", size: MaxFileSize + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := make([]byte, tt.size)
			copy(data, "-- fleetgate:up\n")
			for i := len("-- fleetgate:up\n"); i < len(data); i++ {
				data[i] = ' '
			}
			fsys := fstest.MapFS{"m/1_big.sql": {Data: data}}
			if tt.ok {
				got, err := Load(fsys, "m")
				require.NoError(t, err)
				require.Len(t, got, 1)
				return
			}
			got, err := Load(statOnlyFS{MapFS: fsys, name: "m/1_big.sql"}, "m")
			require.Nil(t, got)
			requireError(t, err, "m/1_big.sql", 0, "over the 16 MiB limit")
		})
	}
}

func TestLoadMissingDirectory(t *testing.T) {
	t.Parallel()

	got, err := Load(fstest.MapFS{"x/1_a.sql": file("")}, "m")
	require.Nil(t, got)
	require.ErrorIs(t, err, fs.ErrNotExist)
}

// TestLoadDirFS reads from the real file system, which is what the CLI uses;
// MapFS alone would not show that paths and stat work the same there.
func TestLoadDirFS(t *testing.T) {
	t.Parallel()

	dir := t.TempDir()
	write := func(name, data string) {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600))
	}
	write("2_b.up.sql", "SELECT 2;\r\n")
	write("2_b.down.sql", "SELECT -2;\r\n")
	write("1_a.sql", "\xEF\xBB\xBF-- fleetgate:up\r\nSELECT 1;\r\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "3_dir.sql"), 0o700))

	got, err := Load(os.DirFS(dir), ".")
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, "1_a.sql", got[0].File)
	require.Equal(t, "SELECT 1;\n", got[0].Up.SQL)
	require.Equal(t, "2_b.up.sql", got[1].File)
	require.Equal(t, "2_b.down.sql", got[1].DownFile)
	require.Equal(t, Checksum([]byte("SELECT -2;\n")), got[1].DownChecksum)
}

func BenchmarkLoad1000(b *testing.B) {
	fsys := fstest.MapFS{}
	for v := 1; v <= 1000; v++ {
		fsys[fmt.Sprintf("m/%014d_change_%d.sql", 20240000000000+v, v)] = file(fmt.Sprintf(
			"-- Adds table %[1]d.\n-- fleetgate:up\n"+
				"CREATE TABLE t%[1]d (\n  id bigint PRIMARY KEY,\n  name text NOT NULL DEFAULT 'x;y'\n);\n"+
				"CREATE INDEX t%[1]d_name ON t%[1]d (name);\n"+
				"CREATE FUNCTION f%[1]d() RETURNS trigger AS $$\nBEGIN\n  NEW.name := lower(NEW.name);\n  RETURN NEW;\nEND;\n$$ LANGUAGE plpgsql;\n"+
				"-- fleetgate:down\nDROP TABLE t%[1]d;\nDROP FUNCTION f%[1]d();\n", v))
	}
	b.ReportAllocs()
	for b.Loop() {
		got, err := Load(fsys, "m")
		if err != nil || len(got) != 1000 {
			b.Fatal(len(got), err)
		}
	}
}
