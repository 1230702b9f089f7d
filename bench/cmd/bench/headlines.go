package main

import (
	"fmt"
	"strings"
)

func (r *report) scenario(id string) *scenarioResult {
	for _, s := range r.Scenarios {
		if s.ID == id {
			return s
		}
	}
	return nil
}

// fastestPeer returns the peer with the lowest median among those whose
// result was correct in s.
func fastestPeer(s *scenarioResult) *toolResult {
	var best *toolResult
	for _, tr := range s.Tools {
		if strings.HasPrefix(tr.Tool, "fleetgate") || tr.Tool == "psql" || !tr.OK || tr.Seconds == nil {
			continue
		}
		if best == nil || tr.Seconds.Median < best.Seconds.Median {
			best = tr
		}
	}
	return best
}

// noSlower grades "a no slower than b" on medians.
func noSlower(a, b float64) string {
	if a <= b {
		return "met"
	}
	return "missed"
}

func noiseNote(ratio float64) string {
	if ratio > 1 && ratio <= 1.15 {
		return " (within the ~15% run-to-run noise of ratios)"
	}
	return ""
}

// evaluateHeadlines grades the acceptance targets of issues 6 and 16 on this run.
func (r *report) evaluateHeadlines() {
	add := func(target, status, detail string) {
		r.Headlines = append(r.Headlines, headline{Target: target, Status: status, Detail: detail})
	}
	fgOK := func(s *scenarioResult) (*toolResult, string) {
		if s == nil {
			return nil, "scenario not run"
		}
		fg := s.tool("fleetgate")
		switch {
		case fg == nil:
			return nil, "fleetgate not in --tools"
		case fg.Unavailable != "":
			return nil, fg.Unavailable
		case fg.Seconds == nil:
			return nil, "no verified fleetgate trial: " + fg.Problem
		}
		return fg, ""
	}

	// 1,000 migrations: floor and fastest peer.
	{
		s := r.scenario("apply-1000")
		fg, why := fgOK(s)
		target := "apply 1,000 migrations within 1.1× of the psql floor"
		if fg == nil {
			add(target, "not measured", why)
		} else if floor := s.tool("psql"); floor == nil || floor.Seconds == nil {
			add(target, "not measured", "no verified psql trial")
		} else {
			ratio := fg.Seconds.Median / floor.Seconds.Median
			status := "missed"
			if ratio <= 1.1 && fg.OK {
				status = "met"
			}
			add(target, status, fmt.Sprintf("fleetgate %s vs psql %s: %.2f×", fmtDur(fg.Seconds.Median), fmtDur(floor.Seconds.Median), ratio))
		}
		target = "apply 1,000 migrations no slower than the fastest peer"
		if fg == nil {
			add(target, "not measured", why)
		} else if p := fastestPeer(s); p == nil {
			add(target, "not measured", "no peer verified")
		} else {
			ratio := fg.Seconds.Median / p.Seconds.Median
			add(target, noSlower(fg.Seconds.Median, p.Seconds.Median), fmt.Sprintf("fleetgate %s vs %s %s: %.2f×%s", fmtDur(fg.Seconds.Median), p.Tool, fmtDur(p.Seconds.Median), ratio, noiseNote(ratio)))
		}
	}

	// No-op up.
	{
		s := r.scenario("noop-1000")
		fg, why := fgOK(s)
		target := "no-op `up` (1,000 applied) no slower than the fastest peer"
		if fg == nil {
			add(target, "not measured", why)
		} else if p := fastestPeer(s); p == nil {
			add(target, "not measured", "no peer verified")
		} else {
			ratio := fg.Seconds.Median / p.Seconds.Median
			add(target, noSlower(fg.Seconds.Median, p.Seconds.Median), fmt.Sprintf("fleetgate %s vs %s %s: %.2f×%s", fmtDur(fg.Seconds.Median), p.Tool, fmtDur(p.Seconds.Median), ratio, noiseNote(ratio)))
		}
	}

	// The same speed targets on MariaDB, when its scenarios ran (the
	// concurrency ones are graded with PostgreSQL's below).
	for _, m := range []struct{ id, target string }{
		{"mariadb-apply-100", "apply 100 migrations no slower than the fastest peer (MariaDB)"},
		{"mariadb-noop-1000", "no-op `up` (1,000 applied) no slower than the fastest peer (MariaDB)"},
	} {
		s := r.scenario(m.id)
		if s == nil {
			continue // the MariaDB scenarios were not selected
		}
		fg, why := fgOK(s)
		if fg == nil {
			add(m.target, "not measured", why)
		} else if p := fastestPeer(s); p == nil {
			add(m.target, "not measured", "no peer verified")
		} else {
			ratio := fg.Seconds.Median / p.Seconds.Median
			add(m.target, noSlower(fg.Seconds.Median, p.Seconds.Median), fmt.Sprintf("fleetgate %s vs %s %s: %.2f×%s", fmtDur(fg.Seconds.Median), p.Tool, fmtDur(p.Seconds.Median), ratio, noiseNote(ratio)))
		}
	}

	// Concurrency.
	{
		var correct, speed []string
		cStatus, sStatus := "met", "met"
		measured := 0
		for _, s := range r.Scenarios {
			if s.Kind != "concurrency" {
				continue
			}
			fg := s.tool("fleetgate")
			if fg == nil || fg.Unavailable != "" {
				continue
			}
			measured++
			nz, ctr := 0, []string{}
			for _, t := range fg.Trials {
				nz += t.NonZero
				ctr = append(ctr, intp(t.Counter))
			}
			if !fg.OK {
				cStatus = "missed"
			}
			correct = append(correct, fmt.Sprintf("%s: %d non-zero, counter %s", s.ID, nz, strings.Join(ctr, ",")))
			m := s.tool("migrate")
			if m == nil || m.Seconds == nil || fg.Seconds == nil {
				speed = append(speed, s.ID+": not comparable")
				if sStatus == "met" {
					sStatus = "not measured"
				}
				continue
			}
			ratio := fg.Seconds.Median / m.Seconds.Median
			if ratio > 1 {
				sStatus = "missed"
			}
			speed = append(speed, fmt.Sprintf("%s: %.2f×%s", s.ID, ratio, map[bool]string{true: "", false: " (migrate not correct here)"}[m.OK]))
		}
		if measured == 0 {
			add("concurrency: 0 non-zero exits and counter = 1 in every trial", "not measured", "fleetgate not available")
			add("concurrency: wall time no worse than golang-migrate's", "not measured", "fleetgate not available")
		} else {
			add("concurrency: 0 non-zero exits and counter = 1 in every trial", cStatus, strings.Join(correct, "; "))
			add("concurrency: wall time no worse than golang-migrate's", sStatus, "fleetgate/migrate medians: "+strings.Join(speed, "; "))
		}
	}

	// kill -9, on PostgreSQL and (when run) on MariaDB.
	for _, id := range []string{"kill", "mariadb-kill"} {
		s := r.scenario(id)
		target := "after kill -9, `up` recovers with no manual step"
		if id != "kill" {
			if s == nil {
				continue // the MariaDB scenarios were not selected
			}
			target += " (MariaDB)"
		}
		fg, why := fgOK(s)
		if fg == nil && (s == nil || s.tool("fleetgate") == nil || s.tool("fleetgate").Unavailable != "" || len(s.tool("fleetgate").Trials) == 0) {
			add(target, "not measured", why)
		} else {
			fg = s.tool("fleetgate")
			status := "met"
			if !fg.OK {
				status = "missed"
			}
			detail := "every trial recovered by re-running up"
			if fg.Problem != "" {
				detail = fg.Problem
			}
			if fg.Seconds != nil {
				detail += fmt.Sprintf("; kill → correct median %s", fmtDur(fg.Seconds.Median))
			}
			add(target, status, detail)
		}
	}

	// The applying instance with the checks at their default.
	{
		s := r.scenario("apply-1-onto-1000")
		fg, why := fgOK(s)
		target := "applying 1 onto 1,000 with checks at the default: peak RSS ≤ 48 MB"
		switch {
		case fg == nil:
			add(target, "not measured", why)
		case fg.PeakRSS == nil:
			add(target, "not measured", "no peak RSS recorded")
		default:
			add(target, map[bool]string{true: "met", false: "missed"}[fg.PeakRSS.Max <= 48],
				fmt.Sprintf("fleetgate peak RSS median %.1f MB, max %.1f MB", fg.PeakRSS.Median, fg.PeakRSS.Max))
		}
		target = "applying 1 onto 1,000 with checks at the default: wall ≤ 1.1× `--checks=off`"
		off := (*toolResult)(nil)
		if s != nil {
			off = s.tool("fleetgate --checks=off")
		}
		switch {
		case fg == nil:
			add(target, "not measured", why)
		case off == nil || off.Seconds == nil:
			add(target, "not measured", "no verified --checks=off trial")
		default:
			ratio := fg.Seconds.Median / off.Seconds.Median
			add(target, map[bool]string{true: "met", false: "missed"}[ratio <= 1.1],
				fmt.Sprintf("fleetgate %s vs --checks=off %s: %.2f× (ratio of mins %.2f×)", fmtDur(fg.Seconds.Median), fmtDur(off.Seconds.Median), ratio, fg.Seconds.Min/off.Seconds.Min))
		}
	}

	// Memory held beside the command.
	{
		s := r.scenario("run-steady")
		target := "`run` that applied with checks: steady-state RSS ≤ 20 MB while the command runs"
		fg, why := fgOK(s)
		if fg == nil {
			add(target, "not measured", why)
		} else {
			worst, anon := int64(0), int64(0)
			for _, t := range fg.Trials {
				if t.Verified && t.SteadyRSS > worst {
					worst, anon = t.SteadyRSS, t.SteadyAnon
				}
			}
			add(target, map[bool]string{true: "met", false: "missed"}[worst > 0 && worst <= 20e6],
				fmt.Sprintf("largest sample %.1f MB (%.1f MiB), of which %.1f MB anonymous; the rest is the binary's own pages", float64(worst)/1e6, float64(worst)/(1<<20), float64(anon)/1e6))
		}
	}

	// Schema fan-out (issue 13).
	{
		s := r.scenario("fanout-schemas")
		target := "schema fan-out: fleetgate wall ≤ 0.3× the fastest shell loop over a peer"
		fg, why := fgOK(s)
		peer := (*toolResult)(nil)
		if s != nil {
			peer = fastestPeer(s)
		}
		switch {
		case fg == nil:
			add(target, "not measured", why)
		case peer == nil:
			add(target, "not measured", "no verified peer loop")
		default:
			ratio := fg.Seconds.Median / peer.Seconds.Median
			peakFG, peakPeer := 0, 0
			for _, t := range fg.Trials {
				peakFG = max(peakFG, t.PeakConns)
			}
			for _, t := range peer.Trials {
				peakPeer = max(peakPeer, t.PeakConns)
			}
			add(target, map[bool]string{true: "met", false: "missed"}[ratio <= 0.3],
				fmt.Sprintf("%s: fleetgate %s (peak %d connections) vs %s loop %s (peak %d): %.2f×", s.Title, fmtDur(fg.Seconds.Median), peakFG, peer.Tool, fmtDur(peer.Seconds.Median), peakPeer, ratio))
		}
	}
}
