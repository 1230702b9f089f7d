// Command bench compares fleetgate with goose, golang-migrate and dbmate on
// one throwaway PostgreSQL, with the same migration sets and the tools' own
// CLIs, and writes markdown tables with ratios plus the raw JSON. Run it
// through bench/run.sh; see bench/README.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

type options struct {
	quick     bool
	out       string
	benchDir  string
	repo      string
	pgBin     string
	tools     []string
	scenarios []string
	trials    int
	// outcomeTrials is the trial count of the concurrency and kill
	// scenarios: 1 in --quick (they are the slow ones), else trials.
	outcomeTrials int
	resultsMD     string
	fleetgateBin  string
	// fleetgateBase, when set, is an earlier fleetgate binary run beside
	// the one under test in the timed scenarios, for paired before/after
	// ratios on a machine whose speed drifts.
	fleetgateBase string
	waiters       int
	schemas       int
}

var allScenarios = []string{
	"apply-100", "apply-1000", "apply-1-onto-1000", "noop-1000",
	"concurrency-k20-empty", "concurrency-k20-from24", "concurrency-k50-empty", "concurrency-k50-from24",
	"kill", "wait", "run-steady", "fanout-schemas",
	"mariadb-apply-100", "mariadb-noop-1000",
	"mariadb-concurrency-k20-empty", "mariadb-concurrency-k20-from24", "mariadb-concurrency-k50-empty", "mariadb-concurrency-k50-from24",
	"mariadb-kill",
}

func main() {
	os.Exit(run())
}

