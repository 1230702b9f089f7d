package fleetgate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/plan"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Tool is a migration tool whose history Adopt takes over.
type Tool string

const (
	// FromGolangMigrate reads golang-migrate's schema_migrations(version,
	// dirty): one row, the current version; every version up to it is
	// applied.
	FromGolangMigrate Tool = driver.ToolGolangMigrate
	// FromGoose reads goose's goose_db_version: the newest row of each
	// version_id says whether it is applied.
	FromGoose Tool = driver.ToolGoose
	// FromDbmate reads dbmate's schema_migrations(version): the set of
	// applied versions.
	FromDbmate Tool = driver.ToolDbmate
	// FromFlyway reads flyway_schema_history: successful versioned
	// migrations, and everything up to a baseline.
	FromFlyway Tool = driver.ToolFlyway
)

// defaultTable is where each tool keeps its history unless told otherwise.
func (t Tool) defaultTable() string {
	switch t {
	case FromGoose:
		return "goose_db_version"
	case FromFlyway:
		return "flyway_schema_history"
	}
	return "schema_migrations"
}

// AdoptOpts select the history Adopt takes over.
type AdoptOpts struct {
	// From is the tool that applied the migrations so far. Required.
	From Tool
	// Table is that tool's history table, "name" or "schema.name".
	// Defaults to the tool's own default (schema_migrations,
	// goose_db_version, flyway_schema_history).
	Table string
	// Timeout bounds the wait for the lock (ErrTimeout). Defaults to
	// waiting as long as the holder is alive.
	Timeout time.Duration
}

// AdoptResult reports what Adopt found and did.
type AdoptResult struct {
	// State says what the old tool's table holds, in words.
	State string
	// Applied are the local versions the old tool applied: fleetgate now
	// counts them as applied and never runs them.
	Applied []int64
	// Recorded are the versions of Applied this call recorded; the others
	// were recorded before (by an earlier adopt, possibly another
	// instance's).
	Recorded []int64
	// NotLocal are versions the old tool applied that this directory has no
	// file for, as the tool wrote them. They are not recorded: there is no
	// file to checksum, and nothing will try to run them.
	NotLocal []string
	// Pending are the local versions the old tool did not apply; Up
	// applies them.
	Pending []int64
	// LockWait is how long this call waited for the lock.
	LockWait time.Duration
}

// Adopt takes over the history of the tool that applied this directory's
// migrations until now: it reads that tool's table, refuses a state the
// tool itself marks as broken (a dirty golang-migrate version, a failed
// flyway migration), and records every version the tool applied, for which
// this directory has a file, as applied by fleetgate: with the checksum of
// the current file, marked adopted, with who and when, and an adopt event
// each. After it, Up applies exactly what the old tool had not.
//
// It writes in one transaction under the migration lock, fenced like a
// migration; versions already recorded are left alone, so it is idempotent
// and any number of instances may run it at once (then Up): one records,
// the others find nothing left to do. It takes the lock only when there is
// something to record. The old tool's table is never changed.
func (m *Migrator) Adopt(ctx context.Context, opts *AdoptOpts) (*AdoptResult, error) {
	r, err := m.adoptReader(opts)
	if err != nil {
		return nil, err
	}
	res, todo, err := r.read(ctx, m.db)
	if err != nil {
		return nil, err
	}
	left, err := m.unrecorded(ctx, m.db, todo)
	if err != nil || len(left) == 0 {
		return res, err
	}
	recheck := func(ctx context.Context, q driver.Querier) (bool, error) {
		left, err := m.unrecorded(ctx, q, todo)
		return err == nil && len(left) == 0, err
	}
	ran, err := executor.Locked(ctx, m.d, m.db, m.lockedOpts(ctx, r.opts.Timeout, "", "", m.ensureTablesAs, recheck),
		func(ctx context.Context, s *executor.Session) error {
			return s.Commit(ctx, func(ctx context.Context, tx driver.Tx, _ *driver.Record) error {
				// Read again inside the transaction: what is recorded is
				// what the old tool's table says at the moment of the commit.
				if res, todo, err = r.read(ctx, tx); err != nil {
					return err
				}
				res.LockWait = s.Lease.Waited
				res.Recorded, err = r.ad.InsertAdopted(ctx, tx, s.Lease.Gen, todo)
				return err
			})
		})
	if err != nil {
		return nil, err
	}
	if !ran {
		return res, nil // another instance recorded them
	}
	m.log.InfoContext(ctx, "adopted", slog.String("from", string(r.opts.From)), slog.String("state", res.State),
		slog.Int("recorded", len(res.Recorded)), slog.Int("pending", len(res.Pending)))
	return res, nil
}

