package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
)

// rotate returns the tools in trial t's order: each trial starts one tool
// later, so no tool always runs first (cold caches) or last.
func rotate(tools []*tool, t int) []*tool {
	n := len(tools)
	out := make([]*tool, 0, n)
	for i := range n {
		out = append(out, tools[(i+t)%n])
	}
	return out
}

// newScenario prepares one result per tool, marking unavailable tools.
func newScenario(id, title, measures, kind string, trials int, tools []*tool) (*scenarioResult, []*tool) {
	s := &scenarioResult{ID: id, Title: title, Measures: measures, Kind: kind, Trials: trials}
	var runnable []*tool
	for _, t := range tools {
		tr := &toolResult{Tool: t.Name, OK: t.Unavailable == "", Unavailable: t.Unavailable}
		s.Tools = append(s.Tools, tr)
		if t.Unavailable == "" {
			runnable = append(runnable, t)
		}
	}
	return s, runnable
}

func (tr *toolResult) fail(msg string) {
	if tr.OK {
		tr.Problem = msg
	}
	tr.OK = false
}

// timed runs `up` for each tool from a start state (0 = empty database,
// otherwise a template where the tool applied the first `from` migrations)
// and times it; a trial counts only if the result verified.
func (h *harness) timed(ctx context.Context, s *scenarioResult, tools []*tool, spec setSpec, from int, progress func(string)) {
	for trialNo := range s.Trials {
		for pos, t := range rotate(tools, trialNo) {
			if ctx.Err() != nil {
				return
			}
			tr := s.tool(t.Name)
			if tr.Unavailable != "" {
				continue
			}
			res := trial{Position: pos}
			err := func() error {
				path, ms, err := h.setFrom(t, spec, from, spec.N)
				if err != nil {
					return err
				}
				db, err := h.startDB(ctx, t, spec, from)
				if err != nil {
					return err
				}
				kept := false
				defer func() {
					if !kept {
						h.dropDB(ctx, db)
					}
				}()
				r := h.runUp(t, db, path)
				res.Seconds = r.Elapsed.Seconds()
				res.PeakRSS = r.MaxRSS
				if r.Code != 0 {
					return fmt.Errorf("exit %d: %s", r.Code, errLines(r.Output, 4))
				}
				if _, err := h.verify(ctx, t, db, expect(ms, spec.N)); err != nil {
					return err
				}
				res.Verified = true
				if from == 0 {
					// A verified "all applied" database saves the no-op
					// scenario from building its template again.
					kept = h.adopt(t, spec, spec.N, db)
				}
				return nil
			}()
			if err != nil {
				res.Error = err.Error()
				tr.fail(fmt.Sprintf("trial %d: %v", trialNo+1, err))
			}
			tr.Trials = append(tr.Trials, res)
			progress(fmt.Sprintf("%s trial %d %s: %s", s.ID, trialNo+1, t.Name, trialSummary(res)))
		}
	}
	s.finish(func(t trial) bool { return t.Verified })
}

func trialSummary(t trial) string {
	if t.Error != "" {
		return fmt.Sprintf("%.3fs FAILED: %s", t.Seconds, t.Error)
	}
	return fmt.Sprintf("%.3fs ok", t.Seconds)
}

