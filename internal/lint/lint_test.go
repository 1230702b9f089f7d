package lint

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/source"
)

// mig builds a migration from the SQL of its up section, which starts on
// line 2 of its file (after the -- fleetgate:up marker).
func mig(t *testing.T, phase source.Phase, noTx bool, sql string, allows ...source.Allow) *source.Migration {
	t.Helper()
	stmts, err := source.Split(sql, 2)
	require.NoError(t, err)
	if phase == "" {
		phase = source.PhasePre
	}
	return &source.Migration{Version: 1, Name: "m", File: "1_m.sql", Phase: phase, NoTransaction: noTx,
		Up: source.Section{SQL: sql, StartLine: 2, Statements: stmts}, Allows: allows}
}

func rulesOf(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Rule)
	}
	return out
}

type example struct {
	phase  source.Phase
	noTx   bool
	sql    string
	allows []source.Allow
}

// Every rule has a failing example on which it fires, and a passing one
// (the safe alternative the docs recommend) on which no rule at all fires.
var ruleTests = []struct {
	rule       string
	fail, pass []example
}{
	{DropColumn,
		[]example{{sql: "ALTER TABLE users DROP COLUMN legacy;"}, {sql: "ALTER TABLE users ADD COLUMN x int, DROP COLUMN IF EXISTS legacy CASCADE;"}},
		[]example{{phase: source.PhasePost, sql: "ALTER TABLE users DROP COLUMN legacy;"},
			{sql: "CREATE TABLE staging (a int, b int);\nALTER TABLE staging DROP COLUMN b;"}}},
	{DropTable,
		[]example{{sql: "DROP TABLE old_logs;"}, {sql: "DROP TABLE IF EXISTS public.old_logs, other CASCADE;"}},
		[]example{{phase: source.PhasePost, sql: "DROP TABLE old_logs;"},
			{sql: "CREATE TABLE scratch (a int);\nDROP TABLE scratch;"}}},
	{RenameColumn,
		[]example{{sql: "ALTER TABLE users RENAME COLUMN name TO full_name;"}},
		[]example{{sql: "ALTER TABLE users ADD COLUMN full_name text;"},
			{sql: "CREATE TABLE t (a int);\nALTER TABLE t RENAME COLUMN a TO b;"}}},
	{RenameTable,
		[]example{{sql: "ALTER TABLE users RENAME TO accounts;"}},
		[]example{{sql: "CREATE TABLE accounts_new (id bigint);\nALTER TABLE accounts_new RENAME TO accounts;\nCREATE INDEX accounts_id ON accounts (id);"}}},
	{ChangeColumnType,
		[]example{{sql: "ALTER TABLE users ALTER COLUMN age TYPE bigint;"}},
		[]example{{sql: "ALTER TABLE users ADD COLUMN age_big bigint;"}}},
	{SetNotNull,
		[]example{{sql: "ALTER TABLE users ALTER COLUMN email SET NOT NULL;"}},
		[]example{{sql: "ALTER TABLE users ADD CONSTRAINT users_email_nn CHECK (email IS NOT NULL) NOT VALID;"},
			{sql: "ALTER TABLE users VALIDATE CONSTRAINT users_email_nn;"}}},
	{DropNotNull,
		[]example{{sql: "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"}, {sql: "ALTER TABLE app.users ADD COLUMN x text, ALTER email DROP NOT NULL;"}},
		[]example{{phase: source.PhasePost, sql: "ALTER TABLE users ALTER COLUMN email DROP NOT NULL;"},
			{sql: "CREATE TABLE t (a int NOT NULL);\nALTER TABLE t ALTER COLUMN a DROP NOT NULL;"},
			{sql: "ALTER TABLE users ALTER COLUMN email SET DEFAULT '';"}}},
	{RequireConcurrentDropIndex,
		[]example{{sql: "DROP INDEX users_email_idx;"}, {phase: source.PhasePost, sql: "DROP INDEX IF EXISTS app.a_idx, b_idx CASCADE;"},
			{sql: "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nDROP INDEX t_a, users_email_idx;"}},
		[]example{{noTx: true, sql: "DROP INDEX CONCURRENTLY users_email_idx;"},
			{noTx: true, sql: "DROP INDEX CONCURRENTLY IF EXISTS users_email_idx;"},
			{sql: "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\nDROP INDEX t_a;"},
			{sql: "CREATE TABLE app.t (id int PRIMARY KEY, b int);\nCREATE INDEX t_b ON app.t (b);\nDROP INDEX app.t_b;"}}},
	{AddColumnVolatileDefault,
		[]example{{sql: "ALTER TABLE users ADD COLUMN token uuid DEFAULT gen_random_uuid();"},
			{sql: "ALTER TABLE users ADD COLUMN r float8 NOT NULL DEFAULT random() * 10;"},
			{sql: "ALTER TABLE users ADD COLUMN t uuid DEFAULT uuid_generate_v4();"},
			{sql: "ALTER TABLE users ADD COLUMN t timestamptz DEFAULT clock_timestamp();"},
			{sql: "ALTER TABLE users ADD COLUMN n bigint DEFAULT nextval('users_n_seq'::regclass);"},
			{sql: "ALTER TABLE users ADD COLUMN s text DEFAULT app.make_slug();"},
			{phase: source.PhasePost, sql: "ALTER TABLE users ADD COLUMN lower_email text GENERATED ALWAYS AS (lower(email)) STORED;"}},
		[]example{{sql: "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'free';"},
			{sql: "ALTER TABLE users ADD COLUMN created_at timestamptz NOT NULL DEFAULT now();"},
			{sql: "ALTER TABLE users ADD COLUMN created_at timestamptz DEFAULT CURRENT_TIMESTAMP, ADD COLUMN d date DEFAULT (now() AT TIME ZONE 'utc')::date;"},
			{sql: "ALTER TABLE users ADD COLUMN tags text[] DEFAULT '{}'::text[], ADD COLUMN meta jsonb DEFAULT jsonb_build_object('v', 1);"},
			{sql: "ALTER TABLE users ADD COLUMN token uuid;\nALTER TABLE users ALTER COLUMN token SET DEFAULT gen_random_uuid();"},
			{sql: "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN token uuid DEFAULT gen_random_uuid();"}}},
	{AddSerialColumn,
		[]example{{sql: "ALTER TABLE users ADD COLUMN seq bigserial;"},
			{sql: "ALTER TABLE users ADD COLUMN n serial4 NOT NULL;"},
			{phase: source.PhasePost, sql: "ALTER TABLE users ADD COLUMN id2 bigint GENERATED ALWAYS AS IDENTITY;"}},
		[]example{{sql: "ALTER TABLE users ADD COLUMN seq bigint;"},
			{sql: "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN id bigserial PRIMARY KEY;"}}},
	{RequireConcurrentDetach,
		[]example{{sql: "ALTER TABLE events DETACH PARTITION events_2019;"}, {phase: source.PhasePost, sql: "ALTER TABLE app.events DETACH PARTITION app.events_2019;"}},
		// The concurrent detach cannot run in a transaction, so it also
		// draws the at-least-once warning, which a reviewed file allows.
		[]example{{noTx: true, sql: "ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;",
			allows: []source.Allow{{Rule: AtLeastOnce, Reason: "a repeat after a crash is settled by DETACH ... FINALIZE", Line: 1}}},
			{sql: "CREATE TABLE m (at date) PARTITION BY RANGE (at);\nCREATE TABLE m_1 PARTITION OF m FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');\nALTER TABLE m DETACH PARTITION m_1;"}}},
	{TruncateCascade,
		[]example{{sql: "TRUNCATE users CASCADE;"}, {sql: "CREATE TABLE t (id int);\nTRUNCATE TABLE t, sessions CASCADE;"}},
		[]example{{sql: "TRUNCATE sessions, session_events;"}, {sql: "TRUNCATE sessions RESTRICT;"},
			{sql: "CREATE TABLE t (id int);\nTRUNCATE t CASCADE;"}}},
	{AddNotNullColumn,
		[]example{{sql: "ALTER TABLE users ADD COLUMN tier text NOT NULL;"}, {phase: source.PhasePost, sql: "ALTER TABLE users ADD tier text CONSTRAINT t_nn NOT NULL;"}},
		[]example{{sql: "ALTER TABLE users ADD COLUMN tier text NOT NULL DEFAULT 'free';"},
			{sql: "CREATE TABLE t (a int);\nALTER TABLE t ADD COLUMN id2 bigint GENERATED ALWAYS AS IDENTITY, ADD COLUMN seq bigserial NOT NULL;"},
			{sql: "ALTER TABLE users ADD COLUMN tier text;"}}},
	{RequireConcurrentIndex,
		[]example{{sql: "CREATE INDEX users_email_idx ON users (email);"}, {phase: source.PhasePost, sql: "CREATE UNIQUE INDEX users_email_key ON users (lower(email));"}},
		[]example{{noTx: true, sql: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"},
			{sql: "CREATE TABLE things (id bigint, name text);\nCREATE INDEX things_name ON things (name);"}}},
	{AddForeignKey,
		[]example{{sql: "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id);"},
			{sql: "ALTER TABLE orders ADD COLUMN coupon_id bigint REFERENCES coupons (id);"}},
		[]example{{sql: "ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;"},
			{sql: "ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;"},
			{sql: "CREATE TABLE payments (id bigint PRIMARY KEY, order_id bigint REFERENCES orders (id));"}}},
	{AddCheckConstraint,
		[]example{{sql: "ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0);"},
			{sql: "ALTER DOMAIN app.posint ADD CONSTRAINT posint_positive CHECK (VALUE > 0);"},
			{sql: "ALTER DOMAIN posint VALIDATE CONSTRAINT posint_positive;"}},
		[]example{{sql: "ALTER TABLE orders ADD CONSTRAINT amount_positive CHECK (amount > 0) NOT VALID;"},
			{sql: "ALTER DOMAIN posint ADD CONSTRAINT posint_positive CHECK (VALUE > 0) NOT VALID;"},
			{sql: "CREATE DOMAIN app.posint AS integer;\nALTER DOMAIN app.posint ADD CONSTRAINT posint_positive CHECK (VALUE > 0);"}}},
	{AddUniqueConstraint,
		[]example{{sql: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE (email);"}, {sql: "ALTER TABLE tags ADD PRIMARY KEY (id);"},
			{sql: "ALTER TABLE items ADD COLUMN id bigserial PRIMARY KEY;"}, {sql: "ALTER TABLE items ADD COLUMN code text UNIQUE;"}},
		[]example{{sql: "ALTER TABLE users ADD CONSTRAINT users_email_key UNIQUE USING INDEX users_email_idx;"}}},
	{RewriteColumnType,
		[]example{{phase: source.PhasePost, sql: "ALTER TABLE events ALTER COLUMN payload TYPE jsonb USING payload::jsonb;"}},
		[]example{{phase: source.PhasePost, sql: "ALTER TABLE events ADD COLUMN payload_json jsonb;"}}},
	{VacuumFull,
		[]example{{noTx: true, sql: "VACUUM FULL users;"}, {noTx: true, sql: "VACUUM (FULL, ANALYZE) users;"}},
		[]example{{noTx: true, sql: "VACUUM (ANALYZE) users;"}, {noTx: true, sql: "VACUUM (FULL false) users;"}}},
	{Cluster,
		[]example{{sql: "CLUSTER users USING users_pkey;"}},
		[]example{{sql: "ALTER TABLE users SET (fillfactor = 90);"}}},
	{RequireConcurrentReindex,
		[]example{{sql: "REINDEX INDEX users_email_idx;"}, {sql: "REINDEX TABLE users;"}},
		[]example{{noTx: true, sql: "REINDEX INDEX CONCURRENTLY users_email_idx;"}, {noTx: true, sql: "REINDEX (CONCURRENTLY) TABLE users;"}}},
	{LockTable,
		[]example{{sql: "LOCK TABLE users IN ACCESS EXCLUSIVE MODE;"}, {sql: "LOCK users;"}, {sql: "LOCK TABLE users IN SHARE MODE;"}},
		[]example{{sql: "LOCK TABLE users IN ROW EXCLUSIVE MODE;"},
			{sql: "CREATE TABLE fresh (id int);\nLOCK TABLE fresh IN ACCESS EXCLUSIVE MODE;"}}},
	{NeedsNoTransaction,
		[]example{{sql: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"},
			{sql: "DROP INDEX CONCURRENTLY users_email_idx;"},
			{sql: "VACUUM users;"},
			{noTx: true, sql: "BEGIN;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nCOMMIT;"}},
		[]example{{noTx: true, sql: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);\nDROP INDEX CONCURRENTLY users_old_idx;"},
			{noTx: true, sql: "BEGIN;\nCREATE TABLE a (id int);\nCOMMIT;\nCREATE INDEX CONCURRENTLY users_email_idx ON users (email);"}}},
	{EnumValueInTransaction,
		[]example{{sql: "ALTER TYPE mood ADD VALUE 'ecstatic';\nUPDATE people SET mood = 'ecstatic' WHERE mood = 'happy';"},
			{sql: "ALTER TYPE mood ADD VALUE IF NOT EXISTS 'ecstatic' AFTER 'happy';\nALTER TABLE people ALTER COLUMN mood SET DEFAULT 'ecstatic';"},
			{sql: "ALTER TYPE mood ADD VALUE 'ecstatic';\nDO $$ BEGIN UPDATE people SET mood = 'ecstatic' WHERE id = 1; END $$;"}},
		[]example{{sql: "ALTER TYPE mood ADD VALUE 'ecstatic';\nCOMMENT ON TYPE mood IS 'how people feel';"},
			{noTx: true, sql: "ALTER TYPE mood ADD VALUE 'ecstatic';\nUPDATE people SET mood = 'ecstatic' WHERE mood = 'happy';"},
			{sql: "ALTER TYPE mood RENAME VALUE 'sad' TO 'blue';\nUPDATE people SET mood = 'blue' WHERE id = 1;"}}},
	{UpdateWithoutWhere,
		[]example{{sql: "UPDATE accounts SET active = true;"}, {phase: source.PhasePost, sql: "WITH x AS (SELECT 1) UPDATE accounts SET active = true;"}},
		[]example{{sql: "UPDATE accounts SET active = true WHERE id BETWEEN 1 AND 10000;"},
			{sql: "CREATE TABLE flags (on_ boolean);\nINSERT INTO flags VALUES (false);\nUPDATE flags SET on_ = true;"}}},
	{DeleteWithoutWhere,
		[]example{{sql: "DELETE FROM sessions;"}},
		[]example{{sql: "DELETE FROM sessions WHERE expires_at < now();"}}},
	{UnnamedConcurrentIndex,
		[]example{{noTx: true, sql: "CREATE INDEX CONCURRENTLY ON users (email);"}},
		[]example{{noTx: true, sql: "CREATE INDEX CONCURRENTLY users_email_idx ON users (email);"}}},
	{AtLeastOnce,
		[]example{{noTx: true, sql: "CREATE DATABASE reports;"}, {noTx: true, sql: "CALL backfill_in_batches();"},
			{noTx: true, sql: "ALTER TABLE events DETACH PARTITION events_2019 CONCURRENTLY;"},
			{noTx: true, sql: "DO $$ BEGIN UPDATE accounts SET active = true WHERE id = 1; COMMIT; END $$;"}},
		[]example{{noTx: true, sql: "DROP DATABASE IF EXISTS reports;"}, {noTx: true, sql: "VACUUM users;"},
			{noTx: true, sql: "UPDATE accounts SET active = true WHERE id BETWEEN 1 AND 10000;"},
			{noTx: true, sql: "DROP INDEX CONCURRENTLY IF EXISTS users_old_idx;"},
			{noTx: true, sql: "REFRESH MATERIALIZED VIEW CONCURRENTLY totals;"}}},
	{SyntaxError,
		[]example{{sql: "ALTER TABLE users ADD COLUMN;"}, {sql: "CREATE TABLE ok (id int);\nSELEC 1;"}},
		[]example{{sql: "CREATE TABLE ok (id int);\nSELECT 1;"}}},
}

func TestRules(t *testing.T) {
	t.Parallel()
	covered := map[string]bool{UnknownAllow: true, PreDependsOnPost: true, InvalidatesCachedPlans: true} // tested below
	for _, tc := range ruleTests {
		covered[tc.rule] = true
		t.Run(tc.rule, func(t *testing.T) {
			t.Parallel()
			require.NotEmpty(t, tc.fail)
			require.NotEmpty(t, tc.pass)
			for _, ex := range tc.fail {
				fs, err := Check(mig(t, ex.phase, ex.noTx, ex.sql))
				require.NoError(t, err)
				require.Contains(t, rulesOf(fs), tc.rule, "%s should fire on:\n%s\ngot %v", tc.rule, ex.sql, fs)
				for _, f := range fs {
					if f.Rule == tc.rule {
						r, _ := Lookup(tc.rule)
						require.Equal(t, r.Severity, f.Severity)
						require.NotEmpty(t, f.Message)
						require.GreaterOrEqual(t, f.Line, 2)
						require.Positive(t, f.Col)
					}
				}
			}
			for _, ex := range tc.pass {
				fs, err := Check(mig(t, ex.phase, ex.noTx, ex.sql, ex.allows...))
				require.NoError(t, err)
				require.Empty(t, unaccepted(fs), "no rule should fire on:\n%s", ex.sql)
			}
		})
	}
	for _, r := range Rules() {
		require.True(t, covered[r.ID], "rule %s has no test", r.ID)
	}
}

func TestAllow(t *testing.T) {
	t.Parallel()
	m := mig(t, "", false, "ALTER TABLE users DROP COLUMN legacy;\nDELETE FROM sessions;",
		source.Allow{Rule: DropColumn, Reason: "no code reads legacy since v41", Line: 1},
		source.Allow{Rule: "drop-colum", Reason: "typo", Line: 1})
	fs, err := Check(m)
	require.NoError(t, err)
	require.Len(t, fs, 4)
	byRule := map[string]Finding{}
	for _, f := range fs {
		byRule[f.Rule] = f
	}
	require.True(t, byRule[DropColumn].Allowed)
	require.Equal(t, "no code reads legacy since v41", byRule[DropColumn].Reason)
	require.False(t, byRule[DropColumn].Blocking())
	require.True(t, byRule[DeleteWithoutWhere].Blocking())
	require.Equal(t, SeverityWarning, byRule[UnknownAllow].Severity)
	require.False(t, byRule[UnknownAllow].Blocking())
	require.Contains(t, byRule[UnknownAllow].Message, `"drop-colum"`)
	require.False(t, byRule[InvalidatesCachedPlans].Allowed, "allowing drop-column does not allow the advice")
	require.False(t, byRule[InvalidatesCachedPlans].Blocking())
}

// Positions point into the file: line and column of the statement, or of
// the clause at fault when the parser gives its location.
func TestPositions(t *testing.T) {
	t.Parallel()
	sql := "-- a comment mentioning DROP TABLE users;\nCREATE TABLE a (id int); /* ALTER TABLE x DROP COLUMN y */ ALTER TABLE users\n    DROP COLUMN legacy;\n\nALTER TABLE orders\n  ADD COLUMN é text,\n  ADD COLUMN tier text NOT NULL;\n"
	fs, err := Check(mig(t, "", false, sql))
	require.NoError(t, err)
	fs = unaccepted(fs)
	require.Len(t, fs, 2, "%v", fs)
	require.Equal(t, "1_m.sql:3:60 drop-column", fs[0].String()[:len("1_m.sql:3:60 drop-column")])
	require.Equal(t, DropColumn, fs[0].Rule)
	require.Equal(t, AddNotNullColumn, fs[1].Rule)
	require.Equal(t, 8, fs[1].Line)
	require.Equal(t, 14, fs[1].Col)
}

func TestSyntaxErrorPosition(t *testing.T) {
	t.Parallel()
	fs, err := Check(mig(t, "", false, "CREATE TABLE a (id int);\nALTER TABLE users ADD COLUMN é text NOT NULL DEFAUL 1;"))
	require.NoError(t, err)
	require.Len(t, fs, 1)
	require.Equal(t, SyntaxError, fs[0].Rule)
	require.Equal(t, 3, fs[0].Line)
	require.Equal(t, 46, fs[0].Col) // characters, not bytes: é is one
	require.Contains(t, fs[0].Message, "syntax error")
}

func TestDependencies(t *testing.T) {
	t.Parallel()
	post := func(v int64, sql string) *source.Migration {
		m := mig(t, source.PhasePost, false, sql)
		m.Version, m.File = v, "post.sql"
		return m
	}
	pre := func(v int64, sql string, allows ...source.Allow) *source.Migration {
		m := mig(t, source.PhasePre, false, sql, allows...)
		m.Version, m.File = v, "pre.sql"
		return m
	}
	tests := []struct {
		name      string
		post, pre string
		depends   bool
	}{
		{"ReAddsDroppedColumn", "ALTER TABLE users DROP COLUMN legacy;", "ALTER TABLE users ADD COLUMN legacy jsonb;", true},
		{"IndexesRenamedColumn", "ALTER TABLE orders RENAME COLUMN a TO b;", "CREATE INDEX CONCURRENTLY orders_b ON orders (b);", true},
		{"ReadsRetypedColumn", "ALTER TABLE orders ALTER COLUMN total TYPE numeric(12,2);", "UPDATE orders SET total_cents = total * 100 WHERE id < 10;", true},
		{"UsesCreatedTable", "CREATE TABLE archive (id bigint);", "INSERT INTO archive SELECT 1;", true},
		{"UsesRenamedTable", "ALTER TABLE people RENAME TO persons;", "ALTER TABLE persons ADD COLUMN nick text;", true},
		{"UsesDroppedTable", "DROP TABLE old_logs;", "CREATE INDEX CONCURRENTLY x ON public.old_logs (at);", true},
		{"OtherColumnSameTable", "ALTER TABLE users DROP COLUMN legacy;", "ALTER TABLE users ADD COLUMN email2 text;", false},
		{"OtherTable", "ALTER TABLE users DROP COLUMN legacy;", "ALTER TABLE orders ADD COLUMN legacy text;", false},
		{"OtherSchema", "DROP TABLE audit.logs;", "CREATE TABLE public.logs (id int);", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs, err := Dependencies([]*source.Migration{pre(11, tc.pre)}, []*source.Migration{post(10, tc.post)})
			require.NoError(t, err)
			if !tc.depends {
				require.Empty(t, fs)
				return
			}
			require.Len(t, fs, 1)
			require.Equal(t, PreDependsOnPost, fs[0].Rule)
			require.Equal(t, "pre.sql", fs[0].File)
			require.Contains(t, fs[0].Message, "--phase post --to 10")
			require.True(t, fs[0].Blocking())
		})
	}
	t.Run("NewerPostIsNotADependency", func(t *testing.T) {
		t.Parallel()
		fs, err := Dependencies([]*source.Migration{pre(9, "ALTER TABLE users ADD COLUMN legacy jsonb;")},
			[]*source.Migration{post(10, "ALTER TABLE users DROP COLUMN legacy;")})
		require.NoError(t, err)
		require.Empty(t, fs)
	})
	t.Run("Allowed", func(t *testing.T) {
		t.Parallel()
		fs, err := Dependencies([]*source.Migration{pre(11, "ALTER TABLE users ADD COLUMN legacy jsonb;",
			source.Allow{Rule: PreDependsOnPost, Reason: "the post one drops the old legacy; we re-add it on purpose", Line: 1})},
			[]*source.Migration{post(10, "ALTER TABLE users DROP COLUMN legacy;")})
		require.NoError(t, err)
		require.Len(t, fs, 1)
		require.False(t, fs[0].Blocking())
	})
}

func TestConcurrentIndex(t *testing.T) {
	t.Parallel()
	ib, ok, err := ConcurrentIndex("CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS \"Big_Idx\" ON app.items (lower(name))")
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, IndexBuild{Schema: "app", Table: "items", Name: "Big_Idx", Unique: true}, ib)
	for _, sql := range []string{
		"CREATE INDEX items_name ON items (name)",
		"CREATE INDEX CONCURRENTLY ON items (name)",
		"SELECT 'CREATE INDEX CONCURRENTLY x ON y (z)'",
		"DROP INDEX CONCURRENTLY items_name",
	} {
		_, ok, err := ConcurrentIndex(sql)
		require.NoError(t, err)
		require.False(t, ok, sql)
	}
}

func TestRulesDocumented(t *testing.T) {
	t.Parallel()
	doc, err := os.ReadFile("../../docs/checks.md")
	require.NoError(t, err)
	for _, r := range Rules() {
		require.NotEmpty(t, r.Summary)
		require.Equal(t, strings.ToLower(r.ID), r.ID)
		require.Contains(t, string(doc), "\n#### "+r.ID+"\n", "docs/checks.md has no section for %s", r.ID)
		phase := "all"
		if r.PreOnly {
			phase = "pre only"
		}
		require.Contains(t, string(doc), fmt.Sprintf("\n| [%s](#%s) | %s | %s |\n", r.ID, r.ID, r.Severity, phase),
			"docs/checks.md's table lacks %s or gives it another severity or phase", r.ID)
	}
}

// invalidates-cached-plans: a column added, dropped or retyped on a table
// that running code may use warns, once per table and migration, in both
// phases, with the advice; a table created earlier in the migration, or
// by an earlier migration of the same Set, does not; other ALTERs do not.
func TestCachedPlans(t *testing.T) {
	t.Parallel()
	fired := func(t *testing.T, phase source.Phase, sql string) []Finding {
		fs, err := Check(mig(t, phase, false, sql))
		require.NoError(t, err)
		var out []Finding
		for _, f := range fs {
			if f.Rule == InvalidatesCachedPlans {
				out = append(out, f)
			}
		}
		return out
	}
	for _, sql := range []string{
		"ALTER TABLE people ADD COLUMN full_name text;",
		"ALTER TABLE app.people DROP COLUMN name;",
		"ALTER TABLE people ALTER COLUMN age TYPE bigint;",
		"ALTER TABLE IF EXISTS people ADD COLUMN IF NOT EXISTS a int, ALTER age SET DEFAULT 0;",
	} {
		for _, phase := range []source.Phase{source.PhasePre, source.PhasePost} {
			fs := fired(t, phase, sql)
			require.Len(t, fs, 1, "%s (%s)", sql, phase)
			require.Equal(t, SeverityWarning, fs[0].Severity)
			require.False(t, fs[0].Blocking())
			require.Contains(t, fs[0].Message, "SQLSTATE 0A000")
			require.Contains(t, fs[0].Message, "pgxhook")
			require.Contains(t, fs[0].Message, "OnSchemaChange")
			require.Equal(t, 2, fs[0].Line)
			name := "people"
			if strings.Contains(sql, "app.people") {
				name = "app.people"
			}
			require.Equal(t, strings.Index(sql, name)+1, fs[0].Col, "points at the table")
		}
	}
	fs := fired(t, "", "ALTER TABLE people ADD COLUMN a int, DROP COLUMN b, ALTER COLUMN c TYPE text;\nALTER TABLE people ADD COLUMN d int;\nALTER TABLE orders ADD COLUMN e int;")
	require.Len(t, fs, 2, "once per table: %v", fs)
	require.Contains(t, fs[0].Message, "ALTER TABLE people adds a, drops b, retypes c:")
	require.Contains(t, fs[1].Message, "ALTER TABLE orders adds e:")
	for _, sql := range []string{
		"CREATE TABLE people (id int);\nALTER TABLE people ADD COLUMN name text, ALTER COLUMN id TYPE bigint;",
		"ALTER TABLE people ALTER COLUMN name SET DEFAULT '';",
		"ALTER TABLE people ADD CONSTRAINT people_name_nn CHECK (name IS NOT NULL) NOT VALID;",
		"ALTER TABLE people RENAME COLUMN name TO full_name;",
		"CREATE INDEX CONCURRENTLY people_name ON people (name);",
	} {
		require.Empty(t, fired(t, "", sql), sql)
	}

	// In a Set, the tables the earlier migrations create are new to the
	// later ones; a Set starts empty, and Check alone knows nothing of it.
	create := mig(t, "", false, "CREATE TABLE people (id int);")
	alter := mig(t, "", false, "ALTER TABLE people ADD COLUMN name text;")
	var set Set
	_, err := set.Check(create)
	require.NoError(t, err)
	fs, err = set.Check(alter)
	require.NoError(t, err)
	require.Empty(t, fs)
	fs, err = new(Set).Check(alter)
	require.NoError(t, err)
	require.Equal(t, []string{InvalidatesCachedPlans}, rulesOf(fs))
	fs, err = Check(alter)
	require.NoError(t, err)
	require.Equal(t, []string{InvalidatesCachedPlans}, rulesOf(fs))
}
