package source

import (
	"bytes"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/fleetgate/fleetgate/internal/dialect"
)

const directivePrefix = "fleetgate:"

// directive is one "-- fleetgate:<name> [args]" comment line.
type directive struct {
	name, args string
	line       int
	lineOff    int // byte offset of the start of the directive's line
	end        int // byte offset of the '\n' ending it, or len(text)
}

// Parse parses one migration file named file, whose contents are data. The
// version and name come from the base name of file, which must be
// "<version>_<name>.sql" (the fleetgate format, with -- fleetgate:up and
// optional -- fleetgate:down markers) or "<version>_<name>.up.sql" (the
// golang-migrate layout, where the whole file is the up section and the
// migration has no down section, since that lives in another file: use Load
// to read both). A file with goose annotations (-- +goose Up) or dbmate
// markers (-- migrate:up) is parsed as that tool's format.
//
// Errors about the content are *Error values naming file and line.
func Parse(file string, data []byte) (*Migration, error) {
	return ParseDialect(file, data, dialect.Postgres)
}

// ParseDialect is Parse with the statements split by the lexical rules of
// dialect d (see SplitDialect).
func ParseDialect(file string, data []byte, d dialect.Dialect) (*Migration, error) {
	lx := lexFor(d)
	fn, err := parseFileName(path.Base(file))
	if err != nil {
		return nil, &Error{File: file, Msg: err.Error()}
	}
	if fn.kind == fileDown {
		return nil, &Error{File: file, Msg: "a .down.sql file is read together with its .up.sql file by Load, not on its own"}
	}
	var m *Migration
	switch detectFile(fn.kind, data) {
	case FormatGoose:
		m, err = parseGoose(file, fn, data, lx)
	case FormatDbmate:
		m, err = parseDbmate(file, fn, data, lx)
	default:
		m, _, err = parseFile(file, fn, data, lx)
	}
	if err != nil {
		return nil, err
	}
	return m, nil
}

// parseFile parses a file of the fleetgate format or a golang-migrate
// .up.sql file. noTx reports the file's own no-transaction directive, which
// also governs a .down.sql file read later.
func parseFile(file string, fn fileName, data []byte, lx lexer) (m *Migration, noTx bool, err error) {
	m, noTx, err = parseText(fn, data, lx)
	if err != nil {
		return nil, false, inFile(err, file)
	}
	m.File = file
	if m.Down != nil {
		m.DownFile = file
	}
	return m, noTx, nil
}

// fileParser parses one file in a single scan: section markers end the
// current section's splitter and start the next one, so a file is lexed once
// however many sections and directives it has.
type fileParser struct {
	kind      fileKind
	lx        lexer
	text      string
	m         *Migration
	sc        *scanner
	sp        splitter // statements of the section being read
	up, down  *directive
	inSection bool
	upStart   int
	upEnd     int // set at the down marker
	upStmts   []Statement
	sqlLine   int // first line with SQL before the up marker, 0 if none
	phaseLine int
}

func parseText(fn fileName, data []byte, lx lexer) (*Migration, bool, error) {
	m, err := parseSections(fn, data, lx)
	if err != nil {
		return nil, false, err
	}
	noTx := m.NoTransaction
	if err := m.Up.planTxLex(noTx, lx); err != nil {
		return nil, false, err
	}
	if m.Down != nil {
		if err := m.Down.planTxLex(noTx, lx); err != nil {
			return nil, false, err
		}
	}
	m.NoTransaction = m.Up.NoTransaction
	return m, noTx, nil
}

