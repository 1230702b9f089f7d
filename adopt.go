package fleetgate

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/fleetgate/fleetgate/internal/adopt"
	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/executor"
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
		return nil, nil, configErr("AdoptOpts.From", "%v (is AdoptOpts.From right?)", err)
	case err != nil:
		return nil, nil, err
	case !found:
		return nil, nil, configErr("AdoptOpts.From", "no %s history table %s in this database; nothing to adopt (name another with AdoptOpts.Table)", r.opts.From, r.table)
	}
	st, err := adopt.Read(string(r.opts.From), r.table, rows, r.local)
	if err != nil {
		return nil, nil, err
	}
	mt := adopt.Adoption(st, r.local, r.m.actor)
	return &AdoptResult{State: st.Desc, Applied: mt.Applied, Recorded: []int64{}, Pending: mt.Pending, NotLocal: mt.NotLocal}, mt.Todo, nil
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