// concurrent releases k processes of `up` at the same moment on a database
// that is empty or has the first `from` migrations applied by the same tool.
func (h *harness) concurrent(ctx context.Context, s *scenarioResult, tools []*tool, spec setSpec, k, from int, progress func(string)) {
	for trialNo := range s.Trials {
		for pos, t := range rotate(tools, trialNo) {
			if ctx.Err() != nil {
				return
			}
			tr := s.tool(t.Name)
			res := trial{Position: pos, Processes: k}
			err := func() error {
				path, ms, err := h.set(t, spec, spec.N)
				if err != nil {
					return err
				}
				db, err := h.startDB(ctx, t, spec, from)
				if err != nil {
					return err
				}
				defer h.dropDB(ctx, db)
				args := t.upArgs(h.url(t, db), path)

				type exit struct {
					code int
					end  time.Time
					out  string
					rss  int64
					cpu  time.Duration
				}
				exits := make([]exit, k)
				release := make(chan struct{})
				var wg sync.WaitGroup
				for i := range k {
					wg.Go(func() {
						<-release
						p, err := startProc(h.work, time.Minute, t.Bin, args...)
						if err != nil {
							exits[i] = exit{code: -1, end: time.Now(), out: err.Error()}
							return
						}
						code, _ := p.wait()
						exits[i] = exit{code: code, end: p.end, out: p.out.String(), rss: p.maxRSS, cpu: p.cpu}
					})
				}
				peak := h.pollPeak(ctx, db)
				time.Sleep(50 * time.Millisecond) // every goroutine is parked on release
				start := time.Now()
				close(release)
				wg.Wait()
				res.PeakConns = peak()
				var last time.Time
				firstErr := ""
				for _, e := range exits {
					res.PeakRSS = max(res.PeakRSS, e.rss)
					res.CPUSeconds += e.cpu.Seconds()
					if e.end.After(last) {
						last = e.end
					}
					if e.code != 0 {
						res.NonZero++
						if firstErr == "" {
							firstErr = fmt.Sprintf("exit %d: %s", e.code, errLines(e.out, 2))
						}
					}
				}
				res.Seconds = last.Sub(start).Seconds()
				st, verr := h.verify(ctx, t, db, expect(ms, spec.N))
				counter := st.Counter
				res.Counter = &counter
				res.Verified = verr == nil
				switch {
				case verr != nil && res.NonZero > 0:
					return fmt.Errorf("%d/%d exits non-zero (first: %s); %v", res.NonZero, k, firstErr, verr)
				case verr != nil:
					return verr
				case res.NonZero > 0:
					return fmt.Errorf("%d/%d exits non-zero (first: %s)", res.NonZero, k, firstErr)
				}
				return nil
			}()
			if err != nil {
				res.Error = err.Error()
				tr.fail(fmt.Sprintf("trial %d: %v", trialNo+1, err))
			}
			tr.Trials = append(tr.Trials, res)
			progress(fmt.Sprintf("%s trial %d %s: %.3fs, %d/%d non-zero, counter %s, peak %d conns, CPU of all %.2fs, peak RSS %.1f MB%s",
				s.ID, trialNo+1, t.Name, res.Seconds, res.NonZero, k, intp(res.Counter), res.PeakConns, res.CPUSeconds, float64(res.PeakRSS)/1e6, errSuffix(res.Error)))
		}
	}
	// Wall time counts for every trial whose processes ran; correctness is
	// reported beside it, and only correct tools are ratio bases.
	s.finish(func(t trial) bool { return t.Counter != nil })
}

func intp(p *int) string {
	if p == nil {
		return "?"
	}
	return fmt.Sprint(*p)
}

func errSuffix(e string) string {
	if e == "" {
		return ""
	}
	return " — " + e
}

// kill starts `up` on 5 migrations whose 3rd (the data migration) sleeps
// 5 s, kills the runner's process group with SIGKILL one second into it, then
// runs `up` again and measures the time from the kill to a verified
// database, recording any manual step the tool required.
func (h *harness) kill(ctx context.Context, s *scenarioResult, tools []*tool, progress func(string)) {
	spec := setSpec{N: 5, DataAt: 3, SleepSeconds: 5, MySQL: h.my != nil}
	for trialNo := range s.Trials {
		for pos, t := range rotate(tools, trialNo) {
			if ctx.Err() != nil {
				return
			}
			tr := s.tool(t.Name)
			res := trial{Position: pos}
			err := func() error {
				path, ms, err := h.set(t, spec, spec.N)
				if err != nil {
					return err
				}
				db, err := h.createDB(ctx, "")
				if err != nil {
					return err
				}
				defer h.dropDB(ctx, db)
				url := h.url(t, db)
				p, err := startProc(h.work, time.Minute, t.Bin, t.upArgs(url, path)...)
				if err != nil {
					return err
				}
				if err := h.waitForSleep(ctx, db, p); err != nil {
					p.kill()
					p.wait()
					return err
				}
				time.Sleep(time.Second)
				killed := time.Now()
				p.kill()
				p.wait()
				res.PeakRSS = p.maxRSS

				want := expect(ms, spec.N)
				for attempt := 1; ; attempt++ {
					r := h.runUp(t, db, path)
					res.PeakRSS = max(res.PeakRSS, r.MaxRSS)
					if r.Code == 0 {
						st, verr := h.verify(ctx, t, db, want)
						res.Seconds = time.Since(killed).Seconds()
						c := st.Counter
						res.Counter = &c
						if verr != nil {
							res.Outcome = "up exited 0 but the database is wrong"
							return verr
						}
						res.Verified = true
						if len(res.ManualSteps) == 0 {
							res.Outcome = "re-running up recovered"
							return nil
						}
						res.Outcome = "recovered after manual steps"
						return fmt.Errorf("needed manual steps: %v", res.ManualSteps)
					}
					if attempt == 4 {
						res.Seconds = time.Since(killed).Seconds()
						res.Outcome = "not recovered"
						return fmt.Errorf("up still failing after %d attempts: exit %d: %s", attempt, r.Code, errLines(r.Output, 3))
					}
					if v, ok := migrateDirtyVersion(r.Output); ok && t.Name == "migrate" {
						// A careful operator checks whether the dirty
						// migration committed before forcing the version;
						// forcing v-1 when it did would apply it twice.
						committed, err := h.effectPresent(ctx, db, ms[v-1])
						if err != nil {
							return err
						}
						force := v - 1
						if committed {
							force = v
						}
						res.ManualSteps = append(res.ManualSteps, fmt.Sprintf("force %d (dirty at %d; its change %s committed)", force, v, map[bool]string{true: "was", false: "was not"}[committed]))
						fr := runProc(h.work, h.toolTimeout, t.Bin, "-path", path, "-database", url, "force", fmt.Sprint(force))
						if fr.Code != 0 {
							return fmt.Errorf("migrate force: exit %d: %s", fr.Code, errLines(fr.Output, 3))
						}
						continue
					}
					res.ManualSteps = append(res.ManualSteps, fmt.Sprintf("re-run up (exit %d: %s)", r.Code, errLines(r.Output, 1)))
				}
			}()
			if err != nil {
				res.Error = err.Error()
				tr.fail(fmt.Sprintf("trial %d: %v", trialNo+1, err))
			}
			tr.Trials = append(tr.Trials, res)
			progress(fmt.Sprintf("%s trial %d %s: %s in %.3fs, counter %s%s", s.ID, trialNo+1, t.Name, res.Outcome, res.Seconds, intp(res.Counter), errSuffix(res.Error)))
		}
	}
	s.finish(func(t trial) bool { return t.Verified })
}

