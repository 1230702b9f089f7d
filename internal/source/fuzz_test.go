package source

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// The seed corpora live in testdata/fuzz/FuzzSplit and testdata/fuzz/FuzzParse;
// every input the fuzzer ever failed on stays there and is also a named case in
// the table tests.

func FuzzSplit(f *testing.F) {
	f.Fuzz(func(t *testing.T, sql string) {
		t.Parallel()
		stmts, err := Split(sql, 1)
		lines := 1 + strings.Count(sql, "\n")
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Empty(t, e.File)
			require.GreaterOrEqual(t, e.Line, 1)
			require.LessOrEqual(t, e.Line, lines)
			require.Nil(t, stmts)
			return
		}
		require.NotNil(t, stmts)
		checkStatements(t, sql, 1, stmts)

		// Statements re-joined with plain separators split back into the
		// same statements: nothing leaks across a statement boundary.
		sqls := make([]string, len(stmts))
		for i, s := range stmts {
			sqls[i] = s.SQL
		}
		again, err := Split(strings.Join(sqls, ";\n"), 1)
		require.NoError(t, err)
		require.Len(t, again, len(stmts))
		for i, s := range again {
			require.Equal(t, sqls[i], s.SQL)
		}
	})
}

// checkStatements asserts that every statement is found in src at the line
// and column it claims, in order, without overlap, and with no surrounding
// whitespace.
func checkStatements(t *testing.T, src string, firstLine int, stmts []Statement) {
	t.Helper()
	lastLine := firstLine + strings.Count(src, "\n")
	prevEnd := 0
	for i, s := range stmts {
		require.Equal(t, i, s.Index)
		require.NotEmpty(t, s.SQL)
		require.NotContains(t, " \t\r\n\f\v", s.SQL[:1])
		require.NotContains(t, " \t\r\n\f\v", s.SQL[len(s.SQL)-1:])
		require.GreaterOrEqual(t, s.Line, firstLine)
		require.LessOrEqual(t, s.Line, lastLine)
		require.GreaterOrEqual(t, s.Col, 1)
		off := offsetOf(src, s.Line-firstLine+1, s.Col)
		require.GreaterOrEqual(t, off, prevEnd, "statement %d overlaps the previous one", i)
		require.True(t, strings.HasPrefix(src[off:], s.SQL), "statement %d %q is not at line %d col %d", i, s.SQL, s.Line, s.Col)
		prevEnd = off + len(s.SQL)
	}
}

// offsetOf returns the byte offset of 1-based line and character column in
// src, counting an invalid UTF-8 byte as one character as the scanner does.
func offsetOf(src string, line, col int) int {
	off := 0
	for ; line > 1; line-- {
		off += strings.IndexByte(src[off:], '\n') + 1
	}
	for ; col > 1; col-- {
		_, n := utf8.DecodeRuneInString(src[off:])
		off += n
	}
	return off
}

func FuzzParse(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		t.Parallel()
		m, err := Parse(name, data)
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, name, e.File)
			require.GreaterOrEqual(t, e.Line, 0)
			require.LessOrEqual(t, e.Line, 1+bytes.Count(data, []byte("\n")))
			require.Nil(t, m)
			return
		}
		text := string(normalize(data))
		require.Positive(t, m.Version)
		require.NotEmpty(t, m.Name)
		require.Equal(t, name, m.File)
		require.Contains(t, []Phase{PhasePre, PhasePost}, m.Phase)
		for _, a := range m.Allows {
			require.NotEmpty(t, a.Rule)
			require.NotEmpty(t, a.Reason)
			require.Positive(t, a.Line)
		}

		require.Contains(t, text, m.Up.SQL)
		require.Equal(t, Checksum([]byte(m.Up.SQL)), m.Checksum)
		checkSection(t, text, m.Up)
		if m.Down == nil {
			require.Empty(t, m.DownChecksum)
			require.Empty(t, m.DownFile)
			return
		}
		require.Equal(t, name, m.DownFile)
		require.Equal(t, Checksum([]byte(m.Down.SQL)), m.DownChecksum)
		require.True(t, strings.HasSuffix(text, m.Down.SQL))
		checkSection(t, text, *m.Down)
	})
}

// checkSection asserts that the section's text starts at its StartLine in
// the file and that its statements are where they claim to be.
func checkSection(t *testing.T, text string, s Section) {
	t.Helper()
	require.NotNil(t, s.Statements)
	require.GreaterOrEqual(t, s.StartLine, 1)
	off := len(text) // a marker on the last line, without a newline
	if s.StartLine <= 1+strings.Count(text, "\n") {
		off = offsetOf(text, s.StartLine, 1)
	}
	require.True(t, strings.HasPrefix(text[off:], s.SQL))
	checkStatements(t, s.SQL, s.StartLine, s.Statements)
}

// FuzzSplitMySQL holds the MySQL splitter to the same promises as Split:
// an *Error with a line, or statements found where they claim to be; and,
// outside DELIMITER blocks (whose statements may hold semicolons), joined
// statements split back the same.
func FuzzSplitMySQL(f *testing.F) {
	for _, s := range []string{
		"SELECT 'a\\';b'; SELECT `x;`; # c\nSELECT 1--1;\n-- d\n",
		"/*!40101 SET x=1; */; /* a /* b */ SELECT 2",
		"CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN IF 1 THEN SET @a=1; END IF; CASE WHEN 1 THEN BEGIN END; END CASE; END; SELECT 1",
		"DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\nSELECT 2;",
		"BEGIN NOT ATOMIC SELECT 1; END; BEGIN; COMMIT;",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, sql string) {
		t.Parallel()
		stmts, err := SplitDialect(sql, 1, dialect.MySQL)
		lines := 1 + strings.Count(sql, "\n")
		if err != nil {
			var e *Error
			require.ErrorAs(t, err, &e)
			require.GreaterOrEqual(t, e.Line, 1)
			require.LessOrEqual(t, e.Line, lines)
			require.Nil(t, stmts)
			return
		}
		require.NotNil(t, stmts)
		checkStatements(t, sql, 1, stmts)
		if len(stmts) == 0 || strings.Contains(strings.ToUpper(sql), "DELIMITER") {
			return
		}
		sqls := make([]string, len(stmts))
		for i, s := range stmts {
			sqls[i] = s.SQL
		}
		// "--" is a comment at the very end of a text (MySQL reads the end
		// as a control character) but not before "#": a last statement
		// ending in it changes when it is the end of the text
		// (testdata/fuzz/FuzzSplitMySQL/d76afd85a4663809).
		if strings.HasSuffix(sqls[len(sqls)-1], "--") {
			return
		}
		again, err := SplitDialect(strings.Join(sqls, ";\n"), 1, dialect.MySQL)
		require.NoError(t, err)
		require.Equal(t, sqls, sqlsOf(again))
	})
}

func sqlsOf(stmts []Statement) []string {
	out := make([]string, len(stmts))
	for i, s := range stmts {
		out[i] = s.SQL
	}
	return out
}
