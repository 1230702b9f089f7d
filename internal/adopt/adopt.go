// Package adopt reads the history of another migration tool
// (golang-migrate, goose, dbmate, flyway) into fleetgate's terms: which
// versions it applied, and the rows that record them. It is pure: the
// rows come from a driver's ReadLegacy, and nothing here touches a
// database.
package adopt

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Match is what the old tool applied, matched with the local files.
type Match struct {
	Applied  []int64  // local versions the old tool applied
	Pending  []int64  // local versions it did not
	NotLocal []string // versions it applied that have no local file, as it wrote them
	// Todo are the rows and events that record Applied, stamped with actor.
	Todo []driver.Adopted
}

// Adoption matches what the old tool applied with the local files.
func Adoption(st *State, local []*source.Migration, actor history.Actor) *Match {
	res := &Match{Applied: []int64{}, Pending: []int64{}, NotLocal: []string{}}
	isLocal := make(map[int64]bool, len(local))
	for _, mg := range local {
		isLocal[mg.Version] = true
		if !st.Applied(mg.Version) {
			res.Pending = append(res.Pending, mg.Version)
			continue
		}
		res.Applied = append(res.Applied, mg.Version)
		row := history.NewApplied(mg, actor, 0, true, len(mg.Up.Statements), false)
		row.Adopted = true
		res.Todo = append(res.Todo, driver.Adopted{Row: *row, Event: history.Event{Kind: history.KindAdopt, Version: mg.Version,
			Name: mg.Name, Direction: "up", File: mg.File, Actor: actor}})
	}
	for _, v := range st.versions {
		if !isLocal[v.n] {
			res.NotLocal = append(res.NotLocal, v.text)
		}
	}
	if st.upTo > 0 && !isLocal[st.upTo] && !slices.Contains(res.NotLocal, st.upToText) {
		res.NotLocal = append(res.NotLocal, st.upToText)
	}
	return res
}

// legacyVersion is one version as the old tool wrote it and as a number.
type legacyVersion struct {
	n    int64
	text string
}

// State is what an old tool's table says is applied.
type State struct {
	versions []legacyVersion // applied one by one (goose, dbmate, flyway)
	upTo     int64           // everything up to it applied (golang-migrate, a flyway baseline)
	upToText string
	// Desc says what the table holds, in words.
	Desc string
}

// Applied reports whether the old tool applied version v.
func (s *State) Applied(v int64) bool {
	if v <= s.upTo {
		return true
	}
	for _, x := range s.versions {
		if x.n == v {
			return true
		}
	}
	return false
}

// Problem kinds of a legacy history Adopt refuses.
const (
	problemDirty      plan.ProblemKind = "dirty"
	problemFailed     plan.ProblemKind = "failed"
	problemUnmappable plan.ProblemKind = "unmappable version"
)

