// Package fanout runs one job over many targets (databases, schemas): a
// canary first, then a bounded number at a time, stopping or going on
// after a failure, with a result per target. It knows nothing of
// databases; the caller's function does the work of one target.
package fanout

import (
	"context"
	"sync"
	"time"
)

// DefaultParallel is how many targets run at once when Options.Parallel is
// zero: enough to hide round trips, few enough for a small server's
// connection limit.
const DefaultParallel = 4

// Options control the order and limits of a run.
type Options struct {
	// Canary is how many targets run first, one at a time, before any
	// other starts. A failure among them stops the run, KeepGoing or not:
	// a canary exists to keep a bad migration off the rest.
	Canary int
	// Parallel is the most targets running at once after the canary.
	// Defaults to DefaultParallel.
	Parallel int
	// KeepGoing starts the remaining targets after a failure. Without it
	// no new target starts after the first failure; running ones finish.
	KeepGoing bool
	// OnStart and OnDone, when set, are called as a target starts and
	// ends, one call at a time (never concurrently), so a reporter needs
	// no lock of its own.
	OnStart func(index int)
	OnDone  func(r *Result)
}

// Outcome is what the caller's function reports about one target.
type Outcome struct {
	Applied  []int64       // versions applied (or reverted) in this target
	LockWait time.Duration // time spent waiting for the target's migration lock
	Detail   any           // anything else the caller wants back (a status)
}

// Result is one target's outcome in a run.
type Result struct {
	Index   int
	Started bool // false: the run stopped before this target's turn
	Outcome
	Duration time.Duration
	Err      error
	ExitCode int // 0 on success, else Code(Err)
}

// Failed reports whether the target ran and failed.
func (r *Result) Failed() bool { return r.Started && r.Err != nil }

// Report is a whole run.
type Report struct {
	Results []Result // one per target, in the targets' order
	Done    int      // targets that ran and succeeded
	Failed  int      // targets that ran and failed
	Skipped int      // targets never started
	// ExitCode is 0 when every target succeeded, else the most severe of
	// the failed targets' codes (see Severity); 130 or 143 if the run was
	// interrupted (ctx ended) before every target ran.
	ExitCode int
}

// Func does the work of one target. Its error is the target's failure.
type Func func(ctx context.Context, index int) (Outcome, error)

// Run runs fn for targets 0..n-1: the first opts.Canary alone and in
// order, then the rest at most opts.Parallel at a time, in order of index.
// code maps a target's error to its exit code. When ctx ends no new target
// starts; running ones see ctx and end as fn makes them.
func Run(ctx context.Context, n int, opts Options, fn Func, code func(error) int) *Report {
	if opts.Parallel <= 0 {
		opts.Parallel = DefaultParallel
	}
	rep := &Report{Results: make([]Result, n)}
	for i := range rep.Results {
		rep.Results[i].Index = i
	}
	var (
		mu      sync.Mutex // guards stopped, rep and the callbacks
		stopped bool
	)
	runOne := func(i int) {
		r := &rep.Results[i]
		start := time.Now()
		out, err := fn(ctx, i)
		mu.Lock()
		defer mu.Unlock()
		r.Outcome, r.Err, r.Duration = out, err, time.Since(start)
		if err != nil {
			r.ExitCode = code(err)
			if r.ExitCode == 0 {
				r.ExitCode = 1 // an error is never success
			}
			if !opts.KeepGoing {
				stopped = true
			}
		}
		if opts.OnDone != nil {
			opts.OnDone(r)
		}
	}
	// begin marks target i started, or says that the run has stopped.
	begin := func(i int) bool {
		mu.Lock()
		defer mu.Unlock()
		if stopped || ctx.Err() != nil {
			return false
		}
		rep.Results[i].Started = true
		if opts.OnStart != nil {
			opts.OnStart(i)
		}
		return true
	}
	canary := min(max(opts.Canary, 0), n)
	next := 0
	for ; next < canary; next++ {
		if !begin(next) {
			break
		}
		runOne(next)
		if rep.Results[next].Err != nil {
			mu.Lock()
			stopped = true
			mu.Unlock()
		}
	}
	if next == canary {
		sem := make(chan struct{}, opts.Parallel)
		var wg sync.WaitGroup
	loop:
		for i := canary; i < n; i++ {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				break loop
			}
			if !begin(i) {
				<-sem
				break
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				runOne(i)
			}()
		}
		wg.Wait()
	}
	for i := range rep.Results {
		r := &rep.Results[i]
		switch {
		case !r.Started:
			rep.Skipped++
		case r.Err != nil:
			rep.Failed++
			rep.ExitCode = MoreSevere(rep.ExitCode, r.ExitCode)
		default:
			rep.Done++
		}
	}
	if rep.Skipped > 0 && ctx.Err() != nil && rep.ExitCode == 0 {
		rep.ExitCode = 130
	}
	return rep
}

// Severity ranks exit codes, most severe first: an interruption (the run
// is incomplete), a failed migration (a target may need a person), a
// validation failure (history and files disagree), a check refusal, a
// timeout (a retry may pass), a configuration error. Codes not listed rank
// below them all but above success.
var Severity = []int{130, 143, 1, 4, 5, 3, 2}

// MoreSevere returns the more severe of two exit codes (0 is success).
func MoreSevere(a, b int) int {
	if a == 0 {
		return b
	}
	if b == 0 {
		return a
	}
	if rank(b) < rank(a) {
		return b
	}
	return a
}

func rank(code int) int {
	for i, c := range Severity {
		if c == code {
			return i
		}
	}
	return len(Severity)
}
