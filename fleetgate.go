package fleetgate

import (
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/fleetgate/fleetgate/internal/driver"
	"github.com/fleetgate/fleetgate/internal/history"
	"github.com/fleetgate/fleetgate/internal/legacy"
	"github.com/fleetgate/fleetgate/internal/source"
)

// Migrator applies the migrations of one fs.FS to one database. It is safe
// to run many Migrators (in many processes) against one database at once:
// they serialise on a lock kept in the database.
type Migrator struct {
	db     *sql.DB
	ownsDB bool
	d      driver.Driver
	fsys   fs.FS
	cfg    Config
	actor  history.Actor
	log    *slog.Logger

	loadOnce sync.Once
	local    []*source.Migration
	loadErr  error
	format   source.Format // of the loaded files, detected when auto
}

// New returns a Migrator on a database the caller opened. fsys holds the
// migration files (os.DirFS, or an embed.FS).
func New(db *sql.DB, d Dialect, fsys fs.FS, cfg *Config) (*Migrator, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	t, err := driver.NewTables(c.Table)
	if err != nil {
		return nil, &ConfigError{Setting: "Config.Table", Msg: err.Error()}
	}
	m := &Migrator{db: db, fsys: fsys, cfg: c, actor: newActor(c.DeployID), log: c.Logger}
	e := driver.ForDialect(d)
	if e == nil {
		return nil, configErr("Dialect", "dialect %q is not supported", string(d))
	}
	if m.d, err = e.New(t); err != nil {
		return nil, configErr("Config.Table", "%v", err)
	}
	if fsys == nil {
		return nil, configErr("Config.Dir", "no migration source given")
	}
	if _, err := source.ParseFormat(string(c.Format)); err != nil {
		return nil, configErr("Config.Format", "%v", err)
	}
	switch c.LegacyTable {
	case "", LegacyAuto, LegacyOff:
	default:
		return nil, configErr("Config.LegacyTable", "legacy table mode %q: want auto or off", string(c.LegacyTable))
	}
	// The directory is looked at when the migrations are first loaded, not
	// here: history reads only the database and works without it.
	return m, nil
}

// Open opens the database named by a fleetgate URL (postgres://...,
// sqlite:path) and returns a Migrator that closes it on Close.
func Open(ctx context.Context, url string, fsys fs.FS, cfg *Config) (*Migrator, error) {
	e, err := engineFor(url)
	if err != nil {
		return nil, err
	}
	db, err := e.Open(url, RedactURL)
	if err != nil {
		return nil, configErr("url", "%v", err)
	}
	// One connection reads, one holds the lease, one migrates.
	db.SetMaxIdleConns(3)
	db.SetConnMaxIdleTime(time.Minute)
	m, err := New(db, e.Dialect, fsys, cfg)
	if err != nil {
		db.Close()
		return nil, err
	}
	m.ownsDB = true
	return m, nil
}

// Close closes the database if Open opened it.
func (m *Migrator) Close() error {
	if m.ownsDB {
		return m.db.Close()
	}
	return nil
}

// DB returns the database handle.
func (m *Migrator) DB() *sql.DB { return m.db }

// migrations loads and parses the source once; files do not change under a
// running process, and a fleet's hot path (a no-op up) should parse once.
func (m *Migrator) migrations() ([]*source.Migration, error) {
	m.loadOnce.Do(func() {
		m.local, m.format, m.loadErr = m.load(nil)
	})
	return m.local, m.loadErr
}

// verifiedMigrations loads the source with source.LoadVerified: a file
// that is exactly what the history (applied, called once the files are
// read) says was applied comes back unparsed, every other one parsed as
// migrations() parses it. The result is not kept: only Up uses it, and
// only through planUp, which never lets an unparsed migration into a
// plan. format is that of the files, as migrations() detects it.
func (m *Migrator) verifiedMigrations(applied func() map[int64]source.Applied) ([]*source.Migration, source.Format, error) {
	return m.load(applied)
}

