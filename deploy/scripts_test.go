package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
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
			if !strings.Contains(calls, "name==`migrate`") && tc.taskArn != "None" {
				t.Fatalf("the exit code read must be the migrate container's\n%s", calls)
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

// The ECS contract step waits for the service's deployment to finish
// before it runs its own task definition, and fails the pipeline on any
// exit but 0 (3: the fleet wait ran out, old tasks still registered).
func TestECSRunContractScript(t *testing.T) {
	for _, tc := range []struct {
		name, exitCode string
		wantCode       int
	}{
		{"Applied", "0", 0},
		{"FleetNotGone", "3", 1},
		{"Failed", "1", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fakeCLI(t, bin, "aws", `
  "ecs wait services-stable"*) ;;
  "ecs run-task"*) echo "arn:aws:ecs:eu-west-1:1:task/prod/c1" ;;
  *"tasks[0].lastStatus"*) echo STOPPED ;;
  *"exitCode"*) echo "`+tc.exitCode+`" ;;
  *"stoppedReason"*) echo "Essential container in task exited" ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
			code, out, calls := runScript(t, "ecs/run-contract.sh", bin,
				"CLUSTER=prod", "SUBNETS=subnet-1", "SECURITY_GROUP=sg-1")
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\ncalls:\n%s", code, tc.wantCode, out, calls)
			}
			stable, run := strings.Index(calls, "ecs wait services-stable"), strings.Index(calls, "ecs run-task")
			if stable < 0 || run < stable || !strings.Contains(calls, "--task-definition api-contract") {
				t.Fatalf("want services-stable, then the api-contract task\ncalls:\n%s", calls)
			}
			if !strings.Contains(calls, "name==`contract`") {
				t.Fatalf("the exit code read must be the contract container's\n%s", calls)
			}
		})
	}
}

// The contract hooks that run on every instance (CodeDeploy, Elastic
// Beanstalk) defer on exit 3, so that an early batch, where old instances
// still run, does not fail the deployment; any other failure fails it.
// The scripts call fleetgate by its install path; the test runs a copy
// that finds a stand-in on PATH instead.
func TestContractHooksDefer(t *testing.T) {
	for _, script := range []string{"codedeploy/scripts/contract.sh", "elasticbeanstalk/.platform/hooks/postdeploy/01_contract.sh"} {
		for _, tc := range []struct {
			fleetgate, wantCode int
		}{{0, 0}, {3, 0}, {1, 1}, {5, 5}} {
			t.Run(filepath.Base(filepath.Dir(script))+"/"+strconv.Itoa(tc.fleetgate), func(t *testing.T) {
				bin := t.TempDir()
				fakeCLI(t, bin, "aws", `
  "ssm get-parameter"*|"secretsmanager get-secret-value"*) echo "postgres://api_migrator:pw@db/api" ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
				fakeCLI(t, bin, "fleetgate", `
  "up --phase post "*) exit `+strconv.Itoa(tc.fleetgate)+` ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
				b, err := os.ReadFile(script)
				if err != nil {
					t.Fatal(err)
				}
				body := regexp.MustCompile(`/\S+/bin/fleetgate `).ReplaceAllString(string(b), "fleetgate ")
				copy := filepath.Join(t.TempDir(), "contract.sh")
				if err := os.WriteFile(copy, []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
				code, out, calls := runScript(t, copy, bin)
				if code != tc.wantCode {
					t.Fatalf("fleetgate exit %d: script exit %d, want %d\n%s\ncalls:\n%s", tc.fleetgate, code, tc.wantCode, out, calls)
				}
				if !strings.Contains(calls, "fleetgate up --phase post --dir ") {
					t.Fatalf("no contract run\ncalls:\n%s", calls)
				}
			})
		}
	}
}

// The Compose contract step rolls out first and applies the post phase
// only after `up --wait` succeeded, with migrate's image and credentials.
func TestComposeContractScript(t *testing.T) {
	for _, tc := range []struct {
		name     string
		upCode   int
		wantCode int
		wantRun  bool
	}{{"RolledOut", 0, 0, true}, {"RolloutFailed", 1, 1, false}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fakeCLI(t, bin, "docker", `
  "compose up -d --wait") exit `+strconv.Itoa(tc.upCode)+` ;;
  "compose run --rm --no-deps migrate fleetgate up --phase post "*) ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
			code, out, calls := runScript(t, "compose/contract.sh", bin)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\ncalls:\n%s", code, tc.wantCode, out, calls)
			}
			if got := strings.Contains(calls, "compose run"); got != tc.wantRun {
				t.Fatalf("contract run: %v, want %v\ncalls:\n%s", got, tc.wantRun, calls)
			}
		})
	}
}

// The Kubernetes contract step fails the pipeline when its Job fails, with
// the Job's log, and succeeds when it completes.
func TestKubernetesContractScript(t *testing.T) {
	for _, tc := range []struct {
		name, complete, failed string
		wantCode               int
	}{{"Applied", "True", "", 0}, {"Failed", "", "True", 1}} {
		t.Run(tc.name, func(t *testing.T) {
			bin := t.TempDir()
			fakeCLI(t, bin, "kubectl", `
  "apply -f contract-job.yaml") echo created ;;
  *'type=="Complete"'*) printf '%s' "`+tc.complete+`" ;;
  *'type=="Failed"'*) printf '%s' "`+tc.failed+`" ;;
  "logs job/api-contract-1-5-0 "*) echo "timed out waiting for the fleet" ;;
  *) echo "unexpected: $*" >&2; exit 9 ;;`)
			code, out, calls := runScript(t, "kubernetes/contract.sh", bin)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\n%s\ncalls:\n%s", code, tc.wantCode, out, calls)
			}
			if tc.wantCode != 0 && !strings.Contains(out, "timed out waiting for the fleet") {
				t.Fatalf("the Job's log is not shown\n%s", out)
			}
		})
	}
}
