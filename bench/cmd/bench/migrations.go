package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// setSpec describes one generated migration set. Every tool gets the same SQL,
// written in its own file format.
type setSpec struct {
	// N is the number of migrations in the set.
	N int
	// DataAt is the version of the data migration
	// (UPDATE counter SET n = n + 1). Must be >= 2.
	DataAt int
	// SleepSeconds, when > 0, makes the data migration also run
	// SELECT pg_sleep(SleepSeconds) after its UPDATE.
	SleepSeconds int
	// MySQL: the set is for MariaDB, whose sleep is SLEEP(n) and whose
	// added columns say ALGORITHM=INSTANT; the rest of the SQL is the same.
	MySQL bool
}

func (s setSpec) key() string {
	k := fmt.Sprintf("n%d-d%d-s%d", s.N, s.DataAt, s.SleepSeconds)
	if s.MySQL {
		k += "-mysql"
	}
	return k
}

// migration is one generated migration.
type migration struct {
	Version int
	Name    string
	Up      []string
	Down    []string
	// Kind is "counter", "table", "column" or "data"; Object names the table
	// or column it creates (empty for data).
	Kind   string
	Table  string
	Column string
}

// generate returns the set's migrations. Migration 1 creates the counter
// table (one row, n = 0); the data migration increments it; the others
// alternate between creating a small table and adding a column to the most
// recently created one. Applying any migration twice fails (the DDL is not
// idempotent) or shows in the counter (the data migration), so the
// verification below detects double application.
func generate(s setSpec) []migration {
	ms := make([]migration, 0, s.N)
	lastTable := ""
	for v := 1; v <= s.N; v++ {
		m := migration{Version: v, Name: fmt.Sprintf("m%04d", v)}
		switch {
		case v == 1:
			m.Kind, m.Table = "counter", "counter"
			m.Up = []string{
				"CREATE TABLE counter (id integer PRIMARY KEY, n integer NOT NULL);",
				"INSERT INTO counter (id, n) VALUES (1, 0);",
			}
			m.Down = []string{"DROP TABLE counter;"}
		case v == s.DataAt:
			m.Kind = "data"
			m.Up = []string{"UPDATE counter SET n = n + 1 WHERE id = 1;"}
			if s.SleepSeconds > 0 {
				sleep := fmt.Sprintf("SELECT pg_sleep(%d);", s.SleepSeconds)
				if s.MySQL {
					sleep = fmt.Sprintf("SELECT SLEEP(%d);", s.SleepSeconds)
				}
				m.Up = append(m.Up, sleep)
			}
			m.Down = []string{"UPDATE counter SET n = n - 1 WHERE id = 1;"}
		case v%2 == 1 && lastTable != "":
			m.Kind, m.Table, m.Column = "column", lastTable, fmt.Sprintf("c_%04d", v)
			m.Up = []string{fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s integer;", m.Table, m.Column)}
			if s.MySQL {
				// The online form MySQL's checks ask for (the server adds
				// a nullable column instantly either way): every tool runs
				// the same SQL, and fleetgate's checks pass it.
				m.Up[0] = fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s integer, ALGORITHM=INSTANT;", m.Table, m.Column)
			}
			m.Down = []string{fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s;", m.Table, m.Column)}
		default:
			m.Kind, m.Table = "table", fmt.Sprintf("t_%04d", v)
			m.Up = []string{fmt.Sprintf("CREATE TABLE %s (id bigint PRIMARY KEY, v text NOT NULL DEFAULT '');", m.Table)}
			m.Down = []string{fmt.Sprintf("DROP TABLE %s;", m.Table)}
			lastTable = m.Table
		}
		ms = append(ms, m)
	}
	return ms
}

// expectation is what a database holds after the first Upto migrations of a
// set were applied exactly once.
type expectation struct {
	Upto    int
	Tables  int // tables named t_%
	Columns int // columns named c_%
	Counter int // counter.n
}

func expect(ms []migration, upto int) expectation {
	e := expectation{Upto: upto}
	for _, m := range ms[:upto] {
		switch m.Kind {
		case "table":
			e.Tables++
		case "column":
			e.Columns++
		case "data":
			e.Counter++
		}
	}
	return e
}

// writeSet writes migrations [0, upto) of ms into dir in the given tool's
// format and returns the path the tool is pointed at (the directory, or the
// script file for psql).
func writeSet(format, dir string, ms []migration, upto int) (string, error) {
	return writeSetFrom(format, dir, ms, 0, upto)
}

// writeSetFrom is writeSet for a database that already has the first from
// migrations: the runners still get every file (they skip what is applied),
// the psql script only the pending ones, since psql keeps no history.
func writeSetFrom(format, dir string, ms []migration, from, upto int) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	join := func(stmts []string) string { return strings.Join(stmts, "\n") + "\n" }
	write := func(name, body string) error {
		return os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	if format == "psql" {
		var b strings.Builder
		for _, m := range ms[from:upto] {
			b.WriteString("BEGIN;\n")
			b.WriteString(join(m.Up))
			b.WriteString("COMMIT;\n")
		}
		file := filepath.Join(dir, "all.sql")
		return file, write("all.sql", b.String())
	}
	for _, m := range ms[:upto] {
		base := fmt.Sprintf("%04d_%s", m.Version, m.Name)
		var err error
		switch format {
		case "fleetgate":
			err = write(base+".sql", "-- fleetgate:up\n"+join(m.Up)+"\n-- fleetgate:down\n"+join(m.Down))
		case "goose":
			err = write(base+".sql", "-- +goose Up\n"+join(m.Up)+"\n-- +goose Down\n"+join(m.Down))
		case "migrate":
			if err = write(base+".up.sql", join(m.Up)); err == nil {
				err = write(base+".down.sql", join(m.Down))
			}
		case "dbmate":
			err = write(base+".sql", "-- migrate:up\n"+join(m.Up)+"\n-- migrate:down\n"+join(m.Down))
		default:
			return "", fmt.Errorf("unknown migration format %q", format)
		}
		if err != nil {
			return "", err
		}
	}
	return dir, nil
}
