package e2e

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// A step is one process of a deploy recipe (a unit, a Compose service, an
// ECS container) and the conditions its platform waits for before starting
// it: another step started, or exited 0 (oneshot After=,
// service_completed_successfully, dependsOn SUCCESS).
type step struct {
	name  string
	argv  []string
	env   []string
	after []cond
}

type cond struct {
	step    string
	success bool // wait for exit 0; else only for the start
}

// outcome is what became of a step: started or not, and its exit code.
type outcome struct {
	started       atomic.Bool // read while the steps run
	code          int         // read after done
	startCh, done chan struct{}
}

// play runs the steps as the platform would, with real processes; a step
// whose success condition fails is never started, as a unit whose
// dependency failed or a container whose dependency did not succeed.
func play(t *testing.T, steps []step) map[string]*outcome {
	t.Helper()
	out := map[string]*outcome{}
	for _, s := range steps {
		out[s.name] = &outcome{startCh: make(chan struct{}), done: make(chan struct{})}
	}
	var wg sync.WaitGroup
	for _, s := range steps {
		o := out[s.name]
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(o.done)
			for _, c := range s.after {
				dep := out[c.step]
				if c.success {
					<-dep.done
					if !dep.started.Load() || dep.code != 0 {
						close(o.startCh)
						return // dependency failed: never started
					}
				} else {
					<-dep.startCh
					if !dep.started.Load() {
						close(o.startCh)
						return
					}
				}
			}
			p := startCmd(t, nil, s.env, s.argv[0], s.argv[1:]...)
			o.started.Store(true)
			close(o.startCh)
			<-p.done
			o.code = p.res.Code
			if o.code != 0 {
				t.Logf("%s exited %d\n%s", s.name, o.code, p.res)
			}
		}()
	}
	t.Cleanup(wg.Wait)
	return out
}

// deployEnv is what every recipe's processes run with here: the real
// binary and migrations in place of the image's paths, the test's
// database in place of the recipe's, and, for the app (a script that
// records what it finds at its start), where to write that.
type deployEnv struct {
	bin, dir, app, record string
	migrator, appURL      string
}

func (d deployEnv) path(s string) string {
	switch s {
	case "fleetgate", "/usr/local/bin/fleetgate", "/opt/api/bin/fleetgate":
		return d.bin
	case "/app/migrations", "/opt/api/migrations":
		return d.dir
	case "/app/server", "/opt/api/bin/server":
		return d.app
	}
	return s
}

func (d deployEnv) argv(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = d.path(a)
	}
	return out
}

// url maps a recipe's database credentials to the test's.
func (d deployEnv) url(v string) string {
	switch {
	case strings.Contains(v, "migrator"):
		return d.migrator
	case strings.Contains(v, "app"):
		return d.appURL
	}
	return v
}

func (d deployEnv) common() []string {
	return []string{"SIM_FG=" + d.bin, "SIM_DIR=" + d.dir, "SIM_RECORD=" + d.record}
}

// appScript is the server: it records the schema's state as the app's own
// credentials (DATABASE_URL) see it at its start, and which FLEETGATE_*
// variables it was given.
const appScript = `#!/bin/sh
"$SIM_FG" status -d "$DATABASE_URL" --table fleetgate.fleetgate_migrations --dir "$SIM_DIR" --json > "$SIM_RECORD.tmp" 2>&1
env | grep '^FLEETGATE_' > "$SIM_RECORD.env"
mv "$SIM_RECORD.tmp" "$SIM_RECORD"
`

// gateMigration blocks until the test inserts a row into public.gate, so
// that the test decides when the schema commits, with no sleep.
const gateMigration = `-- fleetgate:up
DO $$ BEGIN
  WHILE NOT EXISTS (SELECT 1 FROM public.gate) LOOP PERFORM pg_sleep(0.02); END LOOP;
END $$;
CREATE TABLE items (id serial PRIMARY KEY);
`

type scenario struct {
	env   deployEnv
	super string
}

func newScenario(t *testing.T, files map[string]string) scenario {
	t.Helper()
	super, migrator, appURL := splitRoles(t, nil)
	db := openDB(t, super)
	_, err := db.Exec("CREATE TABLE public.gate (x int)")
	require.NoError(t, err)
	_, err = db.Exec("GRANT SELECT ON public.gate TO " + userOf(t, migrator))
	require.NoError(t, err)
	tmp := t.TempDir()
	app := filepath.Join(tmp, "server")
	require.NoError(t, os.WriteFile(app, []byte(appScript), 0o755))
	return scenario{super: super, env: deployEnv{bin: bin, dir: writeFiles(t, files), app: app,
		record: filepath.Join(tmp, "record"), migrator: migrator, appURL: appURL}}
}

