package fleetgate

import (
	"context"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/fleetgate/fleetgate/internal/driver"
)

// timestampVersion is the smallest version read as a timestamp
// (YYYYMMDDhhmmss has 14 digits), as goose fix reads them.
const timestampVersion = 10_000_000_000_000

// Rename is one file FixPlan renames.
type Rename struct {
	Version, NewVersion int64
	From, To            string // paths as the migrations' File names them
}

// FixPlan returns the renames that turn the timestamp versions of files not
// yet applied into sequential ones after the highest sequential version, in
// order, as goose fix does, keeping the width of the existing sequential
// names (5 digits when there are none, as goose). Applied files are never
// renamed: their version is recorded. When a timestamp version is already
// applied, renumbering the others would put them before it, so FixPlan
// refuses, as it does while another runner holds the migration lock. It
// reads the history when it exists and writes nothing.
func (m *Migrator) FixPlan(ctx context.Context) ([]Rename, error) {
	local, err := m.migrations()
	if err != nil {
		return nil, err
	}
	rows, err := m.readApplied(ctx, m.db, driver.RowColumns)
	if err != nil {
		return nil, err
	}
	// A runner applying migrations now could apply a file while it is
	// being renamed: refuse rather than race it.
	if ok, _ := m.d.TablesExist(ctx, m.db); ok {
		h, err := m.d.ReadHolder(ctx, m.db)
		if err != nil {
			return nil, err
		}
		if h != nil && h.ExpiresAt.After(h.Now) {
			return nil, configErr("Fix", "%s pid %d holds the migration lock; run fix when no deploy is migrating", h.Host, h.PID)
		}
	}
	applied := map[int64]bool{}
	for _, r := range rows {
		applied[r.Version] = true
		if r.Version >= timestampVersion {
			return nil, configErr("Fix", "timestamp version %d (%s) is already applied; renumbering the pending timestamp files would put them before it", r.Version, r.Name)
		}
	}
	var next int64
	width := 5
	for _, mg := range local {
		if mg.Version < timestampVersion {
			next = max(next, mg.Version)
			if d, _, ok := strings.Cut(path.Base(mg.File), "_"); ok && len(d) > 1 && d[0] == '0' {
				width = len(d)
			}
		}
	}
	var out []Rename
	for _, mg := range local {
		if mg.Version < timestampVersion || applied[mg.Version] {
			continue
		}
		next++
		files := []string{mg.File}
		if mg.DownFile != "" && mg.DownFile != mg.File {
			files = append(files, mg.DownFile) // golang-migrate layout
		}
		for _, f := range files {
			to, err := renumber(f, next, width)
			if err != nil {
				return nil, err
			}
			out = append(out, Rename{Version: mg.Version, NewVersion: next, From: f, To: to})
		}
	}
	return out, nil
}

func renumber(file string, v int64, width int) (string, error) {
	dir, base := path.Split(file)
	digits, rest, ok := strings.Cut(base, "_")
	if !ok {
		return "", fmt.Errorf("fix: %s: no version prefix", file)
	}
	if _, err := strconv.ParseInt(digits, 10, 64); err != nil {
		return "", fmt.Errorf("fix: %s: %w", file, err)
	}
	return dir + fmt.Sprintf("%0*d_%s", width, v, rest), nil
}
