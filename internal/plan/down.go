package plan

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/internal/dialect"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Stored is what rolling a migration back needs of its history row: the
// down script stored when it was applied, so that a build without the file
// can still revert it.
type Stored struct {
	Version int64
	Name    string
	// Reversible is false when the migration was applied without a down
	// section.
	Reversible   bool
	DownSQL      string
	DownChecksum string
}

// DownTarget says what to revert. The zero value reverts everything.
type DownTarget struct {
	// Above reverts every applied migration whose version is greater than
	// Above (0: all of them). Ignored when Unknown is set.
	Above int64
	// Unknown reverts every applied migration that no local file has and
	// that is newer than every local file.
	Unknown bool
	// Only, when not nil, lists the versions the caller means to revert
	// (those above Above when it read the history): a version no longer
	// applied is skipped, as another runner reverted it; one applied above
	// Above but not listed (applied since) is refused with
	// *ValidationError, since reverting below it would leave it on top of
	// an older schema. A `down` that names its versions this way reverts
	// each at most once, however many runners race.
	Only []int64
	// Dialect splits a stored down script (one whose file is gone) by its
	// database's lexical rules; "" splits by PostgreSQL's.
	Dialect dialect.Dialect
}

// StepsTarget turns "revert the n newest applied migrations" into the
// version to roll back to, so that the decision is made once, from one
// read of the history: callers that race with the same read revert to the
// same version instead of n steps each. applied must be sorted by version.
func StepsTarget(applied []Stored, n int) int64 {
	if n >= len(applied) {
		return 0
	}
	return applied[len(applied)-1-n].Version
}

// StepsVersions are the n newest applied versions, newest first: what a
// `down --steps n` that read applied means to revert. applied must be
// sorted by version.
func StepsVersions(applied []Stored, n int) []int64 {
	out := []int64{}
	for i := len(applied) - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, applied[i].Version)
	}
	return out
}

func joinInts(v []int64) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatInt(x, 10)
	}
	return strings.Join(s, ", ")
}

// DownStep is one migration to revert.
type DownStep struct {
	Version int64
	Name    string
	// File names where Statements come from in messages: the file holding
	// the down section, or "stored down script of <version>_<name>" when
	// the file is absent from this build.
	File string
	// FromFile is true when the local file's down section is used, false
	// when the script stored in the history is.
	FromFile   bool
	Statements []source.Statement
	// NoTransaction runs the statements one at a time: the file has the
	// no-transaction directive, or the stored down script carries it.
	NoTransaction bool
	// Differs is true when the file's down section is not the one stored
	// when the migration was applied (compared by checksum), or none was
	// stored then.
	Differs                      bool
	FileChecksum, StoredChecksum string
}

// IrreversibleError refuses a rollback that would need to revert a
// migration without a down section. It is returned before anything runs.
type IrreversibleError struct {
	Migrations []Irreversible
}

// Irreversible names one migration that cannot be reverted.
type Irreversible struct {
	Version int64
	Name    string
	File    string // the local file, "" when this build does not have it
}

func (e *IrreversibleError) Error() string {
	names := make([]string, len(e.Migrations))
	for i, m := range e.Migrations {
		names[i] = fmt.Sprintf("%d_%s", m.Version, m.Name)
		if m.File != "" {
			names[i] += " (" + m.File + ")"
		}
	}
	hint := "it was applied without a -- fleetgate:down section"
	if len(e.Migrations) > 1 {
		hint = "they were applied without a -- fleetgate:down section"
	}
	return fmt.Sprintf("cannot roll back %s: irreversible, %s; nothing was changed (add a down section to the file to make it reversible, or roll back to a version above it)",
		strings.Join(names, ", "), hint)
}

