// Package plan decides what to run: it compares the migrations a build
// ships with what the database has recorded, by set membership (never by a
// high-water mark, so a file merged below the newest applied version is
// seen, not skipped). It does no I/O.
package plan

import (
	"cmp"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Applied is what the planner needs of a history row.
type Applied struct {
	Version        int64
	Name           string
	Checksum       string
	Phase          string
	Complete       bool
	StatementsDone int
}

// FromHistory is what the planner needs of history rows.
func FromHistory(rows []history.Applied) []Applied {
	out := make([]Applied, len(rows))
	for i, r := range rows {
		out[i] = Applied{Version: r.Version, Name: r.Name, Checksum: r.Checksum, Phase: r.Phase,
			Complete: r.Complete, StatementsDone: r.StatementsDone}
	}
	return out
}

// Options select what to plan.
type Options struct {
	// Target is the highest version to apply; 0 means all.
	Target int64
	// Phase is the phase being run; post also runs pending pre-phase
	// migrations first. Defaults to pre.
	Phase source.Phase
	// AllowOutOfOrder applies pending migrations older than applied ones
	// instead of refusing them.
	AllowOutOfOrder bool
}

// Step is one migration to run; Resume statements of it already ran.
type Step struct {
	Migration *source.Migration
	Resume    int
	// Partial is set when the history has an incomplete row of the
	// migration (a no-transaction migration that stopped part way).
	Partial bool
	// Edited is set when that row was written for other text than the
	// file's: the runner resumes only if the statements already run are
	// unchanged (it compares their checksums under the lock).
	Edited bool
}

// Plan is the outcome of planning.
type Plan struct {
	Steps []Step
	// Ahead lists applied versions newer than every local file: a newer
	// build ran first, or this build was rolled back to.
	Ahead []Applied
	// Deferred are pending migrations of the post phase not run now.
	Deferred []*source.Migration
	// Applied is how many applied versions the plan was built from.
	Applied int
}

// ProblemKind classifies what validation found.
type ProblemKind string

const (
	Modified   ProblemKind = "modified"
	Missing    ProblemKind = "missing"
	OutOfOrder ProblemKind = "out-of-order"
	// Undecided: a statement that commits on its own was running when an
	// earlier attempt died, and whether it took effect cannot be read
	// from the database; `fleetgate resolve` settles it.
	Undecided ProblemKind = "undecided"
)

// Problem is one validation finding.
type Problem struct {
	Kind    ProblemKind
	Version int64
	Name    string
	File    string
	Detail  string
}

func (p Problem) String() string {
	where := p.File
	if where == "" {
		where = fmt.Sprintf("version %d (%s)", p.Version, p.Name)
	}
	return fmt.Sprintf("%s: %s: %s", where, p.Kind, p.Detail)
}

// ValidationError lists every problem at once, so an operator fixes them in
// one pass.
type ValidationError struct{ Problems []Problem }

func (e *ValidationError) Error() string {
	if len(e.Problems) == 1 {
		return e.Problems[0].String()
	}
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.String()
	}
	return fmt.Sprintf("%d problems: %s", len(parts), strings.Join(parts, "; "))
}

