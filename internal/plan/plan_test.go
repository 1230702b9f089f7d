package plan

import (
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
