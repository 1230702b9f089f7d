package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// envOf parses `env` output into a map.
func envOf(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(l, "="); ok {
			m[k] = v
		}
	}
	return m
}

// The app started by `run` must not receive the migrator's credentials
// (FLEETGATE_DATABASE_URL) or any other fleetgate setting, unless asked;
// its own variables, DATABASE_URL included, pass through.
func TestRunChildEnvironment(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, oneTable)
	url := dbtest.SQLite(t)
	env := []string{"FLEETGATE_DATABASE_URL=" + url, "FLEETGATE_DIR=" + dir, "FLEETGATE_DEPLOY_ID=d-1",
		"DATABASE_URL=postgres://app@db/app", "APP_SETTING=kept"}

	r := fg(t, env, "run", "--", "env")
	require.Equal(t, 0, r.Code, r.String())
	got := envOf(r.Stdout)
	for k := range got {
		require.False(t, strings.HasPrefix(k, "FLEETGATE_"), "the app inherited %s\n%s", k, r)
	}
	require.Equal(t, "postgres://app@db/app", got["DATABASE_URL"], "the app's own URL is left alone")
	require.Equal(t, "kept", got["APP_SETTING"])
	require.Equal(t, 1, queryInt(t, openDB(t, url), "SELECT count(*) FROM fleetgate_migrations"),
		"fleetgate itself still read its variables")

	r = fg(t, env, "run", "--keep-env", "--", "env")
	require.Equal(t, 0, r.Code, r.String())
	got = envOf(r.Stdout)
	require.Equal(t, url, got["FLEETGATE_DATABASE_URL"], "--keep-env passes fleetgate's variables on")
	require.Equal(t, "d-1", got["FLEETGATE_DEPLOY_ID"])
}

// With --gate-exit-offset, a failure of the gate (before the app started)
// exits with offset + fleetgate's code, so that it cannot be mistaken for
// the app's own status; without it, the codes stay those of up and wait.
func TestRunGateExitOffset(t *testing.T) {
	t.Parallel()
	bad := writeFiles(t, map[string]string{"1_bad.sql": "-- fleetgate:up\nCREATE TABLE;\n"})
	good := writeFiles(t, oneTable)
	marker := filepath.Join(t.TempDir(), "started")
	app := []string{"--", "sh", "-c", "touch " + marker + "; exit 1"}

	t.Run("MigrationFails", func(t *testing.T) {
		url := dbtest.SQLite(t)
		r := fg(t, nil, append([]string{"run", "-d", url, "--dir", bad}, app...)...)
		require.Equal(t, 1, r.Code, "default: up's code\n%s", r)
		r = fg(t, nil, append([]string{"run", "-d", url, "--dir", bad, "--gate-exit-offset", "100"}, app...)...)
		require.Equal(t, 101, r.Code, r.String())
		require.NoFileExists(t, marker, "the app must not start after a failed migration")
	})
	t.Run("Timeout", func(t *testing.T) {
		url := dbtest.SQLite(t)
		r := fg(t, nil, append([]string{"run", "--wait-only", "--timeout", "1s", "-d", url, "--dir", good, "--gate-exit-offset", "100"}, app...)...)
		require.Equal(t, 103, r.Code, r.String())
		require.NoFileExists(t, marker)
	})
	t.Run("AppStatusUnchanged", func(t *testing.T) {
		url := dbtest.SQLite(t)
		r := fg(t, nil, append([]string{"run", "-d", url, "--dir", good, "--gate-exit-offset", "100"}, app...)...)
		require.Equal(t, 1, r.Code, "the app's status is passed on as is\n%s", r)
		require.FileExists(t, marker)
	})
	t.Run("BadOffset", func(t *testing.T) {
		url := dbtest.SQLite(t)
		for _, v := range []string{"-1", "121", "x"} {
			r := fg(t, nil, append([]string{"run", "-d", url, "--dir", good, "--gate-exit-offset", v}, app...)...)
			require.Equal(t, 2, r.Code, r.String())
			require.Contains(t, r.Stderr, "gate-exit-offset")
		}
	})
}
