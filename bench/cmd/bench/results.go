package main

import (
	"math"
	"slices"
	"time"
)

// report is the raw JSON of one run.
type report struct {
	Started  time.Time `json:"started"`
	Duration float64   `json:"duration_seconds"`
	Quick    bool      `json:"quick"`
	Machine  string    `json:"machine"`
	// Load is /proc/loadavg's 1-minute average at the start and the end:
	// other work on the machine shifts absolute times (less so ratios).
	LoadStart string `json:"load_start"`
	LoadEnd   string `json:"load_end"`
	Postgres  string `json:"postgres"`
	// MariaDB is the server version of the MariaDB scenarios, when run.
	MariaDB   string            `json:"mariadb,omitempty"`
	Versions  map[string]string `json:"versions"`
	Scenarios []*scenarioResult `json:"scenarios"`
	Headlines []headline        `json:"headlines"`
	// Failures lists the results that failed verification (any tool, in a
	// timed scenario) or broke one of fleetgate's promises; a non-empty
	// list makes the run exit non-zero.
	Failures []string `json:"failures"`
	// RSSFloorMB is the peak RSS that wait4 reports for /bin/true started
	// by the harness at the end of the run: the harness's own high-water
	// mark, which every child's ru_maxrss includes (see main.go). A peak
	// RSS at or below it means "at most this".
	RSSFloorMB float64 `json:"rss_floor_mb,omitempty"`
}

type scenarioResult struct {
	ID       string        `json:"id"`
	Title    string        `json:"title"`
	Measures string        `json:"measures"`
	Kind     string        `json:"kind"` // timing, concurrency, kill, wait
	Trials   int           `json:"trials"`
	Tools    []*toolResult `json:"tools"`
}

type toolResult struct {
	Tool        string `json:"tool"`
	Unavailable string `json:"unavailable,omitempty"`
	// OK: every trial verified (timing, wait) or was correct (concurrency:
	// all exits 0, every migration applied once, counter 1; kill: a correct
	// database without a manual step).
	OK      bool    `json:"ok"`
	Problem string  `json:"problem,omitempty"`
	Seconds *stats  `json:"seconds,omitempty"`
	Ratio   float64 `json:"ratio,omitempty"` // median / median of the fastest OK tool
	// MinRatio is min / min of that same base tool: less disturbed by
	// other work on the machine than the median.
	MinRatio float64 `json:"min_ratio,omitempty"`
	// PeakRSS is over the same trials as Seconds, in MB (10^6 bytes): each
	// trial's peak resident set of the tool's process (the largest one when
	// a trial runs several).
	PeakRSS *stats  `json:"peak_rss_mb,omitempty"`
	Trials  []trial `json:"trials"`
}

type trial struct {
	Position int     `json:"position"` // place in the rotated order
	Seconds  float64 `json:"seconds"`
	Verified bool    `json:"verified"`
	Error    string  `json:"error,omitempty"`
	// PeakRSS is the peak resident set in bytes (ru_maxrss from wait4) of
	// the timed process, or of the largest of the processes a trial ran.
	PeakRSS int64 `json:"peak_rss_bytes,omitempty"`
	// SteadyRSS (run-steady) is the largest VmRSS of `fleetgate run`
	// sampled while its command ran, in bytes.
	SteadyRSS  int64 `json:"steady_rss_bytes,omitempty"`
	SteadyAnon int64 `json:"steady_rss_anon_bytes,omitempty"` // its anonymous part

	// concurrency
	Processes int  `json:"processes,omitempty"`
	NonZero   int  `json:"nonzero_exits,omitempty"`
	Counter   *int `json:"counter,omitempty"`
	PeakConns int  `json:"peak_connections,omitempty"`
	// CPUSeconds is the user + system CPU time of all K processes
	// together: on a machine with fewer cores than processes, what waiting
	// costs the one that holds the lock.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`

	// kill
	Outcome     string   `json:"outcome,omitempty"`
	ManualSteps []string `json:"manual_steps,omitempty"`

	// wait
	Latency *latency `json:"latency_ms,omitempty"`
}

type latency struct {
	Waiters    int     `json:"waiters"`
	Released   int     `json:"released"` // exited 0 after the commit
	Early      int     `json:"early"`    // exited before the commit
	P50        float64 `json:"p50"`
	P95        float64 `json:"p95"`
	Max        float64 `json:"max"`
	CommitFrom string  `json:"commit_time_from"` // how the commit instant was taken
	Min        float64 `json:"min"`
	UpSeconds  float64 `json:"up_seconds"`
	// CommitAfterUpStart and UpExitAfterCommit place the commit inside
	// the `up` process's run (milliseconds).
	CommitAfterUpStart float64 `json:"commit_after_up_start"`
	UpExitAfterCommit  float64 `json:"up_exit_after_commit"`
	SettleConns        int     `json:"connections_before_commit"`
}

type stats struct {
	N      int     `json:"n"`
	Min    float64 `json:"min"`
	Median float64 `json:"median"`
	Max    float64 `json:"max"`
}

func newStats(xs []float64) *stats {
	if len(xs) == 0 {
		return nil
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	return &stats{N: len(s), Min: s[0], Median: median(s), Max: s[len(s)-1]}
}

func median(sorted []float64) float64 {
	n := len(sorted)
	if n%2 == 1 {
		return sorted[n/2]
	}
	return (sorted[n/2-1] + sorted[n/2]) / 2
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// finish computes stats over the trials that count and the ratios to the
// fastest OK tool.
func (s *scenarioResult) finish(counts func(trial) bool) {
	best := math.Inf(1)
	var base *toolResult
	for _, tr := range s.Tools {
		var xs, rss []float64
		for _, t := range tr.Trials {
			if counts(t) {
				xs = append(xs, t.Seconds)
				if t.PeakRSS > 0 {
					rss = append(rss, float64(t.PeakRSS)/1e6)
				}
			}
		}
		tr.Seconds = newStats(xs)
		tr.PeakRSS = newStats(rss)
		if tr.OK && tr.Seconds != nil && tr.Seconds.Median < best {
			best, base = tr.Seconds.Median, tr
		}
	}
	for _, tr := range s.Tools {
		if tr.Seconds != nil && base != nil && best > 0 {
			tr.Ratio = tr.Seconds.Median / best
			if base.Seconds.Min > 0 {
				tr.MinRatio = tr.Seconds.Min / base.Seconds.Min
			}
		}
	}
}

func (s *scenarioResult) tool(name string) *toolResult {
	for _, t := range s.Tools {
		if t.Tool == name {
			return t
		}
	}
	return nil
}

// headline is one acceptance target (issues 6 and 16), evaluated on this run.
type headline struct {
	Target string `json:"target"`
	Status string `json:"status"` // met, missed, not measured
	Detail string `json:"detail"`
}