func run() int {
	var o options
	var tools, scenarios string
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 3 trials of the timed scenarios, 1 of concurrency and kill")
	flag.StringVar(&o.out, "out", "", "directory for results.md and results.json (default: <bench>/results)")
	flag.StringVar(&o.benchDir, "bench-dir", "", "the bench/ directory (default: found from the working directory)")
	flag.StringVar(&o.repo, "repo", "", "the fleetgate repository to build (default: parent of --bench-dir)")
	flag.StringVar(&o.pgBin, "pg-bin", "/usr/lib/postgresql/15/bin", "directory with initdb, postgres and psql")
	flag.StringVar(&tools, "tools", "fleetgate,goose,migrate,dbmate", "comma-separated tools to compare (psql, the floor, is added to the apply scenarios)")
	flag.StringVar(&scenarios, "scenarios", strings.Join(allScenarios, ","), "comma-separated scenarios; 'concurrency' selects the four PostgreSQL concurrency ones, 'mariadb' every MariaDB one")
	flag.IntVar(&o.trials, "trials", 0, "trials per tool and scenario (default 5; --quick: 3, and 1 for concurrency and kill)")
	flag.IntVar(&o.waiters, "waiters", 100, "number of `fleetgate wait` processes in the wait scenario")
	flag.IntVar(&o.schemas, "schemas", 0, "schemas in the fanout-schemas scenario (default 1000; --quick: 50)")
	flag.StringVar(&o.fleetgateBin, "fleetgate-bin", "", "use this fleetgate binary instead of building ./cmd/fleetgate")
	flag.StringVar(&o.fleetgateBase, "fleetgate-base", "", "also run this (earlier) fleetgate binary, as \"fleetgate@base\", in the timed scenarios: paired before/after ratios")
	flag.StringVar(&o.resultsMD, "results-md", "auto", "regenerate <bench>/RESULTS.md and RESULTS.json: auto (full runs of every tool and scenario), yes, no")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		return 2
	}
	o.tools = splitList(tools)
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "scenarios" })
	if o.quick && !explicit {
		// CI runs --quick: the MariaDB scenarios (a second server and
		// every tool again) cost more than the 30 s a smoke run may add;
		// --scenarios mariadb runs them.
		scenarios = strings.Join(slices.DeleteFunc(slices.Clone(allScenarios), func(id string) bool { return strings.HasPrefix(id, "mariadb-") }), ",")
	}
	for _, sc := range splitList(scenarios) {
		if sc == "concurrency" || sc == "mariadb" {
			for _, id := range allScenarios {
				if strings.HasPrefix(id, sc+"-") {
					o.scenarios = append(o.scenarios, id)
				}
			}
			continue
		}
		if !slices.Contains(allScenarios, sc) {
			fmt.Fprintf(os.Stderr, "bench: unknown scenario %q (have %s)\n", sc, strings.Join(allScenarios, ", "))
			return 2
		}
		o.scenarios = append(o.scenarios, sc)
	}
	for _, t := range o.tools {
		if !slices.Contains([]string{"fleetgate", "goose", "migrate", "dbmate"}, t) {
			fmt.Fprintf(os.Stderr, "bench: unknown tool %q (have fleetgate, goose, migrate, dbmate)\n", t)
			return 2
		}
	}
	if o.benchDir == "" {
		o.benchDir = findBenchDir()
	}
	if o.benchDir == "" {
		fmt.Fprintln(os.Stderr, "bench: cannot find the bench/ directory; pass --bench-dir")
		return 2
	}
	o.benchDir, _ = filepath.Abs(o.benchDir)
	if o.repo == "" {
		o.repo = filepath.Dir(o.benchDir)
	}
	if o.out == "" {
		o.out = filepath.Join(o.benchDir, "results")
	}
	switch {
	case o.trials > 0:
		o.outcomeTrials = o.trials
	case o.quick:
		o.trials, o.outcomeTrials = 3, 1
	default:
		o.trials, o.outcomeTrials = 5, 5
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var srvp atomic.Pointer[server]
	var mysp atomic.Pointer[myServer]
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "bench: %v: stopping tools and PostgreSQL\n", sig)
		cancel()
		children.killAll()
		<-sigs
		if s := srvp.Load(); s != nil {
			s.kill()
		}
		if s := mysp.Load(); s != nil {
			s.kill()
		}
		os.Exit(130)
	}()

	started := time.Now()
	progress := func(msg string) {
		fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), msg)
	}
	rep := &report{Started: started, Quick: o.quick, Versions: map[string]string{},
		Machine: fmt.Sprintf("%s/%s, %d CPUs", runtime.GOOS, runtime.GOARCH, runtime.NumCPU())}

	rep.LoadStart = loadAvg()
	bin := filepath.Join(o.benchDir, ".bin")
	toolset := prepareTools(o, bin, rep, progress)

	removeStaleDirs()
	srv, err := startServer(ctx, o.pgBin)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	srvp.Store(srv)
	defer srv.stop()
	progress(fmt.Sprintf("PostgreSQL up on 127.0.0.1:%d (data in %s)", srv.port, srv.root))

	h, err := newHarness(ctx, srv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer h.close()
	_ = h.admin.QueryRow(ctx, `SELECT version()`).Scan(&rep.Postgres)
	if i := strings.Index(rep.Postgres, " on "); i > 0 {
		rep.Postgres = rep.Postgres[:i]
	}

	runScenarios(ctx, h, o, toolset, rep, progress)
	if code := runMariaDB(ctx, o, toolset, rep, progress, func(s *myServer) { mysp.Store(s) }); code != 0 {
		return code
	}
	// A child's ru_maxrss includes the harness's own peak: Go starts
	// children with vfork (CLONE_VM), and exec folds the shared address
	// space's high-water mark into the child's. /bin/true measures that
	// floor; it only grows, so measuring it last bounds every trial's.
	if fl := runProc(h.work, 10*time.Second, "/bin/true"); fl.Code == 0 {
		rep.RSSFloorMB = float64(fl.MaxRSS) / 1e6
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "bench: interrupted; no results written")
		return 130
	}
	rep.Duration = time.Since(started).Seconds()
	rep.LoadEnd = loadAvg()
	rep.evaluateHeadlines()
	rep.collectFailures(o)

	if err := writeResults(o, rep); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	if len(rep.Headlines) > 0 {
		// A missed target is a measurement, not a failure: only results
		// that fail verification fail the run (below). Say so, so that a
		// "missed" line in a test log is not read as a broken build.
		fmt.Println("bench: headline targets (informational only: a missed target does not fail the run; timings on a loaded or --quick run are noisy)")
	}
	for _, hl := range rep.Headlines {
		status := hl.Status
		if status == "missed" {
			status = "info: missed"
		}
		fmt.Printf("  %-70s %-13s %s\n", hl.Target, status, hl.Detail)
	}
	if len(rep.Failures) > 0 {
		fmt.Fprintf(os.Stderr, "bench: %d result(s) failed verification:\n", len(rep.Failures))
		for _, f := range rep.Failures {
			fmt.Fprintf(os.Stderr, "  - %s\n", f)
		}
		return 1
	}
	fmt.Fprintf(os.Stderr, "bench: every result verified (%s)\n", fmtDur(rep.Duration))
	return 0
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func findBenchDir() string {
	for _, c := range []string{".", "bench"} {
		if _, err := os.Stat(filepath.Join(c, "cmd", "bench", "main.go")); err == nil {
			return c
		}
	}
	return ""
}

