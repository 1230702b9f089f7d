package deploy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecs"
	ecstypes "github.com/aws/aws-sdk-go-v2/service/ecs/types"
	"github.com/compose-spec/compose-go/v2/loader"
	composetypes "github.com/compose-spec/compose-go/v2/types"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

// longestMigration is the budget every recipe's timeouts are built on
// (docs/deploy.md, "Timeouts"): the longest a single migration may run.
const longestMigration = 10 * time.Minute

// snippet is one recipe file, by its path relative to deploy/.
type snippet struct {
	path string
	data []byte
}

// checkFile checks one recipe file by its kind. Systemd units are checked
// together (checkUnits), since they refer to each other.
func checkFile(ctx context.Context, s snippet) error {
	switch {
	case strings.HasSuffix(s.path, ".sh"):
		return checkShell(ctx, s)
	case strings.HasPrefix(s.path, "kubernetes/") && strings.HasSuffix(s.path, ".yaml"):
		return checkKubernetes(s)
	case strings.HasPrefix(s.path, "ecs/") && strings.HasSuffix(s.path, ".json"):
		return checkECS(ctx, s)
	case strings.HasPrefix(s.path, "compose/") && strings.HasSuffix(s.path, ".yaml"):
		return checkCompose(ctx, s)
	case s.path == "codedeploy/appspec.yml":
		return checkAppSpec(s)
	case s.path == "elasticbeanstalk/.ebextensions/deploy.config":
		return checkEBConfig(s)
	case strings.HasSuffix(s.path, ".sql"), strings.HasSuffix(s.path, ".service"):
		return nil // grants.sql runs in e2e; units: checkUnits
	}
	return fmt.Errorf("%s: no checker for this kind of file", s.path)
}

// read returns a recipe file.
func read(path string) (snippet, error) {
	b, err := os.ReadFile(path)
	return snippet{path: filepath.ToSlash(path), data: b}, err
}

// --- shell ---

func checkShell(ctx context.Context, s snippet) error {
	cmd := exec.CommandContext(ctx, "sh", "-n")
	cmd.Stdin = bytes.NewReader(s.data)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: sh -n: %v: %s", s.path, err, out)
	}
	if !bytes.HasPrefix(s.data, []byte("#!/bin/sh\n")) {
		return fmt.Errorf("%s: must start with #!/bin/sh (it is checked with sh -n)", s.path)
	}
	if !bytes.Contains(s.data, []byte("set -eu")) && !bytes.Contains(s.data, []byte("set -e")) {
		return fmt.Errorf("%s: no set -e: a failing step would not fail the deploy", s.path)
	}
	return nil
}

// --- durations in command lines ---

var timeoutFlag = regexp.MustCompile(`--timeout[ =",]+([0-9]+[smh])`)

// fleetgateTimeout is the --timeout of the fleetgate command in args or
// text; ok is false when there is none.
func fleetgateTimeout(text string) (time.Duration, bool, error) {
	m := timeoutFlag.FindStringSubmatch(text)
	if m == nil {
		return 0, false, nil
	}
	d, err := time.ParseDuration(m[1])
	return d, true, err
}

// gateBudget is how long a fleetgate command may take before the app
// starts: the wait for the lock or the schema (--timeout), plus, when it
// may migrate itself, the longest migration.
func gateBudget(path string, args []string) (time.Duration, error) {
	line := strings.Join(args, " ")
	d, ok, err := fleetgateTimeout(line)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	if !ok {
		return 0, fmt.Errorf("%s: fleetgate runs without --timeout: a stuck deploy would wait for ever", path)
	}
	if slices.Contains(args, "--wait-only") || slices.Contains(args, "wait") {
		return d, nil
	}
	if i := slices.Index(args, "--phase"); i >= 0 && i+1 < len(args) && args[i+1] == "post" {
		// The contract waits for the fleet, then for the lock, each
		// bounded by --timeout.
		return 2*d + longestMigration, nil
	}
	return d + longestMigration, nil
}

// --- Kubernetes ---

// helmExpr stands for a Helm template expression; inside a quoted or plain
// YAML scalar it decodes as text.
var helmExpr = regexp.MustCompile(`\{\{[^}]*\}\}`)

func checkKubernetes(s snippet) error {
	data := helmExpr.ReplaceAll(s.data, []byte("x"))
	var meta struct {
		Kind string `json:"kind"`
	}
	if err := yaml.Unmarshal(data, &meta); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	switch meta.Kind {
	case "Job":
		var j batchv1.Job
		if err := yaml.UnmarshalStrict(data, &j); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		return checkJob(s.path, &j)
	case "Deployment":
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict(data, &d); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		return checkDeployment(s.path, &d)
	}
	return fmt.Errorf("%s: unexpected kind %q", s.path, meta.Kind)
}

