package source

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Goose SQL migrations (pressly/goose v3) are <version>_<name>.sql files
// with line annotations:
//
//	-- +goose Up                 start of the up section (required)
//	-- +goose Down               start of the down section
//	-- +goose NO TRANSACTION     run outside a transaction, both directions
//	-- +goose StatementBegin     the lines up to StatementEnd are one
//	-- +goose StatementEnd       statement, sent as they are
//
// Annotations are found line by line, the way goose finds them (goose's
// internal/sqlparser): a comment line containing "+goose" is an annotation,
// and one goose would reject is rejected here too, so a file that goose
// refuses is not silently run differently by fleetgate. Statements outside
// StatementBegin/End are split by fleetgate's lexer, which agrees with
// goose's line-end semicolons on every file goose runs correctly and also
// handles what goose needs the block annotations for.

// gooseAnnotation returns the canonical annotation on a line that goose
// would treat as one, or an error as goose would give.
func gooseAnnotation(line string) (string, error) {
	if strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t") {
		return "", fmt.Errorf("goose annotation %q has leading whitespace; goose rejects it", strings.TrimSpace(line))
	}
	cmd := strings.ReplaceAll(line, "--", "")
	cmd = strings.Replace(cmd, "+goose", "", 1)
	if strings.Contains(cmd, "+goose") {
		return "", fmt.Errorf("%q holds several +goose annotations", line)
	}
	cmd = strings.TrimSpace(cmd)
	for _, a := range []string{"Up", "Down", "StatementBegin", "StatementEnd", "NO TRANSACTION", "ENVSUB ON", "ENVSUB OFF"} {
		if strings.EqualFold(cmd, a) {
			return a, nil
		}
	}
	if cmd == "" {
		return "", fmt.Errorf("empty goose annotation %q", line)
	}
	return "", fmt.Errorf("unknown goose annotation %q", cmd)
}

func parseGoose(file string, fn fileName, data []byte, lx lexer) (*Migration, error) {
	lx.noDelimiter = "DELIMITER is a command of the mysql client; goose sends it to the server, which rejects it: wrap the trigger or procedure in -- +goose StatementBegin and -- +goose StatementEnd instead"
	m, err := parseGooseText(fn, data, lx)
	if err != nil {
		return nil, inFile(err, file)
	}
	m.File = file
	if m.Down != nil {
		m.DownFile = file
	}
	return m, nil
}

// gooseSection collects one section's statements while lines are read.
type gooseSection struct {
	start, end int // byte range of the section text
	line       int // file line at start
	stmts      []Statement
	plain      int // start of the text not yet split (a line start)
	plainLine  int
}

// flushPlain splits the text between the last annotation and end with the
// lexer.
func (s *gooseSection) flushPlain(text string, end int, lx lexer) error {
	if end <= s.plain {
		return nil
	}
	stmts, err := split(text[s.plain:end], s.plainLine, lx)
	if err != nil {
		return err
	}
	s.stmts = append(s.stmts, stmts...)
	return nil
}

func (s *gooseSection) section(text string) Section {
	for i := range s.stmts {
		s.stmts[i].Index = i
	}
	if s.stmts == nil {
		s.stmts = []Statement{}
	}
	return Section{SQL: text[s.start:s.end], StartLine: s.line, Statements: s.stmts}
}