// adoptReader reads the old tool's history and says what to record.
type adoptReader struct {
	m     *Migrator
	opts  *AdoptOpts
	ad    driver.Adopter
	table string
	t     driver.Tables
	local []*source.Migration
}

func (m *Migrator) adoptReader(opts *AdoptOpts) (*adoptReader, error) {
	if opts == nil {
		opts = &AdoptOpts{}
	}
	switch opts.From {
	case FromGolangMigrate, FromGoose, FromDbmate, FromFlyway:
	case "":
		return nil, configErr("AdoptOpts.From", "which tool applied the migrations so far? (golang-migrate, goose, dbmate or flyway)")
	default:
		return nil, configErr("AdoptOpts.From", "unknown tool %q (want golang-migrate, goose, dbmate or flyway)", string(opts.From))
	}
	r := &adoptReader{m: m, opts: opts, table: opts.Table}
	if r.table == "" {
		r.table = opts.From.defaultTable()
	}
	var err error
	if r.t, err = driver.NewTables(r.table); err != nil {
		return nil, configErr("AdoptOpts.Table", "%v", err)
	}
	var ok bool
	if r.ad, ok = m.d.(driver.Adopter); !ok {
		return nil, configErr("Dialect", "adopt is not supported on %s", m.d.Dialect())
	}
	r.local, err = m.migrations()
	return r, err
}

func (r *adoptReader) read(ctx context.Context, q driver.Querier) (*AdoptResult, []driver.Adopted, error) {
	rows, found, err := r.ad.ReadLegacy(ctx, q, string(r.opts.From), r.t.Schema, r.t.Migrations)
	switch {
	case errors.Is(err, driver.ErrLegacyTable):
		return nil, nil, configErr("AdoptOpts.From", "%v (is --from right?)", err)
	case err != nil:
		return nil, nil, err
	case !found:
		return nil, nil, configErr("AdoptOpts.From", "no %s history table %s in this database; nothing to adopt (name another with --from-table)", r.opts.From, r.table)
	}
	st, err := legacyApplied(r.opts.From, r.table, rows, r.local)
	if err != nil {
		return nil, nil, err
	}
	res, todo := r.m.adoption(st, r.local)
	return res, todo, nil
}

// unrecorded returns the versions of todo fleetgate's history lacks.
func (m *Migrator) unrecorded(ctx context.Context, q driver.Querier, todo []driver.Adopted) ([]int64, error) {
	if len(todo) == 0 {
		return nil, nil
	}
	rows, err := m.readApplied(ctx, q, false)
	if err != nil {
		return nil, err
	}
	have := make(map[int64]bool, len(rows))
	for _, r := range rows {
		have[r.Version] = true
	}
	var left []int64
	for _, a := range todo {
		if !have[a.Row.Version] {
			left = append(left, a.Row.Version)
		}
	}
	return left, nil
}

