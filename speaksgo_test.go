package fleetgate_test

import (
	"database/sql"
	"regexp"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// flagName is a command-line flag (--table, --allow-empty) or an
// environment variable of the CLI: what a library caller cannot set.
var flagName = regexp.MustCompile(`(^|[^-\w])--[a-z]|FLEETGATE_[A-Z]`)

// The library speaks Go: every error a caller may meet names the field,
// option or method to change (Config.Table, UpOpts.IfAhead), never a flag
// of the command line, which translates them itself (internal/cli).
func TestLibraryErrorsNameFieldsNotFlags(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	sqliteURL := func(t *testing.T) string { return dbtest.SQLite(t) }
	openWith := func(t *testing.T, url string, fsys fstest.MapFS, cfg *fleetgate.Config) *fleetgate.Migrator {
		t.Helper()
		m, err := fleetgate.Open(ctx, url, fsys, cfg)
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		return m
	}
	exec := func(t *testing.T, url, stmt string) {
		t.Helper()
		m := openWith(t, url, chain(1), nil)
		_, err := m.DB().ExecContext(ctx, stmt)
		require.NoError(t, err)
	}
	upTo := func(t *testing.T, url string, fsys fstest.MapFS) {
		t.Helper()
		_, err := openWith(t, url, fsys, nil).Up(ctx, nil)
		require.NoError(t, err)
	}
	only := func(versions ...int) fstest.MapFS {
		all, fsys := chain(9), fstest.MapFS{}
		for name, f := range all {
			for _, v := range versions {
				if name[0] == byte('0'+v) {
					fsys[name] = f
				}
			}
		}
		return fsys
	}

	cases := []struct {
		name string
		want string // the Go name the error must use
		err  func(t *testing.T) error
	}{
		{"BadTable", "Config.Table", func(t *testing.T) error {
			_, err := fleetgate.Open(ctx, sqliteURL(t), chain(1), &fleetgate.Config{Table: "x; DROP TABLE y"})
			return err
		}},
		{"BadFormat", "Config.Format", func(t *testing.T) error {
			_, err := fleetgate.Open(ctx, sqliteURL(t), chain(1), &fleetgate.Config{Format: "bogus"})
			return err
		}},
		{"BadChecks", "Config.Checks", func(t *testing.T) error {
			_, err := fleetgate.Open(ctx, sqliteURL(t), chain(1), &fleetgate.Config{Checks: "bogus"})
			return err
		}},
		{"BadLegacyTable", "Config.LegacyTable", func(t *testing.T) error {
			_, err := fleetgate.Open(ctx, sqliteURL(t), chain(1), &fleetgate.Config{LegacyTable: "bogus"})
			return err
		}},
		{"MissingDir", "Config.Dir", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), &fleetgate.Config{Dir: "nope"}).Up(ctx, nil)
			return err
		}},
		{"EmptyDir", "Config.AllowEmpty", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), fstest.MapFS{"sub/1_a.sql": {Data: []byte("SELECT 1;")}}, nil).Up(ctx, nil)
			return err
		}},
		{"MixedFormats", "Config.Format", func(t *testing.T) error {
			fsys := chain(1)
			fsys["2_b.sql"] = &fstest.MapFile{Data: []byte("-- +goose Up\nCREATE TABLE b (id integer);\n")}
			_, err := openWith(t, sqliteURL(t), fsys, nil).Up(ctx, nil)
			return err
		}},
		{"UpPhase", "UpOpts.Phase", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Up(ctx, &fleetgate.UpOpts{Phase: "mid"})
			return err
		}},
		{"UpIfAhead", "UpOpts.IfAhead", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Up(ctx, &fleetgate.UpOpts{IfAhead: "maybe"})
			return err
		}},
		{"UpTo", "UpOpts.To", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Up(ctx, &fleetgate.UpOpts{To: 99})
			return err
		}},
		{"DownTwoTargets", "DownOpts.Version", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Down(ctx, &fleetgate.DownOpts{Steps: 1, To: 1})
			return err
		}},
		{"DownPlanTwoTargets", "DownOpts.Unknown", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).PlanDown(ctx, &fleetgate.DownOpts{Steps: 1, Unknown: true})
			return err
		}},
		{"ResolveTwoDecisions", "ResolveOpts.Abandon", func(t *testing.T) error {
			return openWith(t, sqliteURL(t), chain(1), nil).Resolve(ctx, 1, &fleetgate.ResolveOpts{Done: true, Abandon: true})
		}},
		{"ResolveUnknownVersion", "ResolveOpts.RetryFrom", func(t *testing.T) error {
			return openWith(t, sqliteURL(t), chain(1), nil).Resolve(ctx, 7, &fleetgate.ResolveOpts{Done: true})
		}},
		{"AdoptUnknownTool", "AdoptOpts.From", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Adopt(ctx, &fleetgate.AdoptOpts{From: "bogus"})
			return err
		}},
		{"AdoptNoTable", "AdoptOpts.Table", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Adopt(ctx, &fleetgate.AdoptOpts{From: fleetgate.FromGoose})
			return err
		}},
		{"WaitOpts", "WaitOpts.PollInterval", func(t *testing.T) error {
			_, err := openWith(t, sqliteURL(t), chain(1), nil).Wait(ctx, &fleetgate.WaitOpts{PollInterval: -1})
			return err
		}},
		{"FanOutParallel", "FanOutOpts.Parallel", func(t *testing.T) error {
			_, err := fleetgate.FanOut(ctx, nil, chain(1), nil, &fleetgate.FanOutOpts{Parallel: -1}, nil)
			return err
		}},
		{"FanOutSchemaOnSQLite", "Target.Schema", func(t *testing.T) error {
			_, err := fleetgate.FanOut(ctx, []fleetgate.Target{{URL: sqliteURL(t), Schema: "tenant_1"}}, chain(1), nil, nil, nil)
			return err
		}},
		{"SchemasPatternAndQuery", "Schemas(query)", func(t *testing.T) error {
			_, err := fleetgate.Schemas(ctx, (*sql.DB)(nil), "tenant_*", "SELECT 1")
			return err
		}},
		{"UserTablesNoHistory", "Migrator.Adopt with AdoptOpts.From", func(t *testing.T) error {
			url := sqliteURL(t)
			exec(t, url, "CREATE TABLE users (id integer)")
			_, err := openWith(t, url, chain(1), nil).Up(ctx, nil)
			return err
		}},
		{"GooseHistoryThere", "AdoptOpts.From goose", func(t *testing.T) error {
			url := sqliteURL(t)
			exec(t, url, "CREATE TABLE goose_db_version (id integer)")
			_, err := openWith(t, url, chain(1), nil).Up(ctx, nil)
			return err
		}},
		{"OutOfOrder", "UpOpts.AllowOutOfOrder", func(t *testing.T) error {
			url := sqliteURL(t)
			upTo(t, url, only(1, 3))
			_, err := openWith(t, url, only(1, 2, 3), nil).Up(ctx, nil)
			return err
		}},
		{"DatabaseAhead", "UpOpts.IfAhead", func(t *testing.T) error {
			url := sqliteURL(t)
			upTo(t, url, chain(3))
			_, err := openWith(t, url, chain(2), nil).Up(ctx, &fleetgate.UpOpts{IfAhead: fleetgate.IfAheadFail})
			return err
		}},
		{"DownUnknownHole", "DownOpts.To", func(t *testing.T) error {
			url := sqliteURL(t)
			upTo(t, url, chain(3))
			_, err := openWith(t, url, only(1, 3), nil).Down(ctx, &fleetgate.DownOpts{Unknown: true})
			return err
		}},
		{"FleetError", "UpOpts.IgnoreFleet", func(*testing.T) error {
			return &fleetgate.FleetError{Action: "apply post-phase migration(s) 7", Now: time.Now(),
				Instances: []fleetgate.Instance{{Host: "web-1", PID: 10}}}
		}},
		{"SchemaMissing", "Config.Init", func(t *testing.T) error {
			_, err := openWith(t, dbtest.Postgres(t), chain(1), &fleetgate.Config{Table: "nosuch.fleetgate_migrations"}).Up(ctx, nil)
			return err
		}},
		{"OtherHistoryTable", "set Config.Table to", func(t *testing.T) error {
			url := dbtest.Postgres(t)
			upTo(t, url, chain(1))
			_, err := openWith(t, url, chain(1), &fleetgate.Config{Table: "app_migrations"}).Up(ctx, nil)
			return err
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			err := c.err(t)
			require.Error(t, err)
			require.Contains(t, err.Error(), c.want)
			require.False(t, flagName.MatchString(err.Error()), "a library error names a flag: %v", err)
		})
	}
}
