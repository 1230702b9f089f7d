package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The pipeline scripts talk to the platform through its CLI (aws,
// kubectl), which is not here; a stand-in CLI on PATH answers as the
// platform would and records every call, so that the scripts' own control
// flow runs for real: a failed migration must stop them before the
// service or Deployment changes.

// fakeCLI writes an executable named name whose body is a shell case over
// "$*" and that appends each call to calls.
func fakeCLI(t *testing.T, dir, name, body string) {
	t.Helper()
	script := "#!/bin/sh\necho \"" + name + " $*\" >> \"$CALLS\"\ncase \"$*\" in\n" + body + "\nesac\n"
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runScript runs a recipe script from its own folder with the stand-ins
// first on PATH, and returns its exit code, output and the CLI calls made.
func runScript(t *testing.T, script, bin string, env ...string) (int, string, string) {
	t.Helper()
	calls := filepath.Join(t.TempDir(), "calls")
	cmd := exec.Command("sh", filepath.Base(script))
	cmd.Dir = filepath.Dir(script)
	cmd.Env = append(os.Environ(), append(env, "PATH="+bin+":"+os.Getenv("PATH"), "CALLS="+calls)...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(calls)
	return code, string(out), string(b)
}

func TestECSRunMigrationScript(t *testing.T) {
	for _, tc := range []struct {
		name, taskArn, exitCode string
		wantCode                int
		wantUpdate              bool
	}{
		{"Succeeded", "arn:aws:ecs:eu-west-1:1:task/prod/abc", "0", 0, true},
		{"MigrationFailed", "arn:aws:ecs:eu-west-1:1:task/prod/abc", "1", 1, false},
		{"CheckRefused", "arn:aws:ecs:eu-west-1:1:task/prod/abc", "5", 1, false},
		{"NotStarted", "None", "0", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fakeCLI(t, bin, "aws", `
  "ecs run-task"*) echo "`+tc.taskArn+`" ;;
  *"tasks[0].lastStatus"*) echo STOPPED ;;
  *"exitCode"*) echo "`+tc.exitCode+`" ;;
  *"stoppedReason"*) echo "Essential container in task exited" ;;
  "ecs update-service"*) echo updated ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
			code, out, calls := runScript(t, "ecs/run-migration.sh", bin,
				"CLUSTER=prod", "SUBNETS=subnet-1", "SECURITY_GROUP=sg-1")
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\ncalls:\n%s", code, tc.wantCode, out, calls)
			}
			if got := strings.Contains(calls, "ecs update-service"); got != tc.wantUpdate {
				t.Fatalf("update-service called: %v, want %v\ncalls:\n%s", got, tc.wantUpdate, calls)
			}
			if !strings.Contains(calls, "--task-definition api-migrate") && tc.taskArn != "None" {
				t.Fatalf("the migration must run its own task definition\n%s", calls)
			}
		})
	}
}

func TestKubernetesDeployScript(t *testing.T) {
	for _, tc := range []struct {
		name, complete, failed string
		wantCode               int
		wantDeployment         bool
	}{
		{"JobCompleted", "True", "", 0, true},
		{"JobFailed", "", "True", 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fakeCLI(t, bin, "kubectl", `
  "apply -f migrate-job.yaml") echo created ;;
  *'type=="Complete"'*) printf '%s' "`+tc.complete+`" ;;
  *'type=="Failed"'*) printf '%s' "`+tc.failed+`" ;;
  "logs "*) echo "fleetgate: migration failed" ;;
  "apply -f deployment-wait.yaml") echo configured ;;
  "rollout status "*) echo "successfully rolled out" ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
			code, out, calls := runScript(t, "kubernetes/deploy.sh", bin)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\ncalls:\n%s", code, tc.wantCode, out, calls)
			}
			if got := strings.Contains(calls, "deployment-wait.yaml"); got != tc.wantDeployment {
				t.Fatalf("Deployment applied: %v, want %v\ncalls:\n%s", got, tc.wantDeployment, calls)
			}
		})
	}
}