// prepareTools builds fleetgate and locates the peers and psql.
func prepareTools(o options, bin string, rep *report, progress func(string)) []*tool {
	var ts []*tool
	for _, name := range o.tools {
		t := &tool{Name: name, Format: name, Bin: filepath.Join(bin, name), Peer: name != "fleetgate"}
		switch name {
		case "fleetgate":
			if o.fleetgateBin != "" {
				t.Bin, _ = filepath.Abs(o.fleetgateBin)
				rep.Versions[name] = t.Bin
				break
			}
			progress("building fleetgate: go build -o " + t.Bin + " ./cmd/fleetgate")
			cmd := exec.Command("go", "build", "-o", t.Bin, "./cmd/fleetgate")
			cmd.Dir = o.repo
			cmd.Env = append(os.Environ(), "GOWORK=off")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Unavailable = "not available: `go build ./cmd/fleetgate` failed: " + firstLines(string(out), 3)
				progress(t.Unavailable)
			} else {
				rep.Versions[name] = "built from " + o.repo + gitHead(o.repo)
			}
		default:
			if _, err := os.Stat(t.Bin); err != nil {
				t.Unavailable = "not available: " + t.Bin + " missing (run bench/install-peers.sh)"
				progress(t.Unavailable)
				break
			}
			rep.Versions[name] = peerVersion(t)
		}
		ts = append(ts, t)
	}
	psql := &tool{Name: "psql", Format: "psql", Bin: filepath.Join(o.pgBin, "psql"), Floor: true}
	if out, err := exec.Command(psql.Bin, "--version").Output(); err == nil {
		rep.Versions["psql"] = strings.TrimSpace(strings.TrimPrefix(string(out), "psql (PostgreSQL) "))
	} else {
		psql.Unavailable = "not available: " + err.Error()
	}
	return append(ts, psql)
}

func gitHead(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return " (no commit yet)"
	}
	head := " @ " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		head += " + local changes"
	}
	return head
}

func peerVersion(t *tool) string {
	out, err := exec.Command("go", "version", "-m", t.Bin).Output()
	if err == nil {
		for _, line := range strings.Split(string(out), "\n") {
			f := strings.Fields(line)
			if len(f) >= 3 && f[0] == "mod" && f[2] != "(devel)" {
				return f[2]
			}
		}
	}
	if out, err := exec.Command(t.Bin, "--version").CombinedOutput(); err == nil {
		f := strings.Fields(string(out))
		if len(f) > 0 {
			return "v" + strings.TrimPrefix(f[len(f)-1], "v")
		}
	}
	return "unknown version"
}