func parseSections(fn fileName, data []byte, lx lexer) (*Migration, error) {
	norm, err := decode(data)
	if err != nil {
		return nil, err
	}
	text := string(norm)
	p := &fileParser{
		kind: fn.kind,
		lx:   lx,
		text: text,
		m:    &Migration{Version: fn.version, Name: fn.name, Phase: PhasePre},
		sc:   lx.scanner(text, 1),
		// The whole .up.sql file is the up section.
		inSection: fn.kind == fileUp,
	}
	p.sp = newSplitter(text, p.sc)
	for {
		tok, err := p.sc.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			break
		}
		if d, ok := directiveAt(text, tok); ok {
			if err := p.directive(d); err != nil {
				return nil, err
			}
			continue
		}
		if p.inSection {
			if err := p.sp.add(tok); err != nil {
				return nil, err
			}
		} else if p.sqlLine == 0 && tok.kind != tokLineComment {
			p.sqlLine = tok.line
		}
	}
	if !p.inSection {
		return nil, &Error{Msg: "missing -- fleetgate:up section"}
	}
	p.sp.flush()

	m := p.m
	upLine := 1
	if p.up != nil {
		upLine = p.up.line + 1
	}
	if p.down == nil {
		p.upEnd, p.upStmts = len(text), p.sp.stmts
	} else {
		downStart := lineAfter(text, p.down.end)
		m.Down = &Section{SQL: text[downStart:], StartLine: p.down.line + 1, Statements: p.sp.stmts}
		m.DownChecksum = Checksum(norm[downStart:])
	}
	m.Up = Section{SQL: text[p.upStart:p.upEnd], StartLine: upLine, Statements: p.upStmts}
	m.Checksum = Checksum(norm[p.upStart:p.upEnd])
	return m, nil
}

func (p *fileParser) directive(d directive) error {
	m := p.m
	switch d.name {
	case "up", "down":
		if d.args != "" {
			return &Error{Line: d.line, Msg: fmt.Sprintf("-- fleetgate:%s takes no arguments", d.name)}
		}
		if p.kind == fileUp {
			// A down marker in a .up.sql file would silently run the
			// rollback as part of the up. An up marker is harmless and is
			// left in the text as the comment it is.
			if d.name == "down" {
				return &Error{Line: d.line, Msg: "-- fleetgate:down in a .up.sql file; put the down section in a .down.sql file"}
			}
			return nil
		}
		if d.name == "up" {
			return p.upMarker(d)
		}
		return p.downMarker(d)
	case "no-transaction":
		if d.args != "" {
			return &Error{Line: d.line, Msg: "-- fleetgate:no-transaction takes no arguments"}
		}
		m.NoTransaction = true
	case "phase":
		if p.phaseLine != 0 {
			return &Error{Line: d.line, Msg: fmt.Sprintf("duplicate -- fleetgate:phase (first at line %d)", p.phaseLine)}
		}
		switch Phase(d.args) {
		case PhasePre, PhasePost:
			m.Phase = Phase(d.args)
		default:
			return &Error{Line: d.line, Msg: fmt.Sprintf("phase must be %q or %q, not %q", PhasePre, PhasePost, d.args)}
		}
		p.phaseLine = d.line
	case "allow":
		rule, reason := d.args, ""
		if i := strings.IndexAny(d.args, " \t"); i >= 0 {
			rule, reason = d.args[:i], strings.TrimSpace(d.args[i:])
		}
		if rule == "" {
			return &Error{Line: d.line, Msg: "-- fleetgate:allow needs a rule and a reason"}
		}
		if reason == "" {
			return &Error{Line: d.line, Msg: fmt.Sprintf("-- fleetgate:allow %s needs a reason", rule)}
		}
		m.Allows = append(m.Allows, Allow{Rule: rule, Reason: reason, Line: d.line})
	default:
		return &Error{Line: d.line, Msg: fmt.Sprintf("unknown directive %q", d.name)}
	}
	return nil
}

func (p *fileParser) upMarker(d directive) error {
	switch {
	case p.up != nil:
		return &Error{Line: d.line, Msg: fmt.Sprintf("duplicate -- fleetgate:up (first at line %d)", p.up.line)}
	case p.down != nil:
		return &Error{Line: d.line, Msg: "-- fleetgate:up after -- fleetgate:down"}
	case p.sqlLine != 0:
		// Such SQL would belong to no section and never run, which is
		// almost always a forgotten marker.
		return &Error{Line: p.sqlLine, Msg: "SQL before -- fleetgate:up"}
	}
	p.up, p.upStart, p.inSection = &d, lineAfter(p.text, d.end), true
	return nil
}

func (p *fileParser) downMarker(d directive) error {
	switch {
	case p.down != nil:
		return &Error{Line: d.line, Msg: fmt.Sprintf("duplicate -- fleetgate:down (first at line %d)", p.down.line)}
	case p.up == nil:
		return &Error{Line: d.line, Msg: "-- fleetgate:down before -- fleetgate:up"}
	}
	p.sp.flush()
	p.down, p.upEnd, p.upStmts = &d, d.lineOff, p.sp.stmts
	p.sp = newSplitter(p.text, p.sc)
	return nil
}

