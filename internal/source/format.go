package source

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"sync"
)

// Format is the layout and annotation style of a migration directory.
// Teams switching to fleetgate keep their files unchanged, so the formats
// of the common Go-world tools are read as they are.
type Format string

const (
	// FormatAuto detects the format from the files.
	FormatAuto Format = ""
	// FormatFleetgate is <version>_<name>.sql with -- fleetgate:up and
	// -- fleetgate:down markers. It also reads the golang-migrate layout.
	FormatFleetgate Format = "fleetgate"
	// FormatGolangMigrate is <version>_<name>.up.sql and .down.sql.
	FormatGolangMigrate Format = "golang-migrate"
	// FormatGoose is goose's SQL files: -- +goose Up, -- +goose Down,
	// -- +goose NO TRANSACTION, -- +goose StatementBegin/StatementEnd.
	FormatGoose Format = "goose"
	// FormatDbmate is dbmate's files: -- migrate:up, -- migrate:down, with
	// the transaction:false option.
	FormatDbmate Format = "dbmate"
)

// ParseFormat parses a --format value; "" and "auto" detect.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatFleetgate, FormatGolangMigrate, FormatGoose, FormatDbmate:
		return f, nil
	case "auto":
		return FormatAuto, nil
	}
	return "", fmt.Errorf("unknown format %q (want fleetgate, golang-migrate, goose or dbmate)", s)
}

// The expressions are compiled on first use (lazyRE): most processes read
// only fleetgate files, which the literal prefilters in detectFile and
// LoadDialect rule out without them.
var (
	// gooseUpRE finds the annotation every goose file has. goose itself
	// accepts "--+goose up" in any case, so this does too.
	gooseUpRE = lazyRE(`(?m)^--\s*\+goose\s+(?i:up)\s*$`)
	// dbmateUpRE and dbmateDownRE are dbmate's own expressions (v2.35.0,
	// pkg/dbmate/migration.go), so that a file splits where dbmate splits it.
	dbmateUpRE   = lazyRE(`(?m)^--\s*migrate:up(\s*$|\s+\S+)`)
	dbmateDownRE = lazyRE(`(?m)^--\s*migrate:down(\s*$|\s+\S+)`)
)

// lazyRE returns expr compiled the first time it is called.
func lazyRE(expr string) func() *regexp.Regexp {
	return sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(expr) })
}

// detectFile says which format one file is written in, from its name and
// its markers: FormatGolangMigrate for .up.sql and .down.sql files,
// FormatGoose or FormatDbmate when it carries their markers, otherwise
// FormatFleetgate.
func detectFile(kind fileKind, data []byte) Format {
	if kind != filePlain {
		return FormatGolangMigrate
	}
	// Every match of either expression contains its literal, which
	// normalising cannot create: a fleetgate file, the common case, is
	// told by two substring searches instead of a copy and two regexp
	// scans of the whole text (a thousand of them on every start).
	goose, dbmate := bytes.Contains(data, []byte("+goose")), bytes.Contains(data, []byte("migrate:up"))
	if !goose && !dbmate {
		return FormatFleetgate
	}
	// Markers are ASCII; invalid UTF-8 is reported by the parser. A byte
	// order mark or CRLF line ends must not hide them.
	text := string(normalize(data))
	switch {
	case goose && gooseUpRE().MatchString(text):
		return FormatGoose
	case dbmate && dbmateUpRE().MatchString(text):
		return FormatDbmate
	}
	return FormatFleetgate
}

// family groups formats that may share a directory: the fleetgate format
// has always read the golang-migrate layout too.
func family(f Format) Format {
	if f == FormatGolangMigrate {
		return FormatFleetgate
	}
	return f
}

// checkFormat verifies that a file fits the chosen format, by name. The
// content is checked by the format's parser.
func checkFormat(f Format, file string, kind fileKind) error {
	switch {
	case f == FormatGolangMigrate && kind == filePlain:
		return &Error{File: file, Msg: "not a golang-migrate file name: want <version>_<name>.up.sql or <version>_<name>.down.sql (Config.Format golang-migrate)"}
	case (f == FormatGoose || f == FormatDbmate) && kind != filePlain:
		return &Error{File: file, Msg: fmt.Sprintf("%s migrations are single <version>_<name>.sql files, not .up.sql/.down.sql (Config.Format %s)", f, f)}
	}
	return nil
}

// goMigrationName matches goose's Go migrations, which fleetgate cannot
// run: a goose directory that has them must not look complete without them.
var goMigrationName = lazyRE(`^[0-9]+_.*\.go$`)

func mixedFormats(file string, f Format, first string, ff Format) error {
	return &Error{File: file, Msg: fmt.Sprintf("a %s migration, but %s is a %s migration: one directory holds one format (choose it with Config.Format)",
		describe(f), first, describe(ff))}
}

func describe(f Format) string {
	if f == FormatFleetgate {
		return "fleetgate"
	}
	return strings.ToLower(string(f))
}

// foreignDirectives applies the fleetgate directives found in a file of
// another tool's format: no-transaction, phase and allow work there too, so
// that a team can keep writing that format and still use fleetgate's
// phases and check exceptions. Section markers are refused, since the
// format has its own. Like the tools' own markers, directives are
// recognised by line, on comment lines.
func foreignDirectives(m *Migration, text string, f Format) (noTx bool, err error) {
	p := &fileParser{kind: filePlain, m: m}
	line := 0
	for rest := text; rest != ""; {
		line++
		l := rest
		if i := strings.IndexByte(rest, '\n'); i >= 0 {
			l, rest = rest[:i], rest[i+1:]
		} else {
			rest = ""
		}
		body, ok := strings.CutPrefix(strings.TrimLeft(l, " \t"), "--")
		if !ok {
			continue
		}
		body, ok = strings.CutPrefix(strings.TrimLeft(body, " \t"), directivePrefix)
		if !ok {
			continue
		}
		body = strings.TrimSpace(body)
		name, args := body, ""
		if i := strings.IndexAny(body, " \t"); i >= 0 {
			name, args = body[:i], strings.TrimSpace(body[i:])
		}
		d := directive{name: name, args: args, line: line}
		switch name {
		case "up", "down":
			return false, &Error{Line: line, Msg: fmt.Sprintf("-- fleetgate:%s in a %s migration; its sections are marked the %s way", name, f, f)}
		}
		if err := p.directive(d); err != nil {
			return false, err
		}
	}
	return m.NoTransaction, nil
}
