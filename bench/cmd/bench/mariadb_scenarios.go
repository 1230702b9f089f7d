package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// runMariaDB runs the selected MariaDB scenarios: the PostgreSQL ones'
// method (same migration sets, same verification, same trial counts and
// rotation) on a throwaway MariaDB server, with the runners only (no
// client floor: the mysql client has no single-transaction script mode
// comparable to psql's). It starts the server only when a MariaDB
// scenario is selected, and returns an exit code when it cannot.
func runMariaDB(ctx context.Context, o options, all []*tool, rep *report, progress func(string), started func(*myServer)) int {
	want := func(id string) bool { return slices.Contains(o.scenarios, id) && ctx.Err() == nil }
	selected := false
	for _, id := range o.scenarios {
		selected = selected || strings.HasPrefix(id, "mariadb-")
	}
	if !selected || ctx.Err() != nil {
		return 0
	}
	srv, err := startMariaDB(ctx)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	started(srv)
	defer srv.stop()
	progress(fmt.Sprintf("MariaDB up on 127.0.0.1:%d (data in %s)", srv.port, srv.root))
	h, err := newMyHarness(ctx, srv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	defer h.close()
	_ = h.myAdmin.QueryRowContext(ctx, `SELECT version()`).Scan(&rep.MariaDB)

	var runners []*tool
	for _, t := range all {
		if t.Floor {
			continue
		}
		c := *t
		c.MySQL = true
		runners = append(runners, &c)
		if t.Name == "fleetgate" && o.fleetgateBase != "" {
			bin, _ := filepath.Abs(o.fleetgateBase)
			runners = append(runners, &tool{Name: "fleetgate@base", Format: "fleetgate", Bin: bin, Variant: true, MySQL: true})
		}
	}
	set100 := setSpec{N: 100, DataAt: 50, MySQL: true}
	set1000 := setSpec{N: 1000, DataAt: 500, MySQL: true}
	set50 := setSpec{N: 50, DataAt: 25, MySQL: true}

	if want("mariadb-apply-100") {
		s, ts := newScenario("mariadb-apply-100", "MariaDB: apply 100 migrations to an empty database",
			"As apply-100, on MariaDB 10.11 (InnoDB, no flush at commit, loopback): wall time of one `up` applying 100 migrations to an empty database, process start to exit. Every DDL statement commits by itself there, so fleetgate records its progress around each one.",
			"timing", o.trials, runners)
		h.timed(ctx, s, ts, set100, 0, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	if want("mariadb-noop-1000") {
		s, ts := newScenario("mariadb-noop-1000", "MariaDB: no-op `up` with 1,000 applied",
			"As noop-1000, on MariaDB: `up` when all 1,000 migrations are already applied by the same tool. MariaDB has no template databases, so each tool applies the 1,000 once (not timed) and every trial runs on that database, which a no-op does not change; each trial is verified.",
			"timing", o.trials, runners)
		h.timed(ctx, s, ts, set1000, set1000.N, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	for _, k := range []int{20, 50} {
		for _, from := range []int{0, 24} {
			id := fmt.Sprintf("mariadb-concurrency-k%d-empty", k)
			title := fmt.Sprintf("MariaDB: %d processes released at once on an empty database, 50 migrations", k)
			measures := fmt.Sprintf("As concurrency-k%d-empty, on MariaDB: %d `up` processes exec'd at the same instant; correct means every process exits 0, every migration is applied once and counter = 1. Peak connections are sampled from information_schema.PROCESSLIST every 10 ms.", k, k)
			if from > 0 {
				id = fmt.Sprintf("mariadb-concurrency-k%d-from24", k)
				title = fmt.Sprintf("MariaDB: %d processes released at once with migrations 1–24 applied, 50 migrations", k)
				measures = fmt.Sprintf("As the empty case, but migrations 1–24 were applied first by the same tool (in a fresh database per trial, not timed), so all %d processes reach the data migration (25) at once.", k)
			}
			if !want(id) {
				continue
			}
			s, ts := newScenario(id, title, measures, "concurrency", o.outcomeTrials, runners)
			h.concurrent(ctx, s, ts, set50, k, from, progress)
			rep.Scenarios = append(rep.Scenarios, s)
		}
	}
	if want("mariadb-kill") {
		s, ts := newScenario("mariadb-kill", "MariaDB: kill -9 inside a 5 s migration, then `up` again",
			"As kill, on MariaDB: `up` on 5 migrations whose 3rd is the data migration followed by `SELECT SLEEP(5)`; one second into the sleep the runner's process group gets SIGKILL, then `up` runs again at once. Time runs from the kill to a verified database (all 5 applied once, counter = 1); the operator's steps a tool needed are recorded.",
			"kill", o.outcomeTrials, runners)
		h.kill(ctx, s, ts, progress)
		rep.Scenarios = append(rep.Scenarios, s)
	}
	return 0
}
