package main

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/jackc/pgx/v5"
)

// tool is one migration runner under test, or the plain psql floor.
type tool struct {
	Name string
	// Format is the migration file format (see writeSet).
	Format string
	Bin    string
	// Peer is true for goose, golang-migrate and dbmate.
	Peer bool
	// Floor is true for psql, which only takes part in the apply scenarios.
	Floor bool
	// Unavailable, when set, says why the tool cannot run.
	Unavailable string
	// Extra flags for `up`: a variant of a tool (fleetgate --checks=off)
	// has its own name and the same format and binary.
	Extra []string
	// Variant is true for such a variant: it is reported beside the tool
	// but is neither a peer nor graded.
	Variant bool
	// MySQL: the tool runs against MariaDB (goose's driver is then mysql).
	MySQL bool
}

// upArgs is the command line that applies every pending migration in path.
func (t *tool) upArgs(url, path string) []string {
	switch t.Format {
	case "fleetgate":
		return append([]string{"up", "-d", url, "--dir", path}, t.Extra...)
	case "goose":
		driver := "postgres"
		if t.MySQL {
			driver = "mysql"
		}
		return []string{"-dir", path, "-no-color", driver, url, "up"}
	case "migrate":
		return []string{"-path", path, "-database", url, "up"}
	case "dbmate":
		// `migrate` is `up` without the CREATE DATABASE check: strictly less
		// work, so it can only favour dbmate.
		return []string{"--url", url, "--migrations-dir", path, "--no-dump-schema", "migrate"}
	case "psql":
		return []string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f", path}
	}
	panic("unknown tool " + t.Name)
}

// verifyVersionTable checks the tool's own bookkeeping: exactly versions
// 1..n recorded, each once.
func (t *tool) verifyVersionTable(ctx context.Context, c *pgx.Conn, n int) error {
	var rows, distinct, maxV int64
	switch t.Format {
	case "psql":
		return nil
	case "fleetgate":
		if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT version), coalesce(max(version::bigint), 0) FROM fleetgate_migrations`).Scan(&rows, &distinct, &maxV); err != nil {
			return fmt.Errorf("fleetgate_migrations: %w", err)
		}
	case "goose":
		var notApplied int64
		if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id), coalesce(max(version_id), 0), count(*) FILTER (WHERE NOT is_applied) FROM goose_db_version WHERE version_id > 0`).Scan(&rows, &distinct, &maxV, &notApplied); err != nil {
			return fmt.Errorf("goose_db_version: %w", err)
		}
		if notApplied > 0 {
			return fmt.Errorf("goose_db_version: %d rows with is_applied = false", notApplied)
		}
	case "migrate":
		var version int64
		var dirty bool
		if err := c.QueryRow(ctx, `SELECT count(*) OVER (), version, dirty FROM schema_migrations`).Scan(&rows, &version, &dirty); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
		if rows != 1 || version != int64(n) || dirty {
			return fmt.Errorf("schema_migrations: %d rows, version %d, dirty %v; want 1 row, version %d, clean", rows, version, dirty, n)
		}
		return nil
	case "dbmate":
		if err := c.QueryRow(ctx, `SELECT count(*), count(DISTINCT version), coalesce(max(version::bigint), 0) FROM schema_migrations`).Scan(&rows, &distinct, &maxV); err != nil {
			return fmt.Errorf("schema_migrations: %w", err)
		}
	default:
		return fmt.Errorf("unknown tool %s", t.Name)
	}
	if rows != int64(n) || distinct != int64(n) || maxV != int64(n) {
		return fmt.Errorf("version table: %d rows, %d distinct versions, max %d; want %d, %d, %d", rows, distinct, maxV, n, n, n)
	}
	return nil
}

// dbState is what the verification reads from a database.
type dbState struct {
	Tables  int
	Columns int
	Counter int // -1 when the counter table is missing
}

func readState(ctx context.Context, c *pgx.Conn) (dbState, error) {
	var s dbState
	err := c.QueryRow(ctx, `SELECT
		(SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 't\_%'),
		(SELECT count(*) FROM information_schema.columns WHERE table_schema = 'public' AND column_name LIKE 'c\_%'),
		CASE WHEN to_regclass('public.counter') IS NULL THEN -1 ELSE 0 END`).Scan(&s.Tables, &s.Columns, &s.Counter)
	if err != nil {
		return s, err
	}
	if s.Counter == 0 {
		if err := c.QueryRow(ctx, `SELECT coalesce(sum(n), 0) FROM counter`).Scan(&s.Counter); err != nil {
			return s, err
		}
	}
	return s, nil
}

// verify checks that the database holds exactly the first e.Upto migrations,
// each applied once, in the schema and in the tool's version table.
func verify(ctx context.Context, t *tool, url string, e expectation) (dbState, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return dbState{}, err
	}
	defer c.Close(ctx)
	s, err := readState(ctx, c)
	if err != nil {
		return s, err
	}
	if s.Tables != e.Tables || s.Columns != e.Columns || s.Counter != e.Counter {
		return s, fmt.Errorf("schema: %d tables, %d columns, counter %d; want %d, %d, %d",
			s.Tables, s.Columns, s.Counter, e.Tables, e.Columns, e.Counter)
	}
	return s, t.verifyVersionTable(ctx, c, e.Upto)
}

var dirtyRe = regexp.MustCompile(`(?i)dirty database version (\d+)`)

// migrateDirtyVersion extracts V from golang-migrate's
// "Dirty database version V. Fix and force version." error.
func migrateDirtyVersion(out string) (int, bool) {
	m := dirtyRe.FindStringSubmatch(out)
	if m == nil {
		return 0, false
	}
	v, err := strconv.Atoi(m[1])
	return v, err == nil
}

func binPath(dir, name string) string { return filepath.Join(dir, name) }
