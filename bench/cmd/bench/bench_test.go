package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	t.Parallel()
	ms := generate(setSpec{N: 50, DataAt: 25})
	if len(ms) != 50 {
		t.Fatalf("got %d migrations, want 50", len(ms))
	}
	if ms[0].Kind != "counter" || ms[24].Kind != "data" {
		t.Fatalf("migration 1 is %s, 25 is %s; want counter, data", ms[0].Kind, ms[24].Kind)
	}
	e := expect(ms, 50)
	if e.Counter != 1 || e.Tables+e.Columns != 48 {
		t.Fatalf("expectation %+v: want counter 1 and 48 tables+columns", e)
	}
	if e24 := expect(ms, 24); e24.Counter != 0 {
		t.Fatalf("first 24 include the data migration: %+v", e24)
	}
	for _, m := range ms {
		if m.Kind == "column" && !strings.Contains(m.Up[0], m.Table) {
			t.Fatalf("column migration %d does not name its table: %q", m.Version, m.Up[0])
		}
	}
	kill := generate(setSpec{N: 5, DataAt: 3, SleepSeconds: 5})
	if got := strings.Join(kill[2].Up, " "); !strings.Contains(got, "pg_sleep(5)") || !strings.Contains(got, "n = n + 1") {
		t.Fatalf("kill migration 3 = %q", got)
	}
}

func TestWriteSet(t *testing.T) {
	t.Parallel()
	ms := generate(setSpec{N: 4, DataAt: 2})
	want := map[string][]string{
		"fleetgate": {"0001_m0001.sql", "-- fleetgate:up", "-- fleetgate:down"},
		"goose":     {"0001_m0001.sql", "-- +goose Up", "-- +goose Down"},
		"dbmate":    {"0001_m0001.sql", "-- migrate:up", "-- migrate:down"},
		"migrate":   {"0001_m0001.up.sql", "CREATE TABLE counter", "INSERT INTO counter"},
		"psql":      {"all.sql", "BEGIN;", "COMMIT;"},
	}
	for format, w := range want {
		dir := t.TempDir()
		if _, err := writeSet(format, dir, ms, 3); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, w[0]))
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		for _, s := range w[1:] {
			if !strings.Contains(string(b), s) {
				t.Fatalf("%s: %s lacks %q:\n%s", format, w[0], s, b)
			}
		}
		entries, _ := os.ReadDir(dir)
		n := map[string]int{"migrate": 6, "psql": 1}[format]
		if n == 0 {
			n = 3
		}
		if len(entries) != n {
			t.Fatalf("%s: %d files for 3 migrations, want %d", format, len(entries), n)
		}
	}
}

func TestMigrateDirtyVersion(t *testing.T) {
	t.Parallel()
	v, ok := migrateDirtyVersion("error: Dirty database version 3. Fix and force version.")
	if !ok || v != 3 {
		t.Fatalf("got %d, %v", v, ok)
	}
	if _, ok := migrateDirtyVersion("error: no change"); ok {
		t.Fatal("matched a clean message")
	}
}

func TestStatsAndRatios(t *testing.T) {
	t.Parallel()
	s := &scenarioResult{Tools: []*toolResult{
		{Tool: "a", OK: true, Trials: []trial{{Seconds: 2, Verified: true}, {Seconds: 4, Verified: true}, {Seconds: 3, Verified: true}}},
		{Tool: "b", OK: false, Trials: []trial{{Seconds: 1, Verified: true}}},
		{Tool: "c", OK: true, Trials: []trial{{Seconds: 6, Verified: true}, {Seconds: 1, Verified: false}}},
	}}
	s.finish(func(t trial) bool { return t.Verified })
	a, b, c := s.tool("a"), s.tool("b"), s.tool("c")
	if a.Seconds.Median != 3 || a.Ratio != 1 || a.MinRatio != 1 {
		t.Fatalf("a: %+v ratio %v", a.Seconds, a.Ratio)
	}
	if b.Ratio != 1.0/3 {
		t.Fatalf("an incorrect tool must not be the base: b ratio %v", b.Ratio)
	}
	if c.Seconds.N != 1 || c.Ratio != 2 {
		t.Fatalf("c: %+v ratio %v", c.Seconds, c.Ratio)
	}
}

func TestErrLines(t *testing.T) {
	t.Parallel()
	out := "Applying: 1\nApplied: 1\nError: pq: relation \"t\" already exists\n"
	if got := errLines(out, 1); !strings.HasPrefix(got, "Error: pq") {
		t.Fatalf("got %q", got)
	}
	if got := errLines("a\nb\nc\n", 2); got != "b | c" {
		t.Fatalf("got %q", got)
	}
}

func TestWriteSetFromPsqlRunsOnlyPending(t *testing.T) {
	t.Parallel()
	ms := generate(setSpec{N: 4, DataAt: 2})
	dir := t.TempDir()
	path, err := writeSetFrom("psql", dir, ms, 3, 4)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(b), "BEGIN;"); n != 1 {
		t.Fatalf("psql script for migrations 4..4 has %d transactions:\n%s", n, b)
	}
	if !strings.Contains(string(b), ms[3].Up[0]) || strings.Contains(string(b), ms[0].Up[0]) {
		t.Fatalf("psql script holds the wrong migrations:\n%s", b)
	}
	// Runners always get every file: they skip what is applied.
	if _, err := writeSetFrom("fleetgate", dir, ms, 3, 4); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 5 { // all.sql + 4 files
		t.Fatalf("%d entries, want all.sql and 4 migration files", len(entries))
	}
}

func TestPeakRSSStatsAndFloor(t *testing.T) {
	t.Parallel()
	s := &scenarioResult{Tools: []*toolResult{
		{Tool: "big", OK: true, Trials: []trial{{Seconds: 1, Verified: true, PeakRSS: 25e6}, {Seconds: 1, Verified: true, PeakRSS: 27e6}, {Seconds: 1, Verified: false, PeakRSS: 99e6}}},
		{Tool: "small", OK: true, Trials: []trial{{Seconds: 1, Verified: true, PeakRSS: 15e6}, {Seconds: 1, Verified: true, PeakRSS: 16e6}}},
	}}
	s.finish(func(t trial) bool { return t.Verified })
	big, small := s.tool("big"), s.tool("small")
	if big.PeakRSS.Median != 26 || big.PeakRSS.Max != 27 {
		t.Fatalf("big: %+v (an unverified trial must not count)", big.PeakRSS)
	}
	if got := big.rssCell(16); got != "26 MB (max 27)" {
		t.Fatalf("big above the floor: %q", got)
	}
	if got := small.rssCell(16); got != "≤ 16 MB (floor)" {
		t.Fatalf("small within the floor: %q", got)
	}
	if got := small.rssCell(0); got != "16 MB (max 16)" {
		t.Fatalf("no floor measured: %q", got)
	}
}