// runScenarios runs the selected scenarios in a fixed order.
func runScenarios(ctx context.Context, h *harness, o options, all []*tool, rep *report, progress func(string)) {
	var runners, withFloor []*tool
	var fleetgate *tool
	for _, t := range all {
		if t.Floor {
			withFloor = append(withFloor, t)
			continue
		}
		runners = append(runners, t)
		withFloor = append(withFloor, t)
		if t.Name == "fleetgate" {
			fleetgate = t
		}
	}
	want := func(id string) bool { return slices.Contains(o.scenarios, id) && ctx.Err() == nil }
	// fleetgate with its checks off, beside fleetgate at the default: what
	// the checks cost the instance that applies.
	var checksOff []*tool
	if fleetgate != nil {
		checksOff = []*tool{{Name: "fleetgate --checks=off", Format: "fleetgate", Bin: fleetgate.Bin,
			Unavailable: fleetgate.Unavailable, Extra: []string{"--checks=off"}, Variant: true}}
	}
	var based []*tool // the earlier binary, in the timed scenarios only
	if fleetgate != nil && o.fleetgateBase != "" {
		bin, _ := filepath.Abs(o.fleetgateBase)
		based = []*tool{{Name: "fleetgate@base", Format: "fleetgate", Bin: bin, Variant: true}}
	}
	set100 := setSpec{N: 100, DataAt: 50}
	set1000 := setSpec{N: 1000, DataAt: 500}
	set50 := setSpec{N: 50, DataAt: 25}

	if want("apply-100") {
		s, ts := newScenario("apply-100", "apply 100 migrations to an empty database",
			"Wall time of one `up` applying 100 migrations (small tables, added columns, one data migration) to an empty database, process start to exit; psql runs the same 100 transactions in one session as the floor.",
			"timing", o.trials, slices.Concat(withFloor, checksOff, based))
		h.timed(ctx, s, ts, set100, 0, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("apply-1000") {
		s, ts := newScenario("apply-1000", "apply 1,000 migrations to an empty database",
			"As apply-100 with 1,000 migrations: the per-migration overhead of each tool against the psql floor.",
			"timing", o.trials, slices.Concat(withFloor, based))
		h.timed(ctx, s, ts, set1000, 0, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("apply-1-onto-1000") {
		s, ts := newScenario("apply-1-onto-1000", "apply 1 migration to a database with 999 applied (1,000 files)",
			"What each deploy really does: `up` with 1,000 migration files of which the first 999 are applied (by the same tool), so one is applied (and, for fleetgate, checked at the default). psql runs only that one transaction: the floor. `fleetgate --checks=off` is the same run with the checks off.",
			"timing", o.trials, slices.Concat(withFloor, checksOff, based))
		h.timed(ctx, s, ts, set1000, set1000.N-1, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("noop-1000") {
		s, ts := newScenario("noop-1000", "no-op `up` with 1,000 applied",
			"Wall time of `up` when all 1,000 migrations are already applied (by the same tool): what every instance pays at each start.",
			"timing", o.trials, slices.Concat(runners, based))
		h.timed(ctx, s, ts, set1000, set1000.N, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	for _, k := range []int{20, 50} {
		for _, from := range []int{0, 24} {
			id := fmt.Sprintf("concurrency-k%d-empty", k)
			title := fmt.Sprintf("%d processes released at once on an empty database, 50 migrations", k)
			measures := fmt.Sprintf("%d `up` processes exec'd at the same instant against an empty database with 50 migrations (the 25th is `UPDATE counter SET n = n + 1`). Correct means every process exits 0, every migration is applied once and counter = 1. Wall time runs from the release to the last exit; peak connections are sampled from pg_stat_activity every 10 ms.", k)
			if from > 0 {
				id = fmt.Sprintf("concurrency-k%d-from24", k)
				title = fmt.Sprintf("%d processes released at once with migrations 1–24 applied, 50 migrations", k)
				measures = fmt.Sprintf("As the empty case, but migrations 1–24 were applied first by the same tool, so all %d processes reach the data migration (25) at once.", k)
			}
			if !want(id) {
				continue
			}
			s, ts := newScenario(id, title, measures, "concurrency", o.outcomeTrials, runners)
			h.concurrent(ctx, s, ts, set50, k, from, progress)
			rep.Scenarios = append(rep.Scenarios, s)
		}
	}
	if want("kill") {
		s, ts := newScenario("kill", "kill -9 inside a 5 s migration, then `up` again",
			"`up` on 5 migrations whose 3rd is the data migration followed by `SELECT pg_sleep(5)`; one second into it the runner's process group gets SIGKILL, then `up` runs again at once. Time runs from the kill to a verified database (all 5 applied once, counter = 1). When `up` fails, the harness takes the step an operator would (golang-migrate: `force` to the right version after checking whether the dirty migration committed) and records it; those steps take the harness milliseconds, a person far longer.",
			"kill", o.outcomeTrials, runners)
		h.kill(ctx, s, ts, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("wait") && fleetgate != nil {
		s, _ := newScenario("wait", fmt.Sprintf("wake-up latency of %d `fleetgate wait` processes (fleetgate only)", o.waiters),
			fmt.Sprintf("%d `fleetgate wait --timeout 30s` processes block on a database one migration behind; `fleetgate up` applies the last one. Latency is each waiter's exit time minus the commit time of that migration (`pg_xact_commit_timestamp` of the newest history row; the server runs on the same clock). A waiter that exits before the commit, or non-zero, fails the trial. No peer has a `wait`.", o.waiters),
			"wait", o.trials, []*tool{fleetgate})
		if fleetgate.Unavailable == "" {
			h.wakeup(ctx, s, fleetgate, set50, o.waiters, progress)
		}
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("fanout-schemas") {
		n := o.schemas
		if n == 0 {
			n = 1000
			if o.quick {
				// CI runs --quick: the two peer loops cost about a second
				// per schema on a loaded 2-core machine.
				n = 50
			}
		}
		var ts []*tool
		for _, t := range runners {
			if t.Name == "fleetgate" || t.Name == "migrate" || t.Name == "goose" {
				ts = append(ts, t)
			}
		}
		s, ts := newScenario("fanout-schemas", fmt.Sprintf("%d schemas × 10 migrations in one database", n),
			fmt.Sprintf("One database with %d empty schemas; the same 10 migrations applied in each, with their history in that schema. fleetgate runs once: `up --schemas 'tenant_*'` (4 schemas at a time, its default). golang-migrate and goose run as their users do it today: a bash loop over the schema names, one process per schema with `search_path` in the URL. Wall time is the whole command or loop; peak connections to the database are sampled from pg_stat_activity every 10 ms. Every schema is verified (tables, columns, counter = 1, the tool's version table in the schema) and nothing may land in public.", n),
			"fanout", min(o.outcomeTrials, 3), ts)
		h.fanout(ctx, s, ts, n, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("run-steady") && fleetgate != nil {
		s, ts := newScenario("run-steady", "memory of `fleetgate run` while its command runs (fleetgate only)",
			"`fleetgate run -- sleep 60` applies 100 migrations to an empty database (checks at the default, and off), then starts the command. From 2 s after the command appeared (fleetgate releases its memory 1 s after the command's start, so as not to compete with it for the CPU), the harness samples fleetgate's VmRSS every 100 ms for 2 s: the memory fleetgate holds for the command's whole life. Peak RSS is the whole run's (wait4). \"Time\" is from start to the command's start. No peer has a `run`.",
			"steady", o.trials, append([]*tool{fleetgate}, checksOff...))
		h.steady(ctx, s, ts, set100, 0, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
}

// collectFailures lists what makes the run fail: a timed result that did
// not verify (any tool), a harness setup error, or fleetgate breaking one of
// its promises. Peers' wrong results under concurrency or kill -9 are
// findings, not failures.
func (r *report) collectFailures(o options) {
	if slices.Contains(o.tools, "fleetgate") {
		for _, s := range r.Scenarios {
			if fg := s.tool("fleetgate"); fg != nil && strings.Contains(fg.Unavailable, "go build") {
				r.Failures = append(r.Failures, "fleetgate: "+fg.Unavailable)
				break
			}
		}
	}
	for _, s := range r.Scenarios {
		for _, tr := range s.Tools {
			if tr.Unavailable != "" || tr.OK {
				continue
			}
			switch {
			case s.Kind == "timing" || tr.Tool == "fleetgate":
				r.Failures = append(r.Failures, fmt.Sprintf("%s / %s: %s", s.ID, tr.Tool, tr.Problem))
			default:
				for _, t := range tr.Trials {
					if strings.HasPrefix(t.Error, "setup: ") {
						r.Failures = append(r.Failures, fmt.Sprintf("%s / %s: %s", s.ID, tr.Tool, t.Error))
						break
					}
				}
			}
		}
	}
}

func writeResults(o options, rep *report) error {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	md := rep.markdown()
	if err := os.WriteFile(filepath.Join(o.out, "results.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.out, "results.md"), []byte(md), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s and results.json\n", filepath.Join(o.out, "results.md"))
	full := !o.quick && len(o.scenarios) == len(allScenarios) && len(o.tools) == 4
	switch o.resultsMD {
	case "yes":
	case "auto":
		if !full {
			fmt.Fprintln(os.Stderr, "bench: not a full run of every tool and scenario; bench/RESULTS.md left as it was")
			return nil
		}
	case "no":
		return nil
	default:
		return errors.New("--results-md must be auto, yes or no")
	}
	path := filepath.Join(o.benchDir, "RESULTS.md")
	if err := os.WriteFile(path, []byte(md), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(o.benchDir, "RESULTS.json"), append(js, '\n'), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: regenerated %s and RESULTS.json\n", path)
	return syncReadme(filepath.Join(o.benchDir, "README.md"), rep)
}

// syncReadme replaces the text between the headline markers of README.md
// with this run's headline table, so the README quotes RESULTS.md.
func syncReadme(path string, rep *report) error {
	const start, end = "<!-- headline:start -->", "<!-- headline:end -->"
	b, err := os.ReadFile(path)
	if err != nil {
		return nil // no README: nothing to keep in sync
	}
	s := string(b)
	i, j := strings.Index(s, start), strings.Index(s, end)
	if i < 0 || j < i {
		return nil
	}
	s = s[:i+len(start)] + "\n" + rep.headlineTable() + s[j:]
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: updated the headline rows in %s\n", path)
	return nil
}