// Read interprets tool's rows (tool is one of driver's Tool names) read
// from table. A state the tool itself considers broken is a
// *plan.ValidationError that says what to check: adopting it would make
// fleetgate believe a half-applied migration is done.
func Read(tool, table string, rows []driver.LegacyRow, local []*source.Migration) (*State, error) {
	st := &State{}
	number := func(r driver.LegacyRow) (int64, error) {
		n, err := strconv.ParseInt(r.Version, 10, 64)
		if err != nil || n < 0 {
			return 0, &plan.ValidationError{Problems: []plan.Problem{{Kind: problemUnmappable, Detail: fmt.Sprintf(
				"%s records version %q, which is not a whole number; fleetgate versions are integers, so rename the files and the recorded versions to integers first", table, r.Version)}}}
		}
		return n, nil
	}
	switch tool {
	case driver.ToolGolangMigrate:
		switch {
		case len(rows) == 0:
			st.Desc = table + " is empty: nothing applied"
			return st, nil
		case len(rows) > 1:
			return nil, &plan.ValidationError{Problems: []plan.Problem{{Kind: problemDirty, Detail: fmt.Sprintf(
				"%s has %d rows; golang-migrate keeps exactly one (the current version): check what wrote the others", table, len(rows))}}}
		}
		r := rows[0]
		n, err := strconv.ParseInt(r.Version, 10, 64)
		if err != nil {
			return nil, err
		}
		if r.Dirty {
			return nil, dirtyError(table, n, local)
		}
		if n <= 0 { // golang-migrate's NilVersion: nothing applied
			st.Desc = table + ": no version applied"
			return st, nil
		}
		st.upTo, st.upToText = n, r.Version
		st.Desc = fmt.Sprintf("%s at version %d, clean", table, n)
		return st, nil

	case driver.ToolGoose:
		latest := map[int64]bool{}
		var order []legacyVersion
		for _, r := range rows {
			n, err := number(r)
			if err != nil {
				return nil, err
			}
			if n == 0 {
				continue // goose's own first row
			}
			if _, seen := latest[n]; !seen {
				order = append(order, legacyVersion{n, r.Version})
			}
			latest[n] = r.Applied // rows come in id order: the last one wins
		}
		for _, v := range order {
			if latest[v.n] {
				st.versions = append(st.versions, v)
			}
		}
		st.Desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))

	case driver.ToolDbmate:
		for _, r := range rows {
			n, err := number(r)
			if err != nil {
				return nil, err
			}
			st.versions = append(st.versions, legacyVersion{n, r.Version})
		}
		st.Desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))

	case driver.ToolFlyway:
		applied := map[int64]bool{}
		var order []legacyVersion
		for _, r := range rows {
			if !r.Applied {
				what := "version " + r.Version
				if r.Version == "" {
					what = "repeatable migration"
				}
				return nil, &plan.ValidationError{Problems: []plan.Problem{{Kind: problemFailed, Detail: fmt.Sprintf(
					"%s records a failed migration, %s (%s, installed_rank %d): flyway stopped there and the database may hold part of it. Check what it applied, fix the database, run `flyway repair`, then adopt again",
					table, what, r.Description, r.Rank)}}}
			}
			if r.Version == "" || r.Type == "SCHEMA" {
				continue // repeatable migrations and flyway's schema marker have no version
			}
			n, err := number(r)
			if err != nil {
				return nil, err
			}
			switch {
			case r.Type == "BASELINE":
				if n > st.upTo {
					st.upTo, st.upToText = n, r.Version
				}
			case strings.HasPrefix(r.Type, "UNDO") || r.Type == "DELETE":
				applied[n] = false
			default:
				if _, seen := applied[n]; !seen {
					order = append(order, legacyVersion{n, r.Version})
				}
				applied[n] = true
			}
		}
		for _, v := range order {
			if applied[v.n] {
				st.versions = append(st.versions, v)
			}
		}
		st.Desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))
		if st.upTo > 0 {
			st.Desc += fmt.Sprintf(", baseline %d", st.upTo)
		}
	}
	return st, nil
}

// dirtyError explains a dirty golang-migrate version: what happened, what
// to check, and how to tell golang-migrate the outcome before adopting.
func dirtyError(table string, v int64, local []*source.Migration) error {
	p := plan.Problem{Kind: problemDirty, Version: v, Name: "no local file"}
	prev := "the previous version"
	for _, mg := range local {
		if mg.Version == v {
			p.Name, p.File = mg.Name, mg.File
		}
		if mg.Version < v {
			prev = strconv.FormatInt(mg.Version, 10)
		}
	}
	p.Detail = fmt.Sprintf("golang-migrate left version %d dirty (%s: version %d, dirty = true): it failed part way through that migration, "+
		"and the database may hold part of it. Check which of its statements took effect, finish or undo them by hand, "+
		"then record the outcome with `migrate force %d` (fully applied) or `migrate force %s` (undone), and run adopt again; nothing was adopted",
		v, table, v, v, prev)
	return &plan.ValidationError{Problems: []plan.Problem{p}}
}