// waitForSleep blocks until a session on db is running the migration with
// pg_sleep (MariaDB: SLEEP), or fails if the runner exits first.
func (h *harness) waitForSleep(ctx context.Context, db string, p *proc) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("runner exited (code %d) before reaching the 5 s migration: %s", p.code, errLines(p.out.String(), 3))
		default:
		}
		var n int
		var err error
		if h.my != nil {
			n, err = h.sleepingMySQL(ctx, db)
		} else {
			err = h.monitor.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND state = 'active' AND query ILIKE '%pg_sleep%'`, db).Scan(&n)
		}
		if err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fmt.Errorf("no session ran pg_sleep within 30 s")
}

// lastCommit returns the commit time of the newest row of fleetgate's
// history table.
func (h *harness) lastCommit(ctx context.Context, url string) (time.Time, error) {
	c, err := pgx.Connect(ctx, url)
	if err != nil {
		return time.Time{}, err
	}
	defer c.Close(ctx)
	var ts *time.Time
	if err := c.QueryRow(ctx, `SELECT max(pg_xact_commit_timestamp(xmin)) FROM fleetgate_migrations`).Scan(&ts); err != nil {
		return time.Time{}, err
	}
	if ts == nil {
		return time.Time{}, fmt.Errorf("no commit timestamp")
	}
	return *ts, nil
}

// waitProbe tells whether `fleetgate wait` works: on a database that is
// already current it must exit 0.
func (h *harness) waitProbe(ctx context.Context, t *tool, spec setSpec) string {
	tpl, err := h.template(ctx, t, spec, spec.N-1)
	if err != nil {
		return "not available: " + err.Error()
	}
	path, _, err := h.set(t, spec, spec.N-1)
	if err != nil {
		return "not available: " + err.Error()
	}
	db, err := h.createDB(ctx, tpl)
	if err != nil {
		return "not available: " + err.Error()
	}
	defer h.dropDB(ctx, db)
	r := runProc(h.work, 30*time.Second, t.Bin, "wait", "-d", h.srv.url(db), "--dir", path, "--timeout", "5s")
	if r.Code != 0 {
		return fmt.Sprintf("not available: `fleetgate wait` on a current database exited %d: %s", r.Code, errLines(r.Output, 2))
	}
	return ""
}

// wakeup starts `waiters` processes of `fleetgate wait` on a database one
// migration behind, lets them settle, applies the last migration with
// `fleetgate up`, and measures each waiter's exit relative to the commit.
func (h *harness) wakeup(ctx context.Context, s *scenarioResult, t *tool, spec setSpec, waiters int, progress func(string)) {
	tr := s.tool(t.Name)
	if why := h.waitProbe(ctx, t, spec); why != "" {
		tr.Unavailable = why
		tr.OK = false
		progress(fmt.Sprintf("%s: %s", s.ID, why))
		return
	}
	for trialNo := range s.Trials {
		if ctx.Err() != nil {
			return
		}
		res := trial{}
		err := func() error {
			tpl, err := h.template(ctx, t, spec, spec.N-1)
			if err != nil {
				return err
			}
			path, ms, err := h.set(t, spec, spec.N)
			if err != nil {
				return err
			}
			db, err := h.createDB(ctx, tpl)
			if err != nil {
				return err
			}
			defer h.dropDB(ctx, db)
			url := h.srv.url(db)
			lat := &latency{Waiters: waiters}
			res.Latency = lat
			procs := make([]*proc, 0, waiters)
			defer func() {
				for _, p := range procs {
					p.kill()
					p.wait()
				}
			}()
			for range waiters {
				p, err := startProc(h.work, time.Minute, t.Bin, "wait", "-d", url, "--dir", path, "--timeout", "30s")
				if err != nil {
					return err
				}
				procs = append(procs, p)
			}
			// Let them start and block: until every waiter holds a session
			// (if `wait` keeps one) or at most 3 s.
			settle := time.Now().Add(3 * time.Second)
			for time.Now().Before(settle) {
				if n, err := h.connections(ctx, db); err == nil && n >= waiters {
					lat.SettleConns = n
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			time.Sleep(200 * time.Millisecond)
			if lat.SettleConns == 0 {
				lat.SettleConns, _ = h.connections(ctx, db)
			}

			upStart := time.Now()
			r := h.runUp(t, db, path)
			upEnd := time.Now()
			lat.UpSeconds = r.Elapsed.Seconds()
			res.PeakRSS = r.MaxRSS
			if r.Code != 0 {
				return fmt.Errorf("up: exit %d: %s", r.Code, errLines(r.Output, 3))
			}
			// Commit instant of the last migration, from the server
			// (track_commit_timestamp is on; same machine, same clock).
			commitAt, err := h.lastCommit(ctx, url)
			if err == nil {
				lat.CommitFrom = "pg_xact_commit_timestamp of the newest history row"
			} else {
				commitAt = upEnd
				lat.CommitFrom = "exit of up (" + err.Error() + ")"
			}
			var ms2 []float64
			firstErr := ""
			for _, p := range procs {
				code, _ := p.wait()
				res.PeakRSS = max(res.PeakRSS, p.maxRSS)
				switch {
				case p.end.Before(upStart) || p.end.Before(commitAt):
					lat.Early++
					if firstErr == "" {
						firstErr = fmt.Sprintf("a waiter exited %d before the commit: %s", code, errLines(p.out.String(), 2))
					}
				case code != 0:
					if firstErr == "" {
						firstErr = fmt.Sprintf("a waiter exited %d: %s", code, errLines(p.out.String(), 2))
					}
				default:
					lat.Released++
					ms2 = append(ms2, float64(p.end.Round(0).Sub(commitAt).Microseconds())/1000)
				}
			}
			slices.Sort(ms2)
			lat.P50, lat.P95 = percentile(ms2, 0.5), percentile(ms2, 0.95)
			if len(ms2) > 0 {
				lat.Min, lat.Max = ms2[0], ms2[len(ms2)-1]
			}
			msBetween := func(a, b time.Time) float64 { return float64(b.Round(0).Sub(a.Round(0)).Microseconds()) / 1000 }
			lat.CommitAfterUpStart = msBetween(upStart, commitAt)
			lat.UpExitAfterCommit = msBetween(commitAt, upEnd)
			res.Seconds = lat.Max / 1000
			if _, err := verify(ctx, t, url, expect(ms, spec.N)); err != nil {
				return err
			}
			if firstErr != "" {
				return fmt.Errorf("%d/%d released, %d early; %s", lat.Released, waiters, lat.Early, firstErr)
			}
			res.Verified = true
			return nil
		}()
		if err != nil {
			res.Error = err.Error()
			tr.fail(fmt.Sprintf("trial %d: %v", trialNo+1, err))
		}
		tr.Trials = append(tr.Trials, res)
		if l := res.Latency; l != nil {
			progress(fmt.Sprintf("%s trial %d: %d/%d released, min %.1f ms, p50 %.1f ms, p95 %.1f ms, max %.1f ms (commit %.0f ms after up started, up exited %.0f ms after it)%s",
				s.ID, trialNo+1, l.Released, l.Waiters, l.Min, l.P50, l.P95, l.Max, l.CommitAfterUpStart, l.UpExitAfterCommit, errSuffix(res.Error)))
		} else {
			progress(fmt.Sprintf("%s trial %d: %s", s.ID, trialNo+1, res.Error))
		}
	}
	s.finish(func(t trial) bool { return t.Verified })
}