func userOf(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	require.NoError(t, err)
	return p.User.Username()
}

func (s scenario) openGate(t *testing.T) {
	t.Helper()
	_, err := openDB(t, s.super).Exec("INSERT INTO public.gate VALUES (1)")
	require.NoError(t, err)
}

// migrating waits until the gate migration runs.
func (s scenario) migrating(t *testing.T) {
	t.Helper()
	db := openDB(t, s.super)
	waitFor(t, 2*time.Minute, func() bool {
		return queryInt(t, db, "SELECT count(*) FROM pg_stat_activity WHERE query LIKE '%public.gate%' AND state = 'active' AND pid <> pg_backend_pid()") > 0
	})
}

// appSaw is the app's record: every migration's state at its start.
func (s scenario) appSaw(t *testing.T) (states []string, fleetgateVars string) {
	t.Helper()
	b, err := os.ReadFile(s.env.record)
	require.NoError(t, err)
	var st struct {
		Migrations []struct{ State string } `json:"migrations"`
	}
	require.NoError(t, json.Unmarshal(b, &st), "%s", b)
	for _, m := range st.Migrations {
		states = append(states, m.State)
	}
	env, err := os.ReadFile(s.env.record + ".env")
	require.NoError(t, err)
	return states, string(env)
}

// checkOrder plays a recipe on a migration the test holds open: the app
// must not start while it runs, must find the schema complete and hold no
// fleetgate variable; then on a failing migration: the app never starts.
func checkOrder(t *testing.T, build func(deployEnv) []step, migrate, app string) {
	t.Run("AppAfterSchema", func(t *testing.T) {
		t.Parallel()
		s := newScenario(t, map[string]string{"1_items.sql": gateMigration})
		out := play(t, build(s.env))
		s.migrating(t)
		require.NoFileExists(t, s.env.record, "the app started while its migration ran")
		require.False(t, out[app].started.Load())
		s.openGate(t)
		<-out[app].done
		require.Equal(t, 0, out[migrate].code)
		require.True(t, out[app].started.Load())
		states, vars := s.appSaw(t)
		require.Equal(t, []string{"applied"}, states, "the app found the schema incomplete")
		require.Empty(t, vars, "the app was given fleetgate's variables")
	})
	t.Run("FailedMigrationStopsDeploy", func(t *testing.T) {
		t.Parallel()
		s := newScenario(t, map[string]string{
			"1_items.sql": "-- fleetgate:up\nCREATE TABLE items (id serial PRIMARY KEY);\n",
			"2_bad.sql":   "-- fleetgate:up\nCREATE TABLE orders (item int REFERENCES missing (id));\n",
		})
		out := play(t, build(s.env))
		<-out[migrate].done
		<-out[app].done
		require.NotEqual(t, 0, out[migrate].code)
		require.False(t, out[app].started.Load(), "the app started after a failed migration")
		require.NoFileExists(t, s.env.record)
		db := openDB(t, s.super)
		require.Equal(t, 1, queryInt(t, db, "SELECT count(*) FROM fleetgate.fleetgate_migrations"), "only the good migration is recorded")
		require.Equal(t, 0, queryInt(t, db, "SELECT count(*) FROM pg_tables WHERE tablename = 'orders'"))
	})
}

// --- systemd: deploy/systemd/api-migrate.service, then api.service ---

func unitKeys(t *testing.T, name string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(recipes + "systemd/" + name)
	require.NoError(t, err)
	m := map[string][]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && !strings.HasPrefix(k, "#") {
			m[k] = append(m[k], v)
		}
	}
	return m
}

// systemdSteps: systemd starts a unit's Requires= together with it; with
// After= on a Type=oneshot unit, it starts the unit only once that one
// exited, and never when it failed. The environment files hold the
// credentials their comments name.
func systemdSteps(t *testing.T) func(deployEnv) []step {
	return func(d deployEnv) []step {
		var steps []step
		for _, name := range []string{"api-migrate.service", "api.service"} {
			k := unitKeys(t, name)
			env := d.common()
			for _, f := range k["EnvironmentFile"] {
				if strings.Contains(f, "migrator") {
					env = append(env, "FLEETGATE_DATABASE_URL="+d.migrator)
				} else {
					env = append(env, "DATABASE_URL="+d.appURL)
					if strings.Contains(k["ExecStart"][0], "fleetgate") {
						env = append(env, "FLEETGATE_DATABASE_URL="+d.appURL)
					}
				}
			}
			env = append(env, k["Environment"]...)
			s := step{name: name, argv: d.argv(strings.Fields(k["ExecStart"][0])), env: env}
			after := strings.Join(k["After"], " ")
			for _, req := range strings.Fields(strings.Join(k["Requires"], " ")) {
				ordered := strings.Contains(after, req)
				oneshot := strings.Join(unitKeys(t, req)["Type"], "") == "oneshot"
				s.after = append(s.after, cond{step: req, success: ordered && oneshot})
			}
			steps = append(steps, s)
		}
		return steps
	}
}

