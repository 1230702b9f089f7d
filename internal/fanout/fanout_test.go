package fanout

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

var errBoom = errors.New("boom")

// codeOf maps the fake errors of these tests to exit codes.
func codeOf(err error) int {
	var c coded
	if errors.As(err, &c) {
		return int(c)
	}
	return 1
}

type coded int

func (c coded) Error() string { return "coded" }

// tracker is a fake target function that records the order of starts and
// the highest number of targets running at once.
type tracker struct {
	mu       sync.Mutex
	running  int
	peak     int
	started  []int
	fail     map[int]error
	gate     chan struct{} // when set, every target waits for it to close
	startedC chan int
}

func (tr *tracker) fn(ctx context.Context, i int) (Outcome, error) {
	tr.mu.Lock()
	tr.running++
	tr.peak = max(tr.peak, tr.running)
	tr.started = append(tr.started, i)
	tr.mu.Unlock()
	if tr.startedC != nil {
		tr.startedC <- i
	}
	if tr.gate != nil {
		<-tr.gate
	}
	tr.mu.Lock()
	tr.running--
	tr.mu.Unlock()
	if err := tr.fail[i]; err != nil {
		return Outcome{}, err
	}
	return Outcome{Applied: []int64{int64(i)}}, nil
}

func TestAllSucceed(t *testing.T) {
	tr := &tracker{}
	rep := Run(context.Background(), 50, Options{Parallel: 3}, tr.fn, codeOf)
	require.Equal(t, 50, rep.Done)
	require.Zero(t, rep.Failed+rep.Skipped+rep.ExitCode)
	require.LessOrEqual(t, tr.peak, 3)
	for i, r := range rep.Results {
		require.Equal(t, i, r.Index)
		require.Equal(t, []int64{int64(i)}, r.Applied)
	}
}

// The parallel limit is reached, never passed: all P start before any
// ends, and no P+1st starts until one ends.
func TestParallelBound(t *testing.T) {
	tr := &tracker{gate: make(chan struct{}), startedC: make(chan int, 100)}
	done := make(chan *Report)
	go func() { done <- Run(context.Background(), 10, Options{Parallel: 4}, tr.fn, codeOf) }()
	for range 4 {
		<-tr.startedC
	}
	select {
	case i := <-tr.startedC:
		t.Fatalf("target %d started while 4 were running", i)
	default:
	}
	close(tr.gate)
	rep := <-done
	require.Equal(t, 10, rep.Done)
	require.Equal(t, 4, tr.peak)
}

func TestDefaultParallel(t *testing.T) {
	tr := &tracker{gate: make(chan struct{}), startedC: make(chan int, 100)}
	done := make(chan *Report)
	go func() { done <- Run(context.Background(), 20, Options{}, tr.fn, codeOf) }()
	for range DefaultParallel {
		<-tr.startedC
	}
	close(tr.gate)
	<-done
	require.Equal(t, DefaultParallel, tr.peak)
}

// The canary targets run one at a time, in order, before any other.
func TestCanaryRunsAloneFirst(t *testing.T) {
	tr := &tracker{}
	rep := Run(context.Background(), 20, Options{Canary: 3, Parallel: 5}, tr.fn, codeOf)
	require.Equal(t, 20, rep.Done)
	require.Equal(t, []int{0, 1, 2}, tr.started[:3])
	// The peak counts the whole run; check the canary phase separately.
	tr2 := &tracker{startedC: make(chan int, 100), gate: make(chan struct{})}
	done := make(chan *Report)
	go func() { done <- Run(context.Background(), 5, Options{Canary: 2, Parallel: 5}, tr2.fn, codeOf) }()
	require.Equal(t, 0, <-tr2.startedC)
	select {
	case i := <-tr2.startedC:
		t.Fatalf("target %d started beside the first canary", i)
	default:
	}
	close(tr2.gate)
	<-done
}

