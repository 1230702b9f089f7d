package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate"
)

func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_one.sql", "CREATE TABLE one (id integer);")
	env := map[string]string{"FLEETGATE_DATABASE_URL": "sqlite:" + filepath.Join(dir, "env.db"), "DATABASE_URL": "sqlite:" + filepath.Join(dir, "generic.db"), "FLEETGATE_DIR": dir}
	code, _, stderr := runCLI(t, env, "up", "-d", "sqlite:"+filepath.Join(dir, "flag.db"))
	require.Equal(t, 0, code, stderr)
	require.FileExists(t, filepath.Join(dir, "flag.db"))
	require.NoFileExists(t, filepath.Join(dir, "env.db"))

	code, _, stderr = runCLI(t, env, "up")
	require.Equal(t, 0, code, stderr)
	require.FileExists(t, filepath.Join(dir, "env.db"), "FLEETGATE_DATABASE_URL comes before DATABASE_URL")
	require.NoFileExists(t, filepath.Join(dir, "generic.db"))

	delete(env, "FLEETGATE_DATABASE_URL")
	code, _, stderr = runCLI(t, env, "up")
	require.Equal(t, 0, code, stderr)
	require.FileExists(t, filepath.Join(dir, "generic.db"))
}

func TestGlobalFlagsBeforeCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_one.sql", "CREATE TABLE one (id integer);")
	code, _, stderr := runCLI(t, nil, "--dir", dir, "-d", "sqlite:"+filepath.Join(dir, "x.db"), "up")
	require.Equal(t, 0, code, stderr)
}

func TestNew(t *testing.T) {
	t.Parallel()
	t.Run("Timestamp", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		code, out, stderr := runCLI(t, nil, "new", "add_users", "--dir", dir)
		require.Equal(t, 0, code, stderr)
		base := filepath.Base(strings.TrimSpace(out))
		require.Regexp(t, `^\d{14}_add_users\.sql$`, base)
		body, err := os.ReadFile(strings.TrimSpace(out))
		require.NoError(t, err)
		require.Contains(t, string(body), "-- fleetgate:up")
	})
	t.Run("SequentialKeepsWidth", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "0007_x.sql"), []byte("-- fleetgate:up\n"), 0o644))
		code, out, stderr := runCLI(t, nil, "new", "--phase", "post", "drop_old", "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Equal(t, "0008_drop_old.sql", filepath.Base(strings.TrimSpace(out)))
		body, err := os.ReadFile(strings.TrimSpace(out))
		require.NoError(t, err)
		require.Contains(t, string(body), "-- fleetgate:phase post")
	})
	t.Run("BadName", func(t *testing.T) {
		t.Parallel()
		code, _, stderr := runCLI(t, nil, "new", "../escape", "--dir", t.TempDir())
		require.Equal(t, 2, code)
		require.Contains(t, stderr, "NAME")
	})
}

func TestUsage(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, nil)
	require.Equal(t, 2, code)
	require.Contains(t, stderr, "usage: fleetgate")
	code, out, _ := runCLI(t, nil, "help")
	require.Equal(t, 0, code)
	require.Contains(t, out, "commands:")
	code, out, _ = runCLI(t, nil, "version")
	require.Equal(t, 0, code)
	require.True(t, strings.HasPrefix(out, "fleetgate "))
}

func TestJSONErrors(t *testing.T) {
	t.Parallel()
	code, _, stderr := runCLI(t, map[string]string{"FLEETGATE_LOG_FORMAT": "json"}, "up")
	require.Equal(t, 2, code)
	require.True(t, strings.HasPrefix(stderr, `{"`), stderr)
	require.Contains(t, stderr, `"exit_code":2`)
	require.Equal(t, 1, strings.Count(stderr, "\n"))
}

// The library names its Go settings; the command line says the flags.
func TestErrTextNamesFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		err  error
		want string
	}{
		{&fleetgate.ConfigError{Setting: "Config.Table", Msg: "set Config.Table to public.x, or set Config.Init, which starts a separate history"},
			"--table: pass --table public.x, or pass --init, which starts a separate history"},
		{&fleetgate.ConfigError{Setting: "Config.Dir", Msg: "point Config.Dir at it; set Config.AllowEmpty if intended"},
			"--dir: point --dir at it; pass --allow-empty if intended"},
		{&fleetgate.ConfigError{Setting: "ResolveOpts", Msg: "give exactly one of ResolveOpts.Done, ResolveOpts.RetryFrom and ResolveOpts.Abandon"},
			"resolve: give exactly one of --done, --retry-from and --abandon"},
		{fmt.Errorf("ahead: revert them (Migrator.Down with DownOpts.Unknown), or set UpOpts.IfAhead to continue"),
			"ahead: revert them (fleetgate down --unknown), or pass --if-ahead continue"},
		{fmt.Errorf("adopt it first (Migrator.Adopt with AdoptOpts.From goose); (name another with AdoptOpts.Table)"),
			"adopt it first (fleetgate adopt --from goose); (name another with --from-table)"},
		{&fleetgate.ConfigError{Setting: "Schemas(pattern)", Msg: "give exactly one of Schemas(pattern) and Schemas(query)"},
			"--schemas: give exactly one of --schemas and --schemas-from"},
	} {
		require.Equal(t, tt.want, errText(tt.err))
	}
}

// FLEETGATE_LOG_LEVEL=debug adds the steps of a wait and a run (where a
// fleet's wake-up goes); a level that does not exist is a usage error
// naming the variable, before anything runs.
func TestLogLevel(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeMigration(t, dir, "1_one.sql", "CREATE TABLE one (id integer);")
	db := "sqlite:" + filepath.Join(dir, "x.db")
	code, _, stderr := runCLI(t, nil, "up", "-d", db, "--dir", dir)
	require.Equal(t, 0, code, stderr)

	code, _, stderr = runCLI(t, nil, "wait", "-d", db, "--dir", dir)
	require.Equal(t, 0, code, stderr)
	require.NotContains(t, stderr, "registered until it expires")
	for _, format := range []string{"text", "json"} {
		code, _, stderr = runCLI(t, map[string]string{"FLEETGATE_LOG_LEVEL": "debug", "FLEETGATE_LOG_FORMAT": format}, "wait", "-d", db, "--dir", dir)
		require.Equal(t, 0, code, stderr)
		require.Contains(t, stderr, "registered until it expires", format)
	}

	code, _, stderr = runCLI(t, map[string]string{"FLEETGATE_LOG_LEVEL": "loud"}, "up", "-d", db, "--dir", dir)
	require.Equal(t, 2, code, stderr)
	require.Contains(t, stderr, "FLEETGATE_LOG_LEVEL")
	require.Contains(t, stderr, `"loud"`)
	require.Equal(t, 1, strings.Count(stderr, "\n"), stderr)
}
