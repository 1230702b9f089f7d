package e2e

import (
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/dbtest"
)

// The recipes of docs/deploy.md live in deploy/ (their schema checks are
// deploy/'s own module). Here they run: deploy/postgres/grants.sql on a
// real PostgreSQL, and the start order that systemd, Compose and ECS derive
// from the recipe files, played by the same sequence of real processes.

const recipes = "../deploy/"

// splitRoles runs deploy/postgres/grants.sql (minus the statements drop
// removes) as superuser in a fresh database, with the roles renamed apart
// (roles belong to the whole server), and returns the superuser's, the
// migrator's and the app's URLs.
func splitRoles(t *testing.T, drop *regexp.Regexp) (super, migrator, app string) {
	t.Helper()
	b, err := os.ReadFile(recipes + "postgres/grants.sql")
	require.NoError(t, err)
	sfx := make([]byte, 4)
	_, _ = rand.Read(sfx)
	mig, appRole := "api_migrator_"+hex.EncodeToString(sfx), "api_app_"+hex.EncodeToString(sfx)
	text := regexp.MustCompile(`\bapi_migrator\b`).ReplaceAllString(string(b), mig)
	text = regexp.MustCompile(`\bapi_app\b`).ReplaceAllString(text, appRole)
	if drop != nil {
		text = drop.ReplaceAllString(text, "")
	}
	file := filepath.Join(t.TempDir(), "grants.sql")
	require.NoError(t, os.WriteFile(file, []byte(text), 0o644))

	super = dbtest.Postgres(t)
	t.Cleanup(func() {
		db, err := sql.Open("pgx", super)
		if err != nil {
			t.Error(err)
			return
		}
		defer db.Close()
		for _, q := range []string{"DROP OWNED BY " + mig, "DROP OWNED BY " + appRole, "DROP ROLE IF EXISTS " + mig, "DROP ROLE IF EXISTS " + appRole} {
			if _, err := db.Exec(q); err != nil {
				t.Errorf("%s: %v", q, err)
			}
		}
	})
	out, err := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "migrator_password=m-secret",
		"-v", "app_password=a-secret", "-d", super, "-f", file).CombinedOutput()
	require.NoError(t, err, "psql -f grants.sql: %s", out)
	withUser := func(user, pw string) string {
		u, err := url.Parse(super)
		require.NoError(t, err)
		u.User = url.UserPassword(user, pw)
		return u.String()
	}
	return super, withUser(mig, "m-secret"), withUser(appRole, "a-secret")
}

const fleetgateTable = "FLEETGATE_TABLE=fleetgate.fleetgate_migrations"

// The first deploy with split credentials: the migrator creates the tables,
// the app can wait for them and use them at once, and cannot write the
// history or change the schema. Without the default privileges of
// grants.sql, the app's wait fails with "permission denied".
func TestRecipeGrantsFirstDeploy(t *testing.T) {
	t.Parallel()
	dir := writeFiles(t, map[string]string{"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id serial PRIMARY KEY, name text);\n"})

	_, migrator, app := splitRoles(t, nil)
	r := fg(t, []string{fleetgateTable}, "up", "-d", migrator, "--dir", dir)
	require.Equal(t, 0, r.Code, r.String())
	r = fg(t, []string{fleetgateTable}, "wait", "--timeout", "30s", "-d", app, "--dir", dir)
	require.Equal(t, 0, r.Code, "the app's role waits\n%s", r)
	require.NotContains(t, r.Stderr, "not readable", "the app may read the lock table")
	require.NotContains(t, r.Stderr, "unregistered", "the app may write the instance registry")
	require.Equal(t, 1, queryInt(t, openDB(t, migrator), "SELECT count(*) FROM fleetgate.fleetgate_instances"), "the app's wait registered it")

	db := openDB(t, app)
	_, err := db.Exec("INSERT INTO items (name) VALUES ('a')")
	require.NoError(t, err, "the app writes the tables migrations create (sequence included)")
	require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM items"))
	_, err = db.Exec("DELETE FROM fleetgate.fleetgate_migrations")
	require.ErrorContains(t, err, "permission denied", "the app must not write the history")
	_, err = db.Exec("CREATE TABLE sneaky (id int)")
	require.ErrorContains(t, err, "permission denied", "the app must not change the schema")

	t.Run("WithoutDefaultPrivileges", func(t *testing.T) {
		t.Parallel()
		_, migrator, app := splitRoles(t, regexp.MustCompile(`(?s)ALTER DEFAULT PRIVILEGES[^;]*;`))
		r := fg(t, []string{fleetgateTable}, "up", "-d", migrator, "--dir", dir)
		require.Equal(t, 0, r.Code, r.String())
		r = fg(t, []string{fleetgateTable}, "wait", "--timeout", "30s", "-d", app, "--dir", dir)
		require.Equal(t, 1, r.Code, r.String())
		require.Contains(t, r.Stderr, "permission denied")
	})
}

// The contract step with grants.sql's roles (docs/deploy.md, "The contract
// step, platform by platform"): an instance started with the app's
// credentials registers, and the migrator's `up --phase post` reads the
// registry, waits for it (exit 3 naming it when --timeout runs out) and
// applies the contract once it is gone.
func TestRecipeGrantsContract(t *testing.T) {
	t.Parallel()
	v1 := map[string]string{"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id serial PRIMARY KEY, name text);\n"}
	v2 := map[string]string{"1_items.sql": v1["1_items.sql"],
		"2_drop.sql": "-- fleetgate:phase post\n-- fleetgate:up\nALTER TABLE items DROP COLUMN name;\n"}
	dir1, dir2 := writeFiles(t, v1), writeFiles(t, v2)
	_, migrator, app := splitRoles(t, nil)
	env := []string{fleetgateTable}
	r := fg(t, env, "up", "-d", migrator, "--dir", dir1)
	require.Equal(t, 0, r.Code, r.String())

	old := start(t, env, "run", "--wait-only", "--timeout", "30s", "-d", app, "--dir", dir1, "--", "sleep", "120")
	mdb := openDB(t, migrator)
	waitFor(t, 30*time.Second, func() bool {
		return queryInt(t, mdb, "SELECT count(*) FROM fleetgate.fleetgate_instances") == 1
	})
	r = fg(t, env, "up", "--phase", "post", "-d", migrator, "--dir", dir2, "--timeout", "2s")
	require.Equal(t, 3, r.Code, "the app's instance holds the contract back\n%s", r)
	require.Contains(t, r.Stderr, fmt.Sprintf("pid %d", old.cmd.Process.Pid))
	require.True(t, columnExists(t, migrator, "items", "name"))

	old.signal(syscall.SIGTERM)
	res := old.wait(t, 30*time.Second)
	require.Equal(t, 143, res.Code, res.String())
	r = fg(t, env, "up", "--phase", "post", "-d", migrator, "--dir", dir2, "--timeout", "30s")
	require.Equal(t, 0, r.Code, r.String())
	require.False(t, columnExists(t, migrator, "items", "name"))
}