// Build plans a run. local must be sorted by version (source.Load does so).
func Build(local []*source.Migration, applied []Applied, opts Options) (*Plan, error) {
	if opts.Phase == "" {
		opts.Phase = source.PhasePre
	}
	var maxLocal int64
	for _, m := range local {
		maxLocal = max(maxLocal, m.Version)
	}
	findLocal, findDone := index(local, applied)
	var problems []Problem
	p := &Plan{Applied: len(applied)}
	var maxAll, maxPost int64
	for _, a := range applied {
		m, ok := findLocal(a.Version)
		switch {
		case !ok && a.Version > maxLocal:
			p.Ahead = append(p.Ahead, a)
		case !ok:
			problems = append(problems, Problem{Kind: Missing, Version: a.Version, Name: a.Name,
				Detail: fmt.Sprintf("applied migration %d_%s is not in this build's directory, which has newer files (restore the file; a hole is not a newer deploy)", a.Version, a.Name)})
		case m.Checksum != a.Checksum && !a.Complete && m.NoTransaction:
			// A partly applied no-transaction migration may have been
			// fixed after it failed; the runner decides by statement.
		case m.Checksum != a.Checksum:
			problems = append(problems, Problem{Kind: Modified, Version: a.Version, Name: a.Name, File: m.File,
				Detail: fmt.Sprintf("edited after it was applied (checksum %s, database has %s)", source.ShortSum(m.Checksum), source.ShortSum(a.Checksum))})
		}
		if a.Complete {
			maxAll = max(maxAll, a.Version)
			if a.Phase == string(source.PhasePost) {
				maxPost = max(maxPost, a.Version)
			}
		}
	}
	var pre, post []Step
	for _, m := range local {
		a, seen := findDone(m.Version)
		if seen && a.Complete {
			continue
		}
		// A post-phase migration is meant to land after newer pre-phase
		// ones; it is only out of order relative to other post ones.
		newest := maxAll
		if m.Phase == source.PhasePost {
			newest = maxPost
		}
		if !seen && m.Version < newest && !opts.AllowOutOfOrder {
			problems = append(problems, Problem{Kind: OutOfOrder, Version: m.Version, Name: m.Name, File: m.File,
				Detail: fmt.Sprintf("pending but older than applied version %d (a merged branch?); rename it to a newer version or set UpOpts.AllowOutOfOrder", newest)})
			continue
		}
		if opts.Target > 0 && m.Version > opts.Target {
			continue
		}
		st := Step{Migration: m}
		if seen {
			st.Resume, st.Partial, st.Edited = a.StatementsDone, true, m.Checksum != a.Checksum
		}
		if m.Phase == source.PhasePost {
			if opts.Phase == source.PhasePost {
				post = append(post, st)
			} else {
				p.Deferred = append(p.Deferred, m)
			}
			continue
		}
		pre = append(pre, st)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Version < problems[j].Version })
		return nil, &ValidationError{Problems: problems}
	}
	p.Steps = append(pre, post...)
	return p, nil
}

// index returns lookups by version in local and applied. Files sorted by
// version and a history read in version order (every caller's case) are
// searched in place: building a map of each, a thousand entries apiece,
// was most of planning a no-op up. Anything else is put in maps, where
// the last of a duplicated version wins.
func index(local []*source.Migration, applied []Applied) (func(int64) (*source.Migration, bool), func(int64) (Applied, bool)) {
	findLocal := sortedFind(local, func(m *source.Migration) int64 { return m.Version })
	findDone := sortedFind(applied, func(a Applied) int64 { return a.Version })
	if findLocal != nil && findDone != nil {
		return findLocal, findDone
	}
	return mapFind(local, func(m *source.Migration) int64 { return m.Version }), mapFind(applied, func(a Applied) int64 { return a.Version })
}

// sortedFind returns a binary search of s by version, nil when s is not
// strictly increasing in version.
func sortedFind[T any](s []T, version func(T) int64) func(int64) (T, bool) {
	for i := 1; i < len(s); i++ {
		if version(s[i-1]) >= version(s[i]) {
			return nil
		}
	}
	return func(v int64) (T, bool) {
		i, ok := slices.BinarySearchFunc(s, v, func(e T, v int64) int { return cmp.Compare(version(e), v) })
		if !ok {
			var zero T
			return zero, false
		}
		return s[i], true
	}
}

// mapFind returns a lookup of s by version through a map.
func mapFind[T any](s []T, version func(T) int64) func(int64) (T, bool) {
	m := make(map[int64]T, len(s))
	for _, e := range s {
		m[version(e)] = e
	}
	return func(v int64) (T, bool) {
		e, ok := m[v]
		return e, ok
	}
}