// load reads the source (see migrations and verifiedMigrations).
func (m *Migrator) load(applied func() map[int64]source.Applied) ([]*source.Migration, source.Format, error) {
	if _, err := fs.Stat(m.fsys, m.cfg.Dir); err != nil {
		return nil, "", configErr("Config.Dir", "migrations directory %s: %v", m.cfg.Label, source.PathCause(err))
	}
	// Split by the rules of the database the files are for: MySQL
	// lexes backslash escapes, # comments and DELIMITER blocks.
	// CheckFiles has no database: its Config names the dialect.
	d := m.cfg.Dialect
	if m.d != nil {
		d = m.d.Dialect()
	}
	var (
		local  []*source.Migration
		format source.Format
		err    error
	)
	if applied != nil {
		local, format, err = source.LoadVerified(m.fsys, m.cfg.Dir, m.cfg.Format, d, applied)
	} else {
		local, format, err = source.LoadDialect(m.fsys, m.cfg.Dir, m.cfg.Format, d)
	}
	if err == nil && len(local) == 0 && !m.cfg.AllowEmpty {
		return nil, format, m.emptySource()
	}
	var se *source.Error
	if errors.As(err, &se) && m.cfg.Label != m.cfg.Dir {
		e := *se
		e.File = m.relabel(e.File)
		err = &e
	}
	if m.cfg.Label != m.cfg.Dir {
		// path.Join cleans and allocates twice per call; a thousand files
		// (and their down files, mostly the same path) were 3% of a no-op.
		label := path.Clean(m.cfg.Label)
		for _, mg := range local {
			file := mg.File
			mg.File = m.relabelIn(label, file)
			switch mg.DownFile {
			case "":
			case file:
				mg.DownFile = mg.File
			default:
				mg.DownFile = m.relabelIn(label, mg.DownFile)
			}
		}
	}
	return local, format, err
}

// relabelIn is relabel with Config.Label already cleaned.
func (m *Migrator) relabelIn(label, file string) string {
	rel := file
	if m.cfg.Dir != "." {
		if r, ok := cutPrefixDir(file, m.cfg.Dir); ok {
			rel = r
		}
	}
	switch {
	case rel == "" || rel == "." || rel == ".." || strings.Contains(rel, "/"):
		return path.Join(label, rel)
	case label == ".":
		return rel
	case label == "/":
		return "/" + rel
	}
	return label + "/" + rel
}

func (m *Migrator) relabel(file string) string {
	if m.cfg.Label == m.cfg.Dir {
		return file
	}
	rel := file
	if m.cfg.Dir != "." {
		if r, ok := cutPrefixDir(file, m.cfg.Dir); ok {
			rel = r
		}
	}
	return path.Join(m.cfg.Label, rel)
}

func cutPrefixDir(file, dir string) (string, bool) {
	if len(file) > len(dir) && file[:len(dir)] == dir && file[len(dir)] == '/' {
		return file[len(dir)+1:], true
	}
	return "", false
}

// readApplied returns the history rows; none when the tables do not exist
// yet (nothing applied), without creating them.
func (m *Migrator) readApplied(ctx context.Context, q driver.Querier, cols driver.Columns) ([]history.Applied, error) {
	return driver.ReadHistory(ctx, m.d, q, cols)
}

// legacy is the other tool's history table to keep in step, nil when the
// files are fleetgate's own, Config.LegacyTable is off, or the engine
// cannot keep it (said in the log). Only valid after the migrations were
// loaded.
func (m *Migrator) legacy() *legacy.Table { return m.legacyFor(m.format) }

// legacyFor is legacy for files of format f.
func (m *Migrator) legacyFor(f source.Format) *legacy.Table {
	if m.cfg.LegacyTable == LegacyOff {
		return nil
	}
	if !legacy.Supported(f, m.d) {
		m.log.Warn("this engine cannot keep the other tool's history table in step; it is left alone",
			"format", string(f), "table", legacy.DefaultName(f), "dialect", string(m.d.Dialect()))
	}
	return legacy.For(f, m.d)
}
