package deploy

import (
	"context"
	"encoding/json"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// recipes are every recipe file under deploy/, by path.
func recipes(t *testing.T) map[string]snippet {
	t.Helper()
	out := map[string]snippet{}
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		switch filepath.Ext(path) {
		case ".go", ".mod", ".sum", ".md":
			return nil
		}
		s, err := read(path)
		out[s.path] = s
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func units(all map[string]snippet) map[string][]byte {
	u := map[string][]byte{}
	for p, s := range all {
		if strings.HasSuffix(p, ".service") {
			u[filepath.Base(p)] = s.data
		}
	}
	return u
}

func TestRecipesValid(t *testing.T) {
	ctx := context.Background()
	all := recipes(t)
	if len(all) < 20 {
		t.Fatalf("found only %d recipe files", len(all))
	}
	for p, s := range all {
		t.Run(p, func(t *testing.T) {
			if err := checkFile(ctx, s); err != nil {
				t.Error(err)
			}
		})
	}
	t.Run("systemd", func(t *testing.T) {
		if err := checkUnits(ctx, units(all)); err != nil {
			t.Error(err)
		}
	})
}

// mutation breaks one recipe file the way the recipes of the past were
// broken; the checker must reject every one.
type mutation struct {
	name, file, old, new string
	// edit, when set, replaces old/new: it changes the decoded JSON.
	edit func(map[string]any)
}

var mutations = []mutation{
	// Kubernetes
	{name: "JobRestartOnFailure", file: "kubernetes/migrate-job.yaml", old: "restartPolicy: Never", new: "restartPolicy: OnFailure"},
	{name: "JobNoFailurePolicy", file: "kubernetes/migrate-job.yaml", old: "  podFailurePolicy:\n", new: "  podFailurePolicyX:\n"},
	{name: "JobFailurePolicyMissesExit5", file: "kubernetes/migrate-job.yaml", old: "values: [1, 2, 3, 4, 5]", new: "values: [1, 2, 3, 4]"},
	{name: "JobNoDeadline", file: "kubernetes/migrate-job.yaml", old: "  activeDeadlineSeconds: 1200\n", new: ""},
	{name: "JobDeadlineShort", file: "kubernetes/migrate-job.yaml", old: "activeDeadlineSeconds: 1200", new: "activeDeadlineSeconds: 600"},
	{name: "JobNoLimits", file: "kubernetes/migrate-job.yaml", old: "            limits: {memory: 1Gi}\n", new: ""},
	{name: "HelmHookRestartOnFailure", file: "kubernetes/helm-hook-job.yaml", old: "restartPolicy: Never", new: "restartPolicy: OnFailure"},
	{name: "ArgoHookNoFailurePolicy", file: "kubernetes/argocd-presync-job.yaml", old: "      - action: FailJob\n", new: "      - action: Count\n"},
	{name: "WaitNoReadinessProbe", file: "kubernetes/deployment-wait.yaml", old: "          readinessProbe:\n            httpGet: {path: /healthz, port: http}\n            periodSeconds: 5\n            failureThreshold: 3\n", new: ""},
	{name: "WaitNoSelector", file: "kubernetes/deployment-wait.yaml", old: "  selector:\n    matchLabels: {app.kubernetes.io/name: api, app.kubernetes.io/component: server}\n", new: ""},
	{name: "WaitSelectorMismatch", file: "kubernetes/deployment-wait.yaml", old: "matchLabels: {app.kubernetes.io/name: api, app.kubernetes.io/component: server}", new: "matchLabels: {app.kubernetes.io/name: api, app.kubernetes.io/component: web}"},
	{name: "WaitNoProgressDeadline", file: "kubernetes/deployment-wait.yaml", old: "  progressDeadlineSeconds: 1500\n", new: ""},
	{name: "WaitUnknownField", file: "kubernetes/deployment-wait.yaml", old: "          readinessProbe:", new: "          readinessProbes:"},
	{name: "RunNoStartupProbe", file: "kubernetes/deployment-run.yaml", old: "          startupProbe:\n            httpGet: {path: /healthz, port: http}\n            periodSeconds: 10\n            failureThreshold: 132\n", new: ""},
	{name: "RunStartupWindowShort", file: "kubernetes/deployment-run.yaml", old: "failureThreshold: 132", new: "failureThreshold: 30"},
	{name: "RunNoDir", file: "kubernetes/deployment-run.yaml", old: `"--dir", "/app/migrations", `, new: ""},
	{name: "RunNoTimeout", file: "kubernetes/deployment-run.yaml", old: `"--timeout", "12m", `, new: ""},
	// ECS
	{name: "ECSNoCircuitBreaker", file: "ecs/service.json", old: `"enable": true`, new: `"enable": false`},
	{name: "ECSNoRollback", file: "ecs/service.json", old: `"rollback": true`, new: `"rollback": false`},
	{name: "ECSGraceShort", file: "ecs/service.json", old: `"healthCheckGracePeriodSeconds": 1320`, new: `"healthCheckGracePeriodSeconds": 300`},
	{name: "ECSUnknownField", file: "ecs/service.json", old: `"desiredCount"`, new: `"desiredTasks"`},
	{name: "ECSNoHealthCheck", file: "ecs/service-taskdef-run.json", edit: func(td map[string]any) {
		delete(td["containerDefinitions"].([]any)[0].(map[string]any), "healthCheck")
	}},
	{name: "ECSSidecarEssentialMigrateAlone", file: "ecs/service-taskdef-sidecar.json", edit: func(td map[string]any) {
		delete(td["containerDefinitions"].([]any)[1].(map[string]any), "dependsOn")
	}},
	{name: "ECSBadEnum", file: "ecs/service-taskdef-wait.json", old: `"networkMode": "awsvpc"`, new: `"networkMode": "vpc"`},
	{name: "ECSSidecarStartCondition", file: "ecs/service-taskdef-sidecar.json", old: `"condition": "SUCCESS"`, new: `"condition": "START"`},
	{name: "ECSMissingRequired", file: "ecs/migrate-taskdef.json", old: `"family": "api-migrate",`, new: ``},
	{name: "ECSMigrateNoDir", file: "ecs/migrate-taskdef.json", old: `"--dir", "/app/migrations", `, new: ``},
	// Compose
	{name: "ComposeNoDBHealthcheck", file: "compose/compose.yaml", old: "    healthcheck:\n      test: [\"CMD-SHELL\", \"pg_isready -U postgres -d api\"]\n      interval: 2s\n      timeout: 3s\n      retries: 30\n      start_period: 10s\n", new: ""},
	{name: "ComposeAppNotAfterMigrate", file: "compose/compose.yaml", old: "condition: service_completed_successfully", new: "condition: service_started"},
	{name: "ComposeMigrateRestarts", file: "compose/compose.yaml", old: `restart: "no"`, new: "restart: on-failure"},
	{name: "ComposeUnknownKey", file: "compose/compose.yaml", old: "    stop_grace_period: 60s\n", new: "    stop_grace: 60s\n"},
	// CodeDeploy, Elastic Beanstalk
	{name: "CodeDeployHookShort", file: "codedeploy/appspec.yml", old: "timeout: 1800", new: "timeout: 900"},
	{name: "CodeDeployUnknownHook", file: "codedeploy/appspec.yml", old: "  AfterInstall:", new: "  AfterInstal:"},
	{name: "EBDefaultTimeout", file: "elasticbeanstalk/.ebextensions/deploy.config", old: "    Timeout: 1800\n", new: ""},
	{name: "EBAllAtOnce", file: "elasticbeanstalk/.ebextensions/deploy.config", old: "DeploymentPolicy: Rolling", new: "DeploymentPolicy: AllAtOnce"},
	// Shell
	{name: "ShellSyntax", file: "ecs/run-task.sh", old: "  fi\n}\n", new: "}\n"},
	{name: "ShellNoSetE", file: "codedeploy/scripts/migrate.sh", old: "set -eu\n", new: ""},
}

var unitMutations = []mutation{
	{name: "TrailingComment", file: "api.service", old: "EnvironmentFile=/etc/api/app.env\n", new: "EnvironmentFile=/etc/api/app.env   # the app's\n"},
	{name: "MigrateNotOneshot", file: "api-migrate.service", old: "Type=oneshot", new: "Type=simple"},
	{name: "MigrateRestarts", file: "api-migrate.service", old: "TimeoutStartSec=20min\n", new: "TimeoutStartSec=20min\nRestart=on-failure\n"},
	{name: "MigrateNoDir", file: "api-migrate.service", old: " --dir /opt/api/migrations", new: ""},
	{name: "NoAfter", file: "api.service", old: "After=api-migrate.service network-online.target", new: "After=network-online.target"},
	{name: "NoRequires", file: "api.service", old: "Requires=api-migrate.service\n", new: ""},
	{name: "UnknownKey", file: "api-migrate.service", old: "Type=oneshot", new: "Type=oneshot\nRemainAfterExitt=yes"},
	{name: "BadValue", file: "api-migrate.service", old: "Type=oneshot", new: "Type=oneshoot"},
}

func mutate(t *testing.T, data []byte, m mutation) []byte {
	t.Helper()
	if m.edit != nil {
		var v map[string]any
		if err := json.Unmarshal(data, &v); err != nil {
			t.Fatal(err)
		}
		m.edit(v)
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if strings.Count(string(data), m.old) != 1 {
		t.Fatalf("%s: %q occurs %d times in %s", m.name, m.old, strings.Count(string(data), m.old), m.file)
	}
	return []byte(strings.Replace(string(data), m.old, m.new, 1))
}

func TestBrokenRecipesRejected(t *testing.T) {
	ctx := context.Background()
	all := recipes(t)
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			s, ok := all[m.file]
			if !ok {
				t.Fatalf("no recipe %s", m.file)
			}
			s.data = mutate(t, s.data, m)
			if err := checkFile(ctx, s); err == nil {
				t.Errorf("%s: the broken copy passed", m.file)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
	for _, m := range unitMutations {
		t.Run("systemd/"+m.name, func(t *testing.T) {
			u := units(all)
			u[m.file] = mutate(t, u[m.file], m)
			if err := checkUnits(ctx, u); err == nil {
				t.Errorf("%s: the broken copy passed", m.file)
			} else {
				t.Logf("rejected: %v", err)
			}
		})
	}
}