func checkJob(path string, j *batchv1.Job) error {
	if j.APIVersion != "batch/v1" {
		return fmt.Errorf("%s: apiVersion %q, want batch/v1", path, j.APIVersion)
	}
	spec := j.Spec.Template.Spec
	if spec.RestartPolicy != corev1.RestartPolicyNever {
		return fmt.Errorf("%s: restartPolicy %q: a Job with podFailurePolicy needs Never (and OnFailure retries a failed migration in place and loses its logs)", path, spec.RestartPolicy)
	}
	if j.Spec.ActiveDeadlineSeconds == nil {
		return fmt.Errorf("%s: no activeDeadlineSeconds: nothing bounds the Job", path)
	}
	if j.Spec.PodFailurePolicy == nil {
		return fmt.Errorf("%s: no podFailurePolicy: fleetgate's deterministic failures would be retried", path)
	}
	var failed []int32
	for _, r := range j.Spec.PodFailurePolicy.Rules {
		if r.Action == batchv1.PodFailurePolicyActionFailJob && r.OnExitCodes != nil && r.OnExitCodes.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn {
			failed = append(failed, r.OnExitCodes.Values...)
		}
	}
	for code := int32(1); code <= 5; code++ {
		if !slices.Contains(failed, code) {
			return fmt.Errorf("%s: podFailurePolicy does not fail the Job on exit code %d", path, code)
		}
	}
	if err := checkContainers(path, spec.Containers, false); err != nil {
		return err
	}
	for _, c := range spec.Containers {
		need, err := gateBudget(path, c.Command)
		if err != nil {
			return err
		}
		if time.Duration(*j.Spec.ActiveDeadlineSeconds)*time.Second < need {
			return fmt.Errorf("%s: activeDeadlineSeconds %d < --timeout + the longest migration (%v)", path, *j.Spec.ActiveDeadlineSeconds, need)
		}
	}
	return nil
}

func checkDeployment(path string, d *appsv1.Deployment) error {
	if d.APIVersion != "apps/v1" {
		return fmt.Errorf("%s: apiVersion %q, want apps/v1", path, d.APIVersion)
	}
	if d.Spec.Selector == nil || len(d.Spec.Selector.MatchLabels) == 0 {
		return fmt.Errorf("%s: no spec.selector.matchLabels (apps/v1 requires a selector)", path)
	}
	for k, v := range d.Spec.Selector.MatchLabels {
		if d.Spec.Template.Labels[k] != v {
			return fmt.Errorf("%s: selector %s=%s does not match the template's labels", path, k, v)
		}
	}
	if d.Spec.ProgressDeadlineSeconds == nil {
		return fmt.Errorf("%s: no progressDeadlineSeconds: the default (600 s) is shorter than the gate", path)
	}
	if err := checkContainers(path, d.Spec.Template.Spec.Containers, true); err != nil {
		return err
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		need, err := gateBudget(path, c.Command)
		if err != nil {
			return err
		}
		p := c.StartupProbe
		window := time.Duration(p.PeriodSeconds*p.FailureThreshold+p.InitialDelaySeconds) * time.Second
		if window < need {
			return fmt.Errorf("%s: startupProbe window %v < the gate's %v: the kubelet would kill the pod mid-migration", path, window, need)
		}
		if time.Duration(*d.Spec.ProgressDeadlineSeconds)*time.Second <= window {
			return fmt.Errorf("%s: progressDeadlineSeconds %d <= the startup window %v", path, *d.Spec.ProgressDeadlineSeconds, window)
		}
	}
	return nil
}

func checkContainers(path string, cs []corev1.Container, server bool) error {
	if len(cs) == 0 {
		return fmt.Errorf("%s: no containers", path)
	}
	for _, c := range cs {
		if c.Image == "" {
			return fmt.Errorf("%s: container %s has no image", path, c.Name)
		}
		if c.Resources.Limits.Memory().IsZero() {
			return fmt.Errorf("%s: container %s has no memory limit", path, c.Name)
		}
		if !slices.Contains(c.Command, "--dir") {
			return fmt.Errorf("%s: container %s: fleetgate without --dir", path, c.Name)
		}
		if server && (c.ReadinessProbe == nil || c.StartupProbe == nil) {
			return fmt.Errorf("%s: container %s needs a readinessProbe and a startupProbe: without them a pod blocked in the gate counts as Ready", path, c.Name)
		}
	}
	return nil
}

// --- ECS ---

