package source

import (
	"strings"
	"unicode/utf8"
)

// tokenKind is the coarse class of a token. The splitter only needs to tell
// words (for a few keywords) and semicolons from everything else, and the
// directive finder only needs line comments, so the scanner does not
// classify further.
type tokenKind uint8

const (
	tokEOF tokenKind = iota
	tokWord
	tokSemicolon
	tokOther // strings, quoted identifiers, numbers' neighbours, operators, punctuation
	tokLineComment
	// tokDelimiterCmd is a MySQL client "DELIMITER x" line; the scanner has
	// already switched to the new delimiter.
	tokDelimiterCmd
)

type token struct {
	kind       tokenKind
	start, end int // byte offsets in the scanned text
	line       int // line of start
	lineOff    int // byte offset of the start of that line, for columns
	// atLineStart is set when only whitespace precedes the token on its
	// line; directives are recognised only there.
	atLineStart bool
}

// scanner splits text into tokens following the lexical rules of PostgreSQL
// and SQLite, skipping whitespace and block comments. It never backtracks:
// every byte is looked at a bounded number of times, so scanning is linear
// even on hostile input (the fuzz tests rely on this).
type scanner struct {
	src      string
	pos      int
	line     int
	lineOff  int  // byte offset where the current line starts
	lineBusy bool // a token or comment has been seen on the current line

	// mysql switches to MySQL's lexical rules (see mysql.go); delim is the
	// statement delimiter a DELIMITER line set, "" for ';'; noDelimiter,
	// when set, is the error a DELIMITER line gets instead (formats whose
	// tool sends the text to the server, which does not know the command).
	mysql       bool
	delim       string
	noDelimiter string

	// Column cache: columns are counted in characters, and statement starts
	// only move forward, so counting from the previous answer keeps many
	// statements on one long line linear instead of quadratic.
	colLineOff, colPos, col int
}

func newScanner(src string, firstLine int) *scanner {
	return &scanner{src: src, line: firstLine, colLineOff: -1}
}

func (s *scanner) next() (token, error) {
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch c {
		case '\n':
			s.pos++
			s.line++
			s.lineOff = s.pos
			s.lineBusy = false
			continue
		case ' ', '\t', '\r', '\f', '\v':
			s.pos++
			continue
		}
		tok := token{start: s.pos, line: s.line, lineOff: s.lineOff, atLineStart: !s.lineBusy}
		s.lineBusy = true
		if s.mysql {
			tok, skip, err := s.nextMySQL(tok)
			if skip {
				continue
			}
			return tok, err
		}
		var err error
		switch {
		case c == '-' && s.peek(1) == '-':
			end := strings.IndexByte(s.src[s.pos:], '\n')
			if end < 0 {
				s.pos = len(s.src)
			} else {
				s.pos += end
			}
			tok.kind = tokLineComment
		case c == '/' && s.peek(1) == '*':
			if err = s.blockComment(); err != nil {
				return token{}, err
			}
			continue
		case c == ';':
			s.pos++
			tok.kind = tokSemicolon
		case c == '\'':
			tok.kind = tokOther
			err = s.quoted('\'', false)
		case c == '"' || c == '`':
			tok.kind = tokOther
			err = s.quoted(c, false)
		case c == '$':
			tok.kind = tokOther
			err = s.dollar()
		case isWordStart(c):
			tok.kind = tokWord
			s.pos++
			if isDigit(c) {
				// Numbers do not take '$': "1$$x$$" is a number followed by a
				// dollar-quoted string in PostgreSQL.
				for s.pos < len(s.src) && isWordStart(s.src[s.pos]) {
					s.pos++
				}
			} else {
				for s.pos < len(s.src) && isWordByte(s.src[s.pos]) {
					s.pos++
				}
			}
			if s.pos == tok.start+1 && (c == 'E' || c == 'e') && s.peek(0) == '\'' {
				// E'...' is a PostgreSQL escape string, where \' does not end
				// the string. Only a lone E counts: in "name'x'" the quote
				// starts an ordinary string after the identifier.
				tok.kind = tokOther
				err = s.quoted('\'', true)
			}
		default:
			s.pos++
			tok.kind = tokOther
		}
		if err != nil {
			return token{}, err
		}
		tok.end = s.pos
		return tok, nil
	}
	return token{kind: tokEOF, start: s.pos, end: s.pos, line: s.line, lineOff: s.lineOff}, nil
}