// parseDownFile reads a golang-migrate .down.sql file. The whole file is the
// down section; fleetgate directives are refused there because the
// migration's settings (no-transaction, phase, allow) belong to its up file,
// and silently ignoring them would surprise whoever wrote them.
//
// noTx is the .up.sql file's no-transaction directive, which covers both.
func parseDownFile(file string, data []byte, noTx bool, lx lexer) (*Section, error) {
	sec, err := parseDownText(data, lx)
	if err == nil {
		err = sec.planTxLex(noTx, lx)
	}
	if err != nil {
		return nil, inFile(err, file)
	}
	return sec, nil
}

func parseDownText(data []byte, lx lexer) (*Section, error) {
	norm, err := decode(data)
	if err != nil {
		return nil, err
	}
	text := string(norm)
	sc := lx.scanner(text, 1)
	sp := newSplitter(text, sc)
	for {
		tok, err := sc.next()
		if err != nil {
			return nil, err
		}
		if tok.kind == tokEOF {
			break
		}
		if d, ok := directiveAt(text, tok); ok {
			switch d.name {
			case "up", "down", "no-transaction", "phase", "allow":
				return nil, &Error{Line: d.line, Msg: fmt.Sprintf("-- fleetgate:%s in a .down.sql file; directives belong in the .up.sql file", d.name)}
			default:
				return nil, &Error{Line: d.line, Msg: fmt.Sprintf("unknown directive %q", d.name)}
			}
		}
		if err := sp.add(tok); err != nil {
			return nil, err
		}
	}
	sp.flush()
	return &Section{SQL: text, StartLine: 1, Statements: sp.stmts}, nil
}

// inFile names file in err: the scanner and splitter report lines but do not
// know which file they are reading.
func inFile(err error, file string) error {
	if e, ok := err.(*Error); ok && e.File == "" {
		e.File = file
	}
	return err
}

// lineAfter returns the offset just past the newline at end, or len(text)
// when end is the end of the text.
func lineAfter(text string, end int) int {
	if end < len(text) {
		return end + 1
	}
	return len(text)
}

// directiveAt reports whether tok is a directive line. Only line comments
// that start a line outside any string, dollar quote or block comment count,
// so a function body that mentions "-- fleetgate:down" in a string cannot
// cut a migration in two. Space after "--" and after the colon is tolerated;
// the directive name itself is case-sensitive.
func directiveAt(text string, tok token) (directive, bool) {
	if tok.kind != tokLineComment || !tok.atLineStart || text[tok.start] != '-' {
		return directive{}, false
	}
	body := strings.TrimLeft(text[tok.start+2:tok.end], " \t")
	if !strings.HasPrefix(body, directivePrefix) {
		return directive{}, false
	}
	body = strings.TrimSpace(body[len(directivePrefix):])
	name, args := body, ""
	if i := strings.IndexAny(body, " \t"); i >= 0 {
		name, args = body[:i], strings.TrimSpace(body[i:])
	}
	return directive{name: name, args: args, line: tok.line, lineOff: tok.lineOff, end: tok.end}, true
}

// decode checks that data is UTF-8 text and returns it normalised, sharing
// data's memory when no change is needed. Binary
// junk is refused before anything else looks at it, with the line of the
// first bad byte so the operator can find it.
func decode(data []byte) ([]byte, error) {
	if len(data) > MaxFileSize {
		return nil, &Error{Msg: sizeMsg(int64(len(data)))}
	}
	nul := bytes.IndexByte(data, 0)
	bad := -1
	if !utf8.Valid(data) {
		bad = firstInvalidUTF8(data)
	}
	switch {
	case nul >= 0 && (bad < 0 || nul < bad):
		return nil, &Error{Line: lineOf(data, nul), Msg: "NUL byte: not a text file"}
	case bad >= 0:
		return nil, &Error{Line: lineOf(data, bad), Msg: "invalid UTF-8: migration files must be UTF-8 text"}
	}
	return normalize(data), nil
}

func sizeMsg(size int64) string {
	return fmt.Sprintf("file is %d bytes, over the %d MiB limit", size, MaxFileSize>>20)
}

func firstInvalidUTF8(b []byte) int {
	for i := 0; i < len(b); {
		if b[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

func lineOf(b []byte, off int) int {
	return 1 + bytes.Count(b[:off], []byte{'\n'})
}