// A canary failure stops the run even with KeepGoing.
func TestCanaryFailureStops(t *testing.T) {
	for _, keep := range []bool{false, true} {
		tr := &tracker{fail: map[int]error{1: errBoom}}
		rep := Run(context.Background(), 10, Options{Canary: 2, KeepGoing: keep}, tr.fn, codeOf)
		require.Equal(t, []int{0, 1}, tr.started, "keep-going %v", keep)
		require.Equal(t, 1, rep.Done)
		require.Equal(t, 1, rep.Failed)
		require.Equal(t, 8, rep.Skipped)
		require.Equal(t, 1, rep.ExitCode)
		require.True(t, rep.Results[1].Failed())
		require.False(t, rep.Results[5].Started)
	}
}

// KeepGoing runs every target and names each failure.
func TestKeepGoing(t *testing.T) {
	tr := &tracker{fail: map[int]error{4: errBoom, 17: coded(4)}}
	rep := Run(context.Background(), 30, Options{Canary: 1, Parallel: 4, KeepGoing: true}, tr.fn, codeOf)
	require.Equal(t, 28, rep.Done)
	require.Equal(t, 2, rep.Failed)
	require.Zero(t, rep.Skipped)
	require.Equal(t, 1, rep.ExitCode, "a failed migration outranks a validation failure")
	require.ErrorIs(t, rep.Results[4].Err, errBoom)
	require.Equal(t, 4, rep.Results[17].ExitCode)
}

// Without KeepGoing no target starts after the first failure, and those
// already running finish.
func TestStopStartingAfterFailure(t *testing.T) {
	gate := make(chan struct{})
	var started atomic.Int32
	fn := func(ctx context.Context, i int) (Outcome, error) {
		started.Add(1)
		if i == 0 {
			return Outcome{}, errBoom
		}
		<-gate // the others are still running when 0 fails
		return Outcome{}, nil
	}
	onDone := func(r *Result) {
		if r.Index == 0 {
			close(gate)
		}
	}
	rep := Run(context.Background(), 100, Options{Parallel: 3, OnDone: onDone}, fn, codeOf)
	require.Equal(t, 1, rep.Failed)
	require.Equal(t, int32(3), started.Load(), "only the three running when 0 failed")
	require.Equal(t, 2, rep.Done, "running targets finished")
	require.Equal(t, 97, rep.Skipped)
}

func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	fn := func(c context.Context, i int) (Outcome, error) {
		if i == 2 {
			cancel()
			<-c.Done()
			return Outcome{}, c.Err()
		}
		return Outcome{}, nil
	}
	rep := Run(ctx, 10, Options{Parallel: 1, KeepGoing: true}, fn, func(error) int { return 130 })
	require.Equal(t, 2, rep.Done)
	require.Equal(t, 1, rep.Failed)
	require.Equal(t, 7, rep.Skipped)
	require.Equal(t, 130, rep.ExitCode)
}

func TestMoreSevere(t *testing.T) {
	for _, c := range []struct{ a, b, want int }{
		{0, 0, 0}, {0, 3, 3}, {2, 0, 2}, {2, 3, 3}, {3, 5, 5}, {5, 4, 4}, {4, 1, 1}, {1, 130, 130}, {143, 1, 143}, {7, 2, 2}, {7, 0, 7},
	} {
		require.Equal(t, c.want, MoreSevere(c.a, c.b), "%d vs %d", c.a, c.b)
		require.Equal(t, c.want, MoreSevere(c.b, c.a), "%d vs %d", c.b, c.a)
	}
}

func TestCallbacksSerial(t *testing.T) {
	var inside atomic.Int32
	var starts, dones int
	check := func() {
		require.Equal(t, int32(1), inside.Add(1))
		inside.Add(-1)
	}
	rep := Run(context.Background(), 40, Options{Parallel: 8,
		OnStart: func(int) { check(); starts++ },
		OnDone:  func(*Result) { check(); dones++ }},
		func(context.Context, int) (Outcome, error) { return Outcome{}, nil }, codeOf)
	require.Equal(t, 40, rep.Done)
	require.Equal(t, 40, starts)
	require.Equal(t, 40, dones)
}
