package source

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"strconv"
)

// MaxFileSize is the largest migration file accepted. Migrations are read
// whole into memory on every instance of a fleet at start-up, so a stray dump
// or binary dropped into the directory must fail fast instead of exhausting
// memory; 16 MiB is far beyond any hand-written migration.
const MaxFileSize = 16 << 20

// Phase says when a migration may run relative to a rolling deploy.
type Phase string

const (
	// PhasePre migrations expand the schema; they run before new code starts
	// and must stay compatible with the code still running.
	PhasePre Phase = "pre"
	// PhasePost migrations contract the schema; they run only once no old
	// code is left, via "up --phase post".
	PhasePost Phase = "post"
)

// Statement is one statement of a section, with the position an operator
// needs to find it in the file when the database rejects it.
type Statement struct {
	// SQL is the statement text without the terminating ';' and without
	// leading or trailing whitespace and comments; comments inside it are
	// kept so that what runs is what was written.
	SQL string
	// Line is the 1-based file line of the first character of SQL.
	Line int
	// Col is the 1-based column, counted in characters, of that character.
	Col int
	// Index is the 0-based position of the statement in its section; a
	// no-transaction migration records progress by it.
	Index int
}

// Section is the up or the down part of a migration.
type Section struct {
	// SQL is the raw text between the markers after line-ending
	// normalisation. It is what gets checksummed and stored for rollbacks
	// from older builds, so it is kept verbatim, comments included.
	SQL string
	// StartLine is the file line on which SQL starts.
	StartLine int
	// Statements are the statements of SQL in order. An explicitly empty
	// section has an empty, non-nil slice.
	Statements []Statement
	// NoTransaction is set when the section runs statement by statement
	// rather than in one transaction: the file asks for it (a
	// no-transaction directive, goose's NO TRANSACTION, dbmate's
	// transaction:false), or its statements demand it (CONCURRENTLY,
	// VACUUM, several explicit transaction blocks). See Units.
	NoTransaction bool
	// Units group Statements when the file manages transactions itself: nil
	// when it has no explicit BEGIN ... COMMIT block, so that every
	// statement is its own unit.
	Units []Unit
}

// Allow records an operator's decision to accept one check finding for a
// migration. The reason is mandatory so that the decision can be reviewed.
type Allow struct {
	Rule   string
	Reason string
	Line   int
}

// Migration is one migration as read from its file or files.
type Migration struct {
	Version int64
	// Name is the part of the file name after "<version>_", without ".sql"
	// or ".up.sql".
	Name string
	// File is the path, relative to the fs.FS root, of the file holding the
	// up section.
	File string
	// DownFile is the path of the file holding the down section: the
	// .down.sql file in the golang-migrate layout, File when the down section
	// is in the same file, and "" when there is none.
	DownFile string
	Up       Section
	// Down is nil when the migration has no down section and so cannot be
	// rolled back; a non-nil Down without statements is an explicit no-op.
	Down *Section
	// NoTransaction is Up.NoTransaction: set by "-- fleetgate:no-transaction"
	// (or the equivalent of another tool's format), for statements such as
	// CREATE INDEX CONCURRENTLY that refuse to run in a transaction, and
	// derived from the statements when they need it.
	NoTransaction bool
	// Phase defaults to PhasePre.
	Phase  Phase
	Allows []Allow
	// Checksum is Checksum of Up.SQL. It is what detects an edited applied
	// migration, so it is computed after normalisation: a Windows checkout
	// must not look like an edit.
	Checksum string
	// DownChecksum is Checksum of Down.SQL, or "" when Down is nil.
	DownChecksum string
	// Unparsed is set by LoadVerified for a file found to be exactly what
	// was applied: only Version, Name, File, DownFile, Checksum and
	// DownChecksum are set, Up has no statements and Down is nil whatever
	// the file holds. Such a migration is for planning, never for running
	// or checking.
	Unparsed bool
}

// Error is a malformed migration file. It names the file and, where one
// applies, the line, because the operator who reads it has to go and fix
// that file before the deploy can continue.
type Error struct {
	// File is the path of the file, relative to the fs.FS root. Split leaves
	// it empty because it does not know the file; Parse and Load fill it in.
	File string
	// Line is the 1-based line, or 0 when the problem is the whole file.
	Line int
	Msg  string
}

// Error formats as "file:line: msg", the form editors and CI annotations
// recognise, or "file: msg" when there is no line.
func (e *Error) Error() string {
	switch {
	case e.File != "" && e.Line > 0:
		return e.File + ":" + strconv.Itoa(e.Line) + ": " + e.Msg
	case e.File != "":
		return e.File + ": " + e.Msg
	case e.Line > 0:
		return "line " + strconv.Itoa(e.Line) + ": " + e.Msg
	default:
		return e.Msg
	}
}

// Checksum returns the hex SHA-256 of b after normalisation (CRLF to LF, a
// leading UTF-8 byte order mark dropped). Normalising first means that git's
// autocrlf, or an editor that adds a BOM, does not turn an applied migration
// into a "modified" one and block every deploy.
func Checksum(b []byte) string {
	sum := sha256.Sum256(normalize(b))
	var buf [2 * sha256.Size]byte
	hex.Encode(buf[:], sum[:])
	return string(buf[:])
}

var utf8BOM = []byte{0xEF, 0xBB, 0xBF}

// normalize returns b with a leading UTF-8 BOM removed and every CRLF turned
// into LF. It returns b itself, not a copy, when there is nothing to change,
// which is the common case.
func normalize(b []byte) []byte {
	b = bytes.TrimPrefix(b, utf8BOM)
	if bytes.IndexByte(b, '\r') < 0 {
		return b
	}
	return bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n"))
}

// ShortSum is a checksum cut to its first 12 characters, for messages.
func ShortSum(sum string) string {
	if len(sum) > 12 {
		return sum[:12]
	}
	return sum
}

// PathCause is what went wrong with a path (a *fs.PathError's own error),
// for messages that name the path themselves.
func PathCause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
