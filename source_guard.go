package fleetgate

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

// emptySource explains a source without migration files: which directory
// was read, which names count, and what it holds instead, since the usual
// causes are a wrong --dir or an embed.FS whose files sit one directory
// further down than Config.Dir says.
func (m *Migrator) emptySource() error {
	entries, _ := fs.ReadDir(m.fsys, m.cfg.Dir)
	var dirs, others []string
	for _, e := range entries {
		switch {
		case strings.HasPrefix(e.Name(), "."):
		case e.IsDir():
			dirs = append(dirs, e.Name()+"/")
		default:
			others = append(others, e.Name())
		}
	}
	what := "it is empty"
	switch {
	case len(dirs) > 0 && len(others) > 0:
		what = fmt.Sprintf("it holds only %s and subdirectories %s (migrations are read from the directory itself, not from subdirectories)",
			list(others), list(dirs))
	case len(dirs) > 0:
		what = fmt.Sprintf("it holds only subdirectories %s: point Config.Dir at the one with the migrations", list(dirs))
	case len(others) > 0:
		what = fmt.Sprintf("it holds only %s", list(others))
	}
	return configErr("Config.Dir", "no migration files in %s (looked for <version>_<name>.sql and <version>_<name>.up.sql/.down.sql); %s; set Config.AllowEmpty if an empty directory is intended",
		path.Clean(m.cfg.Label), what)
}

func list(names []string) string {
	if len(names) > 5 {
		names = append(names[:5:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return strings.Join(names, ", ")
}
