package executor

import (
	"context"
	"fmt"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/source"
)

// ensureLegacy creates the legacy tool's history table when it is missing
// and checks that an existing one has that tool's columns. It runs once,
// before the first migration, so that a migration may itself alter the
// table (projects add columns to it) and a mismatch is reported before
// anything runs.
func (r *Runner) ensureLegacy(ctx context.Context) error {
	if r.Legacy == nil {
		return nil
	}
	for _, q := range r.Legacy.Ensure() {
		if err := r.D.Exec(ctx, r.Conn, q); err != nil {
			return r.legacyErr(err)
		}
	}
	if err := r.D.Exec(ctx, r.Conn, r.Legacy.Probe()); err != nil {
		return fmt.Errorf("%s is not %s's history table (%w); set the legacy table to off to leave it alone", r.Legacy.Name, r.Legacy.Format, err)
	}
	return nil
}

// legacyApplied records m in the legacy table, inside the open transaction
// that records it in fleetgate's history.
func (r *Runner) legacyApplied(ctx context.Context, tx driver.Tx, m *source.Migration) error {
	if r.Legacy == nil {
		return nil
	}
	if err := tx.Exec(ctx, r.Legacy.Applied(m)); err != nil {
		return r.legacyErr(err)
	}
	return nil
}

// legacyReverted removes version from the legacy table inside the open
// transaction that removes it from fleetgate's history (already done, so
// the highest version left is read from there).
func (r *Runner) legacyReverted(ctx context.Context, tx driver.Tx, version int64) error {
	if r.Legacy == nil {
		return nil
	}
	var prev int64
	if r.Legacy.Format == source.FormatGolangMigrate {
		applied, err := r.D.ReadApplied(ctx, tx, driver.PlanColumns)
		if err != nil {
			return r.legacyErr(err)
		}
		for _, a := range applied {
			if a.Complete && a.Version != version && a.Version > prev {
				prev = a.Version
			}
		}
	}
	if err := tx.Exec(ctx, r.Legacy.Reverted(version, prev)); err != nil {
		return r.legacyErr(err)
	}
	return nil
}

func (r *Runner) legacyErr(err error) error {
	return fmt.Errorf("keeping %s's history table %s in step: %w", r.Legacy.Format, r.Legacy.Name, err)
}
