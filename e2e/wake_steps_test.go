package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// stepsEnv makes a waiter log the steps of its wake-up with their times
// (the debug lines of internal/gate and internal/cli/run.go).
var stepsEnv = []string{"FLEETGATE_LOG_LEVEL=debug"}

// wakeStepLines are the steps, in the order a waiter logged them before
// the command's start and the registration overlapped, with the message
// that marks each one.
var wakeStepLines = []struct{ key, msg string }{
	{"notified", "woken by a notification"},
	{"ready", "schema is ready"},
	{"registered", "registered"},
	{"started", "command started"},
	{"released", "memory released"},
}

// wakeSteps collects, per step, every waiter's time in ms from the commit:
// where the wake-up goes. A build without the debug lines (a base binary
// older than them) contributes only "ready" and "app".
type wakeSteps map[string][]float64

// add records one waiter: its log (JSON lines) and its app's start.
func (s wakeSteps) add(tb testing.TB, stderr string, floorUS, appUS int64) {
	tb.Helper()
	seen := map[string]bool{}
	at := map[string]int64{}
	for _, line := range strings.Split(stderr, "\n") {
		var rec struct {
			Time time.Time     `json:"time"`
			Msg  string        `json:"msg"`
			Took time.Duration `json:"took"`
			CPU  time.Duration `json:"cpu"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue
		}
		for _, st := range wakeStepLines {
			// The first of each: a waiter notified twice (the last
			// commit, then the release) is ready after the first.
			if rec.Msg == st.msg && !seen[st.key] {
				seen[st.key] = true
				s[st.key] = append(s[st.key], float64(rec.Time.UnixMicro()-floorUS)/1000)
				at[st.key] = rec.Time.UnixMicro()
				if st.key == "released" {
					s["release-took"] = append(s["release-took"], float64(rec.Took.Microseconds())/1000)
					s["release-cpu"] = append(s["release-cpu"], float64(rec.CPU.Microseconds())/1000)
				}
			}
		}
	}
	s["app"] = append(s["app"], float64(appUS-floorUS)/1000)
	at["app"] = appUS
	for _, d := range wakeSpans {
		if from, to := at[d.from], at[d.to]; from != 0 && to != 0 {
			s[d.key] = append(s[d.key], float64(to-from)/1000)
		}
	}
}

// wakeSpans are the stretches of one waiter's own wake-up, each measured
// from one of its steps to the next, so that they can be compared between
// builds without the spread of the commit's delivery to each waiter:
// re-read (the history read after the notification, and its plan),
// exec (fleetgate's path from "ready" to the command's start: the fork and
// exec of the command), own-start (the command from its exec to its first
// instruction, bash's own start-up), and ready-to-app (the last two).
var wakeSpans = []struct{ key, from, to string }{
	{"re-read", "notified", "ready"},
	{"exec", "ready", "started"},
	{"own-start", "started", "app"},
	{"ready-to-app", "ready", "app"},
}

// String is "step p50/p99" for every step seen, in order, each step's
// percentiles over the waiters taken on their own; then the wakeSpans,
// each waiter's own time from one step to the next, and release-took, how
// long releasing fleetgate's memory beside the command took.
func (s wakeSteps) String() string {
	var b strings.Builder
	for _, key := range []string{"notified", "ready", "registered", "started", "app", "released", "re-read", "exec", "own-start", "ready-to-app", "release-took", "release-cpu"} {
		v := slices.Clone(s[key])
		if len(v) == 0 {
			continue
		}
		slices.Sort(v)
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s %.1f/%.1f", key, percentile(v, 50), percentile(v, 99))
	}
	return "steps p50/p99 ms after the commit: " + b.String()
}

// builds are the binaries a wake benchmark compares, paired round by
// round: this tree's, and FLEETGATE_WAKE_BASE's when set (a build of the
// base commit: go build -o /path/base ./cmd/fleetgate there).
func builds() []string {
	out := []string{bin}
	if base := os.Getenv("FLEETGATE_WAKE_BASE"); base != "" {
		out = append(out, base)
	}
	return out
}

// buildName labels a binary of builds in the results.
func buildName(path string) string {
	if path == bin {
		return "head"
	}
	return "base"
}

// withBin runs f with the processes it starts running path instead of
// this tree's binary. The benchmarks hold heavy, so nothing else starts
// fleetgate meanwhile.
func withBin(path string, f func()) {
	saved := bin
	bin = path
	defer func() { bin = saved }()
	f()
}
