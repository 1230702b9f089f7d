package plan

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/fleetgate/fleetgate/internal/source"
)

func mig(v int64, phase source.Phase) *source.Migration {
	return &source.Migration{Version: v, Name: "m", File: "f", Phase: phase, Checksum: "sum"}
}

func applied(v int64, phase source.Phase) Applied {
	return Applied{Version: v, Name: "m", Checksum: "sum", Phase: string(phase), Complete: true}
}

func versions(steps []Step) []int64 {
	out := []int64{}
	for _, s := range steps {
		out = append(out, s.Migration.Version)
	}
	return out
}

func TestBuild(t *testing.T) {
	t.Parallel()
	pre, post := source.PhasePre, source.PhasePost
	tests := []struct {
		name     string
		local    []*source.Migration
		applied  []Applied
		opts     Options
		steps    []int64
		ahead    []int64
		deferred int
		problem  ProblemKind
	}{
		{name: "Empty", steps: []int64{}},
		{name: "AllPending", local: []*source.Migration{mig(1, pre), mig(2, pre)}, steps: []int64{1, 2}},
		{name: "NothingPending", local: []*source.Migration{mig(1, pre)}, applied: []Applied{applied(1, pre)}, steps: []int64{}},
		{name: "Target", local: []*source.Migration{mig(1, pre), mig(2, pre), mig(3, pre)}, opts: Options{Target: 2}, steps: []int64{1, 2}},
		{name: "PostDeferredInPre", local: []*source.Migration{mig(1, pre), mig(2, post), mig(3, pre)}, steps: []int64{1, 3}, deferred: 1},
		{name: "PostPhaseRunsPreFirst", local: []*source.Migration{mig(1, pre), mig(2, post), mig(3, pre)}, opts: Options{Phase: post}, steps: []int64{1, 3, 2}},
		{name: "PostAfterNewerPreIsNotOutOfOrder", local: []*source.Migration{mig(1, pre), mig(2, post), mig(3, pre)},
			applied: []Applied{applied(1, pre), applied(3, pre)}, opts: Options{Phase: post}, steps: []int64{2}},
		{name: "OutOfOrderRefused", local: []*source.Migration{mig(1, pre), mig(2, pre), mig(3, pre)},
			applied: []Applied{applied(1, pre), applied(3, pre)}, problem: OutOfOrder},
		{name: "OutOfOrderAllowed", local: []*source.Migration{mig(1, pre), mig(2, pre), mig(3, pre)},
			applied: []Applied{applied(1, pre), applied(3, pre)}, opts: Options{AllowOutOfOrder: true}, steps: []int64{2}},
		{name: "Modified", local: []*source.Migration{{Version: 1, Checksum: "new", Phase: pre}}, applied: []Applied{applied(1, pre)}, problem: Modified},
		{name: "HoleIsMissing", local: []*source.Migration{mig(1, pre), mig(3, pre)},
			applied: []Applied{applied(1, pre), applied(2, pre)}, problem: Missing},
		{name: "NewerIsAhead", local: []*source.Migration{mig(1, pre)},
			applied: []Applied{applied(1, pre), applied(2, pre), applied(3, pre)}, steps: []int64{}, ahead: []int64{2, 3}},
		{name: "PartialResumes", local: []*source.Migration{mig(1, pre), mig(2, pre)},
			applied: []Applied{applied(1, pre), {Version: 2, Checksum: "sum", Phase: "pre", StatementsDone: 3}}, steps: []int64{2}},
		{name: "NumericNotLexicalOrder", local: []*source.Migration{mig(9, pre), mig(10, pre), mig(100, pre)},
			applied: []Applied{applied(9, pre)}, steps: []int64{10, 100}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p, err := Build(tt.local, tt.applied, tt.opts)
			if tt.problem != "" {
				var ve *ValidationError
				require.ErrorAs(t, err, &ve)
				require.Equal(t, tt.problem, ve.Problems[0].Kind)
				require.NotEmpty(t, ve.Error())
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.steps, versions(p.Steps))
			var ahead []int64
			for _, a := range p.Ahead {
				ahead = append(ahead, a.Version)
			}
			require.Equal(t, tt.ahead, ahead)
			require.Len(t, p.Deferred, tt.deferred)
		})
	}
}

func TestBuildResumeOffset(t *testing.T) {
	t.Parallel()
	p, err := Build([]*source.Migration{mig(1, source.PhasePre)},
		[]Applied{{Version: 1, Checksum: "sum", Phase: "pre", StatementsDone: 2}}, Options{})
	require.NoError(t, err)
	require.Equal(t, 2, p.Steps[0].Resume)
}

// index searches files and history in version order in place and puts
// anything else in maps; both find the same, and Build plans the same
// from a history in any order.
func TestIndexSortedAndUnsorted(t *testing.T) {
	t.Parallel()
	local := []*source.Migration{mig(1, source.PhasePre), mig(3, source.PhasePre), mig(4, source.PhasePost), mig(7, source.PhasePre)}
	hist := []Applied{applied(1, source.PhasePre), applied(2, source.PhasePre), applied(3, source.PhasePre), {Version: 7, Name: "m", Checksum: "old", Phase: "pre", StatementsDone: 1}}
	require.NotNil(t, sortedFind(local, func(m *source.Migration) int64 { return m.Version }))
	require.Nil(t, sortedFind([]Applied{hist[1], hist[0]}, func(a Applied) int64 { return a.Version }))
	require.Nil(t, sortedFind([]Applied{hist[0], hist[0]}, func(a Applied) int64 { return a.Version }), "a duplicated version is not strictly increasing")
	fl, fa := index(local, hist)
	ml, ma := mapFind(local, func(m *source.Migration) int64 { return m.Version }), mapFind(hist, func(a Applied) int64 { return a.Version })
	for v := int64(0); v <= 8; v++ {
		m1, ok1 := fl(v)
		m2, ok2 := ml(v)
		require.Equal(t, ok2, ok1, "version %d", v)
		require.Same(t, m2, m1, "version %d", v)
		a1, ok1 := fa(v)
		a2, ok2 := ma(v)
		require.Equal(t, [2]any{a2, ok2}, [2]any{a1, ok1}, "version %d", v)
	}
	// 2 is missing and 7 modified.
	_, sortedErr := Build(local, hist, Options{})
	require.Error(t, sortedErr)
	_, shuffledErr := Build(local, []Applied{hist[3], hist[1], hist[0], hist[2]}, Options{})
	require.Equal(t, sortedErr, shuffledErr)
	// 7 is a no-transaction migration half applied from older text: it
	// resumes; 4 is deferred.
	local[3].NoTransaction = true
	hist = slices.Delete(hist, 1, 2)
	sorted, err := Build(local, hist, Options{})
	require.NoError(t, err)
	require.Len(t, sorted.Steps, 1)
	require.True(t, sorted.Steps[0].Partial && sorted.Steps[0].Edited)
	shuffled, err := Build(local, []Applied{hist[2], hist[0], hist[1]}, Options{})
	require.NoError(t, err)
	require.Equal(t, sorted, shuffled)
}