func (s *scanner) peek(n int) byte {
	if s.pos+n < len(s.src) {
		return s.src[s.pos+n]
	}
	return 0
}

// advance moves to end, keeping the line count right across the newlines a
// multi-line token spans.
func (s *scanner) advance(end int) {
	span := s.src[s.pos:end]
	if n := strings.Count(span, "\n"); n > 0 {
		s.line += n
		s.lineOff = s.pos + strings.LastIndexByte(span, '\n') + 1
	}
	s.pos = end
}

// quoted consumes a string or quoted identifier whose opening quote is at
// s.pos; a doubled quote stands for itself, and with backslash set (E'...'
// strings, MySQL strings) a backslash escapes the next byte.
func (s *scanner) quoted(q byte, backslash bool) error {
	line := s.line
	i := s.pos + 1
	for {
		var j int
		if backslash {
			// E'...' strings in PostgreSQL, and every string in MySQL
			j = strings.IndexAny(s.src[i:], string(q)+`\`)
		} else {
			j = strings.IndexByte(s.src[i:], q)
		}
		if j < 0 {
			what := "quoted string"
			switch q {
			case '"', '`':
				what = "quoted identifier"
			}
			return &Error{Line: line, Msg: "unterminated " + what}
		}
		i += j
		if s.src[i] == '\\' {
			i += 2
			if i > len(s.src) {
				i = len(s.src)
			}
			continue
		}
		i++
		if i < len(s.src) && s.src[i] == q {
			i++
			continue
		}
		s.advance(i)
		return nil
	}
}

// blockComment consumes a /* */ comment at s.pos. Comments nest, as in
// PostgreSQL and the SQL standard, so that commenting out a block that
// already holds a comment works.
func (s *scanner) blockComment() error {
	line := s.line
	depth := 0
	i := s.pos
	for i+1 < len(s.src) {
		switch {
		case s.src[i] == '/' && s.src[i+1] == '*':
			depth++
			i += 2
		case s.src[i] == '*' && s.src[i+1] == '/':
			depth--
			i += 2
			if depth == 0 {
				s.advance(i)
				return nil
			}
		default:
			i++
		}
	}
	return &Error{Line: line, Msg: "unterminated block comment"}
}

// dollar handles a '$' at s.pos: a $n parameter, a $$ or $tag$ quoted body
// (function bodies are written this way and are full of semicolons), or a
// lone '$'.
func (s *scanner) dollar() error {
	i := s.pos + 1
	if i < len(s.src) && isDigit(s.src[i]) {
		for i < len(s.src) && isDigit(s.src[i]) {
			i++
		}
		s.pos = i
		return nil
	}
	if i < len(s.src) && isTagStart(s.src[i]) {
		for i < len(s.src) && isTagByte(s.src[i]) {
			i++
		}
	}
	if i >= len(s.src) || s.src[i] != '$' {
		s.pos++
		return nil
	}
	tag := s.src[s.pos : i+1]
	body := i + 1
	j := strings.Index(s.src[body:], tag)
	if j < 0 {
		return &Error{Line: s.line, Msg: "unterminated dollar-quoted string " + tag}
	}
	s.advance(body + j + len(tag))
	return nil
}

// column returns the 1-based character column of byte offset pos on the line
// starting at lineOff.
func (s *scanner) column(lineOff, pos int) int {
	if lineOff != s.colLineOff || pos < s.colPos {
		s.colLineOff, s.colPos, s.col = lineOff, lineOff, 1
	}
	s.col += utf8.RuneCountInString(s.src[s.colPos:pos])
	s.colPos = pos
	return s.col
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func isTagStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c >= 0x80
}

func isTagByte(c byte) bool { return isTagStart(c) || isDigit(c) }

func isWordStart(c byte) bool { return isTagByte(c) }

// isWordByte includes '$' because PostgreSQL identifiers may contain it
// ("a$b"), and a '$' inside a word never starts a dollar quote.
func isWordByte(c byte) bool { return isTagByte(c) || c == '$' }