// BuildDown plans a rollback: the applied migrations selected by t, newest
// first, each with the down script to run. A local file's down section wins
// over the stored one (so a broken down script can be fixed in the file);
// the stored one is used when the file is absent. Any irreversible
// migration among them fails the whole plan with *IrreversibleError.
//
// With t.Unknown, an applied migration missing locally but older than the
// newest local file is a hole in the directory, not a newer deploy; it is
// refused with *ValidationError (revert it explicitly with a target).
func BuildDown(local []*source.Migration, applied []Stored, t DownTarget) ([]DownStep, error) {
	byVersion := make(map[int64]*source.Migration, len(local))
	var maxLocal int64
	for _, m := range local {
		byVersion[m.Version] = m
		maxLocal = max(maxLocal, m.Version)
	}
	if t.Only != nil && !slices.ContainsFunc(applied, func(a Stored) bool { return slices.Contains(t.Only, a.Version) }) {
		return nil, nil // another runner reverted them
	}
	sorted := append([]Stored(nil), applied...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Version > sorted[j].Version })

	var steps []DownStep
	var irr []Irreversible
	var problems []Problem
	for _, a := range sorted {
		m, ok := byVersion[a.Version]
		switch {
		case t.Unknown && ok:
			continue
		case t.Unknown && a.Version < maxLocal:
			problems = append(problems, Problem{Kind: Missing, Version: a.Version, Name: a.Name,
				Detail: fmt.Sprintf("applied migration %d_%s is not in this build's directory, which has newer files; DownOpts.Unknown only reverts migrations newer than every file (restore the file, or revert it explicitly with DownOpts.To)", a.Version, a.Name)})
			continue
		case !t.Unknown && a.Version <= t.Above:
			continue
		case t.Only != nil && !slices.Contains(t.Only, a.Version):
			problems = append(problems, Problem{Kind: OutOfOrder, Version: a.Version, Name: a.Name,
				Detail: fmt.Sprintf("applied migration %d_%s is newer than what this down means to revert (%s), and a down reverts only the newest; revert it first (or, if it was applied since this down read the history, run down again); nothing was changed", a.Version, a.Name, joinInts(t.Only))})
			continue
		}
		st, reversible, err := downStep(m, a, t.Dialect)
		if err != nil {
			return nil, err
		}
		if !reversible {
			it := Irreversible{Version: a.Version, Name: a.Name}
			if m != nil {
				it.File = m.File
			}
			irr = append(irr, it)
			continue
		}
		steps = append(steps, st)
	}
	if len(problems) > 0 {
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Version < problems[j].Version })
		return nil, &ValidationError{Problems: problems}
	}
	if len(irr) > 0 {
		return nil, &IrreversibleError{Migrations: irr}
	}
	return steps, nil
}

// downStep picks the script for one applied migration; ok is false when it
// has none. m is nil when the file is absent.
func downStep(m *source.Migration, a Stored, d dialect.Dialect) (DownStep, bool, error) {
	st := DownStep{Version: a.Version, Name: a.Name, StoredChecksum: a.DownChecksum}
	if m != nil {
		if m.Down == nil {
			return st, false, nil
		}
		st.FromFile = true
		st.File = m.DownFile
		if st.File == "" {
			st.File = m.File
		}
		st.Statements, st.NoTransaction = downStatements(m.Down)
		st.FileChecksum = m.DownChecksum
		st.Differs = !a.Reversible || a.DownChecksum != m.DownChecksum
		return st, true, nil
	}
	if !a.Reversible {
		return st, false, nil
	}
	st.File = fmt.Sprintf("stored down script of %d_%s", a.Version, a.Name)
	sec, err := source.NewSectionDialect(a.DownSQL, 1, HasNoTransaction(a.DownSQL), d)
	if err != nil {
		if se, ok := err.(*source.Error); ok {
			e := *se
			e.File = st.File
			return st, false, &e
		}
		return st, false, err
	}
	st.Statements, st.NoTransaction = downStatements(sec)
	return st, true, nil
}

// downStatements is what a down section runs. One running in a single
// transaction leaves out the BEGIN and COMMIT of an explicit block it holds
// (the step's own transaction is that block, committed with the history
// change); one running statement by statement (it asks for it, or holds
// CONCURRENTLY or several blocks) keeps them, so each block commits on its
// own.
func downStatements(s *source.Section) ([]source.Statement, bool) {
	if s.NoTransaction {
		return s.Statements, true
	}
	_, stmts := s.TxBody()
	return stmts, false
}

// HasNoTransaction reports whether a stored script carries the
// "-- fleetgate:no-transaction" directive on a line of its own. The history
// row keeps only the up and down sections, so a no-transaction migration
// that must be reverted from a build without its file says so in its down
// section.
func HasNoTransaction(sql string) bool {
	for line := range strings.SplitSeq(sql, "\n") {
		l := strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(l, "--"); ok && strings.TrimSpace(rest) == "fleetgate:no-transaction" {
			return true
		}
	}
	return false
}
