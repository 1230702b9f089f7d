package lint

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/fleetgate/fleetgate/internal/source"
)

// The parser is PostgreSQL's own grammar (libpg_query), read as JSON (see
// ast.go). Which build of it runs depends on cgo (parser_native.go,
// parser_wazero.go): native C when cgo is on, the same C compiled to
// WebAssembly and run by wazero when it is off, so that the module still
// builds and installs without a C compiler. Both are driven the same way
// here. Nothing runs at start-up: a no-op `up`, which never lints, never
// loads the parser.
//
// Parses are serialised on parseMu: the WebAssembly build compiles its
// module again whenever all pooled instances are busy, so serial use keeps
// it at one compilation per process; the native build parses in
// microseconds and loses nothing by it. This mutex and the init timing below
// are the package's only global state.
var (
	parseMu   sync.Mutex
	initOnce  sync.Once
	initTook  time.Duration
	initError error
)

// ParserInit reports how long the first parse in this process took (the
// one-time load of the parser), or 0 if nothing was parsed yet.
func ParserInit() time.Duration {
	parseMu.Lock()
	defer parseMu.Unlock()
	return initTook
}

// parseResult is libpg_query's parse result.
type parseResult struct {
	Stmts []rawStmt `json:"stmts"`
}

type rawStmt struct {
	Stmt         node  `json:"stmt"`
	StmtLocation int32 `json:"stmt_location"`
}

func parse(sql string) (*parseResult, error) {
	parseMu.Lock()
	defer parseMu.Unlock()
	initOnce.Do(func() {
		start := time.Now()
		_, initError = safeParse("SELECT 1")
		initTook = time.Since(start)
	})
	if initError != nil {
		return nil, initError
	}
	return safeParse(sql)
}

// safeParse turns a panic of the parser (the WebAssembly runtime raises one
// on an internal failure) into an error, so a parser problem is a finding
// rather than a crashed deploy.
func safeParse(sql string) (res *parseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &internalError{msg: "PostgreSQL parser failed: " + panicString(r)}
		}
	}()
	out, err := parseToJSON(sql)
	if err != nil {
		return nil, err
	}
	res = &parseResult{}
	if err := json.Unmarshal([]byte(out), res); err != nil {
		return nil, &internalError{msg: "PostgreSQL parser output: " + err.Error()}
	}
	return res, nil
}

type internalError struct{ msg string }

func (e *internalError) Error() string { return e.msg }

func panicString(r any) string {
	if e, ok := r.(error); ok {
		return e.Error()
	}
	if s, ok := r.(string); ok {
		return s
	}
	return "panic"
}

// stmt is one parsed statement of a migration with what is needed to turn
// parser byte offsets into file positions.
type stmt struct {
	src  source.Statement
	node *node // nil when the statement did not parse
	base int   // byte offset of src.SQL in the text given to the parser
	err  error // the parse error, when node is nil
}

// pos converts a parser location (a byte offset in the parsed text, -1 when
// unknown) into a file line and column; columns count characters, as the
// source package does.
func (s *stmt) pos(loc int32) (line, col int) {
	off := int(loc) - s.base
	if loc < 0 || off < 0 || off > len(s.src.SQL) {
		return s.src.Line, s.src.Col
	}
	prefix := s.src.SQL[:off]
	nl := strings.LastIndexByte(prefix, '\n')
	if nl < 0 {
		return s.src.Line, s.src.Col + utf8.RuneCountInString(prefix)
	}
	return s.src.Line + strings.Count(prefix, "\n"), 1 + utf8.RuneCountInString(prefix[nl+1:])
}

// parseStatements parses the statements of a section in one call to the
// parser (crossing into the parser, wasm above all, costs more than the
// parsing itself), then maps
// each parsed statement back to the source statement it came from. If the
// batch has a syntax error, each statement is parsed on its own so that the
// others are still checked and the error points at the right statement.
func parseStatements(stmts []source.Statement) ([]stmt, error) {
	out := make([]stmt, len(stmts))
	var b strings.Builder
	for i, s := range stmts {
		out[i] = stmt{src: s, base: b.Len()}
		b.WriteString(s.SQL)
		b.WriteString(";\n")
	}
	if len(stmts) == 0 {
		return out, nil
	}
	res, err := parse(b.String())
	if err == nil && assign(out, res) {
		return out, nil
	}
	var ie *internalError
	if errors.As(err, &ie) {
		return nil, err
	}
	for i := range out {
		res, err := parse(out[i].src.SQL)
		out[i].base = 0
		switch {
		case errors.As(err, &ie):
			return nil, err
		case err != nil:
			out[i].err = err
		case len(res.Stmts) == 1:
			out[i].node = &res.Stmts[0].Stmt
		case len(res.Stmts) > 1:
			// The splitter saw one statement where PostgreSQL sees several
			// (a construct it does not know); check the first.
			out[i].node = &res.Stmts[0].Stmt
		}
	}
	return out, nil
}

// assign maps the parse result onto out by statement offsets. It reports
// false when the parser's split disagrees with the source splitter's.
func assign(out []stmt, res *parseResult) bool {
	if len(res.Stmts) != len(out) {
		return false
	}
	for i := range res.Stmts {
		rs := &res.Stmts[i]
		loc := int(rs.StmtLocation)
		// The parser's statement starts at or after the text we placed
		// (it skips nothing but whitespace and comments before it).
		if loc < out[i].base || (i+1 < len(out) && loc >= out[i+1].base) {
			return false
		}
		out[i].node = &rs.Stmt
	}
	return true
}

// errorPos returns the byte offset in the statement of a syntax error,
// or -1. The parser reports a 1-based character position.
func errorPos(sql string, err error) int32 {
	cursor := cursorPos(err)
	if cursor <= 0 {
		return -1
	}
	n := 0
	for off := range sql {
		n++
		if n == cursor {
			return int32(off)
		}
	}
	return int32(len(sql)) // "at end of input"
}