// The AWS SDK's ECS types carry no JSON tags: the SDK serializes them with
// generated code. decodeAPIJSON decodes the API's JSON (what `aws ecs
// register-task-definition --cli-input-json` takes) into them by the SDK's
// naming rule (a member's Go name is its API name with the first letter in
// upper case), rejecting unknown members and values outside an enum's
// Values().
func decodeAPIJSON(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return err
	}
	return assign("$", v, reflect.ValueOf(dst).Elem())
}

func assign(path string, v any, dst reflect.Value) error {
	if v == nil {
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		if dst.IsNil() {
			dst.Set(reflect.New(dst.Type().Elem()))
		}
		return assign(path, v, dst.Elem())
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object", path)
		}
		for k, val := range m {
			f, ok := dst.Type().FieldByName(strings.ToUpper(k[:1]) + k[1:])
			if !ok || !f.IsExported() {
				return fmt.Errorf("%s: unknown field %q", path, k)
			}
			if err := assign(path+"."+k, val, dst.FieldByIndex(f.Index)); err != nil {
				return err
			}
		}
	case reflect.Slice:
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want an array", path)
		}
		dst.Set(reflect.MakeSlice(dst.Type(), len(a), len(a)))
		for i, e := range a {
			if err := assign(fmt.Sprintf("%s[%d]", path, i), e, dst.Index(i)); err != nil {
				return err
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok || dst.Type().Key().Kind() != reflect.String {
			return fmt.Errorf("%s: want an object", path)
		}
		dst.Set(reflect.MakeMap(dst.Type()))
		for k, val := range m {
			e := reflect.New(dst.Type().Elem()).Elem()
			if err := assign(path+"."+k, val, e); err != nil {
				return err
			}
			dst.SetMapIndex(reflect.ValueOf(k).Convert(dst.Type().Key()), e)
		}
	case reflect.String:
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: want a string", path)
		}
		dst.SetString(s)
		if m := dst.Addr().MethodByName("Values"); m.IsValid() {
			vals := m.Call(nil)[0]
			known := false
			for i := range vals.Len() {
				known = known || vals.Index(i).String() == s
			}
			if !known {
				return fmt.Errorf("%s: %q is not one of the API's values", path, s)
			}
		}
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return fmt.Errorf("%s: want true or false", path)
		}
		dst.SetBool(b)
	case reflect.Int, reflect.Int32, reflect.Int64:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: want a number", path)
		}
		i, err := n.Int64()
		if err != nil || dst.OverflowInt(i) {
			return fmt.Errorf("%s: want an integer in range", path)
		}
		dst.SetInt(i)
	default:
		return fmt.Errorf("%s: cannot decode into %s", path, dst.Type())
	}
	return nil
}

// errNotSent ends an SDK call after its own parameter validation.
var errNotSent = errors.New("request built and not sent")

type noSend struct{}

func (noSend) Do(*http.Request) (*http.Response, error) { return nil, errNotSent }

// sdkValidate runs the SDK's own required-parameter validation on an input
// by calling the operation with a client that never sends anything.
func sdkValidate(ctx context.Context, call func(*ecs.Client) error) error {
	c := ecs.New(ecs.Options{Region: "eu-west-1", HTTPClient: noSend{}, Retryer: aws.NopRetryer{},
		Credentials: aws.AnonymousCredentials{}})
	if err := call(c); !errors.Is(err, errNotSent) {
		return err
	}
	return nil
}

func checkECS(ctx context.Context, s snippet) error {
	if filepath.Base(s.path) == "service.json" {
		var in ecs.CreateServiceInput
		if err := decodeAPIJSON(s.data, &in); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		if err := sdkValidate(ctx, func(c *ecs.Client) error { _, err := c.CreateService(ctx, &in); return err }); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		return checkECSService(ctx, s.path, &in)
	}
	var in ecs.RegisterTaskDefinitionInput
	if err := decodeAPIJSON(s.data, &in); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	if err := sdkValidate(ctx, func(c *ecs.Client) error { _, err := c.RegisterTaskDefinition(ctx, &in); return err }); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	return checkTaskDefinition(s.path, &in)
}