// adoption matches what the old tool applied with the local files.
func (m *Migrator) adoption(st *legacyState, local []*source.Migration) (*AdoptResult, []driver.Adopted) {
	res := &AdoptResult{State: st.desc, Applied: []int64{}, Recorded: []int64{}, Pending: []int64{}, NotLocal: []string{}}
	var todo []driver.Adopted
	isLocal := make(map[int64]bool, len(local))
	for _, mg := range local {
		isLocal[mg.Version] = true
		if !st.applied(mg.Version) {
			res.Pending = append(res.Pending, mg.Version)
			continue
		}
		res.Applied = append(res.Applied, mg.Version)
		row := history.Applied{Version: mg.Version, Name: mg.Name, Checksum: mg.Checksum, Phase: string(mg.Phase),
			UpSQL: mg.Up.SQL, HasDown: mg.Down != nil, Actor: m.actor, Complete: true,
			StatementsDone: len(mg.Up.Statements), Adopted: true}
		if mg.Down != nil {
			row.DownSQL, row.DownChecksum = mg.Down.SQL, mg.DownChecksum
		}
		todo = append(todo, driver.Adopted{Row: row, Event: history.Event{Kind: history.KindAdopt, Version: mg.Version,
			Name: mg.Name, Direction: "up", File: mg.File, Actor: m.actor}})
	}
	for _, v := range st.versions {
		if !isLocal[v.n] {
			res.NotLocal = append(res.NotLocal, v.text)
		}
	}
	if st.upTo > 0 && !isLocal[st.upTo] && !slices.Contains(res.NotLocal, st.upToText) {
		res.NotLocal = append(res.NotLocal, st.upToText)
	}
	return res, todo
}

// legacyVersion is one version as the old tool wrote it and as a number.
type legacyVersion struct {
	n    int64
	text string
}

// legacyState is what an old tool's table says is applied.
type legacyState struct {
	versions []legacyVersion // applied one by one (goose, dbmate, flyway)
	upTo     int64           // everything up to it applied (golang-migrate, a flyway baseline)
	upToText string
	desc     string
}

func (s *legacyState) applied(v int64) bool {
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

// legacyApplied interprets an old tool's rows. A state the tool itself
// considers broken is a *ValidationError (exit 4) that says what to check:
// adopting it would make fleetgate believe a half-applied migration is
// done.
func legacyApplied(tool Tool, table string, rows []driver.LegacyRow, local []*source.Migration) (*legacyState, error) {
	st := &legacyState{}
	number := func(r driver.LegacyRow) (int64, error) {
		n, err := strconv.ParseInt(r.Version, 10, 64)
		if err != nil || n < 0 {
			return 0, &ValidationError{Problems: []plan.Problem{{Kind: problemUnmappable, Detail: fmt.Sprintf(
				"%s records version %q, which is not a whole number; fleetgate versions are integers, so rename the files and the recorded versions to integers first", table, r.Version)}}}
		}
		return n, nil
	}
	switch tool {
	case FromGolangMigrate:
		switch {
		case len(rows) == 0:
			st.desc = table + " is empty: nothing applied"
			return st, nil
		case len(rows) > 1:
			return nil, &ValidationError{Problems: []plan.Problem{{Kind: problemDirty, Detail: fmt.Sprintf(
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
			st.desc = table + ": no version applied"
			return st, nil
		}
		st.upTo, st.upToText = n, r.Version
		st.desc = fmt.Sprintf("%s at version %d, clean", table, n)
		return st, nil

	case FromGoose:
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
		st.desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))

	case FromDbmate:
		for _, r := range rows {
			n, err := number(r)
			if err != nil {
				return nil, err
			}
			st.versions = append(st.versions, legacyVersion{n, r.Version})
		}
		st.desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))

	case FromFlyway:
		applied := map[int64]bool{}
		var order []legacyVersion
		for _, r := range rows {
			if !r.Applied {
				what := "version " + r.Version
				if r.Version == "" {
					what = "repeatable migration"
				}
				return nil, &ValidationError{Problems: []plan.Problem{{Kind: problemFailed, Detail: fmt.Sprintf(
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
		st.desc = fmt.Sprintf("%s: %d versions applied", table, len(st.versions))
		if st.upTo > 0 {
			st.desc += fmt.Sprintf(", baseline %d", st.upTo)
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
	return &ValidationError{Problems: []plan.Problem{p}}
}