func TestRecipeSystemdOrder(t *testing.T) {
	t.Parallel()
	// systemd is not PID 1 on the test machines (containers): the units'
	// dependencies are played by the same processes instead.
	checkOrder(t, systemdSteps(t), "api-migrate.service", "api.service")
}

// --- Compose: deploy/compose/compose.yaml, migrate then api ---

func composeSteps(t *testing.T) func(deployEnv) []step {
	b, err := os.ReadFile(recipes + "compose/compose.yaml")
	require.NoError(t, err)
	var f struct {
		Services map[string]struct {
			Command     []string                     `yaml:"command"`
			Environment map[string]string            `yaml:"environment"`
			DependsOn   map[string]map[string]string `yaml:"depends_on"`
		} `yaml:"services"`
	}
	require.NoError(t, yaml.Unmarshal(b, &f))
	return func(d deployEnv) []step {
		var steps []step
		for _, name := range []string{"migrate", "api"} {
			svc := f.Services[name]
			env := d.common()
			for k, v := range svc.Environment {
				if strings.Contains(v, "://") {
					v = d.url(v)
				}
				env = append(env, k+"="+v)
			}
			s := step{name: name, argv: d.argv(svc.Command), env: env}
			for dep, c := range svc.DependsOn {
				if dep == "db" {
					continue // the test's server is up and healthy
				}
				s.after = append(s.after, cond{step: dep, success: c["condition"] == "service_completed_successfully"})
			}
			steps = append(steps, s)
		}
		return steps
	}
}

func TestRecipeComposeOrder(t *testing.T) {
	t.Parallel()
	checkOrder(t, composeSteps(t), "migrate", "api")
}

// --- ECS: deploy/ecs/service-taskdef-sidecar.json, dependsOn SUCCESS ---

type ecsTask struct {
	ContainerDefinitions []struct {
		Name        string   `json:"name"`
		EntryPoint  []string `json:"entryPoint"`
		Command     []string `json:"command"`
		Environment []struct{ Name, Value string }
		Secrets     []struct {
			Name      string `json:"name"`
			ValueFrom string `json:"valueFrom"`
		} `json:"secrets"`
		DependsOn []struct {
			ContainerName string `json:"containerName"`
			Condition     string `json:"condition"`
		} `json:"dependsOn"`
	} `json:"containerDefinitions"`
}

// ecsSteps: the agent starts a container once its dependencies reached
// their condition (START: started; SUCCESS: exited 0) and never when a
// SUCCESS dependency failed.
func ecsSteps(t *testing.T, mutate func(string) string) func(deployEnv) []step {
	b, err := os.ReadFile(recipes + "ecs/service-taskdef-sidecar.json")
	require.NoError(t, err)
	var task ecsTask
	require.NoError(t, json.Unmarshal([]byte(mutate(string(b))), &task))
	return func(d deployEnv) []step {
		var steps []step
		for _, c := range task.ContainerDefinitions {
			env := d.common()
			for _, e := range c.Environment {
				env = append(env, e.Name+"="+e.Value)
			}
			for _, s := range c.Secrets {
				env = append(env, s.Name+"="+d.url(s.ValueFrom))
			}
			s := step{name: c.Name, argv: d.argv(append(append([]string{}, c.EntryPoint...), c.Command...)), env: env}
			for _, dep := range c.DependsOn {
				s.after = append(s.after, cond{step: dep.ContainerName, success: dep.Condition == "SUCCESS"})
			}
			steps = append(steps, s)
		}
		return steps
	}
}

func TestRecipeECSDependsOnOrder(t *testing.T) {
	t.Parallel()
	keep := func(s string) string { return s }
	checkOrder(t, ecsSteps(t, keep), "migrate", "api")

	// The same task with dependsOn START: the app starts beside its
	// migration and finds the schema incomplete, which is what SUCCESS
	// prevents (and what makes the check above able to fail).
	t.Run("StartConditionIsNotEnough", func(t *testing.T) {
		t.Parallel()
		start := func(s string) string { return strings.Replace(s, `"condition": "SUCCESS"`, `"condition": "START"`, 1) }
		s := newScenario(t, map[string]string{"1_items.sql": gateMigration})
		out := play(t, ecsSteps(t, start)(s.env))
		<-out["api"].done
		s.openGate(t)
		states, _ := s.appSaw(t)
		require.Equal(t, []string{"pending"}, states)
		<-out["migrate"].done
	})
}
