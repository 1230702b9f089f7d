package source

import (
	"bytes"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestParse(t *testing.T) {
	t.Parallel()

	const usersUp = "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL);\n\n"
	const usersDown = "DROP TABLE users;\n"

	tests := []struct {
		name string
		file string
		data string
		want *Migration
	}{
		{
			name: "UpAndDown",
			file: "migrations/20240102030405_create-users.sql",
			data: "-- fleetgate:up\n" + usersUp + "-- fleetgate:down\n" + usersDown,
			want: &Migration{
				Version:  20240102030405,
				Name:     "create-users",
				File:     "migrations/20240102030405_create-users.sql",
				DownFile: "migrations/20240102030405_create-users.sql",
				Up: Section{SQL: usersUp, StartLine: 2, Statements: []Statement{
					{SQL: "CREATE TABLE users (id bigint PRIMARY KEY, email text NOT NULL)", Line: 2, Col: 1},
				}},
				Down: &Section{SQL: usersDown, StartLine: 5, Statements: []Statement{
					{SQL: "DROP TABLE users", Line: 5, Col: 1},
				}},
				Phase:        PhasePre,
				Checksum:     Checksum([]byte(usersUp)),
				DownChecksum: Checksum([]byte(usersDown)),
			},
		},
		{
			name: "NoDownIsIrreversible",
			file: "0001_x.sql",
			data: "-- fleetgate:up\nSELECT 1;\n",
			want: &Migration{
				Version: 1, Name: "x", File: "0001_x.sql",
				Up:       Section{SQL: "SELECT 1;\n", StartLine: 2, Statements: []Statement{{SQL: "SELECT 1", Line: 2, Col: 1}}},
				Phase:    PhasePre,
				Checksum: Checksum([]byte("SELECT 1;\n")),
			},
		},
		{
			name: "EmptyDownIsNoOp",
			file: "2_x.sql",
			data: "-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\n  \n-- nothing to undo\n",
			want: &Migration{
				Version: 2, Name: "x", File: "2_x.sql", DownFile: "2_x.sql",
				Up:           Section{SQL: "SELECT 1;\n", StartLine: 2, Statements: []Statement{{SQL: "SELECT 1", Line: 2, Col: 1}}},
				Down:         &Section{SQL: "  \n-- nothing to undo\n", StartLine: 4, Statements: []Statement{}},
				Phase:        PhasePre,
				Checksum:     Checksum([]byte("SELECT 1;\n")),
				DownChecksum: Checksum([]byte("  \n-- nothing to undo\n")),
			},
		},
		{
			name: "DownMarkerAtEndOfFile",
			file: "3_x.sql",
			data: "-- fleetgate:up\nSELECT 1;\n-- fleetgate:down",
			want: &Migration{
				Version: 3, Name: "x", File: "3_x.sql", DownFile: "3_x.sql",
				Up:           Section{SQL: "SELECT 1;\n", StartLine: 2, Statements: []Statement{{SQL: "SELECT 1", Line: 2, Col: 1}}},
				Down:         &Section{SQL: "", StartLine: 4, Statements: []Statement{}},
				Phase:        PhasePre,
				Checksum:     Checksum([]byte("SELECT 1;\n")),
				DownChecksum: Checksum(nil),
			},
		},
		{
			name: "EmptyUp",
			file: "4_x.sql",
			data: "-- fleetgate:up",
			want: &Migration{
				Version: 4, Name: "x", File: "4_x.sql",
				Up:       Section{SQL: "", StartLine: 2, Statements: []Statement{}},
				Phase:    PhasePre,
				Checksum: Checksum(nil),
			},
		},
		{
			name: "HeaderDirectivesCommentsAndBlankLines",
			file: "5_add.index.sql",
			data: "-- Adds an index.\n\n/* block\n comment */\n" +
				"-- fleetgate:no-transaction\n" +
				"  -- fleetgate: phase post\n" +
				"--fleetgate:allow PG001   index built concurrently, table is small \n" +
				"-- fleetgate:up\n" +
				"CREATE INDEX CONCURRENTLY i ON t (a);\n" +
				"-- fleetgate:allow PG002 second finding\n",
			want: &Migration{
				Version: 5, Name: "add.index", File: "5_add.index.sql",
				Up: Section{
					SQL:           "CREATE INDEX CONCURRENTLY i ON t (a);\n-- fleetgate:allow PG002 second finding\n",
					StartLine:     9,
					Statements:    []Statement{{SQL: "CREATE INDEX CONCURRENTLY i ON t (a)", Line: 9, Col: 1}},
					NoTransaction: true,
				},
				NoTransaction: true,
				Phase:         PhasePost,
				Allows: []Allow{
					{Rule: "PG001", Reason: "index built concurrently, table is small", Line: 7},
					{Rule: "PG002", Reason: "second finding", Line: 10},
				},
				Checksum: Checksum([]byte("CREATE INDEX CONCURRENTLY i ON t (a);\n-- fleetgate:allow PG002 second finding\n")),
			},
		},
		{
			name: "ExplicitPhasePre",
			file: "6_x.sql",
			data: "-- fleetgate:phase pre\n-- fleetgate:up\n",
			want: &Migration{
				Version: 6, Name: "x", File: "6_x.sql",
				Up:       Section{SQL: "", StartLine: 3, Statements: []Statement{}},
				Phase:    PhasePre,
				Checksum: Checksum(nil),
			},
		},
		{
			name: "MarkersInsideQuotesAndCommentsAreText",
			file: "7_fn.sql",
			data: "-- fleetgate:up\n" +
				"CREATE FUNCTION f() RETURNS text AS $$\n-- fleetgate:down\nSELECT 'x';\n$$ LANGUAGE sql;\n" +
				"SELECT '\n-- fleetgate:down\n';\n" +
				"/*\n-- fleetgate:bogus\n*/\n" +
				"SELECT 1; -- fleetgate:down\n",
			want: &Migration{
				Version: 7, Name: "fn", File: "7_fn.sql",
				Up: Section{
					SQL: "CREATE FUNCTION f() RETURNS text AS $$\n-- fleetgate:down\nSELECT 'x';\n$$ LANGUAGE sql;\n" +
						"SELECT '\n-- fleetgate:down\n';\n/*\n-- fleetgate:bogus\n*/\nSELECT 1; -- fleetgate:down\n",
					StartLine: 2,
					Statements: []Statement{
						{SQL: "CREATE FUNCTION f() RETURNS text AS $$\n-- fleetgate:down\nSELECT 'x';\n$$ LANGUAGE sql", Line: 2, Col: 1},
						{SQL: "SELECT '\n-- fleetgate:down\n'", Line: 6, Index: 1, Col: 1},
						{SQL: "SELECT 1", Line: 12, Index: 2, Col: 1},
					},
				},
				Phase: PhasePre,
				Checksum: Checksum([]byte("CREATE FUNCTION f() RETURNS text AS $$\n-- fleetgate:down\nSELECT 'x';\n$$ LANGUAGE sql;\n" +
					"SELECT '\n-- fleetgate:down\n';\n/*\n-- fleetgate:bogus\n*/\nSELECT 1; -- fleetgate:down\n")),
			},
		},
		{
			name: "MissingSemicolonBeforeDownMarker",
			file: "8_x.sql",
			data: "-- fleetgate:up\nSELECT 1\n-- fleetgate:down\nSELECT 2",
			want: &Migration{
				Version: 8, Name: "x", File: "8_x.sql", DownFile: "8_x.sql",
				Up:           Section{SQL: "SELECT 1\n", StartLine: 2, Statements: []Statement{{SQL: "SELECT 1", Line: 2, Col: 1}}},
				Down:         &Section{SQL: "SELECT 2", StartLine: 4, Statements: []Statement{{SQL: "SELECT 2", Line: 4, Col: 1}}},
				Phase:        PhasePre,
				Checksum:     Checksum([]byte("SELECT 1\n")),
				DownChecksum: Checksum([]byte("SELECT 2")),
			},
		},
		{
			name: "GolangMigrateUpFile",
			file: "db/9_add_col.up.sql",
			data: "-- fleetgate:no-transaction\nALTER TABLE t ADD COLUMN c int;\n",
			want: &Migration{
				Version: 9, Name: "add_col", File: "db/9_add_col.up.sql",
				Up: Section{
					SQL:           "-- fleetgate:no-transaction\nALTER TABLE t ADD COLUMN c int;\n",
					StartLine:     1,
					Statements:    []Statement{{SQL: "ALTER TABLE t ADD COLUMN c int", Line: 2, Col: 1}},
					NoTransaction: true,
				},
				NoTransaction: true,
				Phase:         PhasePre,
				Checksum:      Checksum([]byte("-- fleetgate:no-transaction\nALTER TABLE t ADD COLUMN c int;\n")),
			},
		},
		{
			name: "GolangMigrateUpFileMayKeepUpMarker",
			file: "10_x.up.sql",
			data: "-- fleetgate:up\nSELECT 1;",
			want: &Migration{
				Version: 10, Name: "x", File: "10_x.up.sql",
				Up: Section{SQL: "-- fleetgate:up\nSELECT 1;", StartLine: 1,
					Statements: []Statement{{SQL: "SELECT 1", Line: 2, Col: 1}}},
				Phase:    PhasePre,
				Checksum: Checksum([]byte("-- fleetgate:up\nSELECT 1;")),
			},
		},
		{
			name: "GolangMigrateUpFileNeedsNoStatements",
			file: "11_x.up.sql",
			data: "",
			want: &Migration{
				Version: 11, Name: "x", File: "11_x.up.sql",
				Up:       Section{SQL: "", StartLine: 1, Statements: []Statement{}},
				Phase:    PhasePre,
				Checksum: Checksum(nil),
			},
		},
		{
			name: "MaxInt64Version",
			file: "9223372036854775807_last.sql",
			data: "-- fleetgate:up\n",
			want: &Migration{
				Version: 9223372036854775807, Name: "last", File: "9223372036854775807_last.sql",
				Up:       Section{SQL: "", StartLine: 2, Statements: []Statement{}},
				Phase:    PhasePre,
				Checksum: Checksum(nil),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.file, []byte(tt.data))
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// TestParseLineEndingsDoNotChangeChecksums is the promise in the spec: a
// Windows checkout (CRLF, maybe a BOM) must not look like an edit of an
// applied migration.
func TestParseLineEndingsDoNotChangeChecksums(t *testing.T) {
	t.Parallel()

	const lf = "-- fleetgate:up\nCREATE TABLE t (\n  id int\n);\n-- fleetgate:down\nDROP TABLE t;\n"
	tests := []struct {
		name string
		data []byte
	}{
		{name: "CRLF", data: []byte(strings.ReplaceAll(lf, "\n", "\r\n"))},
		{name: "BOM", data: append([]byte("\xEF\xBB\xBF"), lf...)},
		{name: "CRLFAndBOM", data: append([]byte("\xEF\xBB\xBF"), strings.ReplaceAll(lf, "\n", "\r\n")...)},
		{name: "MixedLineEndings", data: []byte(strings.Replace(lf, "\n", "\r\n", 3))},
	}
	want, err := Parse("1_t.sql", []byte(lf))
	require.NoError(t, err)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse("1_t.sql", tt.data)
			require.NoError(t, err)
			require.Equal(t, want.Checksum, got.Checksum)
			require.Equal(t, want.DownChecksum, got.DownChecksum)
			require.Equal(t, want, got)
			require.Equal(t, Checksum([]byte(lf)), Checksum(tt.data))
		})
	}
}

func TestChecksum(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		in   string
		want string
	}{
		// sha256("") and sha256("a\n"), so the normalisation is pinned to a
		// plain, documented SHA-256 that other tools can reproduce.
		{name: "Empty", in: "", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{name: "BOMOnly", in: "\xEF\xBB\xBF", want: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
		{name: "LF", in: "a\n", want: "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"},
		{name: "CRLF", in: "a\r\n", want: "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"},
		{name: "BOMAndCRLF", in: "\xEF\xBB\xBFa\r\n", want: "87428fc522803d31065e7bce3cf03fe475096631e5e07bbd7a0fde60c4cf25c7"},
		{name: "LoneCRIsContent", in: "a\r", want: "961a57df036f6c4f44ca8a054271c45e823f469bcc439f0255c40974c3e3d131"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, Checksum([]byte(tt.in)))
		})
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name     string
		file     string // defaults to "m/1_x.sql"
		data     string
		wantLine int
		wantMsg  string // substring of Msg
	}{
		{name: "UnknownDirective", data: "-- fleetgate:up\nSELECT 1;\n-- fleetgate:foo bar\n", wantLine: 3, wantMsg: `unknown directive "foo"`},
		{name: "DirectiveNamesAreCaseSensitive", data: "-- fleetgate:UP\n", wantLine: 1, wantMsg: `unknown directive "UP"`},
		{name: "EmptyDirective", data: "-- fleetgate:\n-- fleetgate:up\n", wantLine: 1, wantMsg: `unknown directive ""`},
		{name: "MissingUp", data: "-- just a comment\n", wantLine: 0, wantMsg: "missing -- fleetgate:up section"},
		{name: "EmptyFile", data: "", wantLine: 0, wantMsg: "missing -- fleetgate:up section"},
		{name: "MissingUpWithSQL", data: "CREATE TABLE t (id int);\n", wantLine: 0, wantMsg: "missing -- fleetgate:up section"},
		{name: "SQLBeforeUp", data: "-- header\n\nCREATE TABLE t (id int);\n-- fleetgate:up\nSELECT 1;\n", wantLine: 3, wantMsg: "SQL before -- fleetgate:up"},
		{name: "SemicolonBeforeUp", data: "-- fleetgate:no-transaction\n;\n-- fleetgate:up\n", wantLine: 2, wantMsg: "SQL before -- fleetgate:up"},
		{name: "DuplicateUp", data: "-- fleetgate:up\nSELECT 1;\n-- fleetgate:up\n", wantLine: 3, wantMsg: "duplicate -- fleetgate:up (first at line 1)"},
		{name: "DuplicateDown", data: "-- fleetgate:up\n-- fleetgate:down\n\n-- fleetgate:down\n", wantLine: 4, wantMsg: "duplicate -- fleetgate:down (first at line 2)"},
		{name: "DownBeforeUp", data: "-- fleetgate:down\nDROP TABLE t;\n-- fleetgate:up\n", wantLine: 1, wantMsg: "-- fleetgate:down before -- fleetgate:up"},
		{name: "DownWithoutUp", data: "\n-- fleetgate:down\n", wantLine: 2, wantMsg: "-- fleetgate:down before -- fleetgate:up"},
		{name: "UpWithArguments", data: "-- fleetgate:up now\n", wantLine: 1, wantMsg: "-- fleetgate:up takes no arguments"},
		{name: "DownWithArguments", data: "-- fleetgate:up\n-- fleetgate:down please\n", wantLine: 2, wantMsg: "-- fleetgate:down takes no arguments"},
		{name: "NoTransactionWithArguments", data: "-- fleetgate:no-transaction yes\n-- fleetgate:up\n", wantLine: 1, wantMsg: "no-transaction takes no arguments"},
		{name: "BadPhase", data: "-- fleetgate:phase later\n-- fleetgate:up\n", wantLine: 1, wantMsg: `phase must be "pre" or "post", not "later"`},
		{name: "PhaseWithoutValue", data: "-- fleetgate:up\n-- fleetgate:phase\n", wantLine: 2, wantMsg: `phase must be "pre" or "post", not ""`},
		{name: "DuplicatePhase", data: "-- fleetgate:phase post\n-- fleetgate:phase post\n-- fleetgate:up\n", wantLine: 2, wantMsg: "duplicate -- fleetgate:phase (first at line 1)"},
		{name: "AllowWithoutReason", data: "-- fleetgate:allow PG001\n-- fleetgate:up\n", wantLine: 1, wantMsg: "-- fleetgate:allow PG001 needs a reason"},
		{name: "AllowWithoutReasonTrailingSpace", data: "-- fleetgate:allow PG001 \t\n-- fleetgate:up\n", wantLine: 1, wantMsg: "-- fleetgate:allow PG001 needs a reason"},
		{name: "AllowWithoutRule", data: "-- fleetgate:up\n\n-- fleetgate:allow\n", wantLine: 3, wantMsg: "-- fleetgate:allow needs a rule and a reason"},
		{name: "NULByte", data: "-- fleetgate:up\nSELECT 1;\nSELECT\x002;\n", wantLine: 3, wantMsg: "NUL byte"},
		{name: "InvalidUTF8", data: "-- fleetgate:up\n\nSELECT '\xff';\n", wantLine: 3, wantMsg: "invalid UTF-8"},
		{name: "TruncatedUTF8AtEnd", data: "-- fleetgate:up\nSELECT 'é\xc3", wantLine: 2, wantMsg: "invalid UTF-8"},
		{name: "UTF16", data: "\xff\xfe-\x00-\x00", wantLine: 1, wantMsg: "invalid UTF-8"},
		{name: "NULBeforeInvalidUTF8", data: "\x00\n\xff", wantLine: 1, wantMsg: "NUL byte"},
		{name: "InvalidUTF8BeforeNUL", data: "\xff\n\x00", wantLine: 1, wantMsg: "invalid UTF-8"},
		{name: "UnterminatedStringInUp", data: "-- fleetgate:up\nSELECT 1;\nSELECT 'oops;\n", wantLine: 3, wantMsg: "unterminated quoted string"},
		{name: "UnterminatedDollarSwallowsDown", data: "-- fleetgate:up\nDO $$\nBEGIN;\n-- fleetgate:down\nSELECT 1;\n", wantLine: 2, wantMsg: "unterminated dollar-quoted string $$"},
		{name: "UnterminatedInDown", data: "-- fleetgate:up\nSELECT 1;\n-- fleetgate:down\n\n/* never closed\n", wantLine: 5, wantMsg: "unterminated block comment"},
		{name: "UnterminatedBeforeUp", data: "/* header\n-- fleetgate:up\n", wantLine: 1, wantMsg: "unterminated block comment"},
		{name: "DownMarkerInUpFile", file: "m/1_x.up.sql", data: "SELECT 1;\n-- fleetgate:down\nSELECT 2;\n", wantLine: 2, wantMsg: "-- fleetgate:down in a .up.sql file"},
		{name: "UnknownDirectiveInUpFile", file: "m/1_x.up.sql", data: "-- fleetgate:no-transactions\n", wantLine: 1, wantMsg: `unknown directive "no-transactions"`},
		{name: "DownFileAlone", file: "m/1_x.down.sql", data: "DROP TABLE t;\n", wantLine: 0, wantMsg: "read together with its .up.sql"},
		{name: "NameWithoutVersion", file: "m/create_users.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "NameWithoutUnderscore", file: "m/1.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "NameWithHyphenAfterVersion", file: "m/2-add.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "FlywayName", file: "m/V2__add.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "SignedVersion", file: "m/+1_x.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "NegativeVersion", file: "m/-1_x.sql", data: "-- fleetgate:up\n", wantMsg: "<version>_<name>.sql"},
		{name: "VersionZero", file: "m/000_x.sql", data: "-- fleetgate:up\n", wantMsg: "version must be a positive integer"},
		{name: "VersionOverflow", file: "m/9223372036854775808_x.sql", data: "-- fleetgate:up\n", wantMsg: "version 9223372036854775808 does not fit"},
		{name: "EmptyName", file: "m/1_.sql", data: "-- fleetgate:up\n", wantMsg: "no name after the version"},
		{name: "EmptyNameUp", file: "m/1_.up.sql", data: "", wantMsg: "no name after the version"},
		{name: "ControlCharacterInName", file: "m/1_a\nb.sql", data: "-- fleetgate:up\n", wantMsg: "control characters"},
		{name: "InvalidUTF8InName", file: "m/1_a\xffb.sql", data: "-- fleetgate:up\n", wantMsg: "invalid UTF-8"},
		{name: "NotSQL", file: "m/1_x.txt", data: "-- fleetgate:up\n", wantMsg: `must end in ".sql"`},
		{name: "UppercaseSQLSuffix", file: "m/1_x.SQL", data: "-- fleetgate:up\n", wantMsg: `must end in ".sql"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			file := tt.file
			if file == "" {
				file = "m/1_x.sql"
			}
			got, err := Parse(file, []byte(tt.data))
			require.Nil(t, got)
			requireError(t, err, file, tt.wantLine, tt.wantMsg)
		})
	}
}

func TestParseTooLarge(t *testing.T) {
	t.Parallel()

	data := bytes.Repeat([]byte("-- padding\n"), MaxFileSize/11+1)
	got, err := Parse("1_big.sql", data)
	require.Nil(t, got)
	requireError(t, err, "1_big.sql", 0, "over the 16 MiB limit")
}

// requireError checks that err is an *Error for file and line whose message
// contains msg, and that its text shows file and line the way editors and CI
// annotations expect.
func requireError(t *testing.T, err error, file string, line int, msg string) {
	t.Helper()
	var e *Error
	require.ErrorAs(t, err, &e)
	require.Equal(t, file, e.File)
	require.Equal(t, line, e.Line)
	require.Contains(t, e.Msg, msg)
	prefix := file + ": "
	if line > 0 {
		prefix = file + ":" + strconv.Itoa(line) + ": "
	}
	require.True(t, strings.HasPrefix(err.Error(), prefix), "%q does not start with %q", err.Error(), prefix)
}

func TestErrorString(t *testing.T) {
	t.Parallel()

	tests := []struct {
		name string
		err  *Error
		want string
	}{
		{name: "FileAndLine", err: &Error{File: "m/1_x.sql", Line: 3, Msg: "boom"}, want: "m/1_x.sql:3: boom"},
		{name: "FileOnly", err: &Error{File: "m/1_x.sql", Msg: "boom"}, want: "m/1_x.sql: boom"},
		{name: "LineOnly", err: &Error{Line: 3, Msg: "boom"}, want: "line 3: boom"},
		{name: "MessageOnly", err: &Error{Msg: "boom"}, want: "boom"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}
