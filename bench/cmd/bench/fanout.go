package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// fanoutTimeout bounds one tool's whole run over every schema: a shell loop
// over 1,000 schemas starts 1,000 processes.
const fanoutTimeout = 30 * time.Minute

// fanout is the schema-per-tenant scenario: one database with `schemas`
// empty schemas, the same 10 migrations applied in each. fleetgate runs
// once with --schemas (4 at a time, its default); each peer runs the way
// its users do it today, a shell loop with search_path set in the URL, one
// schema after another. A trial counts when every schema verifies.
func (h *harness) fanout(ctx context.Context, s *scenarioResult, tools []*tool, schemas int, progress func(string)) {
	spec := setSpec{N: 10, DataAt: 5}
	ms := generate(spec)
	want := expect(ms, spec.N)
	for trialNo := range s.Trials {
		for pos, t := range rotate(tools, trialNo) {
			if ctx.Err() != nil {
				return
			}
			tr := s.tool(t.Name)
			res := trial{Position: pos}
			err := func() error {
				path, _, err := h.set(t, spec, spec.N)
				if err != nil {
					return err
				}
				db, err := h.createDB(ctx, "")
				if err != nil {
					return err
				}
				defer h.dropDB(ctx, db)
				names, err := h.createSchemas(ctx, db, schemas)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				bin, args, err := h.fanoutCommand(t, db, path, names)
				if err != nil {
					return fmt.Errorf("setup: %w", err)
				}
				peak := h.pollPeak(ctx, db)
				r := runProc(h.work, fanoutTimeout, bin, args...)
				res.PeakConns = peak()
				res.Seconds, res.PeakRSS = r.Elapsed.Seconds(), r.MaxRSS
				if r.Code != 0 {
					return fmt.Errorf("exit %d: %s", r.Code, errLines(r.Output, 3))
				}
				if err := h.verifySchemas(ctx, t, db, names, want); err != nil {
					return err
				}
				res.Verified = true
				return nil
			}()
			if err != nil {
				res.Error = err.Error()
				tr.fail(err.Error())
			}
			tr.Trials = append(tr.Trials, res)
			progress(fmt.Sprintf("%s trial %d %s: %s, peak %d connections", s.ID, trialNo+1, t.Name, trialSummary(res), res.PeakConns))
		}
	}
	s.finish(func(t trial) bool { return t.Verified })
}

// createSchemas creates n empty schemas tenant_0000... in db.
func (h *harness) createSchemas(ctx context.Context, db string, n int) ([]string, error) {
	c, err := pgx.Connect(ctx, h.srv.url(db))
	if err != nil {
		return nil, err
	}
	defer c.Close(ctx)
	names := make([]string, n)
	var b strings.Builder
	for i := range n {
		names[i] = fmt.Sprintf("tenant_%04d", i)
		fmt.Fprintf(&b, "CREATE SCHEMA %s;\n", names[i])
	}
	_, err = c.Exec(ctx, b.String())
	return names, err
}

// fanoutCommand is what a user runs to migrate every schema: fleetgate's
// --schemas, or a bash loop over the peer's CLI.
func (h *harness) fanoutCommand(t *tool, db, path string, schemas []string) (string, []string, error) {
	url := h.srv.url(db)
	if t.Format == "fleetgate" {
		return t.Bin, []string{"up", "-d", url, "--dir", path, "--schemas", "tenant_*"}, nil
	}
	list := filepath.Join(h.work, "schemas-"+db+".txt")
	if err := os.WriteFile(list, []byte(strings.Join(schemas, "\n")+"\n"), 0o644); err != nil {
		return "", nil, err
	}
	var cmd string
	switch t.Format {
	case "migrate":
		cmd = `"$BIN" -path "$DIR" -database "$URL&search_path=$s" up`
	case "goose":
		cmd = `"$BIN" -dir "$DIR" -no-color postgres "$URL&search_path=$s" up`
	default:
		return "", nil, fmt.Errorf("no schema loop for %s", t.Name)
	}
	script := `set -e; while read -r s; do ` + cmd + ` >/dev/null; done < "$LIST"`
	return "/usr/bin/env", []string{"BIN=" + t.Bin, "DIR=" + path, "URL=" + url, "LIST=" + list, "bash", "-c", script}, nil
}

// verifySchemas checks every schema: the set's tables and columns, counter
// = 1, and the tool's own bookkeeping in that schema.
func (h *harness) verifySchemas(ctx context.Context, t *tool, db string, schemas []string, e expectation) error {
	c, err := pgx.Connect(ctx, h.srv.url(db))
	if err != nil {
		return err
	}
	defer c.Close(ctx)
	book := map[string]string{
		"fleetgate": `(SELECT count(DISTINCT version) FROM %[1]s.fleetgate_migrations WHERE complete)`,
		"goose":     `(SELECT count(DISTINCT version_id) FROM %[1]s.goose_db_version WHERE version_id > 0 AND is_applied)`,
		"migrate":   `(SELECT max(version) FROM %[1]s.schema_migrations WHERE NOT dirty)`,
	}[t.Format]
	// Tables and columns in two grouped passes over the catalog (a
	// per-schema subquery of information_schema would take minutes at
	// 1,000 schemas), then the counter and version table of each schema.
	tables, cols := map[string]int64{}, map[string]int64{}
	for _, x := range []struct {
		q   string
		out map[string]int64
	}{
		{`SELECT schemaname::text, count(*) FROM pg_tables WHERE tablename LIKE 't\_%' GROUP BY 1`, tables},
		{`SELECT n.nspname::text, count(*) FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
			WHERE c.relkind = 'r' AND a.attname LIKE 'c\_%' AND a.attnum > 0 AND NOT a.attisdropped GROUP BY 1`, cols},
	} {
		rows, err := c.Query(ctx, x.q)
		if err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		for rows.Next() {
			var s string
			var n int64
			if err := rows.Scan(&s, &n); err != nil {
				rows.Close()
				return fmt.Errorf("verify: %w", err)
			}
			x.out[s] = n
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
	}
	var q strings.Builder
	for i, s := range schemas {
		if i > 0 {
			q.WriteString(" UNION ALL ")
		}
		fmt.Fprintf(&q, `SELECT '%[1]s', (SELECT n FROM %[1]s.counter WHERE id = 1), `+book, s)
	}
	rows, err := c.Query(ctx, q.String())
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var s string
		var counter, versions int64
		if err := rows.Scan(&s, &counter, &versions); err != nil {
			return fmt.Errorf("verify: %w", err)
		}
		if tables[s] != int64(e.Tables) || cols[s] != int64(e.Columns) || counter != int64(e.Counter) || versions != int64(e.Upto) {
			return fmt.Errorf("schema %s: %d tables, %d columns, counter %d, %d versions recorded; want %d, %d, %d, %d",
				s, tables[s], cols[s], counter, versions, e.Tables, e.Columns, e.Counter, e.Upto)
		}
		seen++
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if seen != len(schemas) {
		return fmt.Errorf("verify: %d of %d schemas read", seen, len(schemas))
	}
	var public int
	if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&public); err != nil {
		return err
	}
	if public > 0 {
		return fmt.Errorf("%d tables in public: a migration ran outside its schema", public)
	}
	return nil
}
