package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"os/user"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// schemaPath is the documented schema of `fleetgate history --json`.
var schemaPath = filepath.Join("..", "docs", "history.schema.json")

// checkSchema validates doc against the JSON Schema subset that
// docs/history.schema.json uses: type, enum, properties, required,
// additionalProperties: false, items, minimum, format: date-time, local
// $ref, allOf and if/then. A keyword outside that subset is an error, so
// the schema file cannot say more than this test checks.
func checkSchema(schema map[string]any, doc any) []string {
	c := &schemaChecker{root: schema}
	c.check(schema, doc, "$")
	return c.errs
}

type schemaChecker struct {
	root map[string]any
	errs []string
}

var annotations = map[string]bool{"$schema": true, "$id": true, "$defs": true, "$comment": true, "title": true, "description": true}

func (c *schemaChecker) errorf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *schemaChecker) check(s map[string]any, v any, at string) {
	for k := range s {
		switch k {
		case "type", "enum", "properties", "required", "additionalProperties", "items", "minimum", "format", "$ref", "allOf", "if", "then":
		default:
			if !annotations[k] {
				c.errorf("%s: schema keyword %q is not supported by the checker", at, k)
			}
		}
	}
	if ref, ok := s["$ref"].(string); ok {
		name, ok := strings.CutPrefix(ref, "#/$defs/")
		def, _ := c.root["$defs"].(map[string]any)[name].(map[string]any)
		if !ok || def == nil {
			c.errorf("%s: unresolvable $ref %q", at, ref)
			return
		}
		c.check(def, v, at)
	}
	if t, ok := s["type"].(string); ok && !hasType(v, t) {
		c.errorf("%s: want %s, got %s", at, t, jsonKind(v))
		return
	}
	if enum, ok := s["enum"].([]any); ok && !slices.ContainsFunc(enum, func(e any) bool { return e == v }) {
		c.errorf("%s: %v is not one of %v", at, v, enum)
	}
	if min, ok := s["minimum"].(json.Number); ok {
		if n, isNum := v.(json.Number); isNum {
			a, _ := new(big.Float).SetString(n.String())
			b, _ := new(big.Float).SetString(min.String())
			if a == nil || b == nil || a.Cmp(b) < 0 {
				c.errorf("%s: %v is below the minimum %v", at, v, min)
			}
		}
	}
	if f, ok := s["format"].(string); ok {
		if f != "date-time" {
			c.errorf("%s: format %q is not supported by the checker", at, f)
		} else if str, ok := v.(string); ok {
			if _, err := time.Parse(time.RFC3339Nano, str); err != nil {
				c.errorf("%s: %q is not an RFC 3339 date-time", at, str)
			}
		}
	}
	if obj, ok := v.(map[string]any); ok {
		props, _ := s["properties"].(map[string]any)
		for _, r := range asList(s["required"]) {
			if _, ok := obj[r.(string)]; !ok {
				c.errorf("%s: missing required %q", at, r)
			}
		}
		for k, pv := range obj {
			ps, ok := props[k].(map[string]any)
			if !ok {
				if ap, set := s["additionalProperties"].(bool); set && !ap {
					c.errorf("%s: undocumented property %q", at, k)
				}
				continue
			}
			c.check(ps, pv, at+"."+k)
		}
	}
	if arr, ok := v.([]any); ok {
		if items, ok := s["items"].(map[string]any); ok {
			for i, it := range arr {
				c.check(items, it, fmt.Sprintf("%s[%d]", at, i))
			}
		}
	}
	for _, sub := range asList(s["allOf"]) {
		c.check(sub.(map[string]any), v, at)
	}
	if cond, ok := s["if"].(map[string]any); ok {
		probe := &schemaChecker{root: c.root}
		probe.check(cond, v, at)
		if then, ok := s["then"].(map[string]any); ok && len(probe.errs) == 0 {
			c.check(then, v, at)
		}
	}
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func hasType(v any, t string) bool {
	switch t {
	case "integer":
		n, ok := v.(json.Number)
		return ok && regexp.MustCompile(`^-?[0-9]+$`).MatchString(n.String())
	case "number":
		_, ok := v.(json.Number)
		return ok
	}
	return jsonKind(v) == t
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case json.Number:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func decodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	require.NoError(t, dec.Decode(&v), "%s", b)
	require.False(t, dec.More(), "one JSON document expected:\n%s", b)
	return v
}

func loadSchema(t testing.TB) map[string]any {
	t.Helper()
	b, err := os.ReadFile(schemaPath)
	require.NoError(t, err)
	return decodeJSON(t, b).(map[string]any)
}

// requireValidHistory runs `history --json` with extra args, validates the
// output against the schema, and returns the events.
func requireValidHistory(t testing.TB, schema map[string]any, url, dir string, args ...string) []map[string]any {
	t.Helper()
	r := fg(t, nil, append([]string{"history", "--json", "-d", url, "--dir", dir}, args...)...)
	require.Equal(t, 0, r.Code, r.String())
	doc := decodeJSON(t, []byte(r.Stdout))
	require.Empty(t, checkSchema(schema, doc), "history --json does not match %s:\n%s", schemaPath, r.Stdout)
	var evs []map[string]any
	for _, e := range doc.([]any) {
		evs = append(evs, e.(map[string]any))
	}
	return evs
}

// The checker itself: every constraint the schema relies on rejects a
// document that breaks it, so a passing validation means something.
func TestSchemaCheckerRejects(t *testing.T) {
	t.Parallel()
	schema := loadSchema(t)
	valid := `{"id": 3, "at": "2026-01-02T03:04:05.123Z", "kind": "failure", "version": 4, "name": "x", "direction": "up",
		"error": "boom (SQLSTATE 42P01)", "statement": "SELECT 1", "statement_line": 4, "duration_ms": 0, "lock_wait_ms": 0,
		"host": "h", "pid": 12, "lock_generation": 2}`
	require.Empty(t, checkSchema(schema, decodeJSON(t, []byte("["+valid+"]"))))
	require.Empty(t, checkSchema(schema, decodeJSON(t, []byte("[]"))))
	tests := []struct {
		name string
		doc  string
		want string
	}{
		{name: "NotAnArray", doc: valid, want: "want array"},
		{name: "MissingRequired", doc: `[{"at": "2026-01-02T03:04:05Z", "kind": "lock_wait", "duration_ms": 0, "lock_wait_ms": 5}]`, want: `missing required "id"`},
		{name: "WrongType", doc: `[` + strings.Replace(valid, `"pid": 12`, `"pid": "12"`, 1) + `]`, want: "$[0].pid: want integer"},
		{name: "FloatIsNotInteger", doc: `[` + strings.Replace(valid, `"pid": 12`, `"pid": 12.5`, 1) + `]`, want: "$[0].pid: want integer"},
		{name: "Undocumented", doc: `[` + strings.Replace(valid, `"pid": 12`, `"pid": 12, "extra": 1`, 1) + `]`, want: `undocumented property "extra"`},
		{name: "UnknownKind", doc: `[` + strings.Replace(valid, `"failure"`, `"explode"`, 1) + `]`, want: "is not one of"},
		{name: "BadDirection", doc: `[` + strings.Replace(valid, `"up"`, `"sideways"`, 1) + `]`, want: "is not one of"},
		{name: "BadTime", doc: `[` + strings.Replace(valid, `2026-01-02T03:04:05.123Z`, `yesterday`, 1) + `]`, want: "not an RFC 3339"},
		{name: "BelowMinimum", doc: `[` + strings.Replace(valid, `"duration_ms": 0`, `"duration_ms": -1`, 1) + `]`, want: "below the minimum"},
		{name: "FailureWithoutError", doc: `[` + strings.Replace(valid, `"error": "boom (SQLSTATE 42P01)", `, ``, 1) + `]`, want: `missing required "error"`},
		{name: "ApplyWithoutVersion", doc: `[` + strings.Replace(strings.Replace(valid, `"version": 4, `, ``, 1), `"failure"`, `"apply"`, 1) + `]`, want: `missing required "version"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			errs := checkSchema(schema, decodeJSON(t, []byte(tt.doc)))
			require.NotEmpty(t, errs)
			require.Contains(t, strings.Join(errs, "\n"), tt.want)
		})
	}
	errs := checkSchema(map[string]any{"type": "array", "uniqueItems": true}, []any{})
	require.Contains(t, strings.Join(errs, "\n"), `"uniqueItems" is not supported`, "unknown keywords are refused, not ignored")
}

// A failing migration leaves a failure event with the database error and
// the statement's line; the fixed second attempt leaves an apply event;
// nothing is erased. Every event on the way, and every filter, prints
// JSON that matches the documented schema.
func TestAuditTrail(t *testing.T) {
	heavy.Lock()
	defer heavy.Unlock()
	schema := loadSchema(t)
	url := dbtest.Postgres(t)
	db := openDB(t, url)
	base := map[string]string{
		"1_counter.sql": counterSQL,
		"2_slow.sql":    "-- fleetgate:up\nCREATE TABLE t2 (id integer);\nSELECT pg_sleep(1.5);\n-- fleetgate:down\nDROP TABLE t2;\n",
	}
	broken := "-- fleetgate:up\nCREATE TABLE t3 (id integer);\n\nINSERT INTO t3 SELECT n FROM no_such_table;\n-- fleetgate:down\nDROP TABLE t3;\n"
	fixed := "-- fleetgate:up\nCREATE TABLE t3 (id integer);\n\nINSERT INTO t3 SELECT n FROM counter;\n-- fleetgate:down\nDROP TABLE t3;\n"
	with := func(v3 string) string {
		files := map[string]string{"3_fill.sql": v3}
		for k, v := range base {
			files[k] = v
		}
		return writeFiles(t, files)
	}
	dirBase, dirBroken, dirFixed := writeFiles(t, base), with(broken), with(fixed)

	// Nothing yet: an empty array, not null and not nothing.
	require.Empty(t, requireValidHistory(t, schema, url, dirBase))
	r := fg(t, nil, "history", "--json", "-d", url, "--dir", dirBase)
	require.Equal(t, "[]", strings.TrimSpace(r.Stdout))

	// A lock wait: one runner holds the lock in the slow migration 2 while
	// a second one, which also needs 3, waits and then takes over.
	holder := start(t, []string{"FLEETGATE_DEPLOY_ID=holder"}, "up", "-d", url, "--dir", dirBase)
	require.Eventually(t, func() bool {
		var n int
		return db.QueryRow("SELECT count(*) FROM fleetgate_lock WHERE holder IS NOT NULL").Scan(&n) == nil && n == 1
	}, 30*time.Second, 20*time.Millisecond)
	waiter := start(t, []string{"FLEETGATE_DEPLOY_ID=waiter"}, "up", "-d", url, "--dir", dirBroken)
	require.Equal(t, 0, holder.wait(t, time.Minute).Code)
	w := waiter.wait(t, time.Minute)

	// The waiter's migration 3 fails at its second statement, line 4.
	require.Equal(t, 1, w.Code, w.String())
	require.Contains(t, w.Stderr, "3_fill.sql:4")
	before := requireValidHistory(t, schema, url, dirBase)
	fail := findEvent(t, before, "failure", 3)
	require.Equal(t, "up", fail["direction"])
	require.Contains(t, fail["error"], `relation "no_such_table" does not exist`)
	require.Contains(t, fail["error"], "42P01")
	require.Equal(t, json.Number("4"), fail["statement_line"])
	require.Contains(t, fail["statement"], "INSERT INTO t3 SELECT n FROM no_such_table")
	require.True(t, strings.HasSuffix(fail["file"].(string), "3_fill.sql"), fail["file"])
	require.Equal(t, "waiter", fail["deploy_id"])
	wait := findEvent(t, before, "lock_wait", 0)
	require.Equal(t, "waiter", wait["deploy_id"])
	waited, _ := wait["lock_wait_ms"].(json.Number).Int64()
	require.Greater(t, waited, int64(300), "the waiter waited for the slow migration")

	// The fixed second attempt applies 3; nothing before it is erased.
	r = fg(t, []string{"FLEETGATE_DEPLOY_ID=fixer"}, "up", "-d", url, "--dir", dirFixed)
	require.Equal(t, 0, r.Code, r.String())
	after := requireValidHistory(t, schema, url, dirFixed)
	require.Equal(t, before, after[len(after)-len(before):], "earlier events unchanged")
	require.Len(t, after, len(before)+1)
	apply := after[0]
	require.Equal(t, "apply", apply["kind"])
	require.Equal(t, json.Number("3"), apply["version"])
	require.Equal(t, "fixer", apply["deploy_id"])

	// A rollback and a failing rollback: the failure names the statement
	// of the down section and the database stays at its version.
	r = fg(t, nil, "down", "-d", url, "--dir", dirFixed)
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, nil, "down", "-d", url, "--dir", writeFiles(t, map[string]string{
		"1_counter.sql": counterSQL,
		"2_slow.sql":    "-- fleetgate:up\nCREATE TABLE t2 (id integer);\nSELECT pg_sleep(1.5);\n-- fleetgate:down\nDROP TABLE t2;\nDROP TABLE t2;\n",
	}))
	require.Equal(t, 1, r.Code, r.String())
	require.Contains(t, r.Stderr, "the database is at version 2")
	evs := requireValidHistory(t, schema, url, dirFixed)
	downFail := evs[0]
	require.Equal(t, "failure", downFail["kind"])
	require.Equal(t, "down", downFail["direction"])
	require.Equal(t, json.Number("6"), downFail["statement_line"])
	rb := findEvent(t, evs, "rollback", 3)
	require.Equal(t, "down", rb["direction"])
	require.Len(t, evs, len(after)+2)

	// Filters print the same schema.
	only := requireValidHistory(t, schema, url, dirFixed, "--version", "3")
	require.Len(t, only, 3, "failure, apply and rollback of 3")
	for _, e := range only {
		require.Equal(t, json.Number("3"), e["version"])
	}
	require.Len(t, requireValidHistory(t, schema, url, dirFixed, "--since", "1h"), len(evs))
	require.Empty(t, requireValidHistory(t, schema, url, dirFixed, "--since", time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
}

// findEvent returns the newest event of kind for version (0: any).
func findEvent(t testing.TB, evs []map[string]any, kind string, version int64) map[string]any {
	t.Helper()
	for _, e := range evs {
		v, _ := e["version"].(json.Number)
		n, _ := v.Int64()
		if e["kind"] == kind && (version == 0 || n == version) {
			return e
		}
	}
	t.Fatalf("no %s event for version %d in %v", kind, version, evs)
	return nil
}

// requireWho checks that an event says who, where and when.
func requireWho(t testing.TB, e map[string]any, deployID string, since time.Time) {
	t.Helper()
	host, _ := os.Hostname()
	u, err := user.Current()
	require.NoError(t, err)
	require.Equal(t, host, e["host"])
	require.Equal(t, u.Username, e["os_user"])
	require.Equal(t, "postgres", e["db_user"])
	require.Equal(t, deployID, e["deploy_id"])
	require.NotEmpty(t, e["fleetgate_version"])
	pid, _ := e["pid"].(json.Number).Int64()
	require.Positive(t, pid)
	require.NotEqual(t, int64(os.Getpid()), pid, "written by a fleetgate process, not the test")
	at, err := time.Parse(time.RFC3339Nano, e["at"].(string))
	require.NoError(t, err)
	require.WithinRange(t, at, since.Add(-time.Second), time.Now().Add(time.Second))
}
