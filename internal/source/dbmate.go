package source

import (
	"fmt"
	"strings"
)

// dbmate migrations (amacneil/dbmate v2) are <version>_<name>.sql files
// with two markers, each optionally followed by options:
//
//	-- migrate:up [transaction:false]
//	-- migrate:down [transaction:false]
//
// Sections are cut where dbmate cuts them (its own regular expressions),
// and a section's text starts at its marker, as dbmate's does: that text is
// what is checksummed and stored. dbmate sends a section as one query,
// inside a transaction unless transaction:false; fleetgate splits it with
// its lexer and runs it with the same transaction semantics, made
// resumable (see Section.NoTransaction).

func parseDbmate(file string, fn fileName, data []byte, lx lexer) (*Migration, error) {
	lx.noDelimiter = "DELIMITER is a command of the mysql client; dbmate sends the section to the server, which rejects it: write the trigger or procedure without DELIMITER (its BEGIN ... END body stays one statement)"
	m, err := parseDbmateText(fn, data, lx)
	if err != nil {
		return nil, inFile(err, file)
	}
	m.File, m.DownFile = file, file
	return m, nil
}

var (
	dbmateDirectiveRE = lazyRE(`^--\s*migrate:(up|down)`)
	dbmateCommentRE   = lazyRE(`^\s*--`)
)

func parseDbmateText(fn fileName, data []byte, lx lexer) (*Migration, error) {
	norm, err := decode(data)
	if err != nil {
		return nil, err
	}
	text := string(norm)
	lineAt := func(off int) int { return 1 + strings.Count(text[:off], "\n") }
	m := &Migration{Version: fn.version, Name: fn.name, Phase: PhasePre}
	noTx, err := foreignDirectives(m, text, FormatDbmate)
	if err != nil {
		return nil, err
	}
	ups := dbmateUpRE().FindAllStringIndex(text, -1)
	switch {
	case len(ups) == 0:
		return nil, &Error{Msg: "missing -- migrate:up (dbmate requires an up section)"}
	case len(ups) > 1:
		return nil, &Error{Line: lineAt(ups[1][0]), Msg: fmt.Sprintf("a second -- migrate:up section (the first is at line %d): dbmate records the version once per section and fails on the second; split the file", lineAt(ups[0][0]))}
	}
	upStart := ups[0][0]
	for i, l := range strings.Split(text[:upStart], "\n") {
		if strings.TrimSpace(l) != "" && !dbmateCommentRE().MatchString(l) {
			return nil, &Error{Line: i + 1, Msg: "SQL before -- migrate:up"}
		}
	}
	downs := dbmateDownRE().FindAllStringIndex(text[upStart:], -1)
	switch {
	case len(downs) == 0:
		return nil, &Error{Msg: "missing -- migrate:down (dbmate requires a down section; leave it empty for a no-op rollback)"}
	case len(downs) > 1:
		return nil, &Error{Line: lineAt(upStart + downs[1][0]), Msg: "duplicate -- migrate:down"}
	}
	downStart := upStart + downs[0][0]

	up, err := dbmateSection(text[upStart:downStart], lineAt(upStart), noTx, lx)
	if err != nil {
		return nil, err
	}
	down, err := dbmateSection(text[downStart:], lineAt(downStart), noTx, lx)
	if err != nil {
		return nil, err
	}
	m.Up, m.Down = *up, down
	m.Checksum = Checksum(norm[upStart:downStart])
	m.DownChecksum = Checksum(norm[downStart:])
	m.NoTransaction = m.Up.NoTransaction
	return m, nil
}

// dbmateSection splits one section, whose first line is its marker, and
// applies the marker's transaction option.
func dbmateSection(sql string, line int, noTx bool, lx lexer) (*Section, error) {
	stmts, err := split(sql, line, lx)
	if err != nil {
		return nil, err
	}
	sec := &Section{SQL: sql, StartLine: line, Statements: stmts}
	if !dbmateTransaction(sql) {
		noTx = true
	}
	if err := sec.planTxLex(noTx, lx); err != nil {
		return nil, err
	}
	return sec, nil
}

// dbmateTransaction reads the options on a section's marker line the way
// dbmate does: whitespace-separated key:value pairs, where only
// transaction:false turns the transaction off.
func dbmateTransaction(section string) bool {
	first, _, _ := strings.Cut(section, "\n")
	first = strings.TrimSpace(dbmateDirectiveRE().ReplaceAllString(first, ""))
	for _, pair := range strings.Fields(first) {
		kv := strings.Split(pair, ":")
		if len(kv) == 2 && kv[0] == "transaction" && kv[1] == "false" {
			return false
		}
	}
	return true
}