func checkTaskDefinition(path string, in *ecs.RegisterTaskDefinitionInput) error {
	names := map[string]ecstypes.ContainerDefinition{}
	for _, c := range in.ContainerDefinitions {
		if aws.ToString(c.Image) == "" || aws.ToString(c.Name) == "" {
			return fmt.Errorf("%s: a container without name or image", path)
		}
		names[aws.ToString(c.Name)] = c
	}
	service := strings.Contains(path, "service-")
	for _, c := range in.ContainerDefinitions {
		name := aws.ToString(c.Name)
		args := append(slices.Clone(c.EntryPoint), c.Command...)
		fleetgate := slices.Contains(args, "fleetgate")
		if fleetgate && !slices.Contains(args, "--dir") {
			return fmt.Errorf("%s: container %s: fleetgate without --dir", path, name)
		}
		if fleetgate {
			if _, err := gateBudget(path, args); err != nil {
				return err
			}
		}
		essential := c.Essential == nil || *c.Essential
		if service && essential && c.HealthCheck == nil {
			return fmt.Errorf("%s: container %s has no healthCheck: a task blocked in the gate would count as healthy", path, name)
		}
		for _, d := range c.DependsOn {
			dep, ok := names[aws.ToString(d.ContainerName)]
			if !ok {
				return fmt.Errorf("%s: %s depends on unknown container %s", path, name, aws.ToString(d.ContainerName))
			}
			if dep.Essential != nil && !*dep.Essential && d.Condition != ecstypes.ContainerConditionSuccess {
				return fmt.Errorf("%s: %s depends on %s with %s: only SUCCESS keeps the app from starting after a failed migration", path, name, aws.ToString(d.ContainerName), d.Condition)
			}
		}
		if !essential && len(c.DependsOn) == 0 && !slices.ContainsFunc(in.ContainerDefinitions, func(o ecstypes.ContainerDefinition) bool {
			return slices.ContainsFunc(o.DependsOn, func(d ecstypes.ContainerDependency) bool { return aws.ToString(d.ContainerName) == name })
		}) {
			return fmt.Errorf("%s: non-essential container %s: nothing depends on it", path, name)
		}
	}
	return nil
}

func checkECSService(ctx context.Context, path string, in *ecs.CreateServiceInput) error {
	if in.DeploymentController != nil && in.DeploymentController.Type != ecstypes.DeploymentControllerTypeEcs {
		return fmt.Errorf("%s: the circuit breaker needs the ECS deployment controller", path)
	}
	dc := in.DeploymentConfiguration
	if dc == nil || dc.DeploymentCircuitBreaker == nil || !dc.DeploymentCircuitBreaker.Enable || !dc.DeploymentCircuitBreaker.Rollback {
		return fmt.Errorf("%s: deploymentCircuitBreaker must be enabled with rollback: else a task that fails its migration is replaced for ever", path)
	}
	if in.HealthCheckGracePeriodSeconds == nil {
		return fmt.Errorf("%s: no healthCheckGracePeriodSeconds", path)
	}
	grace := time.Duration(*in.HealthCheckGracePeriodSeconds) * time.Second
	// The grace period must cover the gate of every task definition the
	// service may run.
	defs, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "service-taskdef-*.json"))
	for _, f := range defs {
		s, err := read(f)
		if err != nil {
			return err
		}
		var td ecs.RegisterTaskDefinitionInput
		if err := decodeAPIJSON(s.data, &td); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		for _, c := range td.ContainerDefinitions {
			args := append(slices.Clone(c.EntryPoint), c.Command...)
			if !slices.Contains(args, "fleetgate") {
				continue
			}
			need, err := gateBudget(f, args)
			if err != nil {
				return err
			}
			if grace < need {
				return fmt.Errorf("%s: healthCheckGracePeriodSeconds %v < the gate of %s (%v)", path, grace, f, need)
			}
		}
	}
	return nil
}

// --- Compose ---

