package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// steadyApp is what `fleetgate run` starts in the run-steady scenario: a
// command that outlives the sampling window (the harness stops it sooner).
const steadyApp = "sleep"

// steady measures what `fleetgate run` keeps resident while its command
// runs: it applies the migrations (from `from` applied), starts the
// command, and from 2 s after the command appeared the harness samples
// fleetgate's VmRSS every 100 ms for 2 s: fleetgate releases its memory
// 1 s after the command's start (internal/cli/run.go's releaseDelay), so
// as not to compete with the command's start for the CPU. The trial is
// the largest sample; the run's peak RSS comes from wait4 as everywhere
// else.
func (h *harness) steady(ctx context.Context, s *scenarioResult, tools []*tool, spec setSpec, from int, progress func(string)) {
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
				tpl := ""
				if from > 0 {
					if tpl, err = h.template(ctx, t, spec, from); err != nil {
						return fmt.Errorf("setup: %w", err)
					}
				}
				db, err := h.createDB(ctx, tpl)
				if err != nil {
					return err
				}
				defer h.dropDB(ctx, db)
				args := append([]string{"run", "-d", h.srv.url(db), "--dir", path}, t.Extra...)
				args = append(args, "--", steadyApp, "60")
				p, err := startProc(h.work, 2*time.Minute, t.Bin, args...)
				if err != nil {
					return err
				}
				defer func() { p.kill(); p.wait() }()
				pid := p.cmd.Process.Pid
				started := time.Now()
				for !hasChild(pid) {
					select {
					case <-p.done:
						return fmt.Errorf("run exited (code %d) before its command started: %s", p.code, errLines(p.out.String(), 3))
					case <-time.After(5 * time.Millisecond):
					}
					if time.Since(started) > time.Minute {
						return fmt.Errorf("the command did not start within a minute")
					}
				}
				res.Seconds = time.Since(started).Seconds()
				time.Sleep(2 * time.Second)
				for range 20 {
					r, err := vmRSS(pid)
					if err != nil {
						return fmt.Errorf("sampling RSS: %w", err)
					}
					if r.total > res.SteadyRSS {
						res.SteadyRSS, res.SteadyAnon = r.total, r.anon
					}
					time.Sleep(100 * time.Millisecond)
				}
				// SIGTERM reaches fleetgate, which forwards it and exits
				// with the command's status.
				_ = syscall.Kill(pid, syscall.SIGTERM)
				select {
				case <-p.done:
				case <-time.After(10 * time.Second):
					return fmt.Errorf("run did not exit within 10 s of SIGTERM")
				}
				res.PeakRSS = p.maxRSS
				if _, err := verify(ctx, t, h.srv.url(db), expect(ms, spec.N)); err != nil {
					return err
				}
				res.Verified = true
				return nil
			}()
			if err != nil {
				res.Error = err.Error()
				tr.fail(fmt.Sprintf("trial %d: %v", trialNo+1, err))
			}
			tr.Trials = append(tr.Trials, res)
			progress(fmt.Sprintf("%s trial %d %s: steady RSS %.1f MB (%.1f MB anonymous), peak %.1f MB, command started after %.3fs%s",
				s.ID, trialNo+1, t.Name, float64(res.SteadyRSS)/1e6, float64(res.SteadyAnon)/1e6, float64(res.PeakRSS)/1e6, res.Seconds, errSuffix(res.Error)))
		}
	}
	s.finish(func(t trial) bool { return t.Verified })
}

// hasChild reports whether pid has started a child process. Each thread
// lists the children it forked, and Go forks from any thread.
func hasChild(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	for _, t := range tasks {
		if b, err := os.ReadFile(t); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			return true
		}
	}
	return false
}

// rss is a process's current resident set in bytes: the total (VmRSS) and
// its anonymous part (heap and stacks; the rest is mapped files, mostly the
// binary's own pages).
type rss struct{ total, anon int64 }

func vmRSS(pid int) (rss, error) {
	var r rss
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return r, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	found := 0
	for sc.Scan() {
		for key, dst := range map[string]*int64{"VmRSS:": &r.total, "RssAnon:": &r.anon} {
			if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				if err != nil {
					return r, err
				}
				*dst = kb * 1024
				found++
			}
		}
	}
	if found != 2 {
		return r, fmt.Errorf("no VmRSS or RssAnon in /proc/%d/status", pid)
	}
	return r, nil
}
