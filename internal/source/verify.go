package source

import (
	"bytes"
	"io/fs"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

// Applied is what the history holds of a migration that was applied in
// full: the checksums of the up and down sections it was applied with
// (DownChecksum "" when it had no down section).
type Applied struct {
	Checksum     string
	DownChecksum string
}

// LoadVerified is LoadDialect for a run that only applies what is
// pending, such as `up`, which every instance of a fleet runs at every
// start. Once every file is read, and before any is parsed, it calls
// applied for the history's complete rows (by version; nil when the
// history could not be read, in which case every file is parsed). A file
// of the fleetgate format (or the golang-migrate layout) whose up and down
// sections are byte for byte those the history holds for its version is
// then not parsed: its migration comes back with Unparsed set and only
// Version, Name, File, DownFile, Checksum and DownChecksum filled in.
// Every other file is parsed and validated as LoadDialect does.
//
// Why skipping the parse keeps "a malformed file stops the deploy before
// anything runs": that promise is about what a run is going to send. Such
// a file sends nothing in `up` (it is applied), its sections are the very
// text that was parsed and run when it was applied, and whatever runs from
// it later (down, the checks) loads it with LoadDialect and parses it
// then. What is not re-read is only comment and blank lines before its
// up marker, which cannot change how it splits (see sameAsApplied). A
// file that was edited anywhere in its sections has other checksums and
// is parsed, so an edit that breaks it is reported with its file and
// line, and one that does not is reported as modified by the planner; a
// pending file is always parsed.
//
// Every migration of the result that is not Unparsed is exactly what
// LoadDialect returns for it, so a caller that finds something to apply
// may run those (a pending file is always among them) without loading the
// directory again. An Unparsed one must never be run or checked: a caller
// that finds one to run (the history changed since applied was read)
// loads the directory with LoadDialect.
func LoadVerified(fsys fs.FS, dir string, f Format, d dialect.Dialect, applied func() map[int64]Applied) ([]*Migration, Format, error) {
	return load(fsys, dir, f, d, applied)
}

// quickSums are the checksums of a group's up and down sections, found
// without parsing its files (sameAsApplied); ok is false when that cannot
// be done safely, and the files must be parsed.
type quickSums struct {
	ok       bool
	up, down string // down is "" when there is no down section
	downFile string // the file holding the down section, "" when none
}

// sumsOf takes the quickSums of group g.
func sumsOf(g *group) *quickSums {
	if g.upName.kind == fileUp {
		// The golang-migrate layout: each file is one whole section.
		up, ok := decodeQuick(g.upData)
		if !ok {
			return &quickSums{}
		}
		s := &quickSums{ok: true, up: Checksum(up)}
		if g.down != "" {
			down, ok := decodeQuick(g.downData)
			if !ok {
				return &quickSums{}
			}
			s.down, s.downFile = Checksum(down), g.down
		}
		return s
	}
	norm, ok := decodeQuick(g.upData)
	if !ok {
		return &quickSums{}
	}
	upStart, upEnd, downStart, ok := sameAsApplied(norm)
	if !ok {
		return &quickSums{}
	}
	s := &quickSums{ok: true, up: Checksum(norm[upStart:upEnd])}
	if downStart >= 0 {
		s.down, s.downFile = Checksum(norm[downStart:]), g.up
	}
	return s
}

// verified returns the unparsed migration of group g when its files are
// exactly what was applied as a, or nil when it must be parsed.
func verified(g *group, a Applied) *Migration {
	s := g.sums
	if s == nil {
		s = sumsOf(g)
	}
	if !s.ok || s.up != a.Checksum || s.down != a.DownChecksum {
		return nil
	}
	return &Migration{Version: g.upName.version, Name: g.upName.name, File: g.up, DownFile: s.downFile,
		Phase: PhasePre, Checksum: a.Checksum, DownChecksum: s.down, Unparsed: true}
}

// decodeQuick is decode for a file that is expected to be valid: ok is
// false where decode would fail, and the caller parses the file to say
// why.
func decodeQuick(data []byte) ([]byte, bool) {
	norm, err := decode(data)
	return norm, err == nil
}

var (
	upMarkerLine   = []byte("-- fleetgate:up")
	downMarkerLine = []byte("-- fleetgate:down")
	markerWord     = []byte("fleetgate:")
)

// sameAsApplied finds the sections of a fleetgate-format file, normalised,
// without lexing it, when that is safe: every line before the up marker is
// blank or a "-- " comment, the markers are exactly "-- fleetgate:up" and
// "-- fleetgate:down" on lines of their own, and no other line anywhere
// holds "-- fleetgate:" (a directive, or a marker inside a string). It returns the
// offsets of the up section [upStart, upEnd) and of the down section
// (downStart, -1 when there is none), which are where parseSections puts
// them whenever the up section lexes to its end as the applied text did:
// the lines before the up marker leave the lexer outside any string or
// comment, the up section is the text that was applied (the caller checks
// its checksum), and the applied file's own down marker ended it there
// outside any string or comment. ok is false when the file is not of this
// simple shape; the caller then parses it.
func sameAsApplied(text []byte) (upStart, upEnd, downStart int, ok bool) {
	upStart, upEnd, downStart = -1, len(text), -1
	for off := 0; off < len(text); {
		end := bytes.IndexByte(text[off:], '\n')
		next := len(text)
		if end < 0 {
			end = len(text)
		} else {
			end += off
			next = end + 1
		}
		line := text[off:end]
		switch kind := lineKind(line); {
		case upStart < 0 && kind == lineUp:
			upStart = next
		case upStart < 0 && kind != lineBlank && kind != lineComment:
			return 0, 0, 0, false // SQL or a directive before the up marker
		case upStart >= 0 && kind == lineDown && downStart < 0:
			upEnd, downStart = off, next
		case kind == lineUp || kind == lineDown || kind == lineOddMarker:
			return 0, 0, 0, false
		}
		off = next
	}
	if upStart < 0 {
		return 0, 0, 0, false
	}
	return upStart, upEnd, downStart, true
}

type lineClass uint8

const (
	lineOther     lineClass = iota
	lineBlank               // spaces and tabs only
	lineComment             // "-- " and text that is no fleetgate directive, from the line's start
	lineUp                  // exactly "-- fleetgate:up"
	lineDown                // exactly "-- fleetgate:down"
	lineOddMarker           // any other "-- fleetgate:" line: a directive, another spelling of a marker
)

// lineKind classifies one line (without its '\n') for sameAsApplied.
func lineKind(line []byte) lineClass {
	switch {
	case bytes.Equal(line, upMarkerLine):
		return lineUp
	case bytes.Equal(line, downMarkerLine):
		return lineDown
	}
	trimmed := bytes.TrimLeft(line, " \t")
	if len(trimmed) == 0 {
		return lineBlank
	}
	body, isComment := bytes.CutPrefix(trimmed, []byte("--"))
	if !isComment {
		return lineOther
	}
	body = bytes.TrimLeft(body, " \t")
	if bytes.HasPrefix(body, markerWord) {
		return lineOddMarker
	}
	// "-- " at the start of the line is a comment in every dialect;
	// MySQL reads other spellings ("--x") as SQL.
	if len(trimmed) != len(line) || !bytes.HasPrefix(line, []byte("-- ")) {
		return lineOther
	}
	return lineComment
}