func checkCompose(ctx context.Context, s snippet) error {
	dir, err := os.MkdirTemp("", "compose-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "compose.yaml")
	if err := os.WriteFile(file, s.data, 0o644); err != nil {
		return err
	}
	env := map[string]string{"POSTGRES_PASSWORD": "p", "MIGRATOR_PASSWORD": "m", "APP_PASSWORD": "a"}
	// The loader validates against the compose-spec JSON schema, which
	// rejects unknown keys.
	p, err := loader.LoadWithContext(ctx, composetypes.ConfigDetails{
		WorkingDir:  dir,
		ConfigFiles: []composetypes.ConfigFile{{Filename: file}},
		Environment: env,
	}, func(o *loader.Options) { o.SetProjectName("api", true) })
	if err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	db, ok := p.Services["db"]
	if !ok || db.HealthCheck == nil || len(db.HealthCheck.Test) == 0 {
		return fmt.Errorf("%s: no db service with a healthcheck: migrate would fail at cold start", s.path)
	}
	mig, ok := p.Services["migrate"]
	if !ok || mig.DependsOn["db"].Condition != composetypes.ServiceConditionHealthy {
		return fmt.Errorf("%s: migrate must depend on db being service_healthy", s.path)
	}
	if mig.Restart != "" && mig.Restart != "no" {
		return fmt.Errorf("%s: migrate restarts (%s): a failed migration would loop", s.path, mig.Restart)
	}
	api, ok := p.Services["api"]
	if !ok || api.DependsOn["migrate"].Condition != composetypes.ServiceConditionCompletedSuccessfully {
		return fmt.Errorf("%s: api must depend on migrate with service_completed_successfully", s.path)
	}
	for _, svc := range []composetypes.ServiceConfig{mig, api} {
		if !slices.Contains(svc.Command, "--dir") {
			return fmt.Errorf("%s: %s: fleetgate without --dir", s.path, svc.Name)
		}
		if _, err := gateBudget(s.path, svc.Command); err != nil {
			return err
		}
	}
	return nil
}

// --- CodeDeploy and Elastic Beanstalk: the timeouts around fleetgate ---

// scriptBudget is the gate budget of the fleetgate command in a script.
func scriptBudget(path string) (time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if strings.Contains(l, "fleetgate up") || strings.Contains(l, "fleetgate run") {
			return gateBudget(path, strings.Fields(l))
		}
	}
	return 0, fmt.Errorf("%s: no fleetgate command", path)
}

func checkAppSpec(s snippet) error {
	var spec struct {
		Version float64 `json:"version"`
		OS      string  `json:"os"`
		Files   []struct {
			Source      string `json:"source"`
			Destination string `json:"destination"`
		} `json:"files"`
		Hooks map[string][]struct {
			Location string `json:"location"`
			Timeout  int    `json:"timeout"`
			RunAs    string `json:"runas"`
		} `json:"hooks"`
	}
	if err := yaml.UnmarshalStrict(s.data, &spec); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	known := []string{"ApplicationStop", "DownloadBundle", "BeforeInstall", "Install", "AfterInstall",
		"ApplicationStart", "ValidateService", "BeforeBlockTraffic", "AfterBlockTraffic", "BeforeAllowTraffic", "AfterAllowTraffic"}
	migrates := false
	for name, hooks := range spec.Hooks {
		if !slices.Contains(known, name) {
			return fmt.Errorf("%s: unknown hook %s", s.path, name)
		}
		for _, h := range hooks {
			if h.Timeout <= 0 || h.Timeout > 3600 {
				return fmt.Errorf("%s: %s: timeout %d outside 1..3600", s.path, name, h.Timeout)
			}
			script := filepath.Join(filepath.Dir(s.path), h.Location)
			if _, err := os.Stat(script); err != nil {
				return fmt.Errorf("%s: %s: %w", s.path, name, err)
			}
			if base := filepath.Base(h.Location); base != "migrate.sh" && base != "contract.sh" {
				continue
			}
			migrates = migrates || filepath.Base(h.Location) == "migrate.sh"
			need, err := scriptBudget(script)
			if err != nil {
				return err
			}
			if time.Duration(h.Timeout)*time.Second < need {
				return fmt.Errorf("%s: %s timeout %ds < --timeout + the longest migration (%v)", s.path, name, h.Timeout, need)
			}
		}
	}
	if !migrates {
		return fmt.Errorf("%s: no hook runs migrate.sh", s.path)
	}
	return nil
}

func checkEBConfig(s snippet) error {
	var cfg struct {
		OptionSettings map[string]map[string]any `json:"option_settings"`
	}
	if err := yaml.UnmarshalStrict(s.data, &cfg); err != nil {
		return fmt.Errorf("%s: %w", s.path, err)
	}
	cmd := cfg.OptionSettings["aws:elasticbeanstalk:command"]
	timeout, _ := cmd["Timeout"].(float64)
	if timeout == 0 {
		return fmt.Errorf("%s: no aws:elasticbeanstalk:command Timeout: the default 600 s cuts a long migration", s.path)
	}
	if p := cmd["DeploymentPolicy"]; p == nil || p == "AllAtOnce" {
		return fmt.Errorf("%s: DeploymentPolicy %v: AllAtOnce takes the whole fleet out during the migration", s.path, p)
	}
	for _, hook := range []string{"predeploy/01_migrate.sh", "postdeploy/01_contract.sh"} {
		need, err := scriptBudget(filepath.Join(filepath.Dir(filepath.Dir(s.path)), ".platform/hooks", hook))
		if err != nil {
			return err
		}
		if time.Duration(timeout)*time.Second < need {
			return fmt.Errorf("%s: command Timeout %vs < the gate of %s (%v)", s.path, timeout, hook, need)
		}
	}
	return nil
}
