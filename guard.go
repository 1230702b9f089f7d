package fleetgate

import (
	"context"
	"fmt"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// ensureTablesAs is EnsureTables without the guard, for commands that
// are told the table's name rather than guessing it (adopt, resolve).
func (m *Migrator) ensureTablesAs(ctx context.Context) error { return m.d.EnsureTables(ctx, m.db) }

// ensureTables creates the history tables for Up, unless the database
// suggests that the table name is a mistake (Config.Init overrides): a
// typo in --table, a different case or a missing schema would otherwise
// start a new, empty history and re-run every migration from the first,
// data migrations included.
func (m *Migrator) ensureTables(ctx context.Context) error {
	st, err := m.probeTables(ctx)
	if err != nil {
		return err
	}
	if !st.Exist && !m.cfg.Init {
		if err := m.guardNewHistory(ctx); err != nil {
			return err
		}
	}
	// Also for tables that exist: EnsureTables adds the columns this
	// release needs to tables an older release created.
	if !st.Current {
		if err := m.d.EnsureTables(ctx, m.db); err != nil {
			return err
		}
	}
	// The registry is created by the role that migrates, so that roles
	// that only wait need no CREATE to register (see Register).
	if reg, ok := m.d.(driver.Registry); ok {
		var err error
		if !st.Registry {
			err = reg.EnsureRegistry(ctx, m.db)
		}
		if err != nil {
			m.log.WarnContext(ctx, "could not create the instance registry; instances will try themselves", "error", err.Error())
		} else if all, now, err := reg.ReadInstances(ctx, m.db); err == nil {
			// Once per up that migrates: the registry would otherwise keep
			// every instance ever killed without deregistering.
			m.reap(ctx, reg, all, now)
		}
	}
	return nil
}

// probeTables reads what ensureTables needs in one statement where the
// driver can (driver.TablesProber); elsewhere only whether the tables
// exist, and EnsureTables and EnsureRegistry look for themselves.
func (m *Migrator) probeTables(ctx context.Context) (driver.TablesState, error) {
	if p, ok := m.d.(driver.TablesProber); ok {
		return p.ProbeTables(ctx, m.db)
	}
	exist, err := m.d.TablesExist(ctx, m.db)
	return driver.TablesState{Exist: exist}, err
}

func (m *Migrator) guardNewHistory(ctx context.Context) error {
	sv, ok := m.d.(driver.Surveyor)
	if !ok {
		return nil
	}
	t, err := driver.NewTables(m.cfg.Table)
	if err != nil {
		return configErr("Config.Table", "%v", err)
	}
	s, err := sv.Survey(ctx, m.db, t)
	if err != nil {
		return fmt.Errorf("look for existing history tables: %w", err)
	}
	if !s.OwnExists {
		// Another runner may have created the tables, and applied
		// migrations, since the first look: then they are ours.
		if ok, err := m.d.TablesExist(ctx, m.db); err != nil || ok {
			return err
		}
	}
	switch {
	case s.OwnExists:
		return nil
	case s.SchemaMissing:
		return configErr("Config.Table", "schema %q does not exist, and fleetgate never creates a schema implicitly; check Config.Table for a typo, or set Config.Init, which creates schema %q and a new history in it",
			t.Schema, t.Schema)
	case len(s.Histories) > 0:
		var where []string
		for _, h := range s.Histories {
			where = append(where, fmt.Sprintf("%s (%d migrations)", h.Table, h.Applied))
		}
		return configErr("Config.Table", "history table %q does not exist, but this database has migrations applied in fleetgate history table %s; a new history would re-run every migration from the first: set Config.Table to %s, or set Config.Init, which starts a separate history on purpose",
			m.cfg.Table, strings.Join(where, ", "), s.Histories[0].Table)
	case len(s.UserTables) > 0:
		hint := "if another tool applied the migrations so far, adopt its history first (Migrator.Adopt with AdoptOpts.From golang-migrate|goose|dbmate|flyway)"
		if adopt := legacyTool(s.UserTables); adopt != "" {
			hint = "another tool's history is there: adopt it first (" + adopt + ")"
		}
		return configErr("Config.Table", "this database has %d tables (%s) but no fleetgate history table %q, so up would apply every migration from the first to it; %s; if the history is in another table, set Config.Table; to apply everything anyway, set Config.Init",
			len(s.UserTables), list(s.UserTables), m.cfg.Table, hint)
	}
	return nil
}

// legacyTool returns the adoption to suggest for the migration tool whose
// history table is among tables.
func legacyTool(tables []string) string {
	for _, t := range tables {
		switch strings.ToLower(t) {
		case "goose_db_version":
			return "Migrator.Adopt with AdoptOpts.From goose"
		case "flyway_schema_history":
			return "Migrator.Adopt with AdoptOpts.From flyway"
		case "schema_migrations":
			return "Migrator.Adopt with AdoptOpts.From golang-migrate, or dbmate"
		}
	}
	return ""
}