func parseGooseText(fn fileName, data []byte, lx lexer) (*Migration, error) {
	norm, err := decode(data)
	if err != nil {
		return nil, err
	}
	text := string(norm)
	m := &Migration{Version: fn.version, Name: fn.name, Phase: PhasePre}
	noTx, err := foreignDirectives(m, text, FormatGoose)
	if err != nil {
		return nil, err
	}
	var up, down, cur *gooseSection
	block, blockLine, beginLine := -1, 0, 0 // StatementBegin body start, its line, the annotation's line
	line := 0
	for off := 0; off < len(text); {
		line++
		lineEnd, next := len(text), len(text)
		if i := strings.IndexByte(text[off:], '\n'); i >= 0 {
			lineEnd, next = off+i, off+i+1
		}
		l := text[off:lineEnd]
		trimmed := strings.TrimSpace(l)
		if !strings.HasPrefix(trimmed, "--") || !strings.Contains(l, "+goose") {
			if cur == nil && trimmed != "" && !strings.HasPrefix(trimmed, "--") {
				return nil, &Error{Line: line, Msg: "SQL before -- +goose Up"}
			}
			off = next
			continue
		}
		a, err := gooseAnnotation(l)
		if err != nil {
			return nil, &Error{Line: line, Msg: err.Error()}
		}
		switch a {
		case "Up":
			if up != nil {
				return nil, &Error{Line: line, Msg: fmt.Sprintf("duplicate -- +goose Up (first at line %d)", up.line-1)}
			}
			up = &gooseSection{start: next, line: line + 1, plain: next, plainLine: line + 1}
			cur = up
		case "Down":
			switch {
			case cur == nil:
				return nil, &Error{Line: line, Msg: "-- +goose Down before -- +goose Up"}
			case block >= 0:
				return nil, &Error{Line: line, Msg: fmt.Sprintf("-- +goose Down inside the StatementBegin block of line %d", beginLine)}
			case down != nil:
				return nil, &Error{Line: line, Msg: fmt.Sprintf("duplicate -- +goose Down (first at line %d)", down.line-1)}
			}
			if err := up.flushPlain(text, off, lx); err != nil {
				return nil, err
			}
			up.end = off
			down = &gooseSection{start: next, line: line + 1, plain: next, plainLine: line + 1}
			cur = down
		case "StatementBegin":
			switch {
			case cur == nil:
				return nil, &Error{Line: line, Msg: "-- +goose StatementBegin before -- +goose Up"}
			case block >= 0:
				return nil, &Error{Line: line, Msg: fmt.Sprintf("-- +goose StatementBegin inside the block of line %d; end it with StatementEnd first", beginLine)}
			}
			if err := cur.flushPlain(text, off, lx); err != nil {
				return nil, err
			}
			block, blockLine, beginLine = next, line+1, line
		case "StatementEnd":
			if block < 0 {
				return nil, &Error{Line: line, Msg: "-- +goose StatementEnd without StatementBegin"}
			}
			if st, ok := gooseBlock(text[block:off], blockLine); ok {
				if err := checkGooseBlock(st, lx); err != nil {
					return nil, err
				}
				cur.stmts = append(cur.stmts, st)
			}
			block = -1
			cur.plain, cur.plainLine = next, line+1
		case "NO TRANSACTION":
			noTx = true
		case "ENVSUB ON":
			return nil, &Error{Line: line, Msg: "-- +goose ENVSUB ON is not supported: fleetgate runs a file as written, so that what is checksummed, checked and stored is what runs"}
		case "ENVSUB OFF":
		}
		off = next
	}
	switch {
	case up == nil:
		return nil, &Error{Msg: "missing -- +goose Up annotation"}
	case block >= 0:
		return nil, &Error{Line: beginLine, Msg: "-- +goose StatementBegin without StatementEnd"}
	}
	if err := cur.flushPlain(text, len(text), lx); err != nil {
		return nil, err
	}
	if down == nil {
		up.end = len(text)
	} else {
		down.end = len(text)
		sec := down.section(text)
		m.Down = &sec
		m.DownChecksum = Checksum(norm[down.start:down.end])
		if err := m.Down.planTxLex(noTx, lx); err != nil {
			return nil, err
		}
	}
	m.Up = up.section(text)
	m.Checksum = Checksum(norm[up.start:up.end])
	if err := m.Up.planTxLex(noTx, lx); err != nil {
		return nil, err
	}
	m.NoTransaction = m.Up.NoTransaction
	return m, nil
}

// gooseBlock makes the lines of a StatementBegin/End block one statement,
// dropping the blank and comment lines before it as goose does. ok is false
// for a block with nothing else.
func gooseBlock(body string, firstLine int) (Statement, bool) {
	line := firstLine
	for body != "" {
		l, rest, _ := strings.Cut(body, "\n")
		t := strings.TrimSpace(l)
		if t != "" && !strings.HasPrefix(t, "--") {
			break
		}
		body = rest
		line++
	}
	sql := strings.TrimSpace(body)
	if sql == "" {
		return Statement{}, false
	}
	lead := body[:len(body)-len(strings.TrimLeftFunc(body, unicode.IsSpace))]
	return Statement{SQL: sql, Line: line, Col: 1 + utf8.RuneCountInString(lead)}, true
}

// checkGooseBlock refuses transaction control inside a block that holds
// several statements: the block is sent as one query, and a COMMIT in it
// would commit fleetgate's transaction before the history row.
func checkGooseBlock(st Statement, lx lexer) error {
	lx.noDelimiter = ""
	sub, err := split(st.SQL, st.Line, lx)
	if err != nil || len(sub) < 2 {
		return nil
	}
	for _, s := range sub {
		switch c, _ := classify(s.SQL, lx); c {
		case clsBegin, clsCommit, clsRollback, clsChain, clsSetTx:
			return &Error{Line: s.Line, Msg: "transaction control inside a -- +goose StatementBegin block of several statements; put BEGIN and COMMIT outside the block, one per line"}
		}
	}
	return nil
}
